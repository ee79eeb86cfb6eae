// serveWebSocket against Deno's WebSocket client, the hand-rolled raw
// client, and raw HTTP over TCP for malformed upgrades.

import assert from "node:assert/strict";
import { serveWebSocket, type WsServer } from "../../ws/server.ts";
import { openRaw, type RawEvent, type TestRaw } from "./_raw.ts";
import { checkServerHandshake, parseResponseHead } from "../../ws/handshake.ts";
import { type Frame, OPCODE } from "../../ws/frame.ts";
import {
  connectTo,
  seededBytes,
  testTls,
  WAIT_MS,
  waitFor,
  withTimeout,
} from "../_helpers.ts";
import { endOf, socketFds } from "../_strangers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const TIMEOUT = 5000;

function wsUrl(server: WsServer, path = "/ws"): string {
  return `ws://127.0.0.1:${server.addr.port}${path}`;
}

/** A runtime WebSocket with its messages and close as promises. */
async function open(url: string, protocols?: string[]) {
  const socket = new WebSocket(url, protocols);
  socket.binaryType = "arraybuffer";
  const messages: (string | Uint8Array)[] = [];
  let wake: (() => void) | undefined;
  socket.onmessage = (event) => {
    messages.push(
      typeof event.data === "string" ? event.data : new Uint8Array(event.data),
    );
    wake?.();
  };
  const closed = new Promise<CloseEvent>((resolve) => socket.onclose = resolve);
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`could not open ${url}`));
    }),
    WAIT_MS,
    `${url} to open`,
  );
  return {
    socket,
    closed,
    messages,
    /** Resolves with the n-th message (1-based) once it has arrived. */
    async nth(n: number): Promise<string | Uint8Array> {
      while (messages.length < n) {
        await withTimeout(
          new Promise<void>((resolve) => wake = resolve),
          WAIT_MS,
          `message ${n}`,
        );
      }
      return messages[n - 1]!;
    },
    async close() {
      if (socket.readyState < WebSocket.CLOSING) socket.close();
      return await withTimeout(closed, WAIT_MS, "the close");
    },
  };
}

/** Sends raw HTTP and parses the response head. */
async function rawHttp(port: number, request: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(enc.encode(request));
    const buf = new Uint8Array(16 * 1024);
    let filled = 0;
    for (;;) {
      const n = await conn.read(buf.subarray(filled));
      if (n === null) {
        throw new Error("connection closed before a response head");
      }
      filled += n;
      const parsed = parseResponseHead(buf.subarray(0, filled));
      if (parsed) return parsed.head;
    }
  } finally {
    conn.close();
  }
}

function upgradeRequest(
  overrides: Record<string, string | null> = {},
  first = "GET /ws HTTP/1.1",
) {
  const headers: Record<string, string | null> = {
    Host: "127.0.0.1",
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": KEY,
    "Sec-WebSocket-Version": "13",
    ...overrides,
  };
  const lines = Object.entries(headers).filter(([, v]) => v !== null).map((
    [k, v],
  ) => `${k}: ${v}`);
  return `${first}\r\n${lines.join("\r\n")}\r\n\r\n`;
}

/** The next frame, failing the test on anything else. */
async function nextFrame(raw: TestRaw): Promise<Frame> {
  const event: RawEvent = await raw.next(TIMEOUT);
  assert.ok(
    "opcode" in event,
    `expected a frame, got ${JSON.stringify(event)}`,
  );
  return event;
}

function closeCode(frame: Frame): number {
  assert.equal(frame.opcode, OPCODE.close);
  return (frame.payload[0]! << 8) | frame.payload[1]!;
}

