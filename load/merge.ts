/**
 * Merging load results of runs made at the same time: workers on one
 * machine, or several machines against one server.
 *
 * @module
 */

import { NetkitError } from "../errors.ts";
import { LatencyHistogram } from "./histogram.ts";
import { LOAD_ERROR_CAUSES } from "./errors.ts";
import { emptyLoadResult, type LoadResult } from "./result.ts";
import { latencyOf, round } from "./_figures.ts";

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
