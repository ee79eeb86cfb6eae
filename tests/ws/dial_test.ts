// The one client edge (ws/dial.ts): one deadline for the whole head, the
// head size limit as soon as the bytes show it, the bytes after the head
// handed back, and one error family. Each peer is a raw TCP server on
// 127.0.0.1 that misbehaves in one way; every wait is bounded.

import assert from "node:assert/strict";
import {
  acceptKey,
  dialWebSocket,
  encodeFrame,
  OPCODE,
  sendHandshake,
  serveWebSocket,
  WsError,
} from "../../ws/mod.ts";
import { freePort, withTimeout } from "../_helpers.ts";

const encoder = new TextEncoder();
const REQUEST = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
/** Far longer than any deadline below: a hang fails the test, not the suite. */
const BOUND_MS = 10_000;

/**
 * A server that reads the request head and then runs `answer` on the
 * connection; closed (with its connections) when disposed.
 */
function rawServer(
  answer: (conn: Deno.Conn, key: string) => Promise<void>,
): { url: string } & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      const task = (async () => {
        const buf = new Uint8Array(4096);
        let text = "";
        while (!text.includes("\r\n\r\n")) {
          const n = await conn.read(buf);
          if (n === null) return;
          text += new TextDecoder().decode(buf.subarray(0, n));
        }
        const key = /sec-websocket-key: *(\S+)/i.exec(text)?.[1] ?? "";
        await answer(conn, key);
      })().catch(() => {}).finally(() => {
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* already closed */ }
      });
      tasks.add(task);
    }
  })();
  return {
    url: `ws://127.0.0.1:${listener.addr.port}/`,
    async [Symbol.asyncDispose]() {
      listener.close();
      await loop;
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      await Promise.all(tasks);
    },
  };
}

/** Waits until the client goes away. */
async function drain(conn: Deno.Conn) {
  const sink = new Uint8Array(1024);
  while (await conn.read(sink) !== null) { /* discard */ }
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  what: string,
): Promise<WsError> {
  try {
    await withTimeout(promise, BOUND_MS, what);
  } catch (error) {
    assert.ok(error instanceof WsError, String(error));
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`${what}: resolved, expected ${code}`);
}

Deno.test("edge: a server that never answers fails at the deadline", async () => {
  await using server = rawServer(drain);
  const error = await rejectsWith(
    sendHandshake(server.url, REQUEST, { timeoutMs: 150 }),
    "timeout",
    "the silent server's deadline",
  );
  assert.match(
    error.message,
    /^timed out waiting 150 ms for a handshake response from 127\.0\.0\.1:\d+$/,
  );
});

Deno.test("edge: a trickling head does not extend the deadline", async () => {
  // One byte every 20 ms of a head that never ends: a per-read deadline
  // would wait forever; the whole-head deadline does not.
  await using server = rawServer(async (conn) => {
    const head = encoder.encode("HTTP/1.1 101 Switching Protocols\r\n");
    for (let i = 0; i < 500; i++) {
      await conn.write(head.subarray(i % head.length, i % head.length + 1));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
  await rejectsWith(
    sendHandshake(server.url, REQUEST, { timeoutMs: 300 }),
    "timeout",
    "the trickling server's deadline",
  );
});

Deno.test("edge: a head past the size or field limit fails at once, not at the deadline", async () => {
  // Header lines without end, and the connection kept open: only the
  // limit can end this before the (long) deadline.
  await using server = rawServer(async (conn) => {
    await conn.write(encoder.encode("HTTP/1.1 101 Switching Protocols\r\n"));
    const line = encoder.encode("X-Filler: 0123456789abcdef\r\n");
    for (let i = 0; i < 2000; i++) await conn.write(line);
    await drain(conn);
  });
  // The deadline is 60 s and rejectsWith waits at most 10 s: only the
  // limit can end these in time.
  const tooLarge = await rejectsWith(
    sendHandshake(server.url, REQUEST, {
      timeoutMs: 60_000,
      maxHeadBytes: 4096,
      maxHeaders: 1000,
    }),
    "head_too_large",
    "the oversized head",
  );
  assert.match(tooLarge.message, /larger than 4096 bytes/);
  const tooMany = await rejectsWith(
    sendHandshake(server.url, REQUEST, { timeoutMs: 60_000, maxHeaders: 20 }),
    "head_too_large",
    "the head with too many fields",
  );
  assert.match(tooMany.message, /more than 20 header fields/);
});

Deno.test("edge: the bytes after the head come back as leftover", async () => {
  const frame = encodeFrame({
    opcode: OPCODE.text,
    payload: encoder.encode("first"),
  });
  await using server = rawServer(async (conn, key) => {
    const head = encoder.encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
        `Connection: Upgrade\r\nSec-WebSocket-Accept: ${
          acceptKey(key)
        }\r\n\r\n`,
    );
    await conn.write(new Uint8Array([...head, ...frame]));
    await drain(conn);
  });
  const ws = await withTimeout(
    dialWebSocket(server.url),
    BOUND_MS,
    "the upgrade",
  );
  ws.conn.close();
  assert.deepEqual(ws.leftover, frame);
  assert.equal(ws.response.status, 101);
});

Deno.test("edge: a closed, silent, refused or non-HTTP server is one WsError each", async () => {
  await using hangUp = rawServer(() => Promise.resolve());
  const closed = await rejectsWith(
    sendHandshake(hangUp.url, REQUEST),
    "bad_http",
    "the hang-up",
  );
  assert.equal(
    closed.message,
    "server closed the connection without a handshake response",
  );
  await using ssh = rawServer(async (conn) => {
    await conn.write(encoder.encode("SSH-2.0-OpenSSH_9.6\r\n"));
    await drain(conn);
  });
  await rejectsWith(sendHandshake(ssh.url, REQUEST), "bad_http", "ssh");
  const port = freePort();
  const refused = await rejectsWith(
    dialWebSocket(`ws://127.0.0.1:${port}/`),
    "connect_failed",
    "the refused connect",
  );
  assert.match(refused.message, /refused/);
  await rejectsWith(dialWebSocket("ftp://127.0.0.1/"), "bad_url", "ftp");
});

Deno.test("edge: aborting the signal ends the exchange with its reason", async () => {
  await using server = rawServer(drain);
  const controller = new AbortController();
  const pending = sendHandshake(server.url, REQUEST, {
    signal: controller.signal,
  });
  const reason = new Error("enough");
  setTimeout(() => controller.abort(reason), 50);
  await assert.rejects(withTimeout(pending, BOUND_MS, "the abort"), reason);
  await assert.rejects(
    sendHandshake(server.url, REQUEST, { signal: AbortSignal.abort(reason) }),
    reason,
  );
});

Deno.test("edge: a refused upgrade names the status and the body's start", async () => {
  await using server = serveWebSocket({
    port: 0,
    allowedOrigins: ["https://good.example"],
  });
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  const error = await rejectsWith(
    dialWebSocket(url, { headers: { Origin: "https://evil.example" } }),
    "handshake_failed",
    "the 403",
  );
  assert.equal(
    error.message,
    "HTTP 403 Forbidden: origin https://evil.example is not allowed",
  );
  const ok = await dialWebSocket(url, {
    headers: { Origin: "https://good.example" },
  });
  ok.conn.close();
});
