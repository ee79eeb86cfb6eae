/**
 * Pictures of load runs, as pure functions (records in, SVG text out, no
 * I/O): the latency percentile plot, HdrHistogram's way (x: the
 * percentile on a log scale of 1/(1−p), so 90 %, 99 %, 99.9 % are equally
 * far apart; y: latency), several runs overlaid for comparison; and the
 * rate and errors per interval over a run's timeline.
 *
 * @module
 */

import type { LatencyHistogramJson, LoadInterval } from "../load/mod.ts";

/** One point of a percentile curve. */
export interface PercentilePoint {
  /** The percentile, 0 to 100. */
  percentile: number;
  /** The latency at or below which that share of requests finished, in ms. */
  ms: number;
}

/** A run to draw on a latency plot. */
export interface LatencySeries {
  /** The legend's name for it. */
  label: string;
  /** Its histogram (a load result's `histogram`). */
  histogram: LatencyHistogramJson;
}

/** A run to draw on a timeline plot. */
export interface TimelineSeries {
  /** The legend's name for it. */
  label: string;
  /** Its intervals (a load result's `timeline`). */
  timeline: LoadInterval[];
}

/** Size and title of a plot. */
export interface PlotOptions {
  /** Width in pixels. Default 720. */
  width?: number;
  /** Height in pixels. Default 360. */
  height?: number;
  /** A caption above the plot. */
  title?: string;
}

/** Options of {@linkcode renderTimelinePlot}. */
export interface TimelinePlotOptions extends PlotOptions {
  /** What to draw: requests or errors per second. Default `"rate"`. */
  metric?: "rate" | "errors";
}

/** Colours of the series, in order (chosen to stay apart for common colour blindness). */
export const PLOT_COLORS: readonly string[] = Object.freeze([
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#9467bd",
  "#ff7f0e",
  "#17becf",
  "#8c564b",
  "#e377c2",
]);

const MARGIN = { left: 64, right: 16, top: 36, bottom: 48 };

/**
 * The percentile curve of a histogram: for every non-empty bucket, the
 * share of requests at or below it and the bucket's top (capped by the
 * largest sample), so the curve is exact to the histogram's 3 % buckets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LatencyHistogram } from "@netkit/netkit/load";
 * import { percentileCurve } from "@netkit/netkit/view";
 *
 * const h = new LatencyHistogram();
 * for (let i = 0; i < 99; i++) h.record(1);
 * h.record(100);
 * const curve = percentileCurve(h.toJSON());
 * assert.deepEqual(curve.map((p) => p.percentile), [99, 100]);
 * assert.equal(curve.at(-1)!.ms, 100);
 * ```
 */
export function percentileCurve(
  histogram: LatencyHistogramJson,
): PercentilePoint[] {
  const points: PercentilePoint[] = [];
  const buckets = histogram.buckets;
  if (histogram.count <= 0) return points;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const [low, n] = buckets[i]!;
    seen += n;
    // The bucket's top is the next bucket's bottom less 1 µs; the last
    // one's is the largest sample.
    const next = buckets[i + 1]?.[0];
    const top = Math.min(
      next !== undefined ? Math.max(low, bucketTop(low, next)) : Infinity,
      histogram.maxUs,
    );
    points.push({
      percentile: Math.min(100, (seen / histogram.count) * 100),
      ms: Math.max(low, top) / 1000,
    });
  }
  return points;
}

// A bucket is at most 1/32 of its value wide (load/histogram.ts): its top
// is below both the next non-empty bucket and low × 33/32.
function bucketTop(low: number, next: number): number {
  const width = low < 64 ? 1 : 2 ** Math.floor(Math.log2(low) - 5);
  return Math.min(next - 1, low + width - 1);
}

/**
 * An SVG percentile plot of one or more runs: x is the percentile on a
 * log scale of 1/(1−p) (ticks at 0, 90, 99, 99.9 % …), y the latency in
 * ms. Every point is a `<circle class="point">` carrying
 * `data-percentile` and `data-ms`, with a tooltip.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LatencyHistogram } from "@netkit/netkit/load";
 * import { renderLatencyPlot } from "@netkit/netkit/view";
 *
 * const h = new LatencyHistogram();
 * for (let i = 1; i <= 1000; i++) h.record(i / 100);
 * const svg = renderLatencyPlot([{ label: "run", histogram: h.toJSON() }]);
 * assert.match(svg, /^<svg /);
 * assert.match(svg, />99%</);
 * assert.ok(svg.includes('class="point"'));
 * ```
 */
