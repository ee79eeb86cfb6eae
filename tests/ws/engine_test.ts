// The engine under hostile input: a fragment flood against the CLI server
// (memory read from /proc), handshake tricklers against the head deadline,
// head limits, unmasked frames, and wss:// with the committed certificate.

import assert from "node:assert/strict";
import { serveWebSocket } from "../../ws/server.ts";
import { connectWebSocket } from "../../ws/client.ts";
import { openRaw, type RawEvent } from "./_raw.ts";
import { encodeFrame, OPCODE } from "../../ws/frame.ts";
import { parseResponseHead } from "../../ws/handshake.ts";
import { runCli, startCli, testTls } from "../_helpers.ts";

const enc = new TextEncoder();
const TIMEOUT = 10_000;

/** VmRSS and VmHWM (peak) of a process, in bytes. */
async function memory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)![1]) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

/**
 * The process that serves: `deno task` runs the CLI as a child, so follow
 * the children down to the last one.
 */
async function leafProcess(pid: number): Promise<number> {
  for (;;) {
    let children: number[] = [];
    for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
      const text = await Deno.readTextFile(
        `/proc/${pid}/task/${task.name}/children`,
      ).catch(() => "");
      children.push(...text.trim().split(/\s+/).filter(Boolean).map(Number));
    }
    children = children.filter((c) => c > 0);
    if (children.length === 0) return pid;
    pid = children[0]!;
  }
}

/** The next close frame's code, skipping anything else; fails on EOF or timeout. */
async function closeCodeOf(next: (ms: number) => Promise<RawEvent>) {
  for (;;) {
    const event = await next(TIMEOUT);
    assert.ok(
      "opcode" in event,
      `expected a close frame, got ${JSON.stringify(event)}`,
    );
    if (event.opcode === OPCODE.close) {
      return event.payload[0]! << 8 | event.payload[1]!;
    }
  }
}

Deno.test("fragment flood: 300 MiB of non-final fragments against --max-message 1M is closed with 1009 and the server's RSS grows by less than 32 MB", async () => {
  const server = await startCli([
    "ws",
    "serve",
    "--port",
    "0",
    "--max-message",
    "1M",
  ]);
  try {
    const pid = await leafProcess(server.process.pid);
    const port = server.ports.ws!;
    const raw = await openRaw(new URL(`ws://127.0.0.1:${port}/ws`), {
      timeoutMs: TIMEOUT,
    });
    // Reset the peak (VmHWM) to the current RSS, so the peak read after
    // the flood is the flood's (Linux clear_refs "5").
    await Deno.writeTextFile(`/proc/${pid}/clear_refs`, "5");
    const before = await memory(pid);
    const fragment = new Uint8Array(64 * 1024);
    const first = encodeFrame({
      opcode: OPCODE.binary,
      fin: false,
      payload: fragment,
      mask: true,
    });
    const more = encodeFrame({
      opcode: OPCODE.continuation,
      fin: false,
      payload: fragment,
      mask: true,
    });
    const total = 300 * 1024 * 1024;
    const closed = closeCodeOf((ms) => raw.next(ms));
    let sent = 0;
    let sentAtClose = -1;
    void closed.finally(() => sentAtClose = sent);
    try {
      await raw.sendRaw(first);
      sent += fragment.length;
      // Keep flooding past the 1009, until 300 MiB are out or the server
      // stops reading (it discards what follows its Close, then hangs up).
      while (sent < total) {
        await raw.sendRaw(more);
        sent += fragment.length;
      }
    } catch {
      // The server closed the connection: the flood is over.
    }
    assert.equal(await closed, 1009);
    // The 1009 came before much more than the limit was sent (the kernel's
    // buffers hold a few MB in flight).
    assert.ok(
      sentAtClose < 64 * 1024 * 1024,
      `1009 only after ${sentAtClose} bytes`,
    );
    assert.ok(sent > 1024 * 1024, `only ${sent} bytes were sent`);
    const after = await memory(pid);
    const growth = after.peak - before.rss;
    console.log(
      `fragment flood: RSS ${(before.rss / 1e6).toFixed(1)} MB before, peak ` +
        `${(after.peak / 1e6).toFixed(1)} MB (growth ${
          (growth / 1e6).toFixed(1)
        } MB); ` +
        `1009 after ${(sentAtClose / 1048576).toFixed(1)} MiB, ` +
        `${(sent / 1048576).toFixed(1)} MiB sent in all`,
    );
    assert.ok(growth < 32e6, `RSS grew by ${growth} bytes`);
    raw.close();
  } finally {
    await server.stop();
  }
});

/** A TCP connection that sends the start of an upgrade request one byte per tick. */
async function trickler(port: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const request = enc.encode(
    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" +
      "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
      "X-Padding: " + "a".repeat(400) + "\r\n\r\n",
  );
  let at = 0;
  const ended = (async () => {
    const buf = new Uint8Array(1024);
    try {
      while ((await conn.read(buf)) !== null) { /* nothing is expected */ }
    } catch {
      // Reset: closed too.
    }
  })();
  let done = false;
  void ended.then(() => done = true);
  return {
    ended,
    get done() {
      return done;
    },
    async tick() {
      if (done || at >= request.length) return;
      try {
        await conn.write(request.subarray(at, ++at));
      } catch {
        done = true;
      }
    },
    close() {
      try {
        conn.close();
      } catch {
        // Already closed by the reader.
      }
    },
  };
}

