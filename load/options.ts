/**
 * The options every load driver takes, their checks, and the progress
 * snapshot a run reports once a second.
 *
 * @module
 */

import { LoadError } from "./errors.ts";

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
  /** The interval that just ended (absent during the warm-up). */
  interval?: LoadInterval;
}

/**
 * One interval of a run's timeline (`intervalMs` long, the last one
 * shorter): what `--interval` prints and the report plots. The intervals
 * of a result add up to its totals.
 */
export interface LoadInterval {
  /** Milliseconds from the start of the measured window. */
  startMs: number;
  /** Its length in milliseconds. */
  durationMs: number;
  /** Requests answered correctly in it. */
  requests: number;
  /** Failures in it (every cause). */
  errors: number;
  /** Payload bytes written in it. */
  bytesSent: number;
  /** Payload bytes read in it. */
  bytesReceived: number;
  /** Median latency of its requests, in milliseconds (0 without any). */
  p50Ms: number;
  /** 99th-percentile latency of its requests, in milliseconds. */
  p99Ms: number;
}

/**
 * Where a run's kernel counters come from: `tcp/proc`'s
 * `readTransportCounters` and `counterScope` on Linux, which the protocol
 * drivers pass (the load library itself never reads `/proc`).
 */
export interface LoadCounterSource {
  /** Reads the counters now (`{}` when they cannot be read). */
  read(): Promise<Record<string, number>>;
  /**
   * Whose traffic they count: `"machine"` (every program on the machine),
   * a network namespace (`net:[4026532281]`), or `"unknown"`.
   */
  scope: string;
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
  /**
   * Called at the end of every interval (`intervalMs`) with its figures,
   * warm-up included.
   */
  onProgress?: (progress: LoadProgress) => void;
  /**
   * Length of the result's timeline intervals and of the pauses between
   * `onProgress` calls, in ms. Default 1000.
   */
  intervalMs?: number;
  /**
   * When the run begins, in milliseconds since the epoch (`Date.now()`'s
   * clock): generators on several machines given the same time begin
   * together. A time already past is refused (`start_passed`).
   */
  startAt?: number;
  /** Read the kernel's TCP and UDP counters before and after. Default true. */
  kernelCounters?: boolean;
  /**
   * What reads the kernel's counters; the protocol drivers pass `tcp/proc`'s
   * reader. Without one the result's `kernel` is empty.
   */
  counters?: LoadCounterSource;
  /**
   * Called when the window has ended, before the connections close (their
   * closing resets are not the run's): a caller reading the kernel's
   * counters for several loops reads them here. The run waits for it.
   */
  onWindowEnd?: () => void | Promise<void>;
  /** Allow a target that is not on loopback. Default false. */
  allowRemote?: boolean;
  /** This run's shard (`I/N`), recorded in the result's parameters. */
  shard?: string;
}

/**
 * Checks the numbers of {@linkcode LoadOptions} (and a payload size up to
 * `maxSize`) and returns the payload size, so drivers and the CLI refuse
 * the same things the same way.
 *
 * @throws {LoadError} `bad_option` naming the option.
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
  const bad = (what: string) => new LoadError("bad_option", what);
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
      ["intervalMs", options.intervalMs],
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
  if (options.intervalMs !== undefined && options.intervalMs < 10) {
    throw bad(`intervalMs must be at least 10, not ${options.intervalMs}`);
  }
  if (options.startAt !== undefined && !Number.isFinite(options.startAt)) {
    throw bad(`startAt must be a time in ms since the epoch`);
  }
  const size = options.size ?? 64;
  const min = limits.minSize ?? 1;
  const max = limits.maxSize ?? 64 * 1024 * 1024;
  if (!Number.isInteger(size) || size < min || size > max) {
    throw bad(`size must be ${min} to ${max} bytes, not ${size}`);
  }
  return size;
}
