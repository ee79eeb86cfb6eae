// `netkit load tcp|udp|ws TARGET`: one run (or one per worker thread),
// its live line and its summary.

import {
  checkLoadOptions,
  loadCounterDeltas,
  type LoadOptions,
  type LoadProgress,
  type LoadResult,
  mergeLoadResults,
  readKernelCountersOrNone,
} from "../load/mod.ts";
import { NetkitError } from "../errors.ts";
import { loadTcp, type TcpLoadMode } from "../tcp/mod.ts";
import { loadUdp } from "../udp/mod.ts";
import { loadWebSocket } from "../ws/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import type { CliContext } from "./_command.ts";
import { DEFAULT_LIMITS, DEFAULT_TIMEOUTS } from "./_defaults.ts";
import { EXIT, runInterruptible } from "./_exit.ts";
import { jsonHelp, OUTPUT_FLAGS } from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import { fitWidth, renderProgress, renderSummary } from "./_load_render.ts";
import { out, outJson, stderrIsTerminal } from "./_output.ts";
import { terminalWidth } from "./_text.ts";
import { formatDuration, formatSize, unitReader } from "./_units.ts";

/** `netkit load tcp|udp|ws --help`. */
export function runHelp(protocol: "tcp" | "udp" | "ws"): HelpScreen {
  const target = protocol === "ws" ? "ws://HOST:PORT/PATH" : "HOST:PORT";
  return {
    usage: [`load ${protocol} ${target} [options]`],
    about: "Closed loop (default): every connection keeps --pipeline " +
      "requests in flight and sends the next as a reply arrives. Open loop " +
      "(--rate): requests are due on the clock whatever the server does, and " +
      "latency counts from the moment each was due, so a stalling server " +
      "cannot hide its stall.\n\n" +
      "A live line per second goes to stderr on a terminal; Ctrl-C stops " +
      "the run and prints the summary so far (exit 130). Errors are counted " +
      "by cause: refused, reset, timeout, emfile, closed, mismatch (a wrong " +
      "echo), other. Kernel counters are machine-wide deltas over the run. " +
      "Exit 1 when nothing succeeded (no reply at all). Targets must be on " +
      "loopback (127.0.0.0/8, ::1) unless --allow-remote.",
    options: [
      [
        "-c, --conns N",
        `connections (UDP: sockets), default ${DEFAULT_LIMITS.loadConns}`,
      ],
      [
        "-p, --pipeline N",
        "requests in flight per connection (closed loop: 1; open loop: at " +
        "most 32)",
      ],
      [
        "-r, --rate R",
        "open loop: R requests per second across all connections",
      ],
      [
        "-d, --duration TIME",
        `time measured (default ${
          formatDuration(DEFAULT_TIMEOUTS.loadDurationMs)
        }; with --requests a 1m cap)`,
      ],
      ["-n, --requests N", "stop after N requests"],
      ["--warmup TIME", "unmeasured load first (default 0)"],
      ["--connect-rate R", "open connections at R per second, not all at once"],
      ["--workers N", "N load loops on N threads (one per core), merged"],
      [
        "-s, --size SIZE",
        `payload bytes per request (default ${DEFAULT_LIMITS.loadSize}; ` +
        `stream modes ${formatSize(DEFAULT_LIMITS.loadStreamSize)})`,
      ],
      [
        "--mode MODE",
        "echo (default): requests, checked byte for byte; stream: send as " +
        "fast as the server takes, check the echo (MB/s, iperf3-style); " +
        "sink: send, discard replies",
      ],
      ["--reverse", "only read (a server that sends); MB/s received"],
      ["--bidir", "stream, counting both directions"],
      [
        "--timeout TIME",
        "a request or connect unanswered this long is a timeout (default " +
        `${formatDuration(DEFAULT_TIMEOUTS.loadRequestMs)})`,
      ],
      ["--allow-remote", "allow a target that is not on loopback"],
      jsonHelp(
        "one JSON object: rate, mbps, latencyMs, errors, kernel, histogram " +
          "(what 'load merge' adds up)",
      ),
    ],
    examples: protocol === "ws"
      ? ["load ws ws://127.0.0.1:8080/ws -c 10 --pipeline 16"]
      : protocol === "udp"
      ? ["load udp 127.0.0.1:7007 -c 4 -d 5s"]
      : [
        "load tcp 127.0.0.1:7007 -c 100 -d 5s",
        "load tcp 127.0.0.1:7007 --rate 20000 -c 50 --json > a.json",
        "load tcp 127.0.0.1:7007 --mode stream -c 4 -s 64k",
      ],
  };
}

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
  ...OUTPUT_FLAGS,
} as const;