Deno.test("handshake trickle: 1000 clients sending a byte at a time are closed at the head deadline while a fresh client is served", async () => {
  const N = 1000;
  await using server = serveWebSocket({ port: 0, headTimeoutMs: 2000 });
  const port = server.addr.port;
  const tricklers = await Promise.all(
    Array.from({ length: N }, () => trickler(port)),
  );
  try {
    let ticking = true;
    const ticker = (async () => {
      while (ticking && tricklers.some((t) => !t.done)) {
        await Promise.all(tricklers.map((t) => t.tick()));
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    // While all of them trickle, a real client connects and gets its echo.
    await using client = await connectWebSocket(`ws://127.0.0.1:${port}/ws`, {
      timeoutMs: TIMEOUT,
    });
    client.send("still served");
    for await (const message of client) {
      assert.equal(message, "still served");
      break;
    }
    assert.ok(
      tricklers.some((t) => !t.done),
      "the tricklers were closed before the fresh client was served",
    );
    // Every trickler is closed by the server (its head never completes).
    const all = Promise.all(tricklers.map((t) => t.ended));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`tricklers still open after ${TIMEOUT * 3} ms`)),
        TIMEOUT * 3,
      );
    });
    await Promise.race([all, bound]).finally(() => clearTimeout(timer));
    ticking = false;
    await ticker;
    assert.equal(server.stats().headTimeouts, N);
  } finally {
    for (const t of tricklers) t.close();
  }
});

async function rawHead(port: number, request: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(enc.encode(request));
    const buf = new Uint8Array(64 * 1024);
    let filled = 0;
    for (;;) {
      const n = await conn.read(buf.subarray(filled));
      if (n === null) throw new Error("closed before a response head");
      filled += n;
      const parsed = parseResponseHead(buf.subarray(0, filled));
      if (parsed) return parsed.head;
    }
  } finally {
    conn.close();
  }
}

Deno.test("request head limits: too many fields or bytes get 431, a malformed head 400", async () => {
  await using server = serveWebSocket({
    port: 0,
    maxHeaders: 10,
    maxHeadBytes: 2048,
  });
  const port = server.addr.port;
  const fields = Array.from({ length: 11 }, (_, i) => `X-${i}: ${i}\r\n`).join(
    "",
  );
  assert.equal(
    (await rawHead(port, `GET /ws HTTP/1.1\r\n${fields}\r\n`)).status,
    431,
  );
  const big = `GET /ws HTTP/1.1\r\nX-Big: ${"a".repeat(3000)}\r\n\r\n`;
  assert.equal((await rawHead(port, big)).status, 431);
  assert.equal((await rawHead(port, "GET /ws\r\n\r\n")).status, 400);
  assert.equal(
    (await rawHead(port, "GET /ws HTTP/1.1\nHost: a\n\n")).status,
    400,
  );
});

Deno.test("masking: an unmasked client frame fails the connection with 1002", async () => {
  await using server = serveWebSocket({ port: 0 });
  const raw = await openRaw(new URL(`ws://127.0.0.1:${server.addr.port}/ws`), {
    timeoutMs: TIMEOUT,
  });
  try {
    await raw.sendRaw(
      encodeFrame({ opcode: OPCODE.text, payload: enc.encode("bare") }),
    );
    assert.equal(await closeCodeOf((ms) => raw.next(ms)), 1002);
  } finally {
    raw.close();
  }
});

Deno.test("wss: the server serves TLS with the committed certificate; page over https", async () => {
  const { cert, key } = await testTls();
  await using server = serveWebSocket({ port: 0, tls: { cert, key } });
  const port = server.addr.port;
  await using client = await connectWebSocket(`wss://localhost:${port}/ws`, {
    caCerts: [cert],
  });
  client.send("secure");
  for await (const message of client) {
    assert.equal(message, "secure");
    break;
  }
  const http = Deno.createHttpClient({ caCerts: [cert] });
  try {
    const page = await fetch(`https://localhost:${port}/`, { client: http });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
  } finally {
    http.close();
  }
  const info = await client.close(1000, "done");
  assert.deepEqual(info, { code: 1000, reason: "done", wasClean: true });
});

Deno.test("idle timeout: a silent client is pinged, then closed with 1001", async () => {
  await using server = serveWebSocket({ port: 0, idleTimeoutMs: 400 });
  const raw = await openRaw(new URL(`ws://127.0.0.1:${server.addr.port}/ws`), {
    timeoutMs: TIMEOUT,
  });
  try {
    const ping = await raw.next(TIMEOUT);
    assert.ok(
      "opcode" in ping && ping.opcode === OPCODE.ping,
      JSON.stringify(ping),
    );
    // No pong: the next thing is the close.
    assert.equal(await closeCodeOf((ms) => raw.next(ms)), 1001);
  } finally {
    raw.close();
  }
});

Deno.test("ws serve --tls-cert/--tls-key: wss:// from the CLI; a lone --tls-cert is a usage error", async () => {
  const { caPath, cert } = await testTls();
  const keyPath = caPath.replace(/cert\.pem$/, "key.pem");
  const server = await startCli([
    "ws",
    "serve",
    "--port",
    "0",
    "--tls-cert",
    caPath,
    "--tls-key",
    keyPath,
  ]);
  try {
    await using client = await connectWebSocket(
      `wss://localhost:${server.ports.ws}/ws`,
      { caCerts: [cert] },
    );
    client.send("over tls");
    for await (const message of client) {
      assert.equal(message, "over tls");
      break;
    }
  } finally {
    const stopped = await server.stop();
    assert.match(stopped.stderr, /wss:\/\/127\.0\.0\.1:\d+\/ws/);
  }
  const lone = await runCli(["ws", "serve", "--tls-cert", caPath]);
  assert.equal(lone.code, 2);
  assert.match(lone.stderr, /--tls-cert and --tls-key go together/);
});
