import assert from "node:assert/strict";
import {
  type ConnectionContext,
  loadTcp,
  serveEcho,
  serveTcp,
} from "../../tcp/mod.ts";

Deno.test("load tcp: closed-loop counts match the echo server's stats", async () => {
  const server = serveEcho({ port: 0 });
  const r = await loadTcp(server.addr, {
    connections: 5,
    pipeline: 3,
    requests: 3000,
    size: 100,
  });
  await server.shutdown();
  const s = server.stats();
  assert.equal(r.requests, 3000);
  assert.equal(r.sent, 3000);
  assert.equal(r.bytesSent, 3000 * 100);
  assert.equal(r.bytesReceived, 3000 * 100);
  assert.equal(s.bytesIn, r.bytesSent);
  assert.equal(s.bytesOut, r.bytesReceived);
  assert.equal(s.served, 5);
  assert.equal(r.connections, 5);
  assert.deepEqual(Object.values(r.errors).filter((n) => n > 0), []);
  assert.equal(r.histogram.count, 3000);
  assert.equal(r.ended, "requests");
});

Deno.test({
  name:
    "load tcp: kernel deltas under their nstat names, the run's connects among them",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using server = serveEcho({ port: 0 });
    const r = await loadTcp(server.addr, { connections: 4, requests: 40 });
    assert.equal(r.requests, 40);
    // Counters only grow, whatever else runs on the machine meanwhile.
    assert.ok(
      (r.kernel.TcpActiveOpens ?? 0) >= 4,
      `kernel deltas: ${JSON.stringify(r.kernel)}`,
    );
    assert.equal(r.kernel.ActiveOpens, undefined);
  },
});

Deno.test("load tcp: --rate 2000 for 3 s sends and completes 2000 ± 10 % per second", async () => {
  await using server = serveEcho({ port: 0 });
  const r = await loadTcp(server.addr, {
    connections: 10,
    ratePerSecond: 2000,
    durationMs: 3000,
  });
  assert.ok(r.rate >= 1800 && r.rate <= 2200, `rate ${r.rate}`);
  assert.ok(r.sent >= 5400 && r.sent <= 6600, `sent ${r.sent}`);
});

/** An echo server that, once, waits `stallMs` before echoing. */
function stallingEcho(afterBytes: number, stallMs: number) {
  let seen = 0;
  let stalled = false;
  return serveTcp(async (conn: Deno.Conn, context: ConnectionContext) => {
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      seen += n;
      if (!stalled && seen >= afterBytes) {
        stalled = true;
        await new Promise((r) => setTimeout(r, stallMs));
      }
      let off = 0;
      while (off < n) off += await conn.write(buf.subarray(off, n));
      context.record(n, n);
    }
  }, { port: 0 });
}

Deno.test("load tcp: a 200 ms stall shows in the open loop's p99 (latency from the schedule)", async () => {
  await using server = stallingEcho(200 * 64, 200);
  const r = await loadTcp(server.addr, {
    connections: 1,
    // One request in flight: the rest wait in the schedule's queue, which
    // is exactly where a coordinated-omission client would stop the clock.
    pipeline: 1,
    ratePerSecond: 500,
    durationMs: 2000,
    timeoutMs: 5000,
  });
  // Every request due during the stall waited for its end: with 500/s,
  // the tenth-worst (p99 of ~1000) was due at most 20 ms into the stall.
  assert.ok(r.requests >= 900, `requests ${r.requests}`);
  assert.ok(r.latencyMs.max >= 200, `max ${r.latencyMs.max}`);
  assert.ok(r.latencyMs.p99 >= 150, `p99 ${r.latencyMs.p99}`);
});

Deno.test("load tcp: a wrong echo counts as mismatch, request by request", async () => {
  const size = 64;
  let offset = 0;
  await using server = serveTcp(async (conn, context) => {
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      // Corrupt byte 5 of every tenth request.
      for (let i = 0; i < n; i++, offset++) {
        if (offset % (10 * size) === 5) buf[i]! ^= 0xff;
      }
      let off = 0;
      while (off < n) off += await conn.write(buf.subarray(off, n));
      context.record(n, n);
    }
  }, { port: 0 });
  const r = await loadTcp(server.addr, { connections: 1, requests: 500, size });
  assert.equal(r.errors.mismatch, 50);
  assert.equal(r.requests, 450);
});

