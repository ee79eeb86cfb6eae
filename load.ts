/**
 * The load generator's shared part: the closed- and open-loop scheduler,
 * a fixed-bucket latency histogram that never allocates per sample, the
 * result every driver returns, and the merge of results from several
 * workers or machines. The protocol drivers (`loadTcp`, `loadUdp`,
 * `loadWebSocket`) live next to their protocol and plug into
 * {@linkcode runLoad}.
 *
 * @module
 */

import { NetkitError } from "./errors.ts";
import { disconnectKind } from "./_io.ts";
import { type HostPort, parseAddress } from "./address.ts";
import { parseNetstat, readTcpLimits } from "./tcp/proc/limits.ts";
import { counterDeltas } from "./tcp/proc/counters.ts";
import { readProcText } from "./_proc.ts";

// ---------------------------------------------------------------- histogram

// Log-linear buckets over whole microseconds (HdrHistogram's layout): values
// below 64 µs have a bucket each; above, every power of two is split into 32
// buckets, so a bucket is at most 1/32 (3 %) of its value wide. 896 buckets
// reach 2^31 µs (35 minutes); longer values land in the last one.
const SUB = 32;
const LINEAR = 2 * SUB;
const BUCKETS = LINEAR + (31 - 6) * SUB;
const MAX_US = 2 ** 31 - 1;

function bucketOf(us: number): number {
  if (us < LINEAR) return us;
  const shift = 31 - Math.clz32(us) - 5; // us >>> shift lies in [32, 63]
  return LINEAR + (shift - 1) * SUB + ((us >>> shift) - SUB);
}

function bucketLow(index: number): number {
  if (index < LINEAR) return index;
  const shift = Math.floor((index - LINEAR) / SUB) + 1;
  return ((index - LINEAR) % SUB + SUB) * 2 ** shift;
}

function bucketHigh(index: number): number {
  return index + 1 < BUCKETS ? bucketLow(index + 1) - 1 : MAX_US;
}

/**
 * The mergeable JSON form of a {@linkcode LatencyHistogram}: non-empty
 * buckets as `[lowest microsecond, count]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LatencyHistogram } from "@netkit/netkit";
 *
 * const h = new LatencyHistogram();
 * h.record(0.04); // 40 µs
 * const json = h.toJSON();
 * assert.deepEqual(json.buckets, [[40, 1]]);
 * ```
 */
export interface LatencyHistogramJson {
  /** Always `"us"`: bucket bounds are whole microseconds. */
  unit: "us";
  /** Samples recorded. */
  count: number;
  /** Sum of the samples in microseconds (for the mean). */
  sumUs: number;
  /** Smallest sample in microseconds (0 when empty). */
  minUs: number;
  /** Largest sample in microseconds (0 when empty). */
  maxUs: number;
  /** `[lowest microsecond of the bucket, samples in it]`, ascending. */
  buckets: [number, number][];
}

/**
 * Latencies in fixed log-linear buckets (3 % wide): recording is an index
 * computation and an increment, two histograms merge by adding counts, and
 * percentiles come out within 3 % whatever the number of samples.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LatencyHistogram } from "@netkit/netkit";
 *
 * const h = new LatencyHistogram();
 * for (let i = 1; i <= 100; i++) h.record(i); // 1..100 ms
 * assert.ok(Math.abs(h.percentileMs(50) - 50) <= 50 * 0.04);
 * assert.equal(h.maxMs, 100);
 * ```
 */
export class LatencyHistogram {
  #counts = new Float64Array(BUCKETS);
  /** Samples recorded. */
  count = 0;
  #sumUs = 0;
  #minUs = Infinity;
  #maxUs = 0;

