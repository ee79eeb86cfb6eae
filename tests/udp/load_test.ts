import assert from "node:assert/strict";
import { loadUdp, serveUdpEcho } from "../../udp/mod.ts";

Deno.test("load udp: closed-loop counts match the echo server's stats", async () => {
  const server = serveUdpEcho({ port: 0 });
  const r = await loadUdp(server.addr, {
    connections: 4,
    requests: 2000,
    size: 32,
    timeoutMs: 5000,
  });
  await server.shutdown();
  const s = server.stats();
  // Loopback may still drop a datagram under load: every request is
  // either answered or counted lost, and the server saw exactly what came.
  assert.equal(r.sent, 2000);
  assert.equal(r.requests + r.errors.timeout, 2000);
  assert.equal(s.datagramsIn * 32, s.bytesIn);
  assert.equal(r.bytesSent, 2000 * 32);
  assert.equal(r.bytesReceived, s.bytesOut);
  assert.equal(r.errors.mismatch, 0);
});

Deno.test("load udp: a datagram that comes back altered is a mismatch", async () => {
  const socket = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  let n = 0;
  const echo = (async () => {
    const buf = new Uint8Array(2048);
    try {
      for (;;) {
        const [data, from] = await socket.receive(buf);
        if (++n % 4 === 0) data[10]! ^= 1;
        await socket.send(data, from);
      }
    } catch {
      // Closed at the end of the test.
    }
  })();
  try {
    const r = await loadUdp(socket.addr as Deno.NetAddr, {
      requests: 100,
      timeoutMs: 5000,
    });
    assert.equal(r.errors.mismatch + r.requests + r.errors.timeout, 100);
    assert.ok(r.errors.mismatch >= 20, JSON.stringify(r.errors));
  } finally {
    socket.close();
    await echo;
  }
});

Deno.test("load udp: a size under 4 bytes (the sequence number) is refused", async () => {
  await assert.rejects(
    () => loadUdp("127.0.0.1:9", { size: 3 }),
    { code: "bad_option" },
  );
});

Deno.test("load udp stream: datagrams leave at the rate; those a lossy echo drops are lost (not errors), with jitter", async () => {
  const socket = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  let received = 0;
  let echoed = 0;
  const echo = (async () => {
    const buf = new Uint8Array(2048);
    try {
      for (;;) {
        const [data, from] = await socket.receive(buf);
        // Every tenth datagram is dropped on the way.
        if (received++ % 10 === 9) continue;
        await socket.send(data, from);
        echoed++;
      }
    } catch {
      // Closed at the end of the test.
    }
  })();
  try {
    const r = await loadUdp(socket.addr as Deno.NetAddr, {
      mode: "stream",
      ratePerSecond: 2000,
      requests: 1000,
      timeoutMs: 500,
      kernelCounters: false,
    });
    const d = r.datagrams!;
    assert.equal(r.mode, "stream");
    assert.equal(d.sent, 1000);
    // Every datagram is echoed or known lost; the echo's drops are among
    // the lost, and losses are not counted as errors.
    assert.equal(d.received + d.lost, 1000);
    assert.ok(d.received <= echoed);
    assert.ok(d.lost >= 1000 - received + Math.floor(received / 10));
    assert.equal(d.lossPercent, d.lost / 10);
    assert.equal(r.errors.timeout, 0);
    assert.ok(d.jitterMs >= 0 && Number.isFinite(d.jitterMs));
    assert.equal(r.requests, d.received);
  } finally {
    socket.close();
    await echo;
  }
  await assert.rejects(
    () => loadUdp("127.0.0.1:9", { mode: "stream" }),
    { code: "bad_option" },
  );
});
