import assert from "node:assert/strict";
import { relay } from "../../relay/mod.ts";
import { connectWebSocket, serveWebSocket } from "../../ws/mod.ts";
import { serveEcho } from "../../tcp/mod.ts";
import { readAll, seededBytes, testTls } from "../_helpers.ts";
import {
  hasPythonWebsockets,
  pythonWsClient,
  reportCollector,
  resettingTarget,
  within,
} from "./_peers.ts";
import { startHttpProxy } from "../_proxies.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function port(server: { addr: Deno.Addr }): number {
  return (server.addr as Deno.NetAddr).port;
}

function connect(server: { addr: Deno.Addr }): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port: port(server) });
}

Deno.test("relay ws target: TCP listen -> netkit's WebSocket echo, 3 MiB byte-exact, Close 1000 reported", async () => {
  await using echo = serveWebSocket({ port: 0 });
  const reports = reportCollector();
  await using server = relay(
    "tcp://127.0.0.1:0",
    `ws://127.0.0.1:${echo.addr.port}/ws`,
    { onConnection: reports.onConnection },
  );
  const data = seededBytes(3 * 1024 * 1024, 12);
  const conn = await connect(server);
  const [, echoed] = await within(
    "the echo through the WebSocket",
    Promise.all([
      (async () => {
        for (let at = 0; at < data.length; at += 100_000) {
          await conn.write(data.subarray(at, at + 100_000));
        }
        await conn.closeWrite();
      })(),
      readAll(conn),
    ]),
  );
  conn.close();
  assert.equal(echoed.length, data.length);
  assert.deepEqual(echoed, data);
  const r = await reports.next("the relayed connection");
  assert.equal(r.target, `ws://127.0.0.1:${echo.addr.port}/ws`);
  assert.deepEqual([r.closedFirst, r.how], ["client", "fin"]);
  assert.equal(r.bytesToTarget, data.length);
  assert.equal(r.bytesToClient, data.length);
  // The client's FIN went on as Close 1000, which the server answered.
  assert.equal(r.close, "target closed 1000");
  assert.ok(echo.stats().messagesIn > 0);
});

Deno.test("relay ws target: wss:// with insecure against a self-signed server", async () => {
  const { cert, key } = await testTls();
  await using echo = serveWebSocket({ port: 0, tls: { cert, key } });
  const reports = reportCollector();
  await using server = relay(
    "tcp://127.0.0.1:0",
    `wss://127.0.0.1:${echo.addr.port}/ws`,
    { insecure: true, onConnection: reports.onConnection },
  );
  const conn = await connect(server);
  await conn.write(enc.encode("over wss"));
  await conn.closeWrite();
  const echoed = await within("the echo over wss", readAll(conn));
  conn.close();
  assert.equal(dec.decode(echoed), "over wss");
  const r = await reports.next("the wss connection");
  assert.equal(r.close, "target closed 1000");
});

Deno.test("relay ws target: a server that closes with a code ends the client's side and the code is reported", async () => {
  // maxMessageSize 10: the first message of 11+ bytes gets 1009.
  await using echo = serveWebSocket({ port: 0, maxMessageSize: 10 });
  const reports = reportCollector();
  await using server = relay(
    "tcp://127.0.0.1:0",
    `ws://127.0.0.1:${echo.addr.port}/ws`,
    { onConnection: reports.onConnection },
  );
  const conn = await connect(server);
  await conn.write(enc.encode("more than ten bytes"));
  const got = await within("the client's EOF", readAll(conn));
  conn.close();
  assert.equal(got.length, 0);
  const r = await reports.next("the closed connection");
  assert.deepEqual([r.closedFirst, r.how], ["target", "fin"]);
  assert.match(r.close ?? "", /^target closed 1009/);
});