export function renderLatencyPlot(
  series: LatencySeries[],
  options: PlotOptions = {},
): string {
  const width = options.width ?? 720;
  const height = options.height ?? 360;
  const curves = series.map((s) => percentileCurve(s.histogram));
  const count = Math.max(10, ...series.map((s) => s.histogram.count));
  // Up to the last percentile the samples can show: 1 − 1/count.
  const xMax = Math.max(1, Math.ceil(Math.log10(count) - 1e-9));
  const yMax = niceCeiling(Math.max(0, ...curves.flat().map((p) => p.ms)));
  const area = plotArea(width, height);
  const x = (percentile: number) => {
    const p = percentile / 100;
    const v = p >= 1 ? xMax : Math.min(xMax, Math.log10(1 / (1 - p)));
    return area.left + (v / xMax) * area.width;
  };
  const y = (ms: number) =>
    area.top + area.height - (yMax > 0 ? ms / yMax : 0) * area.height;
  const parts: string[] = [];
  for (let k = 0; k <= xMax; k++) {
    const px = area.left + (k / xMax) * area.width;
    parts.push(
      gridLine(px, area.top, px, area.top + area.height),
      text(px, area.top + area.height + 16, percentLabel(k), "middle"),
    );
  }
  for (const v of ticks(yMax)) {
    const py = y(v);
    parts.push(
      gridLine(area.left, py, area.left + area.width, py),
      text(area.left - 6, py + 4, formatTick(v), "end"),
    );
  }
  parts.push(
    text(area.left + area.width / 2, height - 8, "percentile", "middle"),
    `<text x="14" y="${
      area.top + area.height / 2
    }" text-anchor="middle" transform="rotate(-90 14 ${
      area.top + area.height / 2
    })" class="axis">latency (ms)</text>`,
  );
  curves.forEach((curve, i) => {
    const color = PLOT_COLORS[i % PLOT_COLORS.length]!;
    const label = escapeXml(series[i]!.label);
    const coords = curve.map((p) => `${fix(x(p.percentile))},${fix(y(p.ms))}`);
    parts.push(
      `<polyline class="curve" data-run="${i}" fill="none" stroke="${color}" stroke-width="1.5" points="${
        coords.join(" ")
      }"/>`,
    );
    for (const p of curve) {
      parts.push(
        `<circle class="point" data-run="${i}" data-percentile="${
          round(p.percentile, 4)
        }" data-ms="${round(p.ms, 3)}" cx="${fix(x(p.percentile))}" cy="${
          fix(y(p.ms))
        }" r="2" fill="${color}"><title>${label}: p${
          round(p.percentile, 3)
        } ≤ ${round(p.ms, 3)} ms</title></circle>`,
      );
    }
  });
  parts.push(legend(series.map((s) => s.label), area));
  return svg(width, height, options.title, parts);
}

/**
 * An SVG plot of requests (or errors) per second over the runs'
 * timelines, x in seconds from the start of the measured window. Every
 * interval is a `<circle class="point">` with `data-second` and
 * `data-value`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderTimelinePlot } from "@netkit/netkit/view";
 *
 * const timeline = [0, 1000, 2000].map((startMs) => ({
 *   startMs, durationMs: 1000, requests: 500, errors: startMs === 1000 ? 5 : 0,
 *   bytesSent: 0, bytesReceived: 0, p50Ms: 1, p99Ms: 2,
 * }));
 * const svg = renderTimelinePlot([{ label: "a", timeline }], { metric: "errors" });
 * assert.ok(svg.includes('data-value="5"'));
 * ```
 */
export function renderTimelinePlot(
  series: TimelineSeries[],
  options: TimelinePlotOptions = {},
): string {
  const width = options.width ?? 720;
  const height = options.height ?? 240;
  const metric = options.metric ?? "rate";
  const value = (i: LoadInterval) =>
    i.durationMs > 0
      ? (metric === "rate" ? i.requests : i.errors) / (i.durationMs / 1000)
      : 0;
  const all = series.flatMap((s) => s.timeline);
  const xMax = niceCeiling(
    Math.max(1, ...all.map((i) => (i.startMs + i.durationMs) / 1000)),
  );
  const xMin = Math.min(0, ...all.map((i) => i.startMs / 1000));
  const yMax = niceCeiling(Math.max(0, ...all.map(value)));
  const area = plotArea(width, height);
  const x = (s: number) =>
    area.left + ((s - xMin) / (xMax - xMin)) * area.width;
  const y = (v: number) =>
    area.top + area.height - (yMax > 0 ? v / yMax : 0) * area.height;
  const parts: string[] = [];
  for (const v of ticks(xMax)) {
    if (v < xMin) continue;
    const px = x(v);
    parts.push(
      gridLine(px, area.top, px, area.top + area.height),
      text(px, area.top + area.height + 16, formatTick(v), "middle"),
    );
  }
  for (const v of ticks(yMax)) {
    const py = y(v);
    parts.push(
      gridLine(area.left, py, area.left + area.width, py),
      text(area.left - 6, py + 4, formatTick(v), "end"),
    );
  }
  parts.push(
    text(area.left + area.width / 2, height - 8, "seconds", "middle"),
    `<text x="14" y="${
      area.top + area.height / 2
    }" text-anchor="middle" transform="rotate(-90 14 ${
      area.top + area.height / 2
    })" class="axis">${metric === "rate" ? "requests/s" : "errors/s"}</text>`,
  );
  series.forEach((s, i) => {
    const color = PLOT_COLORS[i % PLOT_COLORS.length]!;
    const mid = (iv: LoadInterval) => (iv.startMs + iv.durationMs / 2) / 1000;
    parts.push(
      `<polyline class="curve" data-run="${i}" fill="none" stroke="${color}" stroke-width="1.5" points="${
        s.timeline.map((iv) => `${fix(x(mid(iv)))},${fix(y(value(iv)))}`)
          .join(" ")
      }"/>`,
    );
    for (const iv of s.timeline) {
      parts.push(
        `<circle class="point" data-run="${i}" data-second="${
          round(mid(iv), 3)
        }" data-value="${round(value(iv), 1)}" cx="${fix(x(mid(iv)))}" cy="${
          fix(y(value(iv)))
        }" r="2" fill="${color}"><title>${escapeXml(s.label)}: ${
          round(value(iv), 1)
        }/s at ${round(mid(iv), 1)} s</title></circle>`,
      );
    }
  });
  parts.push(legend(series.map((s) => s.label), area));
  return svg(width, height, options.title, parts);
}