  /** Records one latency in milliseconds (negative values count as 0). */
  record(ms: number): void {
    let us = Math.round(ms * 1000);
    if (!(us > 0)) us = 0;
    else if (us > MAX_US) us = MAX_US;
    this.#counts[bucketOf(us)]!++;
    this.count++;
    this.#sumUs += us;
    if (us < this.#minUs) this.#minUs = us;
    if (us > this.#maxUs) this.#maxUs = us;
  }

  /** The largest sample in milliseconds (0 when empty). */
  get maxMs(): number {
    return this.#maxUs / 1000;
  }

  /** The mean in milliseconds (0 when empty). */
  get meanMs(): number {
    return this.count === 0 ? 0 : this.#sumUs / this.count / 1000;
  }

  /**
   * The latency below which `percent` of the samples lie, in milliseconds:
   * the top of the bucket holding that sample, capped by the largest sample.
   */
  percentileMs(percent: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((percent / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.min(bucketHigh(i), this.#maxUs) / 1000;
    }
    return this.maxMs;
  }

  /** Adds every sample of `other` to this histogram. */
  add(other: LatencyHistogram | LatencyHistogramJson): void {
    const json = other instanceof LatencyHistogram ? other.toJSON() : other;
    for (const [low, n] of json.buckets) {
      this.#counts[bucketOf(Math.min(Math.max(0, low), MAX_US))]! += n;
    }
    this.count += json.count;
    this.#sumUs += json.sumUs;
    if (json.count > 0) {
      this.#minUs = Math.min(this.#minUs, json.minUs);
      this.#maxUs = Math.max(this.#maxUs, json.maxUs);
    }
  }

  /** Empties the histogram, keeping its memory. */
  reset(): void {
    this.#counts.fill(0);
    this.count = 0;
    this.#sumUs = 0;
    this.#minUs = Infinity;
    this.#maxUs = 0;
  }

  /** The mergeable JSON form. */
  toJSON(): LatencyHistogramJson {
    const buckets: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) {
      if (this.#counts[i]! > 0) buckets.push([bucketLow(i), this.#counts[i]!]);
    }
    return {
      unit: "us",
      count: this.count,
      sumUs: this.#sumUs,
      minUs: this.count === 0 ? 0 : this.#minUs,
      maxUs: this.#maxUs,
      buckets,
    };
  }

  /** A histogram from its JSON form (checked: a malformed one throws `bad_histogram`). */
  static fromJSON(json: LatencyHistogramJson): LatencyHistogram {
    const ok = json && json.unit === "us" && Array.isArray(json.buckets) &&
      json.buckets.every((b) =>
        Array.isArray(b) && Number.isInteger(b[0]) && b[0] >= 0 &&
        Number.isInteger(b[1]) && b[1] >= 0
      ) && Number.isFinite(json.count) && Number.isFinite(json.sumUs);
    if (!ok) {
      throw new NetkitError("bad_histogram", "not a netkit latency histogram");
    }
    const h = new LatencyHistogram();
    h.add(json);
    return h;
  }
}

// ------------------------------------------------------------------ results

/** Why a request or connection failed. */
export type LoadErrorCause =
  | "refused"
  | "reset"
  | "timeout"
  | "emfile"
  | "closed"
  | "mismatch"
  | "other";

/**
 * Every {@linkcode LoadErrorCause}, in the order summaries list them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LOAD_ERROR_CAUSES } from "@netkit/netkit";
 *
 * assert.ok(LOAD_ERROR_CAUSES.includes("mismatch"));
 * ```
 */
export const LOAD_ERROR_CAUSES: readonly LoadErrorCause[] = Object.freeze([
  "refused",
  "reset",
  "timeout",
  "emfile",
  "closed",
  "mismatch",
  "other",
]);

/**
 * The cause of a socket error, as load results count it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { classifyLoadError } from "@netkit/netkit";
 *
 * assert.equal(classifyLoadError(new Deno.errors.ConnectionRefused("x")), "refused");
 * assert.equal(classifyLoadError(new Deno.errors.ConnectionReset("x")), "reset");
 * ```
 */
export function classifyLoadError(error: unknown): LoadErrorCause {
  if (error instanceof Deno.errors.ConnectionRefused) return "refused";
  if (error instanceof Deno.errors.TimedOut) return "timeout";
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return "timeout";
  }
  const message = error instanceof Error ? error.message : String(error);
  if (/os error 24\b|too many open files/i.test(message)) return "emfile";
  const kind = disconnectKind(error);
  if (kind === "reset") return "reset";
  if (kind !== undefined) return "closed";
  if (/connection reset/i.test(message)) return "reset";
  if (/refused/i.test(message)) return "refused";
  return "other";
}

/** Latency percentiles of a run, in milliseconds. */
export interface LoadLatency {
  /** Median. */
  p50: number;
  /** 90th percentile. */
  p90: number;
  /** 99th percentile. */
  p99: number;
  /** 99.9th percentile. */
  p999: number;
  /** Largest. */
  max: number;
  /** Mean. */
  mean: number;
}

/**
 * What every load run returns, and what `netkit load --json` prints.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyLoadResult } from "@netkit/netkit";
 *
 * const r = emptyLoadResult("tcp", "127.0.0.1:7", "echo");
 * assert.equal(r.requests, 0);
 * assert.equal(r.errors.mismatch, 0);
 * ```
 */
export interface LoadResult {
  /** `tcp`, `udp` or `ws`. */
  protocol: string;
  /** The target as given (`HOST:PORT` or a URL). */
  target: string;
  /** `echo`, `stream`, `sink`, `reverse` or `bidir`. */
  mode: string;
  /** Milliseconds measured (after the warm-up). */
  durationMs: number;
  /** Requests answered correctly in the measured window. */
  requests: number;
  /** Requests sent in the measured window. */
  sent: number;
  /** Payload bytes written in the measured window. */
  bytesSent: number;
  /** Payload bytes read in the measured window. */
  bytesReceived: number;
  /** Correct replies per second. */
  rate: number;
  /** MB (10^6 bytes) of payload per second, in the mode's direction. */
  mbps: number;
  /** Latency from the moment each request was due (see {@linkcode runLoad}). */
  latencyMs: LoadLatency;
  /** Failures by cause. */
  errors: Record<LoadErrorCause, number>;
  /** Kernel TCP counters that moved during the run (deltas), by name. */
  kernel: Record<string, number>;
  /** Connections (or sockets) the run kept open. */
  connections: number;
  /** Connections opened successfully, reconnects included. */
  connects: number;
  /** Load loops merged into this result (workers, machines). */
  loops: number;
  /** Why the run ended: `duration`, `requests` or `aborted`. */
  ended: string;
  /** The mergeable latency histogram. */
  histogram: LatencyHistogramJson;
}

function noErrors(): Record<LoadErrorCause, number> {
  return Object.fromEntries(LOAD_ERROR_CAUSES.map((c) => [c, 0])) as Record<
    LoadErrorCause,
    number
  >;
}

/**
 * A result with nothing counted yet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyLoadResult } from "@netkit/netkit";
 *
 * assert.equal(emptyLoadResult("udp", "127.0.0.1:9", "echo").rate, 0);
 * ```
 */
export function emptyLoadResult(
  protocol: string,
  target: string,
  mode: string,
): LoadResult {
  const histogram = new LatencyHistogram();
  return {
    protocol,
    target,
    mode,
    durationMs: 0,
    requests: 0,
    sent: 0,
    bytesSent: 0,
    bytesReceived: 0,
    rate: 0,
    mbps: 0,
    latencyMs: latencyOf(histogram),
    errors: noErrors(),
    kernel: {},
    connections: 0,
    connects: 0,
    loops: 1,
    ended: "duration",
    histogram: histogram.toJSON(),
  };
}

function latencyOf(h: LatencyHistogram): LoadLatency {
  const r = (ms: number) => Math.round(ms * 1000) / 1000;
  return {
    p50: r(h.percentileMs(50)),
    p90: r(h.percentileMs(90)),
    p99: r(h.percentileMs(99)),
    p999: r(h.percentileMs(99.9)),
    max: r(h.maxMs),
    mean: r(h.meanMs),
  };
}

/**
 * Merges results of runs made at the same time (workers on one machine,
 * or several machines against one server): counts, bytes, errors and
 * kernel deltas add, histograms add bucket by bucket, rates add, and the
 * percentiles are recomputed from the merged histogram.
 *
 * @throws {NetkitError} `bad_result` when given nothing or a value that is
 * not a load result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyLoadResult, mergeLoadResults } from "@netkit/netkit";
 *
 * const a = { ...emptyLoadResult("tcp", "127.0.0.1:7", "echo"), requests: 3, rate: 3 };
 * const b = { ...emptyLoadResult("tcp", "127.0.0.1:7", "echo"), requests: 4, rate: 4 };
 * const merged = mergeLoadResults([a, b]);
 * assert.equal(merged.requests, 7);
 * assert.equal(merged.rate, 7);
 * assert.equal(merged.loops, 2);
 * ```
 */
export function mergeLoadResults(results: LoadResult[]): LoadResult {
  if (results.length === 0) {
    throw new NetkitError("bad_result", "no load results to merge");
  }
  for (const r of results) checkResult(r);
  const first = results[0]!;
  const merged = emptyLoadResult(first.protocol, first.target, first.mode);
  const histogram = new LatencyHistogram();
  merged.loops = 0;
  for (const r of results) {
    merged.durationMs = Math.max(merged.durationMs, r.durationMs);
    merged.requests += r.requests;
    merged.sent += r.sent;
    merged.bytesSent += r.bytesSent;
    merged.bytesReceived += r.bytesReceived;
    merged.rate += r.rate;
    merged.mbps += r.mbps;
    merged.connections += r.connections;
    merged.connects += r.connects;
    merged.loops += r.loops;
    for (const c of LOAD_ERROR_CAUSES) merged.errors[c] += r.errors[c] ?? 0;
    for (const [k, v] of Object.entries(r.kernel)) {
      merged.kernel[k] = (merged.kernel[k] ?? 0) + v;
    }
    histogram.add(LatencyHistogram.fromJSON(r.histogram));
    if (r.ended !== "duration") merged.ended = r.ended;
  }
  merged.rate = round(merged.rate, 1);
  merged.mbps = round(merged.mbps, 3);
  merged.latencyMs = latencyOf(histogram);
  merged.histogram = histogram.toJSON();
  return merged;
}

function checkResult(r: LoadResult): void {
  const ok = r !== null && typeof r === "object" &&
    typeof r.protocol === "string" && Number.isFinite(r.requests) &&
    Number.isFinite(r.rate) && typeof r.errors === "object" &&
    r.errors !== null && typeof r.kernel === "object" && r.kernel !== null &&
    typeof r.histogram === "object" &&
    Object.values(r.errors).every(Number.isFinite) &&
    Object.values(r.kernel).every(Number.isFinite);
  if (!ok) throw new NetkitError("bad_result", "not a netkit load result");
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

// ---------------------------------------------------------------- targets

/**
 * True for loopback addresses: 127.0.0.0/8, `::1`, `localhost`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLoopback } from "@netkit/netkit";
 *
 * assert.ok(isLoopback("127.3.0.1") && isLoopback("::1"));
 * assert.ok(!isLoopback("10.0.0.1"));
 * ```
 */
export function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === "::1" ||
    h === "0:0:0:0:0:0:0:1" || h === "localhost" ||
    /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * Refuses a non-loopback target unless `allowRemote`: a load generator
 * pointed at someone else's server by mistake is an attack.
 *
 * @throws {NetkitError} `remote_target`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkLoadTarget } from "@netkit/netkit";
 *
 * checkLoadTarget("127.0.0.1");
 * assert.throws(() => checkLoadTarget("192.0.2.1"), { code: "remote_target" });
 * checkLoadTarget("192.0.2.1", { allowRemote: true });
 * ```
 */
export function checkLoadTarget(
  hostname: string,
  options: { allowRemote?: boolean } = {},
): void {
  if (options.allowRemote || isLoopback(hostname)) return;
  throw new NetkitError(
    "remote_target",
    `refusing to load ${hostname}: not a loopback address. netkit load drives servers hard; ` +
      `point it at 127.0.0.1, ::1 or a network namespace you own, or pass --allow-remote (allowRemote) for a server you are allowed to load`,
  );
}

/**
 * Parses `HOST:PORT` or `{hostname, port}` and applies
 * {@linkcode checkLoadTarget}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadAddress } from "@netkit/netkit";
 *
 * assert.equal(loadAddress("127.0.0.1:7007").port, 7007);
 * assert.throws(() => loadAddress("198.51.100.7:80"), { code: "remote_target" });
 * ```
 */
export function loadAddress(
  target: HostPort | string,
  options: { allowRemote?: boolean } = {},
): HostPort {
  const addr = typeof target === "string" ? parseAddress(target) : target;
  checkLoadTarget(addr.hostname, options);
  return addr;
}

// ---------------------------------------------------------------- scheduler

/** A snapshot sent once a second during a run. */
export interface LoadProgress {
  /** Milliseconds since the run (warm-up included) began. */
  elapsedMs: number;
  /** True during the warm-up (nothing is counted yet). */
  warmup: boolean;
  /** Correct replies per second over the last interval. */
  rate: number;
  /** MB/s over the last interval, in the mode's direction. */
  mbps: number;
  /** Median latency over the last interval, in milliseconds. */
  p50Ms: number;
  /** 99th-percentile latency over the last interval, in milliseconds. */
  p99Ms: number;
  /** Errors since the measured window began. */
  errors: number;
  /** Connections open now. */
  open: number;
}

/** Options every load driver takes. */
export interface LoadOptions {
  /** Connections (sockets), each its own channel. Default 1. */
  connections?: number;
  /**
   * Requests in flight per connection. Closed loop: exactly this many
   * (default 1). Open loop: at most this many (default 32); requests due
   * while every connection is full wait their turn and their wait counts.
   */
  pipeline?: number;
  /**
   * Open loop: requests per second across all connections, sent on the
   * clock whatever the server does. Without it the run is a closed loop.
   */
  ratePerSecond?: number;
  /** Measured time in ms. Default 10 000, or 60 000 as a cap with `requests`. */
  durationMs?: number;
  /** Stop after this many requests (sent in the measured window). */
  requests?: number;
  /** Unmeasured time before the window, in ms. Default 0. */
  warmupMs?: number;
  /** Open connections at this rate per second instead of all at once. */
  connectRatePerSecond?: number;
  /** A request (or a connect) not answered within this is a `timeout`. Default 2000. */
  timeoutMs?: number;
  /** Payload bytes per request. Default 64. */
  size?: number;
  /** Aborting it ends the run early; the result holds what was measured. */
  signal?: AbortSignal;
  /** Called once a second with the last second's figures. */
  onProgress?: (progress: LoadProgress) => void;
  /** Read the kernel's TCP counters before and after. Default true. */
  kernelCounters?: boolean;
  /**
   * Called when the window has ended, before the connections close (their
   * closing resets are not the run's): a caller reading the kernel's
   * counters for several loops reads them here. The run waits for it.
   */
  onWindowEnd?: () => void | Promise<void>;
  /** Allow a target that is not on loopback. Default false. */
  allowRemote?: boolean;
}

/**
 * Checks the numbers of {@linkcode LoadOptions} (and a payload size up to
 * `maxSize`) and returns the payload size, so drivers and the CLI refuse
 * the same things the same way.
 *
 * @throws {NetkitError} `bad_option` naming the option.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkLoadOptions } from "@netkit/netkit";
 *
 * assert.equal(checkLoadOptions({ size: 100 }), 100);
 * assert.throws(() => checkLoadOptions({ connections: 0 }), { code: "bad_option" });
 * ```
 */
export function checkLoadOptions(
  options: LoadOptions,
  limits: { maxSize?: number; minSize?: number } = {},
): number {
  const bad = (what: string) => new NetkitError("bad_option", what);
  const whole = (name: string, v: number | undefined, min: number) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min)) {
      throw bad(`${name} must be a whole number of at least ${min}, not ${v}`);
    }
  };
  whole("connections", options.connections, 1);
  whole("pipeline", options.pipeline, 1);
  whole("requests", options.requests, 1);
  for (
    const [name, v] of [
      ["ratePerSecond", options.ratePerSecond],
      ["connectRatePerSecond", options.connectRatePerSecond],
      ["durationMs", options.durationMs],
      ["timeoutMs", options.timeoutMs],
    ] as const
  ) {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) {
      throw bad(`${name} must be above 0, not ${v}`);
    }
  }
  if (
    options.warmupMs !== undefined &&
    !(Number.isFinite(options.warmupMs) && options.warmupMs >= 0)
  ) {
    throw bad(`warmupMs must be 0 or more, not ${options.warmupMs}`);
  }
  if ((options.pipeline ?? 1) > 65536) throw bad("pipeline is at most 65536");
  const size = options.size ?? 64;
  const min = limits.minSize ?? 1;
  const max = limits.maxSize ?? 64 * 1024 * 1024;
  if (!Number.isInteger(size) || size < min || size > max) {
    throw bad(`size must be ${min} to ${max} bytes, not ${size}`);
  }
  return size;
}