Deno.test("relay ws target: a refused upgrade is reported with its HTTP status", async () => {
  await using echo = serveWebSocket({ port: 0 });
  const reports = reportCollector();
  await using server = relay(
    "tcp://127.0.0.1:0",
    `ws://127.0.0.1:${echo.addr.port}/nowhere`,
    { onConnection: reports.onConnection },
  );
  const conn = await connect(server);
  await within("the close", readAll(conn).catch(() => {}));
  conn.close();
  const r = await reports.next("the refused upgrade");
  assert.deepEqual([r.closedFirst, r.how], ["target", "error"]);
  assert.match(r.error ?? "", /^HTTP 404 Not Found: not found/);
});

Deno.test({
  name:
    "relay ws listen: python3-websockets -> relay -> TCP echo, 2 MiB byte-exact, the client's Close reported",
  ignore: !hasPythonWebsockets(),
  async fn() {
    await using echo = serveEcho({ port: 0 });
    const reports = reportCollector();
    await using server = relay(
      "ws://127.0.0.1:0/tunnel",
      `tcp://127.0.0.1:${echo.addr.port}`,
      { onConnection: reports.onConnection },
    );
    const data = seededBytes(2 * 1024 * 1024, 7);
    const { received, close } = await pythonWsClient(
      `ws://127.0.0.1:${port(server)}/tunnel`,
      data,
    );
    assert.equal(received.length, data.length);
    assert.deepEqual(received, data);
    assert.equal(close, "close 1000 done");
    const r = await reports.next("the WebSocket client's connection");
    assert.match(r.client, /^127\.0\.0\.1:\d+$/);
    assert.equal(r.target, `127.0.0.1:${echo.addr.port}`);
    assert.deepEqual([r.closedFirst, r.how], ["client", "fin"]);
    assert.equal(r.bytesToTarget, data.length);
    assert.equal(r.bytesToClient, data.length);
    assert.equal(r.close, 'client closed 1000 "done"');
    assert.equal(server.stats().bytesIn, data.length);
  },
});

Deno.test("relay ws listen: wss:// with the committed certificate; a target's FIN closes with 1000", async () => {
  const { cert, key } = await testTls();
  // A target that greets and hangs up.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    await conn.write(enc.encode("hello, then FIN"));
    conn.close();
  })();
  const reports = reportCollector();
  await using server = relay(
    "wss://127.0.0.1:0/",
    `tcp://127.0.0.1:${listener.addr.port}`,
    { tls: { cert, key }, onConnection: reports.onConnection },
  );
  try {
    const client = await connectWebSocket(`wss://127.0.0.1:${port(server)}/`, {
      caCerts: [cert],
    });
    const messages: string[] = [];
    for await (const m of client) {
      messages.push(typeof m === "string" ? m : dec.decode(m));
    }
    const info = await within("the close", client.closed);
    assert.equal(messages.join(""), "hello, then FIN");
    assert.equal(info.code, 1000);
    const r = await reports.next("the wss connection");
    assert.deepEqual([r.closedFirst, r.how], ["target", "fin"]);
    assert.equal(r.close, "client closed 1000");
  } finally {
    await served;
    listener.close();
  }
});

Deno.test("relay ws listen: maxConnections answers 503 beyond the limit; idle timeout closes with 1001", async () => {
  await using echo = serveEcho({ port: 0 });
  const reports = reportCollector();
  await using server = relay(
    "ws://127.0.0.1:0/",
    `tcp://127.0.0.1:${echo.addr.port}`,
    {
      maxConnections: 1,
      idleTimeoutMs: 300,
      onConnection: reports.onConnection,
    },
  );
  const url = `ws://127.0.0.1:${port(server)}/`;
  const first = await connectWebSocket(url);
  first.send(enc.encode("x"));
  for await (const m of first) {
    assert.deepEqual(m, enc.encode("x"));
    break;
  }
  await assert.rejects(connectWebSocket(url), /HTTP 503/);
  // Silent from now on: the idle timeout ends it with 1001.
  const info = await within("the idle close", first.closed);
  assert.equal(info.code, 1001);
  const r = await reports.next("the idle connection");
  assert.deepEqual([r.closedFirst, r.how], ["relay", "idle_timeout"]);
  assert.equal(server.stats().refused, 1);
  assert.equal(server.stats().idleClosed, 1);
});