/**
 * Escapes text for XML and HTML (text and attribute values): peer-chosen
 * strings (targets, labels) never become markup.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeXml } from "@netkit/netkit/view";
 *
 * assert.equal(escapeXml(`<a href="x">&`), "&lt;a href=&quot;x&quot;&gt;&amp;");
 * ```
 */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ENTITIES[c]!)
    // Control characters are not allowed in XML 1.0 at all.
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, "\ufffd");
}

const ENTITIES: Record<string, string> = {
  "<": "&lt;",
  ">": "&gt;",
  "&": "&amp;",
  '"': "&quot;",
  "'": "&#39;",
};

function plotArea(width: number, height: number) {
  return {
    left: MARGIN.left,
    top: MARGIN.top,
    width: Math.max(10, width - MARGIN.left - MARGIN.right),
    height: Math.max(10, height - MARGIN.top - MARGIN.bottom),
  };
}

function svg(
  width: number,
  height: number,
  title: string | undefined,
  parts: string[],
): string {
  const caption = title === undefined
    ? ""
    : `<text x="${MARGIN.left}" y="20" class="title">${
      escapeXml(title)
    }</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="sans-serif" font-size="11">` +
    `<style>.grid{stroke:#ddd;stroke-width:1}.axis{fill:#444}.title{font-size:13px;font-weight:bold;fill:#222}</style>` +
    caption + parts.join("") + "</svg>";
}

function legend(labels: string[], area: ReturnType<typeof plotArea>): string {
  return labels.map((label, i) => {
    const y = area.top + 8 + i * 14;
    const x = area.left + 8;
    return `<g class="legend"><rect x="${x}" y="${
      y - 8
    }" width="10" height="10" fill="${PLOT_COLORS[i % PLOT_COLORS.length]}"/>${
      text(x + 14, y + 1, label, "start")
    }</g>`;
  }).join("");
}

function gridLine(x1: number, y1: number, x2: number, y2: number): string {
  return `<line class="grid" x1="${fix(x1)}" y1="${fix(y1)}" x2="${
    fix(x2)
  }" y2="${fix(y2)}"/>`;
}

function text(
  x: number,
  y: number,
  content: string,
  anchor: "start" | "middle" | "end",
): string {
  return `<text class="axis" x="${fix(x)}" y="${
    fix(y)
  }" text-anchor="${anchor}">${escapeXml(content)}</text>`;
}

// 0 → "0%", 1 → "90%", 2 → "99%", 3 → "99.9%", …
function percentLabel(k: number): string {
  if (k === 0) return "0%";
  return `${(100 - 100 / 10 ** k).toFixed(Math.max(0, k - 2))}%`;
}

// A round number at or above `v` (1, 2, 2.5, 5 × a power of ten).
function niceCeiling(v: number): number {
  if (!(v > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(v));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= v) return step * power;
  }
  return 10 * power;
}

// About five ticks from 0 to `max` (a nice number).
function ticks(max: number): number[] {
  const step = niceCeiling(max / 5);
  const out: number[] = [];
  for (let v = 0; v <= max + step / 1e6; v += step) out.push(round(v, 6));
  return out;
}

function formatTick(v: number): string {
  return v >= 1000 ? v.toLocaleString("en-US") : String(round(v, 3));
}

function fix(v: number): string {
  return v.toFixed(1);
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
