// connectWebSocket against netkit's server and small purpose-built servers.

import assert from "node:assert/strict";
import { connectWebSocket, type WsMessage } from "../../ws/client.ts";
import { WsError } from "../../ws/errors.ts";
import { serveWebSocket } from "../../ws/server.ts";
import { seededBytes } from "../_helpers.ts";
import { verifyServer } from "../../ws/verify.ts";
import { checkServer } from "../../ws/check/check.ts";

async function take(
  client: AsyncIterable<WsMessage>,
  n: number,
): Promise<WsMessage[]> {
  const got: WsMessage[] = [];
  if (n === 0) return got;
  for await (const message of client) {
    got.push(message);
    if (got.length === n) break;
  }
  return got;
}

Deno.test("client: sends text and binary, iterates the echoes, closes cleanly", async () => {
  await using server = serveWebSocket({ port: 0 });
  const client = await connectWebSocket(
    `ws://127.0.0.1:${server.addr.port}/ws`,
  );
  const bytes = seededBytes(100_000);
  client.send("one");
  client.send(bytes);
  assert.deepEqual(await take(client, 2), ["one", bytes]);
  // Leaving a loop keeps the connection: iterate again.
  client.send("two");
  assert.deepEqual(await take(client, 1), ["two"]);
  assert.deepEqual(await client.close(), {
    code: 1000,
    reason: "",
    wasClean: true,
  });
  assert.throws(
    () => client.send("late"),
    (e) => e instanceof WsError && e.code === "closed",
  );
  // The iterator ends once the connection is closed.
  assert.deepEqual(await take(client, 0), []);
  for await (const _ of client) assert.fail("no messages after close");
});

Deno.test("client: headers and protocols reach the server (runtime WebSocket options)", async () => {
  const seen = Promise.withResolvers<string | null>();
  const serverClosed = Promise.withResolvers<void>();
  await using server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, (request) => {
    seen.resolve(request.headers.get("x-trace"));
    if (request.headers.get("authorization") !== "Bearer secret") {
      return new Response("missing token\n", {
        status: 401,
        statusText: "Unauthorized",
      });
    }
    const { socket, response } = Deno.upgradeWebSocket(request, {
      protocol: "chat",
    });
    socket.onmessage = (event) => socket.send(event.data);
    socket.onclose = () => serverClosed.resolve();
    return response;
  });
  const client = await connectWebSocket(`ws://127.0.0.1:${server.addr.port}/`, {
    headers: { Authorization: "Bearer secret", "X-Trace": "abc" },
    protocols: ["chat", "other"],
  });
  assert.equal(await seen.promise, "abc");
  assert.equal(client.protocol, "chat");
  await client.close();
  await serverClosed.promise;
  // Without the header: the status and body are in the error.
  await assert.rejects(
    connectWebSocket(`ws://127.0.0.1:${server.addr.port}/`),
    (e) =>
      e instanceof WsError && e.code === "handshake_failed" &&
      e.message === "HTTP 401 Unauthorized: missing token",
  );
});

Deno.test("client: a 403 from netkit's origin check is reported with status and body", async () => {
  await using server = serveWebSocket({
    port: 0,
    allowedOrigins: ["https://ok.example"],
  });
  await assert.rejects(
    connectWebSocket(`ws://127.0.0.1:${server.addr.port}/ws`, {
      headers: { Origin: "https://evil.example" },
    }),
    (e) =>
      e instanceof WsError &&
      /^HTTP 403 Forbidden: origin https:\/\/evil\.example is not allowed/.test(
        e.message,
      ),
  );
});

