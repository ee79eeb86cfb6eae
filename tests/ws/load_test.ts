import assert from "node:assert/strict";
import {
  acceptKey,
  encodeFrame,
  FrameDecoder,
  loadWebSocket,
  OPCODE,
  serveWebSocket,
} from "../../ws/mod.ts";
import { serveTcp } from "../../tcp/mod.ts";

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) {
    off += await conn.write(bytes.subarray(off));
  }
}

Deno.test("load ws: closed-loop counts match the WebSocket server's stats", async () => {
  const server = serveWebSocket({ port: 0 });
  const r = await loadWebSocket(`ws://127.0.0.1:${server.addr.port}/ws`, {
    connections: 3,
    pipeline: 4,
    requests: 1200,
    size: 50,
  });
  const s = server.stats();
  await server.shutdown();
  assert.equal(r.requests, 1200);
  assert.equal(s.messagesIn, 1200);
  assert.equal(s.messagesOut, 1200);
  assert.equal(s.bytesIn, 1200 * 50);
  assert.equal(r.bytesReceived, 1200 * 50);
  assert.equal(s.served, 3);
  assert.deepEqual(Object.values(r.errors).filter((n) => n > 0), []);
});

Deno.test("load ws: a handshake the server refuses is counted, not thrown", async () => {
  await using server = serveWebSocket({ port: 0 });
  const r = await loadWebSocket(
    `ws://127.0.0.1:${server.addr.port}/not-here`,
    { connections: 1, durationMs: 300 },
  );
  assert.equal(r.requests, 0);
  assert.ok(r.errors.other > 0, JSON.stringify(r.errors));
});

Deno.test("load ws: the one URL rule (http:// is ws://), no TLS, loopback only", async () => {
  await using server = serveWebSocket({ port: 0 });
  const r = await loadWebSocket(`http://127.0.0.1:${server.addr.port}/ws`, {
    requests: 20,
  });
  assert.equal(r.requests, 20);
  for (
    const url of ["wss://127.0.0.1:1/", "https://127.0.0.1:1/", "ftp://x/"]
  ) {
    await assert.rejects(() => loadWebSocket(url, {}), { code: "bad_url" });
  }
  await assert.rejects(
    () => loadWebSocket("ws://192.0.2.1:80/", {}),
    { code: "remote_target" },
  );
});

Deno.test("load ws: stream mode keeps a window and every echo checks out", async () => {
  const server = serveWebSocket({ port: 0 });
  const r = await loadWebSocket(`ws://127.0.0.1:${server.addr.port}/ws`, {
    mode: "stream",
    size: 16 * 1024,
    durationMs: 500,
  });
  const s = server.stats();
  await server.shutdown();
  assert.ok(r.bytesReceived > 0);
  assert.equal(r.errors.mismatch, 0);
  assert.equal(s.slowClientsDropped, 0);
  assert.ok(s.bytesOut >= r.bytesReceived);
});

/**
 * A raw WebSocket server on a TCP socket: answers the handshake, then
 * writes the frames `reply` makes of each binary message, one by one.
 */
function rawServer(reply: (data: Uint8Array) => Uint8Array[]) {
  return serveTcp(async (conn) => {
    // Two small writes per reply: without this, Nagle holds the second
    // until the client's delayed ACK (40 ms a message).
    (conn as Deno.TcpConn).setNoDelay(true);
    const buf = new Uint8Array(64 * 1024);
    let head = "";
    let rest = new Uint8Array(0);
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) return;
      head += new TextDecoder().decode(buf.subarray(0, n));
    }
    const end = head.indexOf("\r\n\r\n") + 4;
    rest = new TextEncoder().encode(head.slice(end));
    const key = /sec-websocket-key: *(\S+)/i.exec(head)![1]!;
    await writeAll(
      conn,
      new TextEncoder().encode(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
          `Connection: Upgrade\r\nSec-WebSocket-Accept: ${
            acceptKey(key)
          }\r\n\r\n`,
      ),
    );
    const decoder = new FrameDecoder({ expectMasked: true });
    const answer = async (chunk: Uint8Array) => {
      for (const f of decoder.push(chunk)) {
        if (!("opcode" in f) || f.opcode !== OPCODE.binary) return;
        for (const frame of reply(f.payload.slice())) {
          await writeAll(conn, frame);
        }
      }
    };
    await answer(rest);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return;
      await answer(buf.subarray(0, n));
    }
  }, { port: 0, gracePeriodMs: 0 });
}

/** Sends every reply in two fragments and garbles the last byte of every fifth. */
function fragmentingServer() {
  let replies = 0;
  return rawServer((data) => {
    if (++replies % 5 === 0) data[data.length - 1]! ^= 1;
    const half = data.length >> 1;
    return [
      encodeFrame({
        opcode: OPCODE.binary,
        fin: false,
        payload: data.subarray(0, half),
      }),
      encodeFrame({
        opcode: OPCODE.continuation,
        payload: data.subarray(half),
      }),
    ];
  });
}

Deno.test("load ws: fragmented echoes are reassembled, a wrong one is a mismatch", async () => {
  await using server = fragmentingServer();
  const r = await loadWebSocket(`ws://127.0.0.1:${server.addr.port}/`, {
    requests: 100,
  });
  assert.equal(r.errors.mismatch, 20);
  assert.equal(r.requests, 80);
});

Deno.test("load ws: the server's pings are answered, so an idle connection stays", async () => {
  await using server = serveWebSocket({ port: 0, idleTimeoutMs: 500 });
  // reverse: nothing is sent, so the server pings after its idle time
  // (Deno counts whole seconds) and closes if no pong comes back.
  const r = await loadWebSocket(`ws://127.0.0.1:${server.addr.port}/ws`, {
    mode: "reverse",
    durationMs: 2600,
  });
  assert.deepEqual(Object.values(r.errors).filter((n) => n > 0), []);
  assert.equal(r.connects, 1);
});

Deno.test("load ws: a frame the protocol forbids fails the connection; a server's close ends it", async () => {
  // Opcode 3 is reserved: the protocol core fails the connection.
  await using bad = rawServer(() => [new Uint8Array([0x83, 0x00])]);
  const r = await loadWebSocket(`ws://127.0.0.1:${bad.addr.port}/`, {
    connections: 1,
    durationMs: 300,
  });
  assert.equal(r.requests, 0);
  // A frame that breaks the protocol is the server's fault: `protocol`.
  assert.ok(r.errors.protocol > 0, JSON.stringify(r.errors));
  await using closing = rawServer(() => [
    encodeFrame({ opcode: OPCODE.close, payload: new Uint8Array([3, 232]) }),
  ]);
  const c = await loadWebSocket(`ws://127.0.0.1:${closing.addr.port}/`, {
    connections: 1,
    durationMs: 300,
  });
  assert.equal(c.requests, 0);
  assert.ok(c.errors.closed > 0, JSON.stringify(c.errors));
});
