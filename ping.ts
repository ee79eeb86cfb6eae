/**
 * Round-trip statistics shared by the TCP and UDP ping tools.
 *
 * @module
 */

/** One probe's outcome. */
export interface PingProbe {
  /** Sequence number, from 1. */
  seq: number;
  /** Round-trip time in milliseconds, or `null` when the probe was lost. */
  rttMs: number | null;
  /** Payload size in bytes. */
  bytes: number;
}

/** The ping(8)-style summary of a run. */
export interface PingSummary {
  /** Probes sent. */
  sent: number;
  /** Replies received intact. */
  received: number;
  /** Lost probes as a percentage of those sent. */
  lossPercent: number;
  /** Smallest RTT in ms (`null` when nothing came back). */
  minMs: number | null;
  /** Mean RTT in ms. */
  avgMs: number | null;
  /** Largest RTT in ms. */
  maxMs: number | null;
  /** 99th percentile RTT in ms (nearest rank). */
  p99Ms: number | null;
}

/** Options of the TCP and UDP ping functions. */
export interface PingOptions {
  /** Probes to send. Default 5. */
  count?: number;
  /** Payload bytes per probe (at least 8: run id and sequence number). Default 64. */
  size?: number;
  /** Milliseconds between the start of one probe and the next. Default 1000. */
  intervalMs?: number;
  /** Milliseconds to wait for a reply before the probe counts as lost. Default 2000. */
  timeoutMs?: number;
  /** Stops early; the summary covers the probes sent so far. */
  signal?: AbortSignal;
  /** Called after every probe, e.g. to print a line. */
  onProbe?: (probe: PingProbe) => void;
}

/** What a ping run resolves to: the summary and every probe in order. */
export interface PingResult extends PingSummary {
  /** Every probe in order. */
  probes: PingProbe[];
}

/**
 * Summarises probes into sent, received, loss and min/avg/max/p99.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarizePings } from "@netkit/netkit";
 *
 * const s = summarizePings([
 *   { seq: 1, rttMs: 1, bytes: 8 },
 *   { seq: 2, rttMs: null, bytes: 8 },
 * ]);
 * assert.ok(s.lossPercent === 50 && s.maxMs === 1);
 * ```
 */
export function summarizePings(probes: readonly PingProbe[]): PingSummary {
  const rtts = probes.flatMap((p) => p.rttMs === null ? [] : [p.rttMs]);
  rtts.sort((a, b) => a - b);
  const sent = probes.length;
  const received = rtts.length;
  const none = received === 0;
  return {
    sent,
    received,
    lossPercent: sent === 0 ? 0 : ((sent - received) / sent) * 100,
    minMs: none ? null : rtts[0]!,
    avgMs: none ? null : rtts.reduce((a, b) => a + b, 0) / received,
    maxMs: none ? null : rtts[received - 1]!,
    p99Ms: none ? null : rtts[Math.ceil(0.99 * received) - 1]!,
  };
}