Deno.test("echo: text and binary come back unchanged (Deno's WebSocket client)", async () => {
  await using server = serveWebSocket({ port: 0 });
  const client = await open(wsUrl(server));
  const binary = seededBytes(70_000);
  client.socket.send("hello, 世界");
  client.socket.send(binary);
  client.socket.send("");
  assert.equal(await client.nth(1), "hello, 世界");
  assert.deepEqual(await client.nth(2), binary);
  assert.equal(await client.nth(3), "");
  const closed = await client.close();
  assert.equal(closed.wasClean, true);
  const stats = server.stats();
  assert.equal(stats.served, 1);
  assert.equal(stats.messagesIn, 3);
  assert.equal(stats.messagesOut, 3);
  assert.equal(stats.bytesIn, enc.encode("hello, 世界").length + binary.length);
});

Deno.test("echo: the raw client sees a valid 101 and unmasked echoes of its masked frames", async () => {
  await using server = serveWebSocket({ port: 0 });
  const raw = await openRaw(new URL(wsUrl(server)), { timeoutMs: TIMEOUT });
  try {
    assert.deepEqual(checkServerHandshake(raw.response, raw.key), []);
    await raw.send({ opcode: OPCODE.text, payload: enc.encode("raw hello") });
    const text = await nextFrame(raw);
    assert.equal(text.opcode, OPCODE.text);
    assert.equal(text.masked, false);
    assert.equal(dec.decode(text.payload), "raw hello");
    const bytes = seededBytes(300, 7);
    await raw.send({ opcode: OPCODE.binary, payload: bytes });
    const binary = await nextFrame(raw);
    assert.equal(binary.opcode, OPCODE.binary);
    assert.deepEqual(binary.payload, bytes);
    // A fragmented message is reassembled before it is echoed.
    await raw.send({
      opcode: OPCODE.text,
      fin: false,
      payload: enc.encode("frag"),
    });
    await raw.send({
      opcode: OPCODE.continuation,
      payload: enc.encode("mented"),
    });
    assert.equal(dec.decode((await nextFrame(raw)).payload), "fragmented");
    await raw.send({
      opcode: OPCODE.close,
      payload: new Uint8Array([0x03, 0xe8]),
    });
    assert.equal(closeCode(await nextFrame(raw)), 1000);
  } finally {
    raw.close();
  }
});

Deno.test("broadcast: a message reaches every other client and not the sender", async () => {
  await using server = serveWebSocket({ port: 0, mode: "broadcast" });
  const a = await open(wsUrl(server));
  const b = await open(wsUrl(server));
  const c = await open(wsUrl(server));
  a.socket.send("from a");
  assert.equal(await b.nth(1), "from a");
  assert.equal(await c.nth(1), "from a");
  b.socket.send("from b");
  // a's first message is b's: its own never came back.
  assert.equal(await a.nth(1), "from b");
  assert.equal(await c.nth(2), "from b");
  assert.deepEqual(b.messages, ["from a"]);
  await Promise.all([a.close(), b.close(), c.close()]);
  assert.equal(server.stats().messagesOut, 4);
});

Deno.test("origin: allowed origins connect, others get 403, no Origin is allowed", async () => {
  await using server = serveWebSocket({
    port: 0,
    allowedOrigins: ["https://good.example"],
  });
  const url = new URL(wsUrl(server));
  const outcomes: Record<string, number> = {};
  for (const origin of ["https://good.example", "https://evil.example", null]) {
    const headers: HeadersInit = origin ? { Origin: origin } : {};
    const raw = await openRaw(url, { headers, timeoutMs: TIMEOUT });
    outcomes[String(origin)] = raw.response.status;
    raw.close();
  }
  assert.deepEqual(outcomes, {
    "https://good.example": 101,
    "https://evil.example": 403,
    "null": 101,
  });
  assert.equal(server.stats().originRejected, 1);
});