/** What a driver reports to the scheduler; see {@linkcode LoadDriver}. */
export interface LoadSink {
  /** One reply arrived, in order; `ok` false when its bytes were wrong. */
  reply(ok: boolean): void;
  /** The oldest `count` requests will never be answered (lost datagrams). */
  lost(count: number): void;
  /** Payload bytes written. */
  sent(bytes: number): void;
  /** Payload bytes read. */
  received(bytes: number): void;
  /** Stream modes: some bytes were wrong. */
  mismatch(): void;
  /** The channel died (the error is classified); the scheduler reopens it. */
  failed(error: unknown): void;
}

/** One open channel (a connection) of a {@linkcode LoadDriver}. */
export interface LoadChannel {
  /** Sends `count` requests now (request modes only). */
  send(count: number): void;
  /** Closes the channel; the driver reports nothing after this. */
  close(): void;
}

/**
 * A protocol driver: opens channels that carry requests (`echo`) or move
 * bytes on their own (`stream`, `sink`, `reverse`, `bidir`).
 */
export interface LoadDriver {
  /** `tcp`, `udp` or `ws`. */
  protocol: string;
  /** The target as shown in results. */
  target: string;
  /** The mode; anything but `echo` moves bytes without requests. */
  mode: string;
  /** Which byte counts make `mbps`. */
  direction: "sent" | "received" | "both";
  /** Opens one channel; must honour `signal` (connect timeout, end of run). */
  open(sink: LoadSink, signal: AbortSignal): Promise<LoadChannel>;
}

