// `netkit load tcp|udp|ws|http TARGET`: one run (or one per worker thread,
// or this machine's shard of a run over many), its live line or interval
// lines, and its summary (and HTML report).

import {
  checkLoadOptions,
  type LoadOptions,
  type LoadProgress,
  type LoadResult,
  mergeLoadResults,
  parseShard,
  parseStartTime,
  shardLoadOptions,
  waitForStart,
} from "../load/mod.ts";
import { NetkitError } from "../errors.ts";
import { loadTcp, type TcpLoadMode } from "../tcp/mod.ts";
import {
  counterDeltas,
  counterScope,
  readTransportCounters,
} from "../tcp/proc/mod.ts";
import { loadUdp } from "../udp/mod.ts";
import { loadWebSocket } from "../ws/mod.ts";
import { type HttpLoadOptions, loadHttp } from "../http/mod.ts";
import { renderIntervalLine, renderLoadReport } from "../view/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import type { CliContext } from "./_command.ts";
import { DEFAULT_LIMITS, DEFAULT_TIMEOUTS } from "./_defaults.ts";
import { EXIT, runInterruptible } from "./_exit.ts";
import {
  jsonHelp,
  OUTPUT_FLAGS,
  readTlsClient,
  TLS_CLIENT_FLAGS,
  tlsClientHelp,
} from "./_flags.ts";
import { type HelpRow, type HelpScreen, renderHelp } from "./_help.ts";
import { fitWidth, renderProgress, renderSummary } from "./_load_render.ts";
import { log, out, outJson, stderrIsTerminal } from "./_output.ts";
import { terminalWidth, wrapText } from "./_text.ts";
import { formatDuration, formatSize, unitReader } from "./_units.ts";

/** The protocols `netkit load` drives. */
export type LoadProtocol = "tcp" | "udp" | "ws" | "http";

const TARGETS: Record<LoadProtocol, string> = {
  tcp: "HOST:PORT",
  udp: "HOST:PORT",
  ws: "ws://HOST:PORT/PATH",
  http: "http[s]://HOST:PORT/PATH",
};

