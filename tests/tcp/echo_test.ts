import assert from "node:assert/strict";
import { pingTcp, serveEcho, TcpError } from "../../tcp/mod.ts";
import {
  bounded,
  closedByPeer,
  connectTo,
  readAllWithin,
  readExactly,
  seededBytes,
  WAIT_MS,
  withTimeout,
} from "../_helpers.ts";

async function roundTrip(
  addr: Deno.NetAddr,
  data: Uint8Array,
): Promise<Uint8Array> {
  const conn = await connectTo(addr);
  try {
    const writing = (async () => {
      for (let off = 0; off < data.length;) {
        off += await conn.write(data.subarray(off, off + 256 * 1024));
      }
      await conn.closeWrite();
    })();
    const [echoed] = await Promise.all([
      readAllWithin(conn, "the echo and the server's half-close"),
      writing,
    ]);
    return echoed;
  } finally {
    conn.close();
  }
}

Deno.test("echo: 10 MiB of random bytes come back byte-exact", async () => {
  await using server = bounded(serveEcho({ port: 0 }));
  const data = seededBytes(10 * 1024 * 1024, 7);
  const echoed = await roundTrip(server.addr, data);
  assert.equal(echoed.length, data.length);
  assert.ok(echoed.every((b, i) => b === data[i]), "echo differs from input");
  assert.equal(server.stats().bytesOut, data.length);
});

Deno.test("echo: 200 concurrent clients each get their own bytes", async () => {
  await using server = bounded(serveEcho({ port: 0 }));
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) => {
      const data = seededBytes(1000 + i, i + 1);
      return roundTrip(server.addr, data).then((echoed) =>
        echoed.length === data.length && echoed.every((b, j) => b === data[j])
      );
    }),
  );
  assert.equal(results.filter(Boolean).length, 200);
  assert.equal(server.stats().served, 200);
});

Deno.test("echo: after the client half-closes, everything comes back and then EOF", async () => {
  await using server = bounded(serveEcho({ port: 0 }));
  const conn = await connectTo(server.addr);
  await conn.write(new TextEncoder().encode("hello"));
  await conn.closeWrite();
  const echoed = await readAllWithin(conn, "the echo, then EOF");
  conn.close();
  assert.equal(new TextDecoder().decode(echoed), "hello");
});

Deno.test("echo: connections beyond maxConnections are closed and counted", async () => {
  await using server = bounded(serveEcho({ port: 0, maxConnections: 2 }));
  const held = [await connectTo(server.addr), await connectTo(server.addr)];
  for (const c of held) {
    await c.write(new Uint8Array([1]));
    // Served, so counted as open.
    assert.equal((await readExactly(c, 1, "the echo")).length, 1);
  }
  const extra = await connectTo(server.addr);
  const cut = await closedByPeer(extra, "the extra connection to be closed");
  extra.close();
  assert.ok(cut, "the extra connection must be closed at once");
  assert.equal(server.stats().refused, 1);
  for (const c of held) c.close();
});

Deno.test("echo: idleTimeoutMs closes a connection that sends nothing", async () => {
  await using server = bounded(serveEcho({ port: 0, idleTimeoutMs: 100 }));
  const conn = await connectTo(server.addr);
  const cut = await closedByPeer(conn, "the idle timeout to close it");
  conn.close();
  assert.ok(cut);
  assert.equal(server.stats().idleClosed, 1);
});

Deno.test("echo: shutdown closes connected clients after the grace period", async () => {
  const server = serveEcho({ port: 0, gracePeriodMs: 50 });
  const conn = await connectTo(server.addr);
  await conn.write(new Uint8Array([9]));
  assert.equal((await readExactly(conn, 1, "the echo")).length, 1);
  await withTimeout(server.shutdown(), WAIT_MS, "shutdown()");
  const cut = await closedByPeer(conn, "the grace period to end it");
  conn.close();
  assert.ok(cut);
  await withTimeout(server.finished, WAIT_MS, "the server to finish");
  await assert.rejects(connectTo(server.addr), Deno.errors.ConnectionRefused);
});

Deno.test("echo: an aborted signal shuts the server down", async () => {
  const controller = new AbortController();
  const server = serveEcho({ port: 0, signal: controller.signal });
  controller.abort();
  await withTimeout(server.finished, WAIT_MS, "the server to finish");
  assert.equal(server.stats().active, 0);
});

Deno.test("pingTcp: every probe returns and the summary adds up", async () => {
  await using server = bounded(serveEcho({ port: 0 }));
  const seen: number[] = [];
  const result = await pingTcp(server.addr, {
    count: 5,
    intervalMs: 0,
    size: 100,
    onProbe: (p) => seen.push(p.seq),
  });
  assert.deepEqual(seen, [1, 2, 3, 4, 5]);
  assert.equal(result.sent, 5);
  assert.equal(result.received, 5);
  assert.equal(result.lossPercent, 0);
  assert.ok(result.minMs! <= result.avgMs! && result.avgMs! <= result.maxMs!);
  assert.ok(result.minMs! <= result.p99Ms! && result.p99Ms! <= result.maxMs!);
  assert.equal(server.stats().bytesIn, 5 * 100);
});

Deno.test("pingTcp: a closed port is a clear connect_failed error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    pingTcp({ hostname: "127.0.0.1", port }, { count: 1 }),
    (e) => e instanceof TcpError && e.code === "connect_failed",
  );
});
