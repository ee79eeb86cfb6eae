/**
 * Load runs as text, as pure functions: the summary `netkit load` prints
 * (and the HTML report repeats, so both show the same numbers), the
 * per-interval lines of `--interval` (iperf3's style), the live line,
 * and the latency histogram's rows.
 *
 * @module
 */

import { plural } from "../words.ts";
import {
  LatencyHistogram,
  type LatencyHistogramJson,
  LOAD_ERROR_CAUSES,
  type LoadInterval,
  type LoadProgress,
  type LoadResult,
} from "../load/mod.ts";
import { explainCounters } from "../tcp/proc/counters.ts";
import { escapeControl } from "../escape.ts";

/** Options of {@linkcode renderLoadSummary}. */
export interface LoadSummaryOptions {
  /** Show every kernel counter that moved, not only those that explain something. */
  allCounters?: boolean;
  /** Columns to fit (counter meanings move to their own line). Default 80. */
  width?: number;
}

/**
 * The human summary of a run (or a merge): the loop, requests, status
 * classes, bytes, datagram loss, latency percentiles with a histogram,
 * errors by cause, and the kernel counters that explain something (each
 * with its meaning, and whose traffic they count; every counter with
 * `allCounters`). A merge's `warnings` are not in it: they are the
 * caller's to show (the CLI on stderr, the report above the runs).
 * Peer-chosen text is escaped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyLoadResult } from "@netkit/netkit/load";
 * import { renderLoadSummary } from "@netkit/netkit/view";
 *
 * const r = { ...emptyLoadResult("tcp", "127.0.0.1:7", "echo"), requests: 5, sent: 5 };
 * r.kernel = { TcpExtListenOverflows: 2, TcpActiveOpens: 9 };
 * r.kernelScope = "machine";
 * const text = renderLoadSummary(r);
 * assert.match(text, /requests +5 ok of 5 sent/);
 * assert.match(text, /\+2 TcpExtListenOverflows/);
 * assert.doesNotMatch(text, /TcpActiveOpens/);
 * ```
 */
export function renderLoadSummary(
  r: LoadResult,
  options: LoadSummaryOptions = {},
): string {
  const width = options.width ?? 80;
  const lines = headline(r, width);
  if (requestMode(r)) {
    lines.push(
      `  requests   ${formatCount(r.requests)} ok of ${
        formatCount(r.sent)
      } sent, ${formatCount(r.rate)} req/s`,
    );
  }
  if (r.status) {
    const classes = Object.keys(r.status).sort()
      .map((k) => `${escapeControl(k)} ${formatCount(r.status![k]!)}`);
    lines.push(`  status     ${classes.join("  ")}`);
  }
  if (r.datagrams) {
    const d = r.datagrams;
    lines.push(
      `  datagrams  ${formatCount(d.sent)} sent, ${
        formatCount(d.received)
      } echoed, ${formatCount(d.lost)} lost (${d.lossPercent}%), jitter ${
        formatMs(d.jitterMs)
      }`,
    );
  }
  lines.push(
    `  bytes      ${formatMB(r.bytesSent)} sent, ${
      formatMB(r.bytesReceived)
    } received, ${r.mbps.toFixed(2)} MB/s`,
  );
  if (r.histogram.count > 0) {
    const l = r.latencyMs;
    const ms = (v: number) => formatMs(v).slice(0, -3);
    lines.push(
      `  latency    p50 ${ms(l.p50)}  p90 ${ms(l.p90)}  p99 ${
        ms(l.p99)
      }  p99.9 ${ms(l.p999)}  max ${ms(l.max)} ms`,
      ...renderHistogramRows(r.histogram).map((s) => `    ${s}`),
    );
  }
  const errors = LOAD_ERROR_CAUSES.filter((c) => (r.errors[c] ?? 0) > 0)
    .map((c) => `${c} ${formatCount(r.errors[c])}`);
  lines.push(`  errors     ${errors.length ? errors.join(", ") : "none"}`);
  lines.push(...kernelLines(r, options.allCounters ?? false, width));
  return lines.join("\n");
}

// Whether the run carried requests (echo, HTTP, datagrams), not streams.
function requestMode(r: LoadResult): boolean {
  return r.mode === "echo" || r.protocol === "http" ||
    r.status !== undefined || r.datagrams !== undefined || r.sent > 0;
}

