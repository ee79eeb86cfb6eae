// `netkit load tcp|udp|ws TARGET` and `netkit load merge A.json B.json …`:
// drive a server hard, then print what it did (and what the kernel saw).

import {
  checkLoadOptions,
  LatencyHistogram,
  type LatencyHistogramJson,
  LOAD_ERROR_CAUSES,
  type LoadOptions,
  type LoadProgress,
  type LoadResult,
  mergeLoadResults,
} from "../load/mod.ts";
import { NetkitError } from "../errors.ts";
import { escapeControl } from "../escape.ts";
import { loadTcp, type TcpLoadMode } from "../tcp/mod.ts";
import { counterDeltas, readTransportCounters } from "../tcp/proc/mod.ts";
import { loadUdp } from "../udp/mod.ts";
import { loadWebSocket } from "../ws/mod.ts";
import {
  bytesFlag,
  intFlag,
  parseCommand,
  secondsFlag,
  UsageError,
} from "./_args.ts";
import type { CliContext, Command } from "./_command.ts";
import { log, out, outJson, stderrIsTerminal } from "./_output.ts";

const HELP =
  `netkit load: drive a TCP, UDP or WebSocket server hard and see what it does

Usage:
  netkit load tcp HOST:PORT [options]
  netkit load udp HOST:PORT [options]
  netkit load ws  ws://HOST:PORT/PATH [options]
  netkit load merge A.json B.json …

Closed loop (default): every connection keeps --pipeline requests in flight
and sends the next as a reply arrives. Open loop (--rate): requests are due on
the clock whatever the server does, and latency counts from the moment each
was due, so a stalling server cannot hide its stall.

Options:
  -c, --conns N         connections (UDP: sockets), default 10
  -p, --pipeline K      requests in flight per connection (closed loop: 1;
                        open loop: at most 32)
  -r, --rate R          open loop: R requests per second across all connections
  -d, --duration S      seconds measured (default 10; with --requests a 60 s cap)
  -n, --requests N      stop after N requests
      --warmup S        seconds of unmeasured load first (default 0)
      --connect-rate R  open connections at R per second, not all at once
      --workers N       N load loops on N threads (one per core), merged
  -s, --size B          payload bytes per request (default 64; 512K, 1M…)
      --mode M          echo (default): requests, checked byte for byte;
                        stream: send as fast as the server takes, check the echo
                        (MB/s, iperf3-style); sink: send, discard replies
      --reverse         only read (a server that sends); MB/s received
      --bidir           stream, counting both directions
      --timeout MS      a request or connect unanswered this long is a timeout
                        (default 2000)
      --allow-remote    allow a target that is not on loopback
      --json            one JSON object: rate, mbps, latencyMs, errors, kernel,
                        histogram (what 'load merge' adds up)
  -h, --help            show this help

A live line per second goes to stderr on a terminal; Ctrl-C stops the run and
prints the summary so far. Errors are counted by cause: refused, reset,
timeout, emfile, closed, mismatch (a wrong echo), other. Kernel counters
(TcpExtListenOverflows, TcpExtTCPSynRetrans, …, under their nstat names) are
machine-wide deltas over the run.

merge adds runs made at the same time (several machines, several shells):
counts, rates and histograms add; percentiles come from the merged histogram.

Targets must be on loopback (127.0.0.0/8, ::1) unless --allow-remote.

Examples:
  netkit load tcp 127.0.0.1:7007 -c 100 -d 5
  netkit load tcp 127.0.0.1:7007 --rate 20000 -c 50 --json > a.json
  netkit load tcp 127.0.0.1:7007 --mode stream -c 4 -s 64K
  netkit load ws ws://127.0.0.1:8080/ws -c 10 --pipeline 16
  netkit load merge a.json b.json`;

/** The `load` command. */
export const loadCommand: Command = {
  name: "load",
  summary: "load generator for TCP, UDP and WebSocket servers: rate, MB/s, p99",
  run: runLoadCommand,
};