/** `netkit load tcp|udp|ws|http --help`. */
export function runHelp(protocol: LoadProtocol): HelpScreen {
  const http = protocol === "http";
  const options: HelpRow[] = [
    [
      "-c, --conns N",
      `${
        protocol === "udp" ? "sockets" : "connections"
      }, default ${DEFAULT_LIMITS.loadConns}`,
    ],
    [
      "-p, --pipeline N",
      http
        ? "requests in flight per connection: 1 (default) waits for each " +
          "response; more pipelines them"
        : "requests in flight per connection (closed loop: 1; open loop: " +
          "at most 32)",
    ],
    ["-r, --rate R", "open loop: R requests per second across all connections"],
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
  ];
  if (http) {
    options.push(
      ["-X, --method M", "the request method (default GET)"],
      ["-H, --header 'N: V'", "add a request header; repeatable"],
      ["--body TEXT", "send TEXT as the request body"],
      ["--body-file FILE", "send the file's bytes as the request body"],
      [
        "--no-keepalive",
        "a new connection per request (Connection: close); its connect " +
        "time counts in the latency",
      ],
      ...tlsClientHelp({ scope: "https://" }),
    );
  } else if (protocol !== "udp") {
    options.push(
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
    );
  } else {
    options.push(
      [
        "-s, --size SIZE",
        `datagram payload (default ${DEFAULT_LIMITS.loadSize}, at least 4)`,
      ],
      [
        "--mode MODE",
        "echo (default): each datagram waits for its echo; stream: " +
        "datagrams at --rate whatever comes back, with loss and jitter " +
        "(iperf3 -u)",
      ],
    );
  }
  options.push(
    [
      "--timeout TIME",
      "a request or connect unanswered this long is a timeout (default " +
      `${formatDuration(DEFAULT_TIMEOUTS.loadRequestMs)})`,
    ],
    [
      "--interval TIME",
      "print a line per interval on stdout (iperf3-style) instead of the " +
      "live line",
    ],
    [
      "--shard I/N",
      "run shard I of N of the load (its share of --conns, --requests and " +
      "--rate); N alone takes I from JOB_COMPLETION_INDEX or SLURM_PROCID, " +
      "auto both from Slurm",
    ],
    [
      "--start-at WHEN",
      "begin at this moment (2030-01-02T15:04:05Z or @SECONDS since the " +
      "epoch): every shard starts together; a moment past is refused",
    ],
    ["--html FILE", "also write the report as one HTML page"],
    [
      "--all-counters",
      "list every kernel counter that moved, not only those that explain " +
      "something",
    ],
    ["--allow-remote", "allow a target that is not on loopback"],
    jsonHelp(
      "one JSON object: rate, latencyMs, errors, kernel, histogram, " +
        "timeline (what 'load merge' and 'load report' read)",
    ),
  );
  return {
    usage: [`load ${protocol} ${TARGETS[protocol]} [options]`],
    about: "Closed loop (default): every connection keeps --pipeline " +
      "requests in flight and sends the next as a reply arrives. Open loop " +
      "(--rate): requests are due on the clock whatever the server does, and " +
      "latency counts from the moment each was due, so a stalling server " +
      "cannot hide its stall.\n\n" +
      (http
        ? "Every response counts as a request; status codes are counted by " +
          "class (2xx, 4xx, 5xx…). A response that breaks HTTP/1.1 is a " +
          "protocol error. "
        : "") +
      "A live line per second goes to stderr on a terminal; Ctrl-C stops " +
      "the run and prints the summary so far (exit 130). Errors are counted " +
      "by cause: refused, reset, timeout, emfile, closed, mismatch (a wrong " +
      "echo), protocol, tls, other. Kernel counters are shown when they " +
      "explain something (overflows, drops, resets, retransmits, timeouts, UDP " +
      "errors), each with its meaning. Exit 1 when nothing succeeded. " +
      "Targets must be on loopback (127.0.0.0/8, ::1) unless --allow-remote.",
    options,
    examples: protocol === "http"
      ? [
        "load http http://127.0.0.1:8080/ -c 50 -d 10s",
        "load http http://127.0.0.1:8080/api --rate 2000 --html run.html",
        "load http https://localhost:8443/ --ca cert.pem -X POST --body '{}'",
      ]
      : protocol === "ws"
      ? ["load ws ws://127.0.0.1:8080/ws -c 10 --pipeline 16"]
      : protocol === "udp"
      ? [
        "load udp 127.0.0.1:7007 -c 4 -d 5s",
        "load udp 127.0.0.1:7007 --mode stream --rate 10000 --interval 1s",
      ]
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
  timeout: { type: "string" },
  interval: { type: "string" },
  shard: { type: "string" },
  "start-at": { type: "string" },
  html: { type: "string" },
  "all-counters": { type: "boolean" },
  "allow-remote": { type: "boolean" },
  ...OUTPUT_FLAGS,
} as const;

const STREAM_FLAGS = {
  size: { type: "string", short: "s" },
  mode: { type: "string" },
  reverse: { type: "boolean" },
  bidir: { type: "boolean" },
} as const;

const HTTP_FLAGS = {
  method: { type: "string", short: "X" },
  header: { type: "string", short: "H", multiple: true },
  body: { type: "string" },
  "body-file": { type: "string" },
  "no-keepalive": { type: "boolean" },
  ...TLS_CLIENT_FLAGS,
} as const;

/** What a load run needs; also what a worker is sent (structured-cloneable). */
export interface LoadJob {
  protocol: LoadProtocol;
  target: string;
  /** tcp/ws: echo, stream, sink, reverse, bidir; udp: echo, stream. */
  mode: string;
  options: LoadOptions;
  /** HTTP's request and connection settings. */
  http?: Pick<
    HttpLoadOptions,
    "method" | "headers" | "body" | "keepAlive" | "tls"
  >;
}

/** Runs `netkit load tcp|udp|ws|http` with the arguments after the protocol. */
export async function runLoad(
  protocol: LoadProtocol,
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const cmd = `load ${protocol}`;
  const { values, positionals } = parseCommand(cmd, argv, {
    ...FLAGS,
    ...(protocol === "http" ? HTTP_FLAGS : STREAM_FLAGS),
  }, { min: 1, max: 1, names: TARGETS[protocol] });
  if (values.help) {
    out(renderHelp(runHelp(protocol)));
    return 0;
  }
  const read = unitReader(cmd);
  const job = await parseJob(cmd, protocol, positionals[0]!, values);
  const workers = read.count("workers", values.workers, { min: 1, max: 64 }) ??
    1;
  const json = Boolean(values.json);
  const intervalMs = read.duration("interval", values.interval, {
    minMs: 10,
  });
  const startAt = values["start-at"] === undefined
    ? undefined
    : startTime(cmd, values["start-at"]);
  if (values.shard !== undefined) {
    try {
      const shard = parseShard(values.shard, Deno.env.toObject());
      job.options = shardLoadOptions(job.options, shard);
    } catch (error) {
      throw new UsageError(`--shard: ${(error as Error).message}`, cmd);
    }
  }
  // Interval lines replace the live line: both on one terminal would mix.
  const intervals = intervalMs !== undefined && !json;
  if (intervalMs !== undefined) job.options.intervalMs = intervalMs;
  const live = intervals ? undefined : liveLine();
  const direction = directionOf(job);
  const onProgress = intervals
    ? (p: LoadProgress) => {
      if (p.interval) out(renderIntervalLine(p.interval, { direction }));
    }
    : live!.update;
  // Ctrl-C stops the run; the summary so far is printed, then exit 130.
  return await runInterruptible(async (signal) => {
    let result: LoadResult;
    try {
      if (workers === 1) {
        result = await runJob(job, { signal, onProgress, startAt });
      } else {
        // The workers start together: this thread waits for the moment.
        if (startAt !== undefined) await waitForStart(startAt, { signal });
        result = await runWorkers(job, workers, signal, onProgress);
      }
    } finally {
      live?.clear();
    }
    if (values.html !== undefined) {
      await writeReport(values.html, [{
        label: `${job.protocol} ${job.target}`,
        result,
      }]);
    }
    if (json) outJson(result);
    else {
      out(renderSummary(result, terminalWidth(), values["all-counters"]));
    }
    return succeeded(result) ? EXIT.ok : EXIT.failure;
  });
}

function startTime(cmd: string, text: string): number {
  try {
    return parseStartTime(text);
  } catch (error) {
    throw new UsageError(`--start-at: ${(error as Error).message}`, cmd);
  }
}

/** Writes the HTML report of `runs` to `path`. */
export async function writeReport(
  path: string,
  runs: { label: string; result: LoadResult }[],
): Promise<void> {
  try {
    await Deno.writeTextFile(path, renderLoadReport(runs));
  } catch (error) {
    throw new NetkitError(
      "write_failed",
      `cannot write the report to ${JSON.stringify(path)}: ${
        (error as Error).message
      }`,
    );
  }
}

/**
 * Whether a run did anything: a request run with no answer, a stream with
 * nothing back or a sink that could not send is a failure, whatever the
 * cause (a closed port, a UDP server that never answers).
 */
export function succeeded(result: LoadResult): boolean {
  if (
    result.mode === "echo" || result.protocol === "http" || result.datagrams
  ) {
    return result.requests > 0;
  }
  return result.mode === "sink"
    ? result.bytesSent > 0
    : result.bytesReceived > 0;
}

function directionOf(job: LoadJob): "sent" | "received" | "both" {
  return job.mode === "sink"
    ? "sent"
    : job.mode === "bidir" || (job.protocol === "udp" && job.mode === "stream")
    ? "both"
    : "received";
}

// deno-lint-ignore no-explicit-any
type Values = Record<string, any>;

async function parseJob(
  cmd: string,
  protocol: LoadProtocol,
  target: string,
  values: Values,
): Promise<LoadJob> {
  const read = unitReader(cmd);
  const mode: string = values.reverse
    ? "reverse"
    : values.bidir
    ? "bidir"
    : (values.mode ?? "echo");
  if (values.reverse && values.bidir) {
    throw new UsageError("--reverse and --bidir exclude each other", cmd);
  }
  const modes = protocol === "udp"
    ? ["echo", "stream"]
    : ["echo", "stream", "sink", "reverse", "bidir"];
  if (protocol !== "http" && !modes.includes(mode)) {
    throw new UsageError(
      `--mode takes ${modes.join(", ")}, not '${values.mode}'`,
      cmd,
    );
  }
  const requests = read.count("requests", values.requests, { min: 1 });
  const rate = read.rate("rate", values.rate);
  if (protocol === "udp" && mode === "stream" && rate === undefined) {
    throw new UsageError(
      "a UDP stream is sent at a rate: give --rate (datagrams per second)",
      cmd,
    );
  }
  const streaming = protocol !== "udp" && mode !== "echo";
  const options: LoadOptions = {
    connections: read.count("conns", values.conns, { min: 1, max: 100_000 }) ??
      DEFAULT_LIMITS.loadConns,
    pipeline: read.count("pipeline", values.pipeline, { min: 1, max: 65536 }),
    ratePerSecond: rate,
    // With --requests the library's cap (60 s) applies unless -d says.
    durationMs: read.duration("duration", values.duration, { minMs: 1 }) ??
      (requests === undefined ? DEFAULT_TIMEOUTS.loadDurationMs : undefined),
    requests,
    warmupMs: read.duration("warmup", values.warmup),
    connectRatePerSecond: read.rate("connect-rate", values["connect-rate"]),
    timeoutMs: read.duration("timeout", values.timeout, { minMs: 1 }) ??
      DEFAULT_TIMEOUTS.loadRequestMs,
    allowRemote: Boolean(values["allow-remote"]),
  };
  if (protocol !== "http") {
    options.size = read.size("size", values.size, { min: 1 }) ??
      (streaming ? DEFAULT_LIMITS.loadStreamSize : DEFAULT_LIMITS.loadSize);
  }
  try {
    checkLoadOptions(options);
  } catch (error) {
    throw new UsageError((error as Error).message, cmd);
  }
  const job: LoadJob = { protocol, target, mode, options };
  if (protocol === "http") {
    job.http = await parseHttp(cmd, values);
    job.mode = job.http.method ?? "GET";
  }
  return job;
}

async function parseHttp(
  cmd: string,
  values: Values,
): Promise<NonNullable<LoadJob["http"]>> {
  const headers: [string, string][] = [];
  for (const line of (values.header ?? []) as string[]) {
    const colon = line.indexOf(":");
    if (colon <= 0) {
      throw new UsageError(
        `--header takes 'Name: value', not '${line}'`,
        cmd,
      );
    }
    headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  if (values.body !== undefined && values["body-file"] !== undefined) {
    throw new UsageError("choose one of --body and --body-file", cmd);
  }
  let body: Uint8Array | undefined;
  if (values.body !== undefined) body = new TextEncoder().encode(values.body);
  if (values["body-file"] !== undefined) {
    const path = values["body-file"] as string;
    try {
      body = await Deno.readFile(path);
    } catch (error) {
      throw new NetkitError(
        "read_failed",
        `cannot read --body-file ${JSON.stringify(path)}: ${
          (error as Error).message
        }`,
      );
    }
  }
  const tls = await readTlsClient(cmd, values);
  if (values["no-keepalive"] && values.pipeline !== undefined) {
    throw new UsageError(
      "--pipeline needs keep-alive (not --no-keepalive)",
      cmd,
    );
  }
  return {
    method: values.method ?? (body ? "POST" : "GET"),
    headers,
    body,
    keepAlive: !values["no-keepalive"],
    tls: tls.given.length
      ? {
        caCerts: tls.caCerts,
        insecure: tls.insecure,
        cert: tls.clientCert?.cert,
        key: tls.clientCert?.key,
      }
      : undefined,
  };
}

/** Runs one load loop in this thread. */
export function runJob(
  job: LoadJob,
  extra: Partial<LoadOptions> = {},
): Promise<LoadResult> {
  const options = { ...job.options, ...extra };
  switch (job.protocol) {
    case "tcp":
      return loadTcp(job.target, { ...options, mode: job.mode as TcpLoadMode });
    case "udp":
      return loadUdp(job.target, {
        ...options,
        mode: job.mode as "echo" | "stream",
      });
    case "ws":
      return loadWebSocket(job.target, {
        ...options,
        mode: job.mode as TcpLoadMode,
      });
    case "http":
      return loadHttp(job.target, { ...options, ...job.http });
  }
}

// One load loop per worker thread, each with its share of connections,
// rate and requests (shardLoadOptions' arithmetic); the kernel counters
// are read once, here.
async function runWorkers(
  job: LoadJob,
  count: number,
  signal: AbortSignal,
  onProgress: ((p: LoadProgress) => void) | undefined,
): Promise<LoadResult> {
  const cmd = `load ${job.protocol}`;
  const parts = Array.from({ length: count }, (_, index) => {
    try {
      const options = shardLoadOptions(job.options, { index, count });
      // The run's own shard (if any) is what the result records.
      options.shard = job.options.shard;
      return options;
    } catch (error) {
      throw new UsageError(
        `--workers ${count}: ${(error as Error).message}`,
        cmd,
      );
    }
  });
  const before = await readTransportCounters();
  // Every loop reports the end of its window and waits; the counters are
  // read then, before any loop closes its connections.
  let ended = 0;
  let after: Promise<Record<string, number>> | undefined;
  const progress = new Map<number, LoadProgress>();
  let reported = 0;
  const workers: Worker[] = [];
  const results = parts.map((part, i) => {
    const options: LoadOptions = { ...part, kernelCounters: false };
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
    const merged = mergeLoadResults(await Promise.all(results), {
      ignoreWindows: true,
    });
    merged.kernel = counterDeltas(
      before,
      await (after ?? readTransportCounters()),
    );
    merged.kernelScope = counterScope();
    merged.hosts = undefined;
    // One run on this machine: its parameters as given, not the loops'.
    if (merged.parameters) {
      merged.parameters.connections = job.options.connections ?? 1;
    }
    return merged;
  } finally {
    signal.removeEventListener("abort", stop);
    for (const w of workers) w.terminate();
  }
}

function sumProgress(list: LoadProgress[]): LoadProgress {
  const intervals = list.flatMap((p) => p.interval ? [p.interval] : []);
  const sum: LoadProgress = {
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
  if (intervals.length === list.length) {
    sum.interval = {
      startMs: Math.min(...intervals.map((i) => i.startMs)),
      durationMs: Math.max(...intervals.map((i) => i.durationMs)),
      requests: intervals.reduce((n, i) => n + i.requests, 0),
      errors: intervals.reduce((n, i) => n + i.errors, 0),
      bytesSent: intervals.reduce((n, i) => n + i.bytesSent, 0),
      bytesReceived: intervals.reduce((n, i) => n + i.bytesReceived, 0),
      p50Ms: Math.max(...intervals.map((i) => i.p50Ms)),
      p99Ms: Math.max(...intervals.map((i) => i.p99Ms)),
    };
  }
  return sum;
}

/** Prints a merge's warnings on stderr, wrapped. */
export function logWarnings(result: LoadResult): void {
  for (const warning of result.warnings ?? []) {
    for (
      const line of wrapText(`warning: ${warning}`, terminalWidth("stderr"), {
        indent: "  ",
      })
    ) log(line);
  }
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