/** What a load run needs; also what a worker is sent. */
export interface LoadJob {
  protocol: "tcp" | "udp" | "ws";
  target: string;
  mode: TcpLoadMode;
  options: LoadOptions;
}

/** Runs `netkit load tcp|udp|ws` with the arguments after the protocol. */
export async function runLoad(
  protocol: "tcp" | "udp" | "ws",
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const cmd = `load ${protocol}`;
  const { values, positionals } = parseCommand(cmd, argv, FLAGS, {
    min: 1,
    max: 1,
    names: protocol === "ws" ? "ws://HOST:PORT/PATH" : "HOST:PORT",
  });
  if (values.help) {
    out(renderHelp(runHelp(protocol)));
    return 0;
  }
  const read = unitReader(cmd);
  const job = parseJob(cmd, protocol, positionals[0]!, values);
  const workers = read.count("workers", values.workers, { min: 1, max: 64 }) ??
    1;
  const json = Boolean(values.json);
  const live = liveLine();
  // Ctrl-C stops the run; the summary so far is printed, then exit 130.
  return await runInterruptible(async (signal) => {
    let result: LoadResult;
    try {
      result = workers === 1
        ? await runJob(job, { signal, onProgress: live.update })
        : await runWorkers(job, workers, signal, live.update);
    } finally {
      live.clear();
    }
    if (json) outJson(result);
    else out(renderSummary(result, terminalWidth(), job));
    return succeeded(result) ? EXIT.ok : EXIT.failure;
  });
}

/**
 * Whether a run did anything: an echo run with no reply, a stream with
 * nothing back or a sink that could not send is a failure, whatever the
 * cause (a closed port, a UDP server that never answers).
 */
export function succeeded(result: LoadResult): boolean {
  switch (result.mode) {
    case "echo":
      return result.requests > 0;
    case "sink":
      return result.bytesSent > 0;
    default:
      return result.bytesReceived > 0;
  }
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
  const read = unitReader(cmd);
  const requests = read.count("requests", values.requests, { min: 1 });
  const options: LoadOptions = {
    connections: read.count("conns", values.conns, { min: 1, max: 100_000 }) ??
      DEFAULT_LIMITS.loadConns,
    pipeline: read.count("pipeline", values.pipeline, { min: 1, max: 65536 }),
    ratePerSecond: read.rate("rate", values.rate),
    // With --requests the library's cap (60 s) applies unless -d says.
    durationMs: read.duration("duration", values.duration, { minMs: 1 }) ??
      (requests === undefined ? DEFAULT_TIMEOUTS.loadDurationMs : undefined),
    requests,
    warmupMs: read.duration("warmup", values.warmup),
    connectRatePerSecond: read.rate("connect-rate", values["connect-rate"]),
    size: read.size("size", values.size, { min: 1 }) ??
      (mode === "echo"
        ? DEFAULT_LIMITS.loadSize
        : DEFAULT_LIMITS.loadStreamSize),
    timeoutMs: read.duration("timeout", values.timeout, { minMs: 1 }) ??
      DEFAULT_TIMEOUTS.loadRequestMs,
    allowRemote: Boolean(values["allow-remote"]),
  };
  try {
    checkLoadOptions(options);
  } catch (error) {
    throw new UsageError((error as Error).message, cmd);
  }
  return { protocol, target, mode, options };
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
  const before = await readKernelCountersOrNone();
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
            after = readKernelCountersOrNone().finally(() => {
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
    merged.kernel = loadCounterDeltas(
      before,
      await (after ?? readKernelCountersOrNone()),
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
      write(
        `\r${fitWidth(renderProgress(p), terminalWidth("stderr") - 1)}\x1b[K`,
      );
      drawn = true;
    },
    clear: () => {
      if (enabled && drawn) write("\r\x1b[K");
    },
  };
}