const FLAGS = {
  conns: { type: "string", short: "c" },
  pipeline: { type: "string", short: "p" },
  rate: { type: "string", short: "r" },
  duration: { type: "string", short: "d" },
  requests: { type: "string", short: "n" },
  warmup: { type: "string" },
  "connect-rate": { type: "string" },
  workers: { type: "string" },
  size: { type: "string", short: "s" },
  mode: { type: "string" },
  reverse: { type: "boolean" },
  bidir: { type: "boolean" },
  timeout: { type: "string" },
  "allow-remote": { type: "boolean" },
  json: { type: "boolean" },
} as const;

/** What a load run needs; also what a worker is sent. */
export interface LoadJob {
  protocol: "tcp" | "udp" | "ws";
  target: string;
  mode: TcpLoadMode;
  options: LoadOptions;
}

async function runLoadCommand(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    (sub === undefined ? log : out)(HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub === "merge") return await runMerge(rest);
  if (sub !== "tcp" && sub !== "udp" && sub !== "ws") {
    throw new UsageError(
      `unknown command 'load ${sub}' (try: tcp, udp, ws, merge)`,
      "load",
    );
  }
  const cmd = `load ${sub}`;
  const { values, positionals } = parseCommand(cmd, rest, FLAGS, {
    min: 1,
    max: 1,
    names: sub === "ws" ? "ws://HOST:PORT/PATH" : "HOST:PORT",
  });
  if (values.help) {
    out(HELP);
    return 0;
  }
  const job = parseJob(cmd, sub, positionals[0]!, values);
  const workers = intFlag(cmd, "workers", values.workers, {
    min: 1,
    max: 64,
  }) ?? 1;
  const json = Boolean(values.json);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  const live = liveLine();
  let result: LoadResult;
  try {
    result = workers === 1
      ? await runJob(job, { signal: stop.signal, onProgress: live.update })
      : await runWorkers(job, workers, stop.signal, live.update);
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    live.clear();
  }
  if (json) outJson(result);
  else out(renderSummary(result, job));
  return result.requests === 0 && result.bytesSent + result.bytesReceived === 0
    ? 1
    : 0;
}

// deno-lint-ignore no-explicit-any
type Values = Record<string, any>;

function parseJob(
  cmd: string,
  protocol: "tcp" | "udp" | "ws",
  target: string,
  values: Values,
): LoadJob {
  const mode = values.reverse
    ? "reverse"
    : values.bidir
    ? "bidir"
    : (values.mode ?? "echo") as TcpLoadMode;
  if (values.reverse && values.bidir) {
    throw new UsageError("--reverse and --bidir exclude each other", cmd);
  }
  if (!["echo", "stream", "sink", "reverse", "bidir"].includes(mode)) {
    throw new UsageError(
      `--mode takes echo, stream or sink, not '${values.mode}'`,
      cmd,
    );
  }
  if (protocol === "udp" && mode !== "echo") {
    throw new UsageError("UDP load runs requests only (--mode echo)", cmd);
  }
  const rate = numberFlag(cmd, "rate", values.rate);
  const options: LoadOptions = {
    connections:
      intFlag(cmd, "conns", values.conns, { min: 1, max: 100_000 }) ??
        10,
    pipeline: intFlag(cmd, "pipeline", values.pipeline, { min: 1, max: 65536 }),
    ratePerSecond: rate,
    durationMs: secondsFlag(cmd, "duration", values.duration),
    requests: intFlag(cmd, "requests", values.requests, { min: 1 }),
    warmupMs: secondsFlag(cmd, "warmup", values.warmup),
    connectRatePerSecond: numberFlag(
      cmd,
      "connect-rate",
      values["connect-rate"],
    ),
    size: bytesFlag(cmd, "size", values.size) ??
      (mode === "echo" ? 64 : 64 * 1024),
    timeoutMs: intFlag(cmd, "timeout", values.timeout, { min: 1 }),
    allowRemote: Boolean(values["allow-remote"]),
  };
  if (options.durationMs === 0) {
    throw new UsageError("--duration must be above 0", cmd);
  }
  try {
    checkLoadOptions(options);
  } catch (error) {
    throw new UsageError((error as Error).message, cmd);
  }
  return { protocol, target, mode, options };
}