Deno.test("client: refused connection, silent server, bad URL, aborted connect", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const freePort = listener.addr.port;
  listener.close();
  await assert.rejects(
    connectWebSocket(`ws://127.0.0.1:${freePort}/`),
    (e) =>
      e instanceof WsError && e.code === "connect_failed" &&
      /refused/.test(e.message),
  );

  // Accepts TCP and never answers the handshake.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = silent.accept();
  await assert.rejects(
    connectWebSocket(`ws://127.0.0.1:${silent.addr.port}/`, { timeoutMs: 200 }),
    (e) => e instanceof WsError && e.code === "timeout",
  );
  (await accepted).close();
  silent.close();

  await assert.rejects(
    connectWebSocket("ftp://127.0.0.1/"),
    (e) => e instanceof WsError && e.code === "bad_url",
  );
  await assert.rejects(
    connectWebSocket("not a url"),
    (e) => e instanceof WsError && e.code === "bad_url",
  );

  await using server = serveWebSocket({ port: 0 });
  const reason = new Error("changed my mind");
  await assert.rejects(
    connectWebSocket(`ws://127.0.0.1:${server.addr.port}/ws`, {
      signal: AbortSignal.abort(reason),
    }),
    (e) => e === reason,
  );
});

Deno.test("client: closed reports the server's code; the iterator ends", async () => {
  const server = serveWebSocket({ port: 0 });
  const client = await connectWebSocket(
    `ws://127.0.0.1:${server.addr.port}/ws`,
  );
  await server.shutdown();
  const info = await client.closed;
  assert.equal(info.code, 1001);
  assert.equal(info.wasClean, true);
  assert.deepEqual(await take(client, 0), []);
  const rest: WsMessage[] = [];
  for await (const message of client) rest.push(message);
  assert.deepEqual(rest, []);
});

Deno.test("client: a consumer that falls behind gets close 4008 and an error, not unbounded memory", async () => {
  await using server = serveWebSocket({ port: 0 });
  const client = await connectWebSocket(
    `ws://127.0.0.1:${server.addr.port}/ws`,
    {
      maxQueuedBytes: 1000,
    },
  );
  for (let i = 0; i < 10; i++) client.send("x".repeat(300));
  const info = await client.closed;
  assert.equal(info.code, 4008);
  assert.equal(info.reason, "receive queue full");
  const got: WsMessage[] = [];
  await assert.rejects(
    (async () => {
      for await (const message of client) got.push(message);
    })(),
    (e) =>
      e instanceof WsError && e.code === "queue_full" &&
      /receive queue full/.test(e.message),
  );
  // What fit in the queue is still delivered before the error.
  assert.deepEqual(got, ["x".repeat(300), "x".repeat(300), "x".repeat(300)]);
});

Deno.test("client: await using closes the connection", async () => {
  await using server = serveWebSocket({ port: 0 });
  let closed;
  {
    await using client = await connectWebSocket(
      `ws://127.0.0.1:${server.addr.port}/ws`,
    );
    closed = client.closed;
    client.send("hi");
    assert.deepEqual(await take(client, 1), ["hi"]);
  }
  assert.equal((await closed).code, 1000);
});

Deno.test("URL rule: client, verify and check all take http:// as ws:// and refuse other schemes", async () => {
  await using server = serveWebSocket({ port: 0 });
  const http = `http://127.0.0.1:${server.addr.port}/ws#ignored`;
  await using client = await connectWebSocket(http);
  assert.equal(client.url, `ws://127.0.0.1:${server.addr.port}/ws`);
  const report = await verifyServer(http);
  assert.equal(report.url, client.url);
  assert.ok(report.ok, JSON.stringify(report.checks));
  const checked = await checkServer(http, { cases: "1.1.1" });
  assert.equal(checked.url, client.url);
  for (
    const attempt of [
      () => connectWebSocket("ftp://127.0.0.1/"),
      () => verifyServer("ftp://127.0.0.1/"),
      () => checkServer("ftp://127.0.0.1/"),
    ]
  ) {
    await assert.rejects(
      attempt(),
      (e) => e instanceof WsError && e.code === "bad_url",
    );
  }
});

Deno.test("client: ping resolves with the round-trip time; pings fail once closed", async () => {
  await using server = serveWebSocket({ port: 0 });
  const client = await connectWebSocket(
    `ws://127.0.0.1:${server.addr.port}/ws`,
  );
  const rtts = await Promise.all([
    client.ping(),
    client.ping(new Uint8Array([1, 2, 3])),
  ]);
  for (const rtt of rtts) assert.ok(rtt >= 0 && Number.isFinite(rtt));
  await client.close();
  assert.throws(
    () => client.ping(),
    (e) => e instanceof WsError && e.code === "closed",
  );
});
