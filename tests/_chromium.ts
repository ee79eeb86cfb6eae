// Headless Chromium driven over the DevTools protocol with Deno's
// WebSocket client: the browser tests (the ws page, the relay's Origin
// check, the views) open pages in it and evaluate expressions there.

import { LineSplitter, WAIT_MS, withTimeout } from "./_helpers.ts";

/** A DevTools message: a reply (with `id`) or an event (with `method`). */
export interface CdpReply {
  id?: number;
  method?: string;
  sessionId?: string;
  // deno-lint-ignore no-explicit-any
  params?: any;
  // deno-lint-ignore no-explicit-any
  result?: any;
  error?: { message: string };
}

/** Headless Chromium with a DevTools connection; closed with `await using`. */
export async function launchChromium() {
  const profile = await Deno.makeTempDir({ prefix: "netkit-chromium-" });
  const child = new Deno.Command("/usr/bin/chromium", {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Chromium announces its DevTools endpoint on stderr; the rest of stderr
  // is drained so the browser never blocks on a full pipe.
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).pipeThrough(
    new LineSplitter(),
  )[Symbol.asyncIterator]();
  let endpoint: string | undefined;
  const seen: string[] = [];
  while (endpoint === undefined) {
    const next = await withTimeout(lines.next(), WAIT_MS, "DevTools").catch(
      (error) => {
        child.kill("SIGKILL");
        throw error;
      },
    );
    if (next.done) {
      throw new Error(
        `chromium exited before DevTools was up:\n${seen.join("\n")}`,
      );
    }
    seen.push(next.value);
    endpoint = /DevTools listening on (ws:\/\/\S+)/.exec(next.value)?.[1];
  }
  const drained = (async () => {
    for (let n = await lines.next(); !n.done; n = await lines.next()) {
      // Discard.
    }
  })();

  const socket = new WebSocket(endpoint);
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = reject;
    }),
    WAIT_MS,
    "the DevTools socket to open",
  );
  const socketClosed = new Promise((resolve) => socket.onclose = resolve);
  let nextId = 1;
  const pending = new Map<number, PromiseWithResolvers<CdpReply>>();
  const events: CdpReply[] = [];
  const listeners = new Set<(event: CdpReply) => void>();
  socket.onmessage = (event) => {
    const message: CdpReply = JSON.parse(event.data);
    if (message.id !== undefined) {
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(message.error.message));
      else waiter?.resolve(message);
    } else {
      events.push(message);
      for (const listener of listeners) listener(message);
    }
  };

  async function send(
    method: string,
    params: object = {},
    sessionId?: string,
    // deno-lint-ignore no-explicit-any
  ): Promise<any> {
    const id = nextId++;
    const waiter = Promise.withResolvers<CdpReply>();
    pending.set(id, waiter);
    socket.send(JSON.stringify({ id, method, params, sessionId }));
    return (await withTimeout(waiter.promise, WAIT_MS, method)).result;
  }

  function waitEvent(method: string, sessionId: string): Promise<CdpReply> {
    return new Promise((resolve) => {
      const listener = (event: CdpReply) => {
        if (event.method === method && event.sessionId === sessionId) {
          listeners.delete(listener);
          resolve(event);
        }
      };
      listeners.add(listener);
    });
  }

  /** Opens `url` in a new tab and resolves with a session once it has loaded. */
  async function open(url: string): Promise<string> {
    const { targetId } = await send("Target.createTarget", {
      url: "about:blank",
    });
    const { sessionId } = await send("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    await send("Page.enable", {}, sessionId);
    await send("Log.enable", {}, sessionId);
    await send("Runtime.enable", {}, sessionId);
    // Every request the page makes shows in `events`.
    await send("Network.enable", {}, sessionId);
    const loaded = waitEvent("Page.loadEventFired", sessionId);
    await send("Page.navigate", { url }, sessionId);
    await withTimeout(loaded, WAIT_MS, `${url} to load`);
    return sessionId;
  }

  /** Evaluates an expression in the page (awaiting promises) and returns its value. */
  async function evaluate(
    sessionId: string,
    expression: string,
  ): Promise<unknown> {
    const result = await send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    }, sessionId);
    if (result.exceptionDetails) {
      throw new Error(`page threw: ${JSON.stringify(result.exceptionDetails)}`);
    }
    return result.result.value;
  }

  return {
    open,
    evaluate,
    send,
    events,
    async [Symbol.asyncDispose]() {
      await send("Browser.close").catch(() => {});
      socket.close();
      await withTimeout(
        Promise.all([socketClosed, child.status, drained]),
        WAIT_MS,
        "chromium to exit",
      ).catch(async (error) => {
        child.kill("SIGKILL");
        await child.status;
        throw error;
      });
      await Deno.remove(profile, { recursive: true });
    },
  };
}

// Runs in the page: resolves once `predicate` holds, checking every 20 ms.
export const waitFor = (predicate: string): string =>
  `new Promise((resolve) => { const check = () => { const v = (${predicate}); ` +
  `if (v) resolve(v); else setTimeout(check, 20); }; check(); })`;
