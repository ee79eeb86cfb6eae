import assert from "node:assert/strict";
import {
  emptyLoadResult,
  LatencyHistogram,
  type LoadResult,
  mergeLoadResults,
} from "../../load/mod.ts";

function resultWith(
  requests: number,
  latencies: number[],
  extra: Partial<LoadResult> = {},
): LoadResult {
  const h = new LatencyHistogram();
  for (const l of latencies) h.record(l);
  return {
    ...emptyLoadResult("tcp", "127.0.0.1:1", "echo"),
    requests,
    sent: requests,
    rate: requests,
    histogram: h.toJSON(),
    ...extra,
  };
}

Deno.test("merge: counts, errors, kernel deltas and histograms add", () => {
  const a = resultWith(3, [1, 2, 3], { kernel: { TcpExtListenOverflows: 2 } });
  a.errors.timeout = 1;
  const b = resultWith(2, [50, 60], {
    kernel: { TcpExtListenOverflows: 1, TW: 4 },
  });
  b.errors.timeout = 2;
  b.errors.reset = 5;
  const m = mergeLoadResults([a, b]);
  assert.equal(m.requests, 5);
  assert.equal(m.rate, 5);
  assert.equal(m.loops, 2);
  assert.equal(m.errors.timeout, 3);
  assert.equal(m.errors.reset, 5);
  assert.deepEqual(m.kernel, { TcpExtListenOverflows: 3, TW: 4 });
  assert.equal(m.histogram.count, 5);
  assert.equal(m.latencyMs.max, 60);
  // The top of the 3 % bucket holding the third sample (3 ms).
  assert.ok(
    m.latencyMs.p50 >= 3 && m.latencyMs.p50 <= 3.1,
    `${m.latencyMs.p50}`,
  );
  assert.throws(() => mergeLoadResults([]), { code: "bad_result" });
  assert.throws(
    () => mergeLoadResults([{ hello: 1 } as never]),
    { code: "bad_result" },
  );
});

/** A run measured from `startedAt` for `ms`, one request per ms, in 1 s intervals. */
function timed(startedAt: number, ms: number, extra: Partial<LoadResult> = {}) {
  const timeline = [];
  for (let at = 0; at < ms; at += 1000) {
    const d = Math.min(1000, ms - at);
    timeline.push({
      startMs: at,
      durationMs: d,
      requests: d,
      errors: 0,
      bytesSent: d * 64,
      bytesReceived: d * 64,
      p50Ms: 1,
      p99Ms: 2,
    });
  }
  return resultWith(ms, [1], {
    startedAt,
    durationMs: ms,
    rate: 1000,
    mbps: 0.064,
    bytesReceived: ms * 64,
    bytesSent: ms * 64,
    timeline,
    ...extra,
  });
}

Deno.test("merge: different targets are refused, or merged with a warning when allowed", () => {
  const a = resultWith(1, [1]);
  const b = { ...resultWith(1, [1]), target: "127.0.0.1:2" };
  assert.throws(() => mergeLoadResults([a, b]), { code: "targets_differ" });
  const m = mergeLoadResults([a, b], { allowMixedTargets: true });
  assert.equal(m.requests, 2);
  assert.equal(m.target, "(mixed)");
  assert.match(m.warnings![0]!, /different targets/);
  const udp = { ...resultWith(1, [1]), protocol: "udp" };
  assert.throws(() => mergeLoadResults([a, udp]), { code: "targets_differ" });
});

Deno.test("merge: the rate is over the common window; disjoint windows are refused, skewed ones warned", () => {
  const t0 = Date.UTC(2030, 0, 1);
  // Together: one rate each, added.
  const same = mergeLoadResults([timed(t0, 10_000), timed(t0, 10_000)]);
  assert.equal(same.rate, 2000);
  assert.equal(same.durationMs, 10_000);
  assert.equal(same.warnings, undefined);
  assert.equal(same.timeline!.length, 10);
  assert.equal(same.timeline![0]!.requests, 2000);
  // The second started 5 s later: the common window is 5 s, and each run
  // did 5,000 requests in it.
  const skew = mergeLoadResults([timed(t0, 10_000), timed(t0 + 5000, 10_000)]);
  assert.equal(skew.durationMs, 5000);
  assert.equal(skew.rate, 2000);
  assert.equal(skew.requests, 20_000);
  assert.match(skew.warnings![0]!, /windows differ.*5\.0 s/);
  assert.equal(skew.timeline!.length, 15);
  assert.throws(
    () => mergeLoadResults([timed(t0, 1000), timed(t0 + 2500, 1000)]),
    { code: "windows_disjoint" },
  );
  // Short runs started together that miss each other by the timers'
  // slack: one run over the time from the first start to the last end.
  const short = mergeLoadResults([timed(t0, 200), timed(t0 + 300, 200)]);
  assert.equal(short.durationMs, 500);
  assert.equal(short.rate, 800);
  assert.match(
    short.warnings![0]!,
    /do not overlap.*first start to the last end/,
  );
  // Worker threads of one process: one run whatever the windows; rates add.
  const workers = mergeLoadResults(
    [timed(t0, 1000), timed(t0 + 2000, 1000)],
    { ignoreWindows: true },
  );
  assert.equal(workers.rate, 2000);
  assert.equal(workers.warnings, undefined);
});

Deno.test("merge: kernel counters are kept per host and scope, a shared scope counted once", () => {
  const run = (host: string, scope: string, overflows: number) =>
    resultWith(1, [1], {
      host,
      kernelScope: scope,
      kernel: { TcpExtListenOverflows: overflows },
    });
  const m = mergeLoadResults([
    run("a", "machine", 5),
    run("a", "machine", 7), // a second shell on host a: the same counters
    run("b", "machine", 1),
    run("b", "net:[9]", 2),
  ]);
  assert.deepEqual(
    m.hosts!.map((h) => [h.host, h.scope, h.runs, h.kernel]),
    [
      ["a", "machine", 2, { TcpExtListenOverflows: 7 }],
      ["b", "machine", 1, { TcpExtListenOverflows: 1 }],
      ["b", "net:[9]", 1, { TcpExtListenOverflows: 2 }],
    ],
  );
  assert.deepEqual(m.kernel, { TcpExtListenOverflows: 10 });
  // A merge of merges keeps the hosts apart too.
  const again = mergeLoadResults([m, run("c", "machine", 1)]);
  assert.equal(again.hosts!.length, 4);
  assert.deepEqual(again.kernel, { TcpExtListenOverflows: 11 });
});

Deno.test("merge: status classes and datagram loss add; a hostile timeline is refused", () => {
  const a = resultWith(3, [1], {
    status: { "2xx": 3 },
    datagrams: { sent: 10, received: 8, lost: 2, lossPercent: 20, jitterMs: 1 },
  });
  const b = resultWith(1, [1], {
    status: { "2xx": 1, "5xx": 2 },
    datagrams: { sent: 10, received: 2, lost: 8, lossPercent: 80, jitterMs: 6 },
  });
  const m = mergeLoadResults([a, b]);
  assert.deepEqual(m.status, { "2xx": 4, "5xx": 2 });
  assert.deepEqual(m.datagrams, {
    sent: 20,
    received: 10,
    lost: 10,
    lossPercent: 50,
    jitterMs: 2,
  });
  const t0 = Date.UTC(2030, 0, 1);
  const bad = timed(t0, 1000);
  bad.timeline![0]!.durationMs = 1e12;
  assert.throws(() => mergeLoadResults([bad]), { code: "bad_result" });
});