function numberFlag(
  cmd: string,
  name: string,
  text: string | undefined,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(value > 0)) {
    throw new UsageError(
      `--${name} takes a number per second above 0, not '${text}'`,
      cmd,
    );
  }
  return value;
}

/** Runs one load loop in this thread. */
export function runJob(
  job: LoadJob,
  extra: Partial<LoadOptions> = {},
): Promise<LoadResult> {
  const options = { ...job.options, ...extra };
  switch (job.protocol) {
    case "tcp":
      return loadTcp(job.target, { ...options, mode: job.mode });
    case "udp":
      return loadUdp(job.target, options);
    case "ws":
      return loadWebSocket(job.target, { ...options, mode: job.mode });
  }
}

/** Splits `total` into `parts` whole shares that differ by at most one. */
function share(total: number, parts: number, index: number): number {
  return Math.floor(total / parts) + (index < total % parts ? 1 : 0);
}

// One load loop per worker thread, each with its share of connections,
// rate and requests; the kernel counters are read once, here.
async function runWorkers(
  job: LoadJob,
  count: number,
  signal: AbortSignal,
  onProgress: ((p: LoadProgress) => void) | undefined,
): Promise<LoadResult> {
  const conns = job.options.connections ?? 10;
  if (conns < count) {
    throw new UsageError(
      `--workers ${count} needs at least ${count} connections (--conns)`,
      `load ${job.protocol}`,
    );
  }
  if (job.options.requests !== undefined && job.options.requests < count) {
    throw new UsageError(
      `--workers ${count} needs at least ${count} requests (--requests)`,
      `load ${job.protocol}`,
    );
  }
  const before = await readTransportCounters();
  // Every loop reports the end of its window and waits; the counters are
  // read then, before any loop closes its connections.
  let ended = 0;
  let after: Promise<Record<string, number>> | undefined;
  const progress = new Map<number, LoadProgress>();
  let reported = 0;
  const workers: Worker[] = [];
  const results = Array.from({ length: count }, (_, i) => {
    const options: LoadOptions = {
      ...job.options,
      connections: share(conns, count, i),
      kernelCounters: false,
    };
    if (job.options.ratePerSecond) {
      options.ratePerSecond = job.options.ratePerSecond / count;
    }
    if (job.options.requests) {
      options.requests = share(job.options.requests, count, i);
    }
    const worker = new Worker(
      new URL("./_load_worker.ts", import.meta.url).href,
      { type: "module" },
    );
    workers.push(worker);
    return new Promise<LoadResult>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent) => {
        const m = e.data as
          | { kind: "progress"; progress: LoadProgress }
          | { kind: "ended" }
          | { kind: "result"; result: LoadResult }
          | { kind: "error"; message: string; code?: string };
        if (m.kind === "progress") {
          progress.set(i, m.progress);
          if (progress.size === count || ++reported > count) {
            onProgress?.(sumProgress([...progress.values()]));
            progress.clear();
            reported = 0;
          }
        } else if (m.kind === "ended") {
          if (++ended === count) {
            after = readTransportCounters().finally(() => {
              for (const w of workers) w.postMessage({ kind: "close" });
            });
          }
        } else if (m.kind === "result") resolve(m.result);
        else reject(new NetkitError(m.code ?? "worker_failed", m.message));
      };
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new NetkitError("worker_failed", e.message));
      };
      worker.postMessage({
        kind: "start",
        job: { ...job, options },
        live: onProgress !== undefined,
      });
    });
  });
  const stop = () => {
    for (const w of workers) w.postMessage({ kind: "stop" });
  };
  signal.addEventListener("abort", stop, { once: true });
  try {
    const merged = mergeLoadResults(await Promise.all(results));
    merged.kernel = counterDeltas(
      before,
      await (after ?? readTransportCounters()),
    );
    return merged;
  } finally {
    signal.removeEventListener("abort", stop);
    for (const w of workers) w.terminate();
  }
}

