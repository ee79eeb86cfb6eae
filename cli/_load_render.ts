// What `netkit load` prints: the live line, the summary and the latency
// histogram.

import {
  LatencyHistogram,
  type LatencyHistogramJson,
  LOAD_ERROR_CAUSES,
  type LoadOptions,
  type LoadProgress,
  type LoadResult,
} from "../load/mod.ts";
import { escapeControl } from "../escape.ts";
import { wrapText } from "./_text.ts";
import { plural } from "./_output.ts";

/** The live line: time, rate, MB/s, p50/p99, errors, open connections. */
export function renderProgress(p: LoadProgress): string {
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

/** Cuts `text` to `width` columns (the live line must never wrap). */
export function fitWidth(text: string, width: number): string {
  return text.length <= width ? text : text.slice(0, Math.max(0, width));
}

function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function formatMs(ms: number): string {
  return ms >= 100
    ? `${ms.toFixed(0)} ms`
    : ms >= 10
    ? `${ms.toFixed(1)} ms`
    : `${ms.toFixed(3)} ms`;
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

// The counters that explain load failures come first.
const KERNEL_ORDER = [
  "TcpExtListenOverflows",
  "TcpExtListenDrops",
  "TcpExtTCPSynRetrans",
  "TcpExtTCPAbortOnData",
  "TcpExtTCPAbortOnClose",
  "TcpExtTCPTimeouts",
  "TcpAttemptFails",
  "TcpEstabResets",
  "TcpOutRsts",
  "TcpRetransSegs",
  "TcpExtTCPReqQFullDrop",
  "TcpExtTCPReqQFullDoCookies",
  "TcpExtSyncookiesSent",
  "TcpExtTCPTimeWaitOverflow",
  "UdpInErrors",
  "UdpRcvbufErrors",
];

/**
 * The human summary of a run (or a merge); the kernel counters' line is
 * wrapped to `width` columns at its commas.
 */
export function renderSummary(
  r: LoadResult,
  width: number,
  job?: { options: LoadOptions },
): string {
  const loop = !job
    ? `${r.loops} runs merged`
    : r.mode !== "echo"
    ? `${formatBytesShort(job.options.size ?? 0)} writes`
    : job.options.ratePerSecond
    ? `open loop at ${formatCount(job.options.ratePerSecond)}/s`
    : `closed loop, pipeline ${job.options.pipeline ?? 1}`;
  const loops = job && r.loops > 1 ? ` on ${r.loops} workers` : "";
  const lines = [
    `load ${escapeControl(`${r.protocol} ${r.target} ${r.mode}`)}: ${
      plural(r.connections, "connection")
    }${loops}, ${loop}, ${(r.durationMs / 1000).toFixed(1)} s measured${
      r.ended === "aborted" ? " (interrupted)" : ""
    }`,
  ];
  if (r.mode === "echo") {
    lines.push(
      `  requests   ${formatCount(r.requests)} ok of ${
        formatCount(r.sent)
      } sent, ${formatCount(r.rate)} req/s`,
    );
  }
  lines.push(
    `  bytes      ${formatMB(r.bytesSent)} sent, ${
      formatMB(r.bytesReceived)
    } received, ${r.mbps.toFixed(2)} MB/s`,
  );
  if (r.histogram.count > 0) {
    const l = r.latencyMs;
    lines.push(
      `  latency    p50 ${formatMs(l.p50)}  p90 ${formatMs(l.p90)}  p99 ${
        formatMs(l.p99)
      }  p99.9 ${formatMs(l.p999)}  max ${formatMs(l.max)}`,
      ...renderHistogram(r.histogram).map((s) => `    ${s}`),
    );
  }
  const errors = LOAD_ERROR_CAUSES.filter((c) => r.errors[c] > 0)
    .map((c) => `${c} ${formatCount(r.errors[c])}`);
  lines.push(`  errors     ${errors.length ? errors.join(", ") : "none"}`);
  const names = Object.keys(r.kernel).sort((a, b) => {
    const ia = KERNEL_ORDER.indexOf(a);
    const ib = KERNEL_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  if (names.length) {
    lines.push(
      ...wrapText(
        `${
          names.map((n) => `${escapeControl(n)} +${formatCount(r.kernel[n]!)}`)
            .join(", ")
        } (whole machine)`,
        width,
        { firstIndent: "  kernel     ", indent: " ".repeat(13) },
      ),
    );
  }
  return lines.join("\n");
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

/** A few rows of latency ranges with bars (what --json's histogram holds). */
export function renderHistogram(json: LatencyHistogramJson): string[] {
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
