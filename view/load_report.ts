/**
 * A load report as one self-contained HTML page (a pure function: results
 * in, HTML text out): the latency percentile plot with every run
 * overlaid, requests and errors per second, each run's parameters, and
 * its text summary, so the page shows the same numbers as the terminal.
 * The page fetches nothing: styles are inline, plots are inline SVG, and
 * its Content-Security-Policy forbids any request.
 *
 * @module
 */

import type { LoadResult } from "../load/mod.ts";
import {
  escapeXml,
  renderLatencyPlot,
  renderTimelinePlot,
} from "./latency_plot.ts";
import { formatMs, renderLoadSummary } from "./load_summary.ts";

/** A run in a report: its result and the name the page gives it. */
export interface LoadReportRun {
  /** A short name (a file name, a target). */
  label: string;
  /** The run's result (`netkit load --json`). */
  result: LoadResult;
}

/** Options of {@linkcode renderLoadReport}. */
export interface LoadReportOptions {
  /** The page's title. Default "netkit load report". */
  title?: string;
  /** List every kernel counter in the summaries, not only the notable ones. */
  allCounters?: boolean;
}

const STYLE = `
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:960px;color:#222;padding:0 12px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:2px 10px 2px 0;text-align:left;vertical-align:top}
th{font-weight:600;color:#555}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f6f6;padding:10px;overflow-x:auto;font-size:12px}
.note{color:#666}.warnings{color:#a40}.swatch{display:inline-block;width:10px;height:10px;margin-right:6px}
svg{max-width:100%;height:auto}
`;

/**
 * One HTML page reporting `runs`: the percentile plot (runs overlaid,
 * log scale of 1/(1−p)), requests and errors per second from their
 * timelines, and per run its parameters, percentiles and text summary.
 * Labels and targets are escaped; nothing in the page loads anything.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyLoadResult, LatencyHistogram } from "@netkit/netkit/load";
 * import { renderLoadReport } from "@netkit/netkit/view";
 *
 * const h = new LatencyHistogram();
 * h.record(1.5);
 * const result = { ...emptyLoadResult("http", "http://127.0.0.1/", "GET"), requests: 1, histogram: h.toJSON() };
 * const html = renderLoadReport([{ label: "<first>", result }]);
 * assert.match(html, /^<!doctype html>/);
 * assert.match(html, /&lt;first&gt;/);
 * assert.match(html, /default-src 'none'/);
 * ```
 */
export function renderLoadReport(
  runs: LoadReportRun[],
  options: LoadReportOptions = {},
): string {
  const title = options.title ?? "netkit load report";
  const withTimeline = runs.filter((r) => (r.result.timeline ?? []).length);
  const timelines = withTimeline.map((r) => ({
    label: r.label,
    timeline: r.result.timeline!,
  }));
  const warnings = [...new Set(runs.flatMap((r) => r.result.warnings ?? []))];
  const body = [
    `<h1>${escapeXml(title)}</h1>`,
    `<p class="note">${runs.length} run${
      runs.length === 1 ? "" : "s"
    }; latency counts from the moment each request was due.</p>`,
    warnings.length
      ? `<ul class="warnings">${
        warnings.map((w) => `<li>${escapeXml(w)}</li>`).join("")
      }</ul>`
      : "",
    `<section id="latency"><h2>Latency by percentile</h2>`,
    renderLatencyPlot(
      runs.map((r) => ({ label: r.label, histogram: r.result.histogram })),
    ),
    `</section>`,
    `<section id="rate"><h2>Requests per second</h2>`,
    timelines.length
      ? renderTimelinePlot(timelines, { metric: "rate" })
      : `<p class="note">These results hold no timeline.</p>`,
    `</section>`,
    `<section id="errors"><h2>Errors per second</h2>`,
    timelines.length
      ? renderTimelinePlot(timelines, { metric: "errors" })
      : `<p class="note">These results hold no timeline.</p>`,
    `</section>`,
    `<section id="runs"><h2>Runs</h2>`,
    ...runs.map((run, i) => runSection(run, i, options)),
    `</section>`,
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(title)}</title><style>${STYLE}</style></head>
<body>
${body.join("\n")}
</body></html>
`;
}

function runSection(
  run: LoadReportRun,
  index: number,
  options: LoadReportOptions,
): string {
  const r = run.result;
  const p = r.parameters;
  const rows: [string, string][] = [
    ["target", `${r.protocol} ${r.target} ${r.mode}`],
    ["connections", String(r.connections)],
  ];
  if (p) {
    rows.push([
      "loop",
      p.ratePerSecond
        ? `open, ${p.ratePerSecond.toLocaleString("en-US")} requests/s`
        : `closed, pipeline ${p.pipeline}`,
    ]);
    rows.push(["duration", `${p.durationMs / 1000} s planned`]);
    if (p.requests !== undefined) rows.push(["requests", String(p.requests)]);
    if (p.warmupMs) rows.push(["warm-up", `${p.warmupMs / 1000} s`]);
    rows.push(["timeout", `${p.timeoutMs / 1000} s`]);
    if (p.size !== undefined) rows.push(["size", `${p.size} B`]);
    if (p.connectRatePerSecond !== undefined) {
      rows.push(["connect rate", `${p.connectRatePerSecond}/s`]);
    }
    if (p.shard) rows.push(["shard", p.shard]);
  }
  rows.push(["measured", `${(r.durationMs / 1000).toFixed(1)} s`]);
  if (r.startedAt !== undefined) {
    rows.push(["started", new Date(r.startedAt).toISOString()]);
  }
  if (r.host) rows.push(["host", r.host]);
  if (r.loops > 1) rows.push(["merged", `${r.loops} runs`]);
  const l = r.latencyMs;
  const percentiles = ([
    ["p50", l.p50],
    ["p90", l.p90],
    ["p99", l.p99],
    ["p99.9", l.p999],
    ["max", l.max],
    ["mean", l.mean],
  ] as const).map(([k, v]) =>
    `<th>${k}</th><td class="num" data-percentile="${k}">${
      escapeXml(formatMs(v))
    }</td>`
  ).join("");
  return `<article class="run" data-run="${index}">
<h3>${escapeXml(run.label)}</h3>
<table class="parameters">${
    rows.map(([k, v]) => `<tr><th>${k}</th><td>${escapeXml(v)}</td></tr>`)
      .join("")
  }</table>
<table class="percentiles"><tr>${percentiles}</tr></table>
<pre class="summary">${
    escapeXml(renderLoadSummary(r, { allCounters: options.allCounters }))
  }</pre>
</article>`;
}
