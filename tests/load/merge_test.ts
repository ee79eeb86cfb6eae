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