function sumProgress(list: LoadProgress[]): LoadProgress {
  return {
    elapsedMs: Math.max(...list.map((p) => p.elapsedMs)),
    warmup: list.some((p) => p.warmup),
    rate: list.reduce((n, p) => n + p.rate, 0),
    mbps: list.reduce((n, p) => n + p.mbps, 0),
    // Percentiles do not add; the worst worker's is the honest bound.
    p50Ms: Math.max(...list.map((p) => p.p50Ms)),
    p99Ms: Math.max(...list.map((p) => p.p99Ms)),
    errors: list.reduce((n, p) => n + p.errors, 0),
    open: list.reduce((n, p) => n + p.open, 0),
  };
}

// ---------------------------------------------------------------- merge

const MAX_RESULT_BYTES = 16 * 1024 * 1024;

async function runMerge(argv: string[]): Promise<number> {
  const cmd = "load merge";
  const { values, positionals } = parseCommand(cmd, argv, {
    json: { type: "boolean" },
  }, { min: 1, max: 10_000, names: "A.json B.json …" });
  if (values.help) {
    out(HELP);
    return 0;
  }
  const results: LoadResult[] = [];
  for (const path of positionals) {
    let text: string;
    try {
      // A result is a few KiB; refuse to slurp anything far bigger.
      const { size } = await Deno.stat(path);
      if (size > MAX_RESULT_BYTES) {
        throw new Error(`${size} bytes, more than a load result can be`);
      }
      text = await Deno.readTextFile(path);
    } catch (error) {
      throw new NetkitError(
        "read_failed",
        `cannot read ${JSON.stringify(path)}: ${(error as Error).message}`,
      );
    }
    try {
      results.push(JSON.parse(text));
    } catch {
      throw new NetkitError(
        "bad_result",
        `${JSON.stringify(path)} is not JSON from 'netkit load --json'`,
      );
    }
  }
  let merged: LoadResult;
  try {
    merged = mergeLoadResults(results);
  } catch (error) {
    throw new NetkitError(
      "bad_result",
      `${
        (error as Error).message
      } (merge takes files written by 'netkit load --json')`,
    );
  }
  if (values.json) outJson(merged);
  else out(renderSummary(merged));
  return 0;
}

// ---------------------------------------------------------------- output

function liveLine() {
  const enabled = stderrIsTerminal();
  const encoder = new TextEncoder();
  let drawn = false;
  const write = (text: string) => {
    const bytes = encoder.encode(text);
    for (let off = 0; off < bytes.length;) {
      off += Deno.stderr.writeSync(bytes.subarray(off));
    }
  };
  return {
    // No callback off a terminal: the loop then skips the per-second figures.
    update: !enabled ? undefined : (p: LoadProgress) => {
      write(`\r${fitWidth(renderProgress(p), terminalColumns() - 1)}\x1b[K`);
      drawn = true;
    },
    clear: () => {
      if (enabled && drawn) write("\r\x1b[K");
    },
  };
}

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
    `${p.errors} errors`,
    `${p.open} open`,
  ].join("  ");
}

/** Cuts `text` to `width` columns (the live line must never wrap). */
export function fitWidth(text: string, width: number): string {
  return text.length <= width ? text : text.slice(0, Math.max(0, width));
}

function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 80;
  }
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

/** The human summary of a run (or a merge). */
export function renderSummary(r: LoadResult, job?: LoadJob): string {
  const loop = !job
    ? `${r.loops} runs merged`
    : r.mode !== "echo"
    ? `${formatBytesShort(job.options.size ?? 0)} writes`
    : job.options.ratePerSecond
    ? `open loop at ${formatCount(job.options.ratePerSecond)}/s`
    : `closed loop, pipeline ${job.options.pipeline ?? 1}`;
  const loops = job && r.loops > 1 ? ` on ${r.loops} workers` : "";
  const lines = [
    `load ${
      escapeControl(`${r.protocol} ${r.target} ${r.mode}`)
    }: ${r.connections} connections${loops}, ${loop}, ${
      (r.durationMs / 1000).toFixed(1)
    } s measured${r.ended === "aborted" ? " (interrupted)" : ""}`,
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
      `  kernel     ${
        names.map((n) => `${escapeControl(n)} +${formatCount(r.kernel[n]!)}`)
          .join(", ")
      } (whole machine)`,
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