Deno.test("relay ws listen: a plain HTTP request on the path is refused, the target never contacted", async () => {
  await using echo = serveEcho({ port: 0 });
  await using server = relay(
    "ws://127.0.0.1:0/",
    `tcp://127.0.0.1:${echo.addr.port}`,
  );
  const conn = await connect(server);
  await conn.write(enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  const answer = dec.decode(await within("the answer", readAll(conn)));
  conn.close();
  assert.match(answer, /^HTTP\/1\.1 426 /);
  assert.equal(echo.stats().served, 0);
});

Deno.test("relay ws listen: a target's reset reaches the WebSocket client as a reset (1006)", async () => {
  await using target = await resettingTarget();
  const reports = reportCollector();
  await using server = relay(
    "ws://127.0.0.1:0/",
    `tcp://127.0.0.1:${target.port}`,
    { onConnection: reports.onConnection },
  );
  const client = await connectWebSocket(`ws://127.0.0.1:${port(server)}/`);
  client.send(enc.encode("x"));
  const info = await within("the client's close", client.closed);
  // No Close frame: the relay aborted the TCP connection.
  assert.equal(info.code, 1006);
  const r = await reports.next("the reset connection");
  assert.deepEqual([r.closedFirst, r.how], ["target", "reset"]);
  assert.equal(r.resetPassedOn, true);
});

Deno.test("relay ws target: through an HTTP CONNECT proxy", async () => {
  await using echo = serveWebSocket({ port: 0 });
  const proxy = startHttpProxy();
  try {
    const reports = reportCollector();
    await using server = relay(
      "tcp://127.0.0.1:0",
      `ws://127.0.0.1:${echo.addr.port}/ws`,
      { proxy: proxy.url, onConnection: reports.onConnection },
    );
    const conn = await connect(server);
    await conn.write(enc.encode("tunnelled"));
    await conn.closeWrite();
    const echoed = await within("the echo through the proxy", readAll(conn));
    conn.close();
    assert.equal(dec.decode(echoed), "tunnelled");
    const r = await reports.next("the proxied connection");
    assert.equal(r.target, `ws://127.0.0.1:${echo.addr.port}/ws via proxy`);
    assert.deepEqual(proxy.requests, [`127.0.0.1:${echo.addr.port}`]);
  } finally {
    await proxy.close();
  }
});

Deno.test("relay ws listen: an upgrade carrying a foreign Origin gets 403 and the target is never contacted; an allowed one connects", async () => {
  await using echo = serveEcho({ port: 0 });
  await using closed = relay(
    "ws://127.0.0.1:0/",
    `tcp://127.0.0.1:${echo.addr.port}`,
  );
  await assert.rejects(
    connectWebSocket(`ws://127.0.0.1:${port(closed)}/`, {
      headers: { Origin: "http://127.0.0.1:1" },
    }),
    /HTTP 403/,
  );
  assert.equal(echo.stats().served, 0);
  await using open = relay(
    "ws://127.0.0.1:0/",
    `tcp://127.0.0.1:${echo.addr.port}`,
    { allowedOrigins: ["https://app.example"] },
  );
  const url = `ws://127.0.0.1:${port(open)}/`;
  await assert.rejects(
    connectWebSocket(url, { headers: { Origin: "https://evil.example" } }),
    /HTTP 403/,
  );
  const client = await connectWebSocket(url, {
    headers: { Origin: "https://app.example" },
  });
  client.send(enc.encode("in"));
  for await (const m of client) {
    assert.deepEqual(m, enc.encode("in"));
    break;
  }
  client.close();
  await within("the close", client.closed);
  // Clients that send no Origin (not browsers) are let in.
  const plain = await connectWebSocket(url);
  plain.close();
  await within("the close", plain.closed);
});