// "load PROTOCOL TARGET MODE: how", on two lines when one is too wide
// (the target is never cut: a user copies it).
function headline(r: LoadResult, width: number): string[] {
  const p = r.parameters;
  const loop = p === undefined
    ? "one run"
    : p.ratePerSecond
    ? `open loop at ${formatCount(p.ratePerSecond)}/s`
    : requestMode(r)
    ? `closed loop, pipeline ${p.pipeline}`
    : p.size
    ? `${formatBytesShort(p.size)} writes`
    : "streams";
  const shard = (p?.shard ? `, shard ${p.shard}` : "") +
    (r.loops > 1 ? `, ${r.loops} runs merged` : "");
  const what = `load ${escapeControl(`${r.protocol} ${r.target} ${r.mode}`)}`;
  const how = `${plural(r.connections, "connection")}, ${loop}${shard}, ${
    (r.durationMs / 1000).toFixed(1)
  } s measured${r.ended === "aborted" ? " (interrupted)" : ""}`;
  const one = `${what}: ${how}`;
  return one.length <= width ? [one] : [`${what}:`, `  ${how}`];
}

/**
 * Says whose traffic kernel counters of a scope count.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeCounterScope } from "@netkit/netkit/view";
 *
 * assert.match(describeCounterScope("machine"), /whole machine/);
 * ```
 */
export function describeCounterScope(scope: string | undefined): string {
  if (scope === "machine") {
    return "whole machine: other programs' traffic included";
  }
  if (scope?.startsWith("net:[")) {
    return `network namespace ${scope}: every program in it`;
  }
  return "other programs' traffic may be included";
}

function kernelLines(r: LoadResult, all: boolean, width: number): string[] {
  const groups = r.hosts && r.hosts.length > 1
    ? r.hosts.map((h) => ({
      title: `${h.host} (${describeCounterScope(h.scope || undefined)})`,
      kernel: h.kernel,
    }))
    : [{ title: "", kernel: r.kernel }];
  const out: string[] = [];
  let hidden = 0;
  for (const g of groups) {
    const shown = explainCounters(g.kernel, { all });
    hidden += Object.values(g.kernel).filter((v) => v !== 0).length -
      shown.length;
    if (shown.length === 0 && groups.length > 1) continue;
    const indent = groups.length > 1 ? "      " : "    ";
    if (groups.length > 1) out.push(`    ${escapeControl(g.title)}`);
    for (const c of shown) {
      const head = `${indent}${c.delta > 0 ? "+" : ""}${formatCount(c.delta)} ${
        escapeControl(c.name)
      }`;
      if (!c.meaning) out.push(head);
      else if (head.length + 2 + c.meaning.length <= width) {
        out.push(`${head}  ${c.meaning}`);
      } else out.push(head, `${indent}  ${c.meaning}`);
    }
  }
  const moved = Object.keys(r.kernel).length > 0 ||
    (r.hosts ?? []).some((h) => Object.keys(h.kernel).length > 0);
  if (!moved) return [];
  const scope = groups.length > 1
    ? "kept per host"
    : describeCounterScope(r.kernelScope);
  const tail = hidden > 0
    ? [
      `    ${hidden} other counter${
        hidden === 1 ? "" : "s"
      } moved (normal traffic; --all-counters)`,
    ]
    : [];
  const head = `  kernel     ${
    out.length === 0 ? "nothing that explains a failure" : "counters"
  }`;
  const whose = `(${scope})`;
  return [
    ...(head.length + 1 + whose.length <= width
      ? [`${head} ${whose}`]
      : [head, `${" ".repeat(13)}${whose}`]),
    ...out,
    ...tail,
  ];
}

/**
 * One `--interval` line, iperf3's way: the interval, requests per second,
 * MB/s, the interval's p50 and p99, and its errors; 80 columns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderIntervalLine } from "@netkit/netkit/view";
 *
 * const line = renderIntervalLine({
 *   startMs: 1000, durationMs: 1000, requests: 12345, errors: 0,
 *   bytesSent: 0, bytesReceived: 790080, p50Ms: 0.41, p99Ms: 1.8,
 * });
 * assert.match(line, /^\[ +1\.0- +2\.0 s\] +12,345 req\/s/);
 * ```
 */