interface Slot {
  channel: LoadChannel | undefined;
  // Due times of the requests in flight, oldest first (a ring).
  due: Float64Array;
  head: number;
  inFlight: number;
  generation: number;
  retryAt: number;
  failures: number;
}

const TICK_MS = 1;
const SWEEP_MS = 50;
const PROGRESS_MS = 1000;

/**
 * Runs a load: opens the driver's channels (at `connectRatePerSecond` if
 * given), keeps them busy until the window ends, and returns the result.
 *
 * Closed loop (no `ratePerSecond`): each channel keeps `pipeline` requests
 * in flight and sends the next as a reply arrives. Open loop: a clock makes
 * requests due at `ratePerSecond`, spread over the channels; a request's
 * latency is measured from the moment it was due, not from when a busy
 * channel got round to sending it, so a stalling server shows its stall in
 * the percentiles instead of slowing the client down (no coordinated
 * omission). Requests in flight longer than `timeoutMs` count as
 * `timeout` and their channel is reopened; a dead channel is reopened
 * after a pause, so every failure is counted and the run goes on.
 *
 * @example A tiny driver that answers every request itself
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LoadDriver, runLoad } from "@netkit/netkit";
 *
 * const driver: LoadDriver = {
 *   protocol: "demo",
 *   target: "nowhere",
 *   mode: "echo",
 *   direction: "received",
 *   open: (sink) => Promise.resolve({
 *     send(count) {
 *       queueMicrotask(() => {
 *         for (let i = 0; i < count; i++) sink.reply(true);
 *       });
 *     },
 *     close() {},
 *   }),
 * };
 * const result = await runLoad(driver, { requests: 100, kernelCounters: false });
 * assert.equal(result.requests, 100);
 * assert.equal(result.ended, "requests");
 * ```
 */