Deno.test("origin: by default only the server's own origin (its Host) gets in; another site's page gets 403; * lets any in", async () => {
  await using server = serveWebSocket({ port: 0 });
  const url = new URL(wsUrl(server));
  const own = `http://${url.host}`;
  const outcomes: Record<string, number> = {};
  const origins = [
    own,
    `https://${url.host}`,
    "https://evil.example",
    `http://${url.hostname}:${Number(url.port) + 1}`,
    `http://${url.host}.evil.net`,
    "null",
    null,
  ];
  for (const origin of origins) {
    const headers: HeadersInit = origin ? { Origin: origin } : {};
    const raw = await openRaw(url, { headers, timeoutMs: TIMEOUT });
    outcomes[origin ?? "(no Origin)"] = raw.response.status;
    await raw.close();
  }
  assert.deepEqual(outcomes, {
    [own]: 101,
    // The scheme differs, but the page still names this host and port.
    [`https://${url.host}`]: 101,
    "https://evil.example": 403,
    [`http://${url.hostname}:${Number(url.port) + 1}`]: 403,
    [`http://${url.host}.evil.net`]: 403,
    "null": 403,
    "(no Origin)": 101,
  });
  await using any = serveWebSocket({ port: 0, allowedOrigins: ["*"] });
  const anyUrl = new URL(wsUrl(any));
  const raw = await openRaw(anyUrl, {
    headers: { Origin: "https://evil.example" },
    timeoutMs: TIMEOUT,
  });
  assert.equal(raw.response.status, 101);
  await raw.close();
});

Deno.test("origin: matched exactly, never as a prefix (a longer origin that starts with an allowed one is refused)", async () => {
  await using server = serveWebSocket({
    port: 0,
    // Written as a user might: trailing slash, capitals, default port.
    allowedOrigins: ["https://Good.example:443/", "http://127.0.0.1:8080"],
  });
  const url = new URL(wsUrl(server));
  const outcomes: Record<string, number> = {};
  const origins = [
    "https://good.example",
    "https://GOOD.EXAMPLE",
    "http://127.0.0.1:8080",
    "https://good.example.evil.net",
    "https://good.example:8443",
    "https://good.examplex",
    "http://good.example",
    "http://127.0.0.1:80800",
    "http://127.0.0.1:8080.evil.net",
    "null",
  ];
  for (const origin of origins) {
    const raw = await openRaw(url, {
      headers: { Origin: origin },
      timeoutMs: TIMEOUT,
    });
    outcomes[origin] = raw.response.status;
    await raw.close();
  }
  assert.deepEqual(outcomes, {
    "https://good.example": 101,
    "https://GOOD.EXAMPLE": 101,
    "http://127.0.0.1:8080": 101,
    "https://good.example.evil.net": 403,
    "https://good.example:8443": 403,
    "https://good.examplex": 403,
    "http://good.example": 403,
    "http://127.0.0.1:80800": 403,
    "http://127.0.0.1:8080.evil.net": 403,
    "null": 403,
  });
  assert.equal(server.stats().originRejected, 7);
});

Deno.test("handshake: each malformed upgrade gets its RFC 6455 status", async () => {
  await using server = serveWebSocket({ port: 0 });
  const port = server.addr.port;
  const cases: [string, string, number, Record<string, string>][] = [
    ["POST", upgradeRequest({}, "POST /ws HTTP/1.1"), 405, { allow: "GET" }],
    ["bad key", upgradeRequest({ "Sec-WebSocket-Key": "abc" }), 400, {}],
    ["missing key", upgradeRequest({ "Sec-WebSocket-Key": null }), 400, {}],
    ["Upgrade: h2c", upgradeRequest({ Upgrade: "h2c" }), 400, {}],
    [
      "Connection: keep-alive",
      upgradeRequest({ Connection: "keep-alive" }),
      400,
      {},
    ],
    ["version 8", upgradeRequest({ "Sec-WebSocket-Version": "8" }), 426, {
      "sec-websocket-version": "13",
    }],
    ["no version", upgradeRequest({ "Sec-WebSocket-Version": null }), 426, {
      "sec-websocket-version": "13",
    }],
    ["plain GET", "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 426, {
      upgrade: "websocket",
    }],
    ["other path", upgradeRequest({}, "GET /elsewhere HTTP/1.1"), 404, {}],
  ];
  for (const [name, request, status, headers] of cases) {
    const head = await rawHttp(port, request);
    assert.equal(head.status, status, name);
    for (const [header, value] of Object.entries(headers)) {
      assert.equal(head.headers.get(header), value, `${name}: ${header}`);
    }
  }
  // Tolerant where RFC 6455 is: token lists and case.
  const lenient = await rawHttp(
    port,
    upgradeRequest({ Connection: "keep-alive, Upgrade", Upgrade: "WebSocket" }),
  );
  assert.equal(lenient.status, 101);
  assert.equal(server.stats().handshakeRejected, 8);
});

