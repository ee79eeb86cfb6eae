import assert from "node:assert/strict";
import { LatencyHistogram } from "../../load/mod.ts";
import { seededBytes } from "../_helpers.ts";

function samples(count: number, seed: number): number[] {
  const bytes = seededBytes(count * 2, seed);
  // 0.01 ms .. ~650 ms, spread over many decades.
  return Array.from(
    { length: count },
    (_, i) => ((bytes[2 * i]! << 8 | bytes[2 * i + 1]!) + 1) ** 1.4 / 1000,
  );
}

function exactPercentile(values: number[], percent: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(percent / 100 * sorted.length) - 1)]!;
}

Deno.test("histogram: percentiles within 3 % of the exact ones, max exact", () => {
  const values = samples(20_000, 3);
  const h = new LatencyHistogram();
  for (const v of values) h.record(v);
  for (const p of [50, 90, 99, 99.9]) {
    const exact = exactPercentile(values, p);
    const got = h.percentileMs(p);
    assert.ok(
      got >= exact - 0.001 && got <= exact * 1.035 + 0.001,
      `p${p}: ${got} vs exact ${exact}`,
    );
  }
  assert.equal(h.maxMs, Math.round(Math.max(...values) * 1000) / 1000);
  assert.equal(h.count, values.length);
});

Deno.test("histogram: two halves added equal the whole, through JSON too", () => {
  const values = samples(5000, 9);
  const whole = new LatencyHistogram();
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  values.forEach((v, i) => {
    whole.record(v);
    (i % 2 ? a : b).record(v);
  });
  const merged = LatencyHistogram.fromJSON(
    JSON.parse(JSON.stringify(a.toJSON())),
  );
  merged.add(JSON.parse(JSON.stringify(b)));
  assert.deepEqual(merged.toJSON(), whole.toJSON());
});

Deno.test("histogram: a malformed JSON form is refused", () => {
  assert.throws(
    () => LatencyHistogram.fromJSON({ unit: "ms" } as never),
    { code: "bad_histogram" },
  );
  assert.throws(
    () =>
      LatencyHistogram.fromJSON({
        unit: "us",
        count: 1,
        sumUs: 1,
        minUs: 1,
        maxUs: 1,
        buckets: [[-5, 1]],
      }),
    { code: "bad_histogram" },
  );
});
