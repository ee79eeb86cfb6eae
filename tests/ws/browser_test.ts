// The page at `/` in a real browser: headless Chromium, driven over the
// DevTools protocol with Deno's WebSocket client.

import assert from "node:assert/strict";
import { serveWebSocket } from "../../ws/server.ts";
import {
  LineSplitter,
  missingPeer,
  WAIT_MS,
  withTimeout,
} from "../_helpers.ts";

interface CdpReply {
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
async function launchChromium() {
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
const waitFor = (predicate: string) =>
  `new Promise((resolve) => { const check = () => { const v = (${predicate}); ` +
  `if (v) resolve(v); else setTimeout(check, 20); }; check(); })`;

Deno.test({
  name:
    "page: ?autotest connects, sends and shows the echo with the open state",
  ignore: missingPeer("chromium"),
}, async () => {
  await using server = serveWebSocket({ port: 0 });
  await using browser = await launchChromium();
  const session = await browser.open(
    `http://127.0.0.1:${server.addr.port}/?autotest=hello%20from%20chromium`,
  );
  const received = await browser.evaluate(
    session,
    waitFor(
      `document.getElementById("autotest").dataset.done === "1" && ` +
        `document.getElementById("autotest").textContent`,
    ),
  );
  assert.equal(received, "autotest received: hello from chromium");
  assert.equal(
    await browser.evaluate(
      session,
      `document.getElementById("state").textContent`,
    ),
    "open",
  );
  // The inline style and script ran under the page's own strict CSP.
  assert.equal(
    await browser.evaluate(
      session,
      `getComputedStyle(document.body).marginTop`,
    ),
    "0px",
  );
  const violations = browser.events.filter((e) =>
    e.method === "Log.entryAdded" &&
    /Content Security Policy|Refused to/.test(e.params.entry.text)
  );
  assert.deepEqual(violations, []);
  assert.equal(server.stats().pagesServed, 1);
  assert.equal(server.stats().messagesIn, 1);
});

Deno.test({
  name:
    "page: typing a message shows it echoed; Disconnect shows the close code",
  ignore: missingPeer("chromium"),
}, async () => {
  await using server = serveWebSocket({ port: 0 });
  await using browser = await launchChromium();
  const session = await browser.open(`http://127.0.0.1:${server.addr.port}/`);
  await browser.evaluate(
    session,
    waitFor(`document.getElementById("state").dataset.state === "open"`),
  );
  await browser.evaluate(
    session,
    `document.getElementById("text").value = "typed by a user"; ` +
      `document.getElementById("send").click(); true`,
  );
  const echoed = await browser.evaluate(
    session,
    waitFor(
      `[...document.querySelectorAll("#log li.in .text")].map((e) => e.textContent).join("|")`,
    ),
  );
  assert.equal(echoed, "typed by a user");
  const sent = await browser.evaluate(
    session,
    `[...document.querySelectorAll("#log li.out .text")].map((e) => e.textContent).join("|")`,
  );
  assert.equal(sent, "typed by a user");
  await browser.evaluate(
    session,
    `document.getElementById("toggle").click(); true`,
  );
  const state = await browser.evaluate(
    session,
    waitFor(
      `document.getElementById("state").dataset.state === "closed" && ` +
        `document.getElementById("state").textContent`,
    ),
  );
  assert.equal(state, "closed 1000 bye");
});

Deno.test({
  name: "page: broadcast mode delivers one tab's message to the other tab",
  ignore: missingPeer("chromium"),
}, async () => {
  await using server = serveWebSocket({ port: 0, mode: "broadcast" });
  await using browser = await launchChromium();
  const base = `http://127.0.0.1:${server.addr.port}/`;
  const listener = await browser.open(base);
  await browser.evaluate(
    listener,
    waitFor(`document.getElementById("state").dataset.state === "open"`),
  );
  const speaker = await browser.open(`${base}?autotest=hi%20everyone`);
  const heard = await browser.evaluate(
    listener,
    waitFor(
      `[...document.querySelectorAll("#log li.in .text")].map((e) => e.textContent).join("|")`,
    ),
  );
  assert.equal(heard, "hi everyone");
  // The sender itself gets nothing back in broadcast mode.
  assert.equal(
    await browser.evaluate(
      speaker,
      `document.querySelectorAll("#log li.in").length`,
    ),
    0,
  );
});

Deno.test({
  name:
    "permessage-deflate with Chromium: ws serve's engine with deflate negotiates with the browser and echoes compressed text and binary",
  ignore: missingPeer("chromium"),
}, async () => {
  await using server = serveWebSocket({ port: 0, deflate: true });
  await using browser = await launchChromium();
  const session = await browser.open(`http://127.0.0.1:${server.addr.port}/`);
  const outcome = await browser.evaluate(
    session,
    `new Promise((resolve, reject) => {
      const ws = new WebSocket("ws://127.0.0.1:${server.addr.port}/ws");
      ws.binaryType = "arraybuffer";
      const text = JSON.stringify(Array.from({ length: 3000 }, (_, i) => ({ id: i, name: "item " + i })));
      const bytes = new Uint8Array(100000).map((_, i) => i % 7);
      const got = [];
      ws.onerror = () => reject(new Error("websocket error"));
      ws.onopen = () => { ws.send(text); ws.send(text); ws.send(bytes); };
      ws.onmessage = (event) => {
        got.push(event.data);
        if (got.length < 3) return;
        const echoed = new Uint8Array(got[2]);
        resolve({
          extensions: ws.extensions,
          texts: got[0] === text && got[1] === text,
          binary: echoed.length === bytes.length && echoed.every((b, i) => b === bytes[i]),
        });
        ws.close(1000);
      };
    })`,
  );
  assert.deepEqual(outcome, {
    extensions: "permessage-deflate",
    texts: true,
    binary: true,
  });
  assert.equal(server.stats().messagesIn, 3);
});