export async function runLoad(
  driver: LoadDriver,
  options: LoadOptions = {},
): Promise<LoadResult> {
  checkLoadOptions(options);
  const run = new Run(driver, options);
  return await run.go();
}

class Run {
  readonly #driver: LoadDriver;
  readonly #options: LoadOptions;
  readonly #requestMode: boolean;
  readonly #openLoop: boolean;
  readonly #depth: number;
  readonly #timeoutMs: number;
  readonly #rate: number;
  readonly #limit: number;
  readonly #durationMs: number;
  readonly #slots: Slot[] = [];
  readonly #histogram = new LatencyHistogram();
  readonly #interval = new LatencyHistogram();
  readonly #errors = noErrors();
  readonly #stop = new AbortController();
  #measuring = false;
  // Mirrors #stop.signal.aborted: a plain field on the per-reply path.
  #stopped = false;
  readonly #tracking: boolean;
  #windowStart = 0;
  #windowEnd = 0;
  #started = 0;
  #requests = 0;
  #sent = 0;
  #issued = 0;
  #bytesSent = 0;
  #bytesReceived = 0;
  #connects = 0;
  #ended = "duration";
  // Open loop: requests due but not yet given to a channel (a ring).
  #queue: Float64Array = new Float64Array(0);
  #queueHead = 0;
  #queued = 0;
  #dueCount = 0;
  #rr = 0;
  // Connections not opened yet start at #rampNext; failed ones wait in
  // #retry until their retryAt (the earliest is #nextRetry).
  #rampNext = 0;
  #retry: Slot[] = [];
  #nextRetry = Infinity;
  #counts: number[] = [];
  #touched: number[] = [];
  #finished = Promise.withResolvers<void>();
  #intervalRequests = 0;
  #intervalBytes = 0;