Deno.test("page: served at / with a strict CSP; disabled with page: false", async () => {
  await using server = serveWebSocket({ port: 0 });
  const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
  const html = await response.text();
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type")!, /^text\/html/);
  assert.match(
    response.headers.get("content-security-policy")!,
    /default-src 'none'/,
  );
  assert.match(html, /<meta name="netkit-ws-path" content="\/ws">/);
  await using bare = serveWebSocket({ port: 0, page: false });
  const none = await fetch(`http://127.0.0.1:${bare.addr.port}/`);
  await none.body?.cancel();
  assert.equal(none.status, 404);
});

Deno.test("max message size: a bigger message closes the client with 1009", async () => {
  await using server = serveWebSocket({ port: 0, maxMessageSize: 100 });
  const client = await open(wsUrl(server));
  client.socket.send("x".repeat(100));
  // 40 two-byte characters are 80 bytes: under the limit.
  client.socket.send("é".repeat(40));
  assert.equal(await client.nth(1), "x".repeat(100));
  assert.equal(await client.nth(2), "é".repeat(40));
  // 60 characters but 120 bytes: over it.
  client.socket.send("é".repeat(60));
  const closed = await withTimeout(client.closed, WAIT_MS, "the close");
  assert.equal(closed.code, 1009);
  assert.equal(server.stats().tooLarge, 1);
  assert.equal(client.messages.length, 2);
});

Deno.test("broadcast: a client that never reads is closed with 1008 while others keep receiving", async () => {
  await using server = serveWebSocket({
    port: 0,
    mode: "broadcast",
    maxBufferedAmount: 64 * 1024,
    // The slow client reads its backlog (megabytes in the kernel's
    // buffers) before it reaches the 1008: on a starved machine that took
    // longer than the default 5 s, after which the server rightly cuts it.
    closeTimeoutMs: WAIT_MS,
  });
  const slow = await openRaw(new URL(wsUrl(server)), { timeoutMs: TIMEOUT });
  try {
    const sender = await open(wsUrl(server));
    const reader = await open(wsUrl(server));
    const chunk = seededBytes(64 * 1024, 3);
    // The kernel's socket buffers absorb a few MB before the server's own
    // queue for the slow client grows; bounded at 64 MiB sent.
    let sent = 0;
    while (server.stats().slowClientsDropped === 0) {
      assert.ok(sent < 1024, "the slow client was never dropped");
      sender.socket.send(chunk);
      sent++;
      await reader.nth(sent);
    }
    // The slow client finds the 1008 after the data queued before it. It
    // starts reading at once, well inside the close timeout above.
    const draining = (async () => {
      let frame: Frame;
      let frames = 0;
      do {
        frame = await nextFrame(slow);
        frames++;
      } while (frame.opcode !== OPCODE.close);
      return { frame, frames };
    })();
    draining.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
    sender.socket.send("still flowing");
    assert.equal(await reader.nth(sent + 1), "still flowing");
    const { frame, frames } = await draining;
    assert.equal(closeCode(frame), 1008);
    assert.ok(frames <= sent);
    assert.equal(server.stats().slowClientsDropped, 1);
    await Promise.all([sender.close(), reader.close()]);
  } finally {
    slow.close();
  }
});

