import assert from "node:assert/strict";
import { relay } from "../../relay/mod.ts";
import { serveWebSocket } from "../../ws/mod.ts";
import { readAll, seededBytes, testTls } from "../_helpers.ts";
import { reportCollector, within } from "./_peers.ts";

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
  assert.match(r.error ?? "", /refused .*HTTP 404/);
});
