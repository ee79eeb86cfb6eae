import assert from "node:assert/strict";
import { LatencyHistogram } from "../../load/mod.ts";
import {
  escapeXml,
  percentileCurve,
  renderLatencyPlot,
  renderTimelinePlot,
} from "../../view/mod.ts";

function histogram(samples: number[]) {
  const h = new LatencyHistogram();
  for (const s of samples) h.record(s);
  return h;
}

Deno.test("percentileCurve: one point per bucket, rising to 100 % at the largest sample, matching the histogram's percentiles", () => {
  const samples = Array.from(
    { length: 10_000 },
    (_, i) => 0.05 + (i % 997) * 0.013,
  );
  samples.push(250);
  const h = histogram(samples);
  const json = h.toJSON();
  const curve = percentileCurve(json);
  assert.equal(curve.length, json.buckets.length);
  for (let i = 1; i < curve.length; i++) {
    assert.ok(curve[i]!.percentile > curve[i - 1]!.percentile);
    assert.ok(curve[i]!.ms >= curve[i - 1]!.ms);
  }
  assert.equal(curve.at(-1)!.percentile, 100);
  assert.equal(curve.at(-1)!.ms, 250);
  // The point at or past 99 % lies where the histogram puts p99.
  const p99 = curve.find((p) => p.percentile >= 99)!;
  assert.ok(Math.abs(p99.ms - h.percentileMs(99)) <= h.percentileMs(99) * 0.04);
  assert.deepEqual(percentileCurve(new LatencyHistogram().toJSON()), []);
});

Deno.test("renderLatencyPlot: runs overlaid, one circle per curve point, log-scale percentile ticks, labels escaped", () => {
  const a = histogram(Array.from({ length: 1000 }, (_, i) => 1 + i / 100))
    .toJSON();
  const b = histogram(Array.from({ length: 100 }, (_, i) => 5 + i)).toJSON();
  const svg = renderLatencyPlot([
    { label: "<script>a</script>", histogram: a },
    { label: "b", histogram: b },
  ]);
  const points = [...svg.matchAll(/<circle class="point" data-run="(\d)"/g)];
  assert.equal(
    points.filter((m) => m[1] === "0").length,
    percentileCurve(a).length,
  );
  assert.equal(
    points.filter((m) => m[1] === "1").length,
    percentileCurve(b).length,
  );
  for (const tick of ["0%", "90%", "99%", "99.9%"]) {
    assert.ok(svg.includes(`>${tick}<`), tick);
  }
  assert.ok(!svg.includes("<script>"));
  assert.ok(svg.includes("&lt;script&gt;a&lt;/script&gt;"));
  // Farther right means a higher percentile, on 1/(1−p)'s log scale: the
  // 99 % tick lies twice as far from 0 % as the 90 % one, and every point
  // sits where its percentile says.
  const tick = (label: string) =>
    Number(
      new RegExp(`x="([\\d.]+)" y="[\\d.]+" text-anchor="middle">${label}<`)
        .exec(svg)![1],
    );
  const x0 = tick("0%");
  const x90 = tick("90%");
  assert.ok(Math.abs((tick("99%") - x0) - 2 * (x90 - x0)) < 0.2);
  for (
    const m of svg.matchAll(
      /data-percentile="([\d.]+)" data-ms="[\d.]+" cx="([\d.]+)"/g,
    )
  ) {
    const p = Number(m[1]) / 100;
    if (p >= 0.999) continue; // the top decade is clamped to the axis
    const expected = x0 + Math.log10(1 / (1 - p)) * (x90 - x0);
    assert.ok(Math.abs(Number(m[2]) - expected) < 0.2, `${m[1]} at ${m[2]}`);
  }
});

Deno.test("renderTimelinePlot: a point per interval at its rate or error rate", () => {
  const timeline = [0, 1000, 2000, 3000].map((startMs, k) => ({
    startMs,
    durationMs: k === 3 ? 500 : 1000,
    requests: 1000 * (k + 1),
    errors: k,
    bytesSent: 0,
    bytesReceived: 0,
    p50Ms: 1,
    p99Ms: 2,
  }));
  const rate = renderTimelinePlot([{ label: "x", timeline }]);
  assert.deepEqual(
    [...rate.matchAll(/data-value="([\d.]+)"/g)].map((m) => Number(m[1])),
    [1000, 2000, 3000, 8000],
  );
  const errors = renderTimelinePlot([{ label: "x", timeline }], {
    metric: "errors",
  });
  assert.deepEqual(
    [...errors.matchAll(/data-value="([\d.]+)"/g)].map((m) => Number(m[1])),
    [0, 1, 2, 6],
  );
  assert.match(errors, />errors\/s</);
});

Deno.test("escapeXml: markup and control characters never pass", () => {
  assert.equal(escapeXml(`a<b>&"c'`), "a&lt;b&gt;&amp;&quot;c&#39;");
  assert.equal(escapeXml("\x1b[2J"), "\ufffd[2J");
});