Deno.test("shutdown: connected clients get 1001 and shutdown resolves", async () => {
  const server = serveWebSocket({ port: 0, gracePeriodMs: 300 });
  const a = await open(wsUrl(server));
  const b = await open(wsUrl(server));
  a.socket.send("before");
  assert.equal(await a.nth(1), "before");
  // A raw client that never answers the close: the grace period ends it.
  const silent = await openRaw(new URL(wsUrl(server)), { timeoutMs: TIMEOUT });
  try {
    await server.shutdown();
    const [ca, cb] = await withTimeout(
      Promise.all([a.closed, b.closed]),
      WAIT_MS,
      "both closes",
    );
    assert.equal(ca.code, 1001);
    assert.equal(cb.code, 1001);
    assert.equal(closeCode(await nextFrame(silent)), 1001);
    await withTimeout(server.finished, WAIT_MS, "the server to finish");
    assert.equal(server.stats().active, 0);
    // New connections are refused once it is down.
    await assert.rejects(
      Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }),
    );
  } finally {
    silent.close();
  }
});

Deno.test("maxConnections: the connection over the limit gets 503", async () => {
  await using server = serveWebSocket({ port: 0, maxConnections: 1 });
  const first = await open(wsUrl(server));
  const second = await openRaw(new URL(wsUrl(server)), { timeoutMs: TIMEOUT });
  second.close();
  assert.equal(second.response.status, 503);
  await first.close();
  assert.equal(server.stats().refused, 1);
});

Deno.test("protocols: the client's first offer the server accepts is chosen", async () => {
  await using server = serveWebSocket({
    port: 0,
    protocols: ["chat.v1", "chat.v2"],
  });
  const both = await open(wsUrl(server), ["chat.v2", "chat.v1"]);
  assert.equal(both.socket.protocol, "chat.v2");
  const none = await open(wsUrl(server), ["other"]);
  assert.equal(none.socket.protocol, "");
  await Promise.all([both.close(), none.close()]);
});

Deno.test("signal: aborting shuts the server down", async () => {
  const controller = new AbortController();
  const server = serveWebSocket({ port: 0, signal: controller.signal });
  const client = await open(wsUrl(server));
  controller.abort();
  assert.equal(
    (await withTimeout(client.closed, WAIT_MS, "the close")).code,
    1001,
  );
  await withTimeout(server.finished, WAIT_MS, "the server to finish");
});

Deno.test("onError: a protocol violation is reported with the client, a vanished client is not", async () => {
  const reported = Promise.withResolvers<unknown>();
  await using server = serveWebSocket({ port: 0, onError: reported.resolve });
  const url = new URL(wsUrl(server));
  // Drops TCP without a close frame: routine, not reported.
  const vanished = await openRaw(url, { timeoutMs: TIMEOUT });
  vanished.close();
  const rude = await openRaw(url, { timeoutMs: TIMEOUT });
  try {
    await rude.send({ opcode: 3, payload: enc.encode("reserved opcode") });
    const error = await withTimeout(reported.promise, WAIT_MS, "onError");
    assert.ok(error instanceof Error);
    assert.match(
      error.message,
      /^client 127\.0\.0\.1:\d+: .*; connection dropped$/,
    );
    assert.equal(server.stats().errors, 1);
  } finally {
    rude.close();
  }
});

Deno.test("serveWebSocket over TLS: clients that never start the TLS handshake are reset at the head deadline, their fds freed", async () => {
  const tls = await testTls();
  await using server = serveWebSocket({
    port: 0,
    tls: { cert: tls.cert, key: tls.key },
    headTimeoutMs: 100,
  });
  // The test's own sockets: the server's side of each silent client
  // must go, the client's side stays until the test closes it.
  const before = socketFds("self");
  const silent = await Promise.all(
    Array.from({ length: 5 }, () => connectTo(server.addr)),
  );
  try {
    for (const conn of silent) {
      assert.equal(await endOf(conn, "the head deadline's reset"), "reset");
    }
    await waitFor(
      "the server to let go of every fd",
      () => socketFds("self") <= before + silent.length,
    );
    assert.equal(server.stats().headTimeouts, 5);
  } finally {
    for (const conn of silent) conn.close();
  }
});
