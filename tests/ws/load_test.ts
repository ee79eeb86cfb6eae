import assert from "node:assert/strict";
import { loadWebSocket, serveWebSocket } from "../../ws/mod.ts";

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

Deno.test("load ws: only ws:// URLs on loopback", async () => {
  await assert.rejects(
    () => loadWebSocket("http://127.0.0.1:1/", {}),
    { code: "bad_option" },
  );
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
