// Small figures shared by results, merges and the scheduler: an error count
// with every cause at zero, a histogram's percentiles rounded to the
// microsecond, and rounding to a number of digits.

import { LOAD_ERROR_CAUSES, type LoadErrorCause } from "./errors.ts";
import type { LatencyHistogram, LoadLatency } from "./histogram.ts";

export function noErrors(): Record<LoadErrorCause, number> {
  return Object.fromEntries(LOAD_ERROR_CAUSES.map((c) => [c, 0])) as Record<
    LoadErrorCause,
    number
  >;
}

export function latencyOf(h: LatencyHistogram): LoadLatency {
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

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
