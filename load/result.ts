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
   * `nstat` name (`TcpExtListenOverflows`); see `loadCounterDeltas`.
   */
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