  constructor(driver: LoadDriver, options: LoadOptions) {
    this.#driver = driver;
    this.#options = options;
    this.#requestMode = driver.mode === "echo";
    this.#rate = options.ratePerSecond ?? 0;
    this.#openLoop = this.#rate > 0 && this.#requestMode;
    this.#depth = Math.max(
      1,
      options.pipeline ?? (this.#openLoop ? 32 : 1),
    );
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#limit = options.requests ?? Infinity;
    this.#tracking = options.onProgress !== undefined;
    this.#durationMs = options.durationMs ??
      (options.requests !== undefined ? 60_000 : 10_000);
    const n = Math.max(1, options.connections ?? 1);
    const ring = 2 ** Math.ceil(Math.log2(this.#depth));
    for (let i = 0; i < n; i++) {
      this.#slots.push({
        channel: undefined,
        due: new Float64Array(ring),
        head: 0,
        inFlight: 0,
        generation: 0,
        retryAt: 0,
        failures: 0,
      });
    }
    this.#counts = new Array<number>(n).fill(0);
    if (this.#openLoop) {
      // Room for everything that can fall due within a timeout, and more.
      const need = Math.min(2 ** 22, this.#rate * this.#timeoutMs / 500 + 1024);
      this.#queue = new Float64Array(2 ** Math.ceil(Math.log2(need)));
    }
  }

  async go(): Promise<LoadResult> {
    const o = this.#options;
    const warmupMs = o.warmupMs ?? 0;
    const durationMs = this.#durationMs;
    const signal = o.signal;
    const onAbort = () => this.#finish("aborted");
    if (signal?.aborted) this.#ended = "aborted";
    signal?.addEventListener("abort", onAbort, { once: true });
    const readKernel = o.kernelCounters !== false;
    let kernelBefore: Record<string, number> | undefined;
    this.#started = performance.now();
    this.#windowStart = this.#started + warmupMs;
    this.#windowEnd = this.#windowStart + durationMs;
    if (warmupMs === 0) {
      if (readKernel) kernelBefore = await kernelCounterSnapshot();
      this.#windowStart = performance.now();
      this.#windowEnd = this.#windowStart + durationMs;
      this.#measuring = true;
    }
    const timers: ReturnType<typeof setTimeout>[] = [];
    let lastProgress = performance.now();
    const tick = () => this.#tick();
    // A fine clock only where something runs on it: the open-loop rate
    // and the connect rate; otherwise it only reopens failed channels.
    const fine = this.#openLoop || o.connectRatePerSecond !== undefined;
    timers.push(setInterval(tick, fine ? TICK_MS : 10));
    timers.push(setInterval(() => this.#sweep(), SWEEP_MS));
    timers.push(setInterval(() => {
      const now = performance.now();
      this.#progress(now - lastProgress);
      lastProgress = now;
    }, PROGRESS_MS));
    try {
      if (!signal?.aborted) {
        this.#tick();
        if (!this.#measuring) {
          await Promise.race([
            new Promise((r) => timers.push(setTimeout(r, warmupMs))),
            this.#finished.promise,
          ]);
          if (this.#ended !== "aborted") {
            if (readKernel) kernelBefore = await kernelCounterSnapshot();
            this.#startWindow();
          }
        }
        if (this.#ended !== "aborted") {
          await Promise.race([
            new Promise((r) =>
              timers.push(
                setTimeout(r, this.#windowEnd - performance.now()),
              )
            ),
            this.#finished.promise,
          ]);
        }
      }
    } finally {
      for (const t of timers) clearInterval(t);
      signal?.removeEventListener("abort", onAbort);
    }
    const end = Math.min(performance.now(), this.#windowEnd);
    // A tick held up by a busy machine still sends what fell due in time.
    if (this.#ended === "duration" && this.#measuring) this.#tick();
    this.#measuring = false;
    this.#stopped = true;
    this.#stop.abort();
    // Read before closing: the resets of our own close are not the run's.
    const kernel = kernelBefore
      ? counterDeltas(kernelBefore, await kernelCounterSnapshot())
      : {};
    try {
      await this.#options.onWindowEnd?.();
    } finally {
      for (const slot of this.#slots) this.#closeSlot(slot);
    }
    return this.#result(Math.max(0, end - this.#windowStart), kernel);
  }

  #startWindow(): void {
    this.#histogram.reset();
    this.#interval.reset();
    for (const c of LOAD_ERROR_CAUSES) this.#errors[c] = 0;
    this.#requests =
      this.#sent =
      this.#bytesSent =
      this.#bytesReceived =
        0;
    this.#issued = 0;
    // Requests of the warm-up still in flight are answered in the window:
    // count them as sent, so "ok of sent" never exceeds 100 %.
    for (const slot of this.#slots) this.#sent += slot.inFlight;
    this.#windowStart = performance.now();
    this.#windowEnd = this.#windowStart + this.#durationMs;
    this.#dueCount = 0;
    this.#measuring = true;
  }

  #finish(why: string): void {
    this.#ended = why;
    this.#finished.resolve();
  }

  #result(windowMs: number, kernel: Record<string, number>): LoadResult {
    const d = this.#driver;
    const seconds = windowMs / 1000;
    const bytes = d.direction === "sent"
      ? this.#bytesSent
      : d.direction === "received"
      ? this.#bytesReceived
      : this.#bytesSent + this.#bytesReceived;
    return {
      protocol: d.protocol,
      target: d.target,
      mode: d.mode,
      durationMs: Math.round(windowMs),
      requests: this.#requests,
      sent: this.#sent,
      bytesSent: this.#bytesSent,
      bytesReceived: this.#bytesReceived,
      rate: seconds > 0 ? round(this.#requests / seconds, 1) : 0,
      mbps: seconds > 0 ? round(bytes / 1e6 / seconds, 3) : 0,
      latencyMs: latencyOf(this.#histogram),
      errors: { ...this.#errors },
      kernel,
      connections: this.#slots.length,
      connects: this.#connects,
      loops: 1,
      ended: this.#ended,
      histogram: this.#histogram.toJSON(),
    };
  }

  #progress(ms: number): void {
    const onProgress = this.#options.onProgress;
    if (!onProgress) return;
    const seconds = ms / 1000;
    onProgress({
      elapsedMs: Math.round(performance.now() - this.#started),
      warmup: !this.#measuring,
      rate: round(this.#intervalRequests / seconds, 1),
      mbps: round(this.#intervalBytes / 1e6 / seconds, 3),
      p50Ms: this.#interval.percentileMs(50),
      p99Ms: this.#interval.percentileMs(99),
      errors: LOAD_ERROR_CAUSES.reduce((n, c) => n + this.#errors[c], 0),
      open: this.#slots.filter((s) => s.channel).length,
    });
    this.#interval.reset();
    this.#intervalRequests = 0;
    this.#intervalBytes = 0;
  }

  // The clock: opens channels that are due, and in open loop makes
  // requests due at the rate and hands them out.
  #tick(): void {
    if (this.#stopped) return;
    const now = performance.now();
    this.#openDue(now);
    if (!this.#openLoop) return;
    // Warm-up runs at the same rate, counted from the start, not counted.
    const measuring = this.#measuring;
    const from = measuring ? this.#windowStart : this.#started;
    // Nothing falls due after the window (a late tick must not add any).
    const clock = measuring ? Math.min(now, this.#windowEnd - 1e-6) : now;
    const due = Math.floor((clock - from) * this.#rate / 1000) + 1;
    const mask = this.#queue.length - 1;
    while (
      this.#dueCount < due && (!measuring || this.#issued < this.#limit)
    ) {
      const at = from + this.#dueCount * 1000 / this.#rate;
      this.#dueCount++;
      if (measuring) this.#issued++;
      if (this.#queued === this.#queue.length) {
        this.#count("timeout"); // no room: it could never be sent in time
        continue;
      }
      this.#queue[(this.#queueHead + this.#queued) & mask] = at;
      this.#queued++;
    }
    this.#handOut();
  }

  // Opens connections that are due: never-opened ones in order (at the
  // connect rate if there is one), then failed ones whose pause is over.
  // Both lists are walked only as far as needed, so a tick stays cheap
  // with thousands of connections.
  #openDue(now: number): void {
    const rate = this.#options.connectRatePerSecond;
    const slots = this.#slots;
    while (
      this.#rampNext < slots.length &&
      (!rate || now >= this.#started + this.#rampNext * 1000 / rate)
    ) {
      this.#open(slots[this.#rampNext++]!);
    }
    if (this.#retry.length === 0 || now < this.#nextRetry) return;
    const waiting = this.#retry;
    this.#retry = [];
    this.#nextRetry = Infinity;
    for (const slot of waiting) {
      if (slot.retryAt <= now) this.#open(slot);
      else this.#later(slot);
    }
  }

  #later(slot: Slot): void {
    this.#retry.push(slot);
    if (slot.retryAt < this.#nextRetry) this.#nextRetry = slot.retryAt;
  }

  #open(slot: Slot): void {
    slot.generation++;
    const generation = slot.generation;
    const connectSignal = AbortSignal.any([
      this.#stop.signal,
      AbortSignal.timeout(this.#timeoutMs),
    ]);
    const live = () => slot.generation === generation && !this.#stopped;
    const sink: LoadSink = {
      reply: (ok) => {
        if (live()) this.#reply(slot, ok);
      },
      lost: (count) => {
        if (!live()) return;
        for (let i = 0; i < count && slot.inFlight > 0; i++) {
          this.#pop(slot);
          this.#count("timeout");
        }
        this.#refill(slot);
      },
      sent: (bytes) => {
        if (this.#measuring) this.#bytesSent += bytes;
        if (this.#driver.direction !== "received") this.#intervalBytes += bytes;
      },
      received: (bytes) => {
        if (this.#measuring) this.#bytesReceived += bytes;
        if (this.#driver.direction !== "sent") this.#intervalBytes += bytes;
      },
      mismatch: () => {
        if (live()) this.#count("mismatch");
      },
      failed: (error) => {
        if (live()) this.#fail(slot, classifyLoadError(error));
      },
    };
    this.#driver.open(sink, connectSignal).then((channel) => {
      if (!live()) {
        channel.close();
        return;
      }
      slot.channel = channel;
      slot.failures = 0;
      this.#connects++;
      this.#refill(slot);
    }, (error) => {
      if (!live()) return;
      const cause = connectSignal.aborted
        ? "timeout"
        : classifyLoadError(error);
      this.#count(cause);
      this.#retryLater(slot);
    });
  }

  #retryLater(slot: Slot): void {
    slot.failures++;
    const rate = this.#options.connectRatePerSecond;
    const pause = Math.min(1000, 25 * 2 ** Math.min(slot.failures, 6));
    slot.retryAt = performance.now() + Math.max(pause, rate ? 1000 / rate : 0);
    this.#later(slot);
  }

  #fail(slot: Slot, cause: LoadErrorCause): void {
    this.#count(cause);
    this.#closeSlot(slot);
    this.#retryLater(slot);
  }

  #closeSlot(slot: Slot): void {
    slot.generation++;
    const channel = slot.channel;
    slot.channel = undefined;
    slot.inFlight = 0;
    slot.head = 0;
    channel?.close();
  }

  #count(cause: LoadErrorCause): void {
    if (this.#measuring) this.#errors[cause]++;
  }

  #pop(slot: Slot): number {
    const at = slot.due[slot.head]!;
    slot.head = (slot.head + 1) & (slot.due.length - 1);
    slot.inFlight--;
    return at;
  }

  #reply(slot: Slot, ok: boolean): void {
    if (slot.inFlight === 0) {
      // A reply nobody asked for: the peer sends more than it was sent.
      this.#count("mismatch");
      return;
    }
    const due = this.#pop(slot);
    if (ok) {
      const ms = performance.now() - due;
      if (this.#measuring) {
        this.#histogram.record(ms);
        this.#requests++;
        if (this.#requests + this.#errors.mismatch >= this.#limit) {
          this.#finish("requests");
        }
      }
      // The last second's percentiles only feed a progress callback.
      if (this.#tracking) this.#interval.record(ms);
      this.#intervalRequests++;
    } else {
      this.#count("mismatch");
      if (
        this.#measuring && this.#requests + this.#errors.mismatch >= this.#limit
      ) {
        this.#finish("requests");
      }
    }
    this.#refill(slot);
  }

  // Gives a channel work: closed loop refills its pipeline now, open loop
  // takes requests already due from the queue.
  #refill(slot: Slot): void {
    if (!this.#requestMode || !slot.channel) return;
    const room = this.#depth - slot.inFlight;
    if (room <= 0) return;
    let n = 0;
    if (this.#openLoop) {
      while (n < room && this.#queued > 0) {
        this.#push(slot, this.#queue[this.#queueHead]!);
        this.#queueHead = (this.#queueHead + 1) & (this.#queue.length - 1);
        this.#queued--;
        n++;
      }
    } else {
      const now = performance.now();
      while (n < room && (!this.#measuring || this.#issued < this.#limit)) {
        this.#push(slot, now);
        if (this.#measuring) this.#issued++;
        n++;
      }
    }
    if (n > 0) {
      if (this.#measuring) this.#sent += n;
      slot.channel.send(n);
    }
  }

  #push(slot: Slot, due: number): void {
    slot.due[(slot.head + slot.inFlight) & (slot.due.length - 1)] = due;
    slot.inFlight++;
  }

  // Open loop: due requests go to the channels round-robin, one at a time,
  // so the rate spreads over the connections.
  #handOut(): void {
    const slots = this.#slots;
    const n = slots.length;
    const counts = this.#counts;
    const touched = this.#touched;
    const mask = this.#queue.length - 1;
    touched.length = 0;
    let i = this.#rr;
    // Walk on from where the last tick stopped; give up after a full turn
    // without a connection that has room.
    for (let full = 0; this.#queued > 0 && full < n; i = (i + 1) % n) {
      const slot = slots[i]!;
      if (!slot.channel || slot.inFlight >= this.#depth) {
        full++;
        continue;
      }
      full = 0;
      if (counts[i] === 0) touched.push(i);
      counts[i]!++;
      this.#push(slot, this.#queue[this.#queueHead]!);
      this.#queueHead = (this.#queueHead + 1) & mask;
      this.#queued--;
    }
    this.#rr = i;
    for (const j of touched) {
      const count = counts[j]!;
      counts[j] = 0;
      if (this.#measuring) this.#sent += count;
      slots[j]!.channel!.send(count);
    }
  }

  // Timeouts: requests waiting in the queue or in flight for longer than
  // timeoutMs. A channel with an overdue request is closed and reopened:
  // on a byte stream the late reply would be taken for the next one.
  #sweep(): void {
    if (this.#stopped) return;
    const limit = performance.now() - this.#timeoutMs;
    while (this.#queued > 0 && this.#queue[this.#queueHead]! < limit) {
      this.#queueHead = (this.#queueHead + 1) & (this.#queue.length - 1);
      this.#queued--;
      this.#count("timeout");
    }
    for (const slot of this.#slots) {
      if (slot.channel && slot.inFlight > 0 && slot.due[slot.head]! < limit) {
        for (let i = slot.inFlight; i > 0; i--) this.#count("timeout");
        this.#closeSlot(slot);
        this.#retryLater(slot);
      }
    }
    if (
      this.#limit !== Infinity && this.#measuring &&
      this.#issued >= this.#limit && this.#queued === 0 &&
      this.#slots.every((s) => s.inFlight === 0)
    ) {
      this.#finish("requests");
    }
  }
}

/**
 * The kernel's TCP counters (`/proc/net/netstat` TcpExt and
 * `/proc/net/snmp` Tcp, gauges left out) and UDP counters (`/proc/net/snmp`
 * Udp, named `UdpInErrors`, `UdpRcvbufErrors`, …) as one flat record, or
 * `{}` where they cannot be read. Two snapshots and {@linkcode counterDeltas} give
 * what a run moved.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernelCounterSnapshot } from "@netkit/netkit";
 *
 * const counters = await kernelCounterSnapshot();
 * assert.ok(Deno.build.os !== "linux" || "ListenOverflows" in counters);
 * ```
 */
export async function kernelCounterSnapshot(): Promise<
  Record<string, number>
> {
  try {
    if (Deno.build.os !== "linux") return {};
    const [limits, snmp] = await Promise.all([
      readTcpLimits(),
      readProcText("/proc/net/snmp").catch(() => null),
    ]);
    const out: Record<string, number> = {};
    for (const group of [limits.tcpExt, limits.tcp]) {
      for (const [name, reading] of Object.entries(group)) {
        if (name !== "CurrEstab" && reading.available) {
          out[name] = reading.value;
        }
      }
    }
    // UDP's drops (a full receive buffer, no socket on the port) live
    // beside TCP's counters; prefixed, since some names repeat.
    const udp = snmp === null
      ? undefined
      : parseNetstat(snmp, { source: "/proc/net/snmp" }).Udp;
    for (const [name, value] of Object.entries(udp ?? {})) {
      out[`Udp${name}`] = value;
    }
    return out;
  } catch {
    return {};
  }
}
