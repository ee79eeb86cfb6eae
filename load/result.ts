/**
 * The result every load run returns (and `netkit load --json` prints).
 *
 * @module
 */

import {
  LatencyHistogram,
  type LatencyHistogramJson,
  type LoadLatency,
} from "./histogram.ts";
import type { LoadErrorCause } from "./errors.ts";
import type { LoadInterval } from "./options.ts";
import { latencyOf, noErrors } from "./_figures.ts";

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
  /**
   * Kernel TCP and UDP counters that moved during the run (deltas), by
   * `nstat` name (`TcpExtListenOverflows`); see `readTransportCounters`
   * and `explainCounters` in `tcp/proc`. They count every program in
   * `kernelScope`, not only this run. In a merge: the sum over the
   * counter scopes of `hosts`, each scope counted once.
   */
  kernel: Record<string, number>;
  /**
   * Whose traffic `kernel` counts: `"machine"`, a network namespace
   * (`net:[4026532281]`) or `"unknown"`; absent when no counters were read.
   */
  kernelScope?: string;
  /** The machine the run came from (its host name), `"unknown"` if hidden. */
  host?: string;
  /**
   * A merge's kernel counters kept apart per host and counter scope: runs
   * that shared a scope saw the same counters, which are not added twice.
   */
  hosts?: LoadHostCounters[];
  /**
   * When the measured window began, in ms since the epoch; it ended
   * `durationMs` later. Merges use it to find the common window.
   */
  startedAt?: number;
  /** HTTP: responses by status class (`"2xx"`, `"5xx"`, …). */
  status?: Record<string, number>;
  /** Streams of datagrams (UDP stream mode): loss and jitter, iperf3's figures. */
  datagrams?: LoadDatagrams;
  /** The measured window in intervals (`intervalMs`); they add up to the totals. */
  timeline?: LoadInterval[];
  /** What a merge noticed and went on with (different windows, targets). */
  warnings?: string[];
  /** How the run was asked to load: what the report and summary show. */
  parameters?: LoadParameters;
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

/**
 * The options a run was given that shape its numbers (durations in ms),
 * kept in its result so a report read later can say how it was made.
 */
export interface LoadParameters {
  /** Connections (sockets). */
  connections: number;
  /** Requests in flight per connection. */
  pipeline: number;
  /** Open loop: requests per second; absent for a closed loop. */
  ratePerSecond?: number;
  /** The planned measured time. */
  durationMs: number;
  /** The request count that ends the run, if any. */
  requests?: number;
  /** Unmeasured time first. */
  warmupMs: number;
  /** When a request counts as a timeout. */
  timeoutMs: number;
  /** Payload bytes per request, where the protocol has a payload size. */
  size?: number;
  /** Connections opened per second, if ramped. */
  connectRatePerSecond?: number;
  /** This run's shard (`I/N`) of a load split over machines. */
  shard?: string;
}

/** One host's (and counter scope's) share of a merge; see {@linkcode LoadResult.hosts}. */
export interface LoadHostCounters {
  /** The host name. */
  host: string;
  /** The counter scope (see {@linkcode LoadResult.kernelScope}). */
  scope: string;
  /** Runs merged from it. */
  runs: number;
  /** Its counters: the largest change any of its runs saw, per counter. */
  kernel: Record<string, number>;
}

/** Loss and jitter of a datagram stream. */
export interface LoadDatagrams {
  /** Datagrams sent in the window. */
  sent: number;
  /** Datagrams whose echo came back. */
  received: number;
  /** Datagrams known lost (a later one came back first, or none within the timeout). */
  lost: number;
  /** `lost` as a percentage of `received + lost`. */
  lossPercent: number;
  /**
   * Smoothed variation of the round-trip time between consecutive echoes
   * (RFC 3550's interarrival jitter, over round trips), in milliseconds.
   */
  jitterMs: number;
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