export function renderIntervalLine(
  interval: LoadInterval,
  options: { direction?: "sent" | "received" | "both" } = {},
): string {
  const from = interval.startMs / 1000;
  const to = (interval.startMs + interval.durationMs) / 1000;
  const seconds = interval.durationMs / 1000;
  const d = options.direction ?? "received";
  const bytes = (d !== "received" ? interval.bytesSent : 0) +
    (d !== "sent" ? interval.bytesReceived : 0);
  const rate = seconds > 0 ? interval.requests / seconds : 0;
  const mbps = seconds > 0 ? bytes / 1e6 / seconds : 0;
  const ms = (v: number) => formatMs(v).slice(0, -3);
  // Within 80 columns: one unit for both percentiles.
  return [
    `[${from.toFixed(1).padStart(5)}-${to.toFixed(1).padStart(5)} s]`,
    `${formatCount(rate).padStart(8)} req/s`,
    `${mbps.toFixed(2).padStart(7)} MB/s`,
    `p50/p99 ${ms(interval.p50Ms)}/${ms(interval.p99Ms)} ms`,
    plural(formatCount(interval.errors), "error"),
  ].join("  ");
}

/**
 * The live line: time, rate, MB/s, p50/p99, errors, open connections.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderProgressLine } from "@netkit/netkit/view";
 *
 * const line = renderProgressLine({
 *   elapsedMs: 3000, warmup: false, rate: 1000, mbps: 0.5,
 *   p50Ms: 1, p99Ms: 2, errors: 0, open: 10,
 * });
 * assert.match(line, /^ +3s +1,000 req\/s/);
 * ```
 */
export function renderProgressLine(p: LoadProgress): string {
  return [
    `${(p.elapsedMs / 1000).toFixed(0).padStart(3)}s${
      p.warmup ? " warmup" : ""
    }`,
    `${formatCount(p.rate)} req/s`,
    `${p.mbps.toFixed(2)} MB/s`,
    `p50 ${formatMs(p.p50Ms)}`,
    `p99 ${formatMs(p.p99Ms)}`,
    plural(p.errors, "error"),
    `${p.open} open`,
  ].join("  ");
}

const EDGES_MS = [
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1000,
  2500,
  Infinity,
];

/**
 * A few rows of latency ranges with bars (from a result's `histogram`).
 *
 * @throws {LoadError} `bad_histogram` for a malformed histogram.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LatencyHistogram } from "@netkit/netkit/load";
 * import { renderHistogramRows } from "@netkit/netkit/view";
 *
 * const h = new LatencyHistogram();
 * h.record(0.3);
 * h.record(3);
 * // 0.25–0.5, 0.5–1, 1–2.5, 2.5–5 ms: four rows, two of them empty.
 * assert.equal(renderHistogramRows(h.toJSON()).length, 4);
 * ```
 */
export function renderHistogramRows(json: LatencyHistogramJson): string[] {
  LatencyHistogram.fromJSON(json); // refuses a malformed one
  const counts = new Array<number>(EDGES_MS.length).fill(0);
  for (const [lowUs, n] of json.buckets) {
    const ms = lowUs / 1000;
    const row = EDGES_MS.findIndex((edge) => ms < edge);
    counts[row]! += n;
  }
  const first = counts.findIndex((n) => n > 0);
  const last = counts.findLastIndex((n) => n > 0);
  if (first < 0) return [];
  const most = Math.max(...counts);
  const rows: string[] = [];
  for (let i = first; i <= last; i++) {
    const edge = EDGES_MS[i]!;
    const label = edge === Infinity
      ? `≥ ${EDGES_MS[i - 1]} ms`
      : `< ${edge} ms`;
    const bar = "#".repeat(Math.round((counts[i]! / most) * 30));
    const pct = (counts[i]! / json.count * 100).toFixed(1);
    rows.push(`${label.padStart(10)} ${pct.padStart(5)}% ${bar}`);
  }
  return rows;
}

/**
 * A latency in ms with the digits that matter: `0.412 ms`, `12.5 ms`,
 * `250 ms`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatMs } from "@netkit/netkit/view";
 *
 * assert.equal(formatMs(0.4123), "0.412 ms");
 * assert.equal(formatMs(250), "250 ms");
 * ```
 */
export function formatMs(ms: number): string {
  return ms >= 100
    ? `${ms.toFixed(0)} ms`
    : ms >= 10
    ? `${ms.toFixed(1)} ms`
    : `${ms.toFixed(3)} ms`;
}

function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function formatBytesShort(n: number): string {
  return n >= 1024 * 1024 && n % (1024 * 1024) === 0
    ? `${n / 1024 / 1024} MiB`
    : n >= 1024 && n % 1024 === 0
    ? `${n / 1024} KiB`
    : `${n} B`;
}

function formatMB(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes >= 1e8 ? 0 : 2)} MB`;
}