Deno.test("load tcp: --connect-rate against a full accept queue gives timeouts and TcpExtListenOverflows", async () => {
  // A listener that never accepts: its queue holds backlog + 1 connections.
  using listener = Deno.listen({
    hostname: "127.0.0.1",
    port: 0,
    tcpBacklog: 1,
  });
  const r = await loadTcp(listener.addr, {
    connections: 20,
    connectRatePerSecond: 40,
    durationMs: 1500,
    timeoutMs: 400,
  });
  assert.equal(r.requests, 0);
  assert.ok(r.errors.timeout + r.errors.reset > 0, JSON.stringify(r.errors));
  assert.ok(
    (r.kernel.TcpExtListenOverflows ?? 0) > 0,
    `kernel deltas: ${JSON.stringify(r.kernel)}`,
  );
});

Deno.test("load tcp: stream mode moves bytes through the echo server, checked", async () => {
  const server = serveEcho({ port: 0 });
  const r = await loadTcp(server.addr, {
    connections: 2,
    mode: "stream",
    durationMs: 500,
  });
  await server.shutdown();
  assert.ok(r.bytesReceived > 1e6, `received ${r.bytesReceived}`);
  assert.ok(r.mbps > 0);
  assert.equal(r.errors.mismatch, 0);
  assert.ok(server.stats().bytesOut >= r.bytesReceived);
});

Deno.test("load tcp: reverse reads what a sending server sends", async () => {
  const chunk = new Uint8Array(64 * 1024);
  await using server = serveTcp(async (conn, context) => {
    try {
      while (!context.signal.aborted) {
        const n = await conn.write(chunk);
        context.record(0, n);
      }
    } catch {
      // The load ended and closed the connection.
    }
  }, { port: 0, gracePeriodMs: 0 });
  const r = await loadTcp(server.addr, {
    connections: 1,
    mode: "reverse",
    durationMs: 300,
  });
  assert.equal(r.bytesSent, 0);
  assert.ok(r.bytesReceived > 0);
  assert.ok(r.mbps > 0);
});

Deno.test("load tcp: refuses a non-loopback target", async () => {
  await assert.rejects(
    () => loadTcp("192.0.2.1:7", { durationMs: 100 }),
    { code: "remote_target" },
  );
});

Deno.test("load tcp: sink counts what was written, bidir both directions", async () => {
  await using server = serveEcho({ port: 0 });
  const sink = await loadTcp(server.addr, {
    mode: "sink",
    durationMs: 300,
  });
  assert.ok(sink.bytesSent > 0);
  // durationMs is rounded to whole milliseconds: compare within 1 %.
  const sent = sink.bytesSent / 1e6 / (sink.durationMs / 1000);
  assert.ok(
    Math.abs(sink.mbps - sent) <= 0.01 * sent + 0.001,
    `${sink.mbps} vs ${sent}`,
  );
  const bidir = await loadTcp(server.addr, {
    mode: "bidir",
    durationMs: 300,
  });
  const both = bidir.bytesSent + bidir.bytesReceived;
  assert.ok(bidir.bytesReceived > 0);
  assert.ok(
    Math.abs(bidir.mbps - both / 1e6 / (bidir.durationMs / 1000)) <
      0.01 * bidir.mbps + 0.01,
    `${bidir.mbps} vs ${both} bytes in ${bidir.durationMs} ms`,
  );
});

Deno.test("load tcp: open loop with a warm-up counts only the window; --requests ends it", async () => {
  await using server = serveEcho({ port: 0 });
  const warm = await loadTcp(server.addr, {
    connections: 2,
    ratePerSecond: 1000,
    warmupMs: 500,
    durationMs: 1000,
  });
  assert.ok(warm.sent >= 900 && warm.sent <= 1100, `sent ${warm.sent}`);
  const closed = await loadTcp(server.addr, {
    connections: 4,
    pipeline: 8,
    warmupMs: 200,
    durationMs: 300,
  });
  assert.ok(closed.requests > 0);
  assert.ok(
    closed.requests <= closed.sent,
    `${closed.requests} ok of ${closed.sent} sent`,
  );
  const counted = await loadTcp(server.addr, {
    connections: 2,
    ratePerSecond: 1000,
    requests: 300,
  });
  assert.equal(counted.sent, 300);
  assert.equal(counted.requests, 300);
  assert.equal(counted.ended, "requests");
});

Deno.test("load tcp: nobody listening is refused; a server that hangs up is closed", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const refused = await loadTcp({ hostname: "127.0.0.1", port }, {
    connections: 2,
    durationMs: 300,
  });
  assert.ok(refused.errors.refused > 0, JSON.stringify(refused.errors));
  assert.equal(refused.requests, 0);

  await using server = serveTcp((conn) => {
    conn.close();
    return Promise.resolve();
  }, { port: 0 });
  const closed = await loadTcp(server.addr, {
    connections: 2,
    durationMs: 300,
  });
  assert.ok(
    closed.errors.closed + closed.errors.reset > 0,
    JSON.stringify(closed.errors),
  );
  assert.equal(closed.requests, 0);
});
