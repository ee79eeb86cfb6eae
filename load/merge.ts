/**
 * Merging load results of runs made at the same time: workers on one
 * machine, or several machines (shards) against one server.
 *
 * @module
 */

import { LatencyHistogram } from "./histogram.ts";
import { LOAD_ERROR_CAUSES, LoadError } from "./errors.ts";
import {
  emptyLoadResult,
  type LoadHostCounters,
  type LoadResult,
} from "./result.ts";
import type { LoadInterval } from "./options.ts";
import { latencyOf, round } from "./_figures.ts";

/** Options of {@linkcode mergeLoadResults}. */
export interface MergeLoadOptions {
  /**
   * Merge runs of different targets (protocol, address or mode) with a
   * warning instead of refusing them. Default false.
   */
  allowMixedTargets?: boolean;
  /**
   * The runs are parts of one run whatever their windows say (worker
   * threads of one process, started a few ms apart): windows are not
   * compared and rates add. Default false.
   */
  ignoreWindows?: boolean;
}

// Windows that overlap less than this share of the longest one are
// merged with a warning: the runs did not start together.
const WINDOW_AGREEMENT = 0.9;
// Windows this close count as one run's, overlapping or not.
const DISJOINT_SLACK_MS = 1000;

/**
 * Merges results of runs made at the same time (workers on one machine,
 * or several machines against one server) as if they were one run:
 * counts, bytes, errors and status classes add; histograms add bucket by
 * bucket, so the percentiles of the merge are exact; rates are taken over
 * the common window (the time every run was measuring, from their
 * timelines); kernel counters are kept apart per host and counter scope
 * (`hosts`: runs that shared a network namespace saw the same counters,
 * which are counted once, not added) and `kernel` sums the scopes.
 *
 * Runs of different targets are refused (`targets_differ`) unless
 * `allowMixedTargets`; runs whose windows lie more than a second (or a
 * tenth of the longest window) apart are refused (`windows_disjoint`);
 * windows that overlap only in part (rates over the common window) or
 * miss each other by less (short runs: rates from the first start to the
 * last end), or mixed targets, leave a line in `warnings`.
 *
 * @throws {LoadError} `bad_result` when given nothing or a value that is
 * not a load result; `targets_differ`; `windows_disjoint`.
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
 * const c = { ...emptyLoadResult("tcp", "127.0.0.1:8", "echo"), requests: 1 };
 * assert.throws(() => mergeLoadResults([a, c]), { code: "targets_differ" });
 * ```
 */
export function mergeLoadResults(
  results: LoadResult[],
  options: MergeLoadOptions = {},
): LoadResult {
  if (results.length === 0) {
    throw new LoadError("bad_result", "no load results to merge");
  }
  for (const r of results) checkResult(r);
  const first = results[0]!;
  const warnings = results.flatMap((r) => r.warnings ?? []);
  const targets = [...new Set(results.map(targetOf))];
  if (targets.length > 1) {
    const list = targets.slice(0, 3).join("; ") +
      (targets.length > 3 ? "; …" : "");
    if (!options.allowMixedTargets) {
      throw new LoadError(
        "targets_differ",
        `these runs drove different targets (${list}): they are not one run`,
      );
    }
    warnings.push(`merged runs of different targets: ${list}`);
  }
  const merged = emptyLoadResult(
    first.protocol,
    targets.length > 1 ? "(mixed)" : first.target,
    first.mode,
  );
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
    for (const [k, v] of Object.entries(r.status ?? {})) {
      merged.status ??= {};
      merged.status[k] = (merged.status[k] ?? 0) + v;
    }
    histogram.add(LatencyHistogram.fromJSON(r.histogram));
    if (r.ended !== "duration") merged.ended = r.ended;
  }
  const window = options.ignoreWindows
    ? undefined
    : commonWindow(results, warnings);
  if (window) {
    const seconds = (window.end - window.start) / 1000;
    merged.rate = 0;
    merged.mbps = 0;
    for (const r of results) {
      const share = shareIn(r, window);
      merged.rate += share.requests / seconds;
      merged.mbps += r.mbps * (r.durationMs / 1000) * share.bytes / seconds;
    }
    merged.durationMs = Math.round(window.end - window.start);
    merged.startedAt = Math.round(window.start);
    merged.timeline = mergeTimelines(results, window.start);
  }
  mergeDatagrams(results, merged);
  merged.parameters = mergeParameters(results);
  const hosts = hostCounters(results);
  merged.hosts = hosts;
  merged.kernel = {};
  for (const h of hosts) {
    for (const [k, v] of Object.entries(h.kernel)) {
      merged.kernel[k] = (merged.kernel[k] ?? 0) + v;
    }
  }
  const names = new Set(results.map((r) => r.host));
  if (names.size === 1 && first.host !== undefined) merged.host = first.host;
  if (hosts.length === 1 && hosts[0]!.scope !== "") {
    merged.kernelScope = hosts[0]!.scope;
  }
  merged.rate = round(merged.rate, 1);
  merged.mbps = round(merged.mbps, 3);
  merged.latencyMs = latencyOf(histogram);
  merged.histogram = histogram.toJSON();
  if (warnings.length > 0) merged.warnings = [...new Set(warnings)];
  return merged;
}

function targetOf(r: LoadResult): string {
  return `${r.protocol} ${r.target} ${r.mode}`;
}

interface Window {
  start: number;
  end: number;
}

// The time every run was measuring, when all of them say when that was.
function commonWindow(
  results: LoadResult[],
  warnings: string[],
): Window | undefined {
  if (results.some((r) => r.startedAt === undefined)) return undefined;
  const start = Math.max(...results.map((r) => r.startedAt!));
  const end = Math.min(...results.map((r) => r.startedAt! + r.durationMs));
  const longest = Math.max(...results.map((r) => r.durationMs));
  if (end <= start) {
    // Short runs started together can miss each other by the timers'
    // slack on a busy machine; runs further apart are not one run.
    if (start - end > Math.max(DISJOINT_SLACK_MS, 0.1 * longest)) {
      throw new LoadError(
        "windows_disjoint",
        `these runs were measured at times that do not overlap (${
          spread(results)
        }): they are not one run; give every generator the same --start-at`,
      );
    }
    const from = Math.min(...results.map((r) => r.startedAt!));
    const to = Math.max(...results.map((r) => r.startedAt! + r.durationMs));
    warnings.push(
      `the runs' windows do not overlap (${
        spread(results)
      }); rates are over the ${
        ((to - from) / 1000).toFixed(1)
      } s from the first start to the last end`,
    );
    return { start: from, end: to };
  }
  if (end - start < WINDOW_AGREEMENT * longest) {
    warnings.push(
      `the runs' windows differ (${spread(results)}); rates are over the ${
        ((end - start) / 1000).toFixed(1)
      } s they all measured`,
    );
  }
  return { start, end };
}

function spread(results: LoadResult[]): string {
  const starts = results.map((r) => r.startedAt!);
  const ends = results.map((r) => r.startedAt! + r.durationMs);
  const s = (Math.max(...starts) - Math.min(...starts)) / 1000;
  const e = (Math.max(...ends) - Math.min(...ends)) / 1000;
  return `starts ${s.toFixed(1)} s apart, ends ${e.toFixed(1)} s apart`;
}

// What one run did within `window`, from its timeline (its intervals
// prorated by overlap); the whole run when it has no timeline.
function shareIn(
  r: LoadResult,
  window: Window,
): { requests: number; bytes: number } {
  const timeline = r.timeline ?? [];
  const covered = timeline.reduce((n, i) => n + i.durationMs, 0);
  if (timeline.length === 0 || covered === 0) {
    const part = r.durationMs > 0
      ? (window.end - window.start) / r.durationMs
      : 0;
    return { requests: r.requests * part, bytes: part };
  }
  let requests = 0;
  let bytes = 0;
  let total = 0;
  for (const i of timeline) {
    const from = r.startedAt! + i.startMs;
    const to = from + i.durationMs;
    const overlap = Math.max(
      0,
      Math.min(to, window.end) - Math.max(from, window.start),
    );
    const part = i.durationMs > 0 ? overlap / i.durationMs : 0;
    requests += i.requests * part;
    bytes += (i.bytesSent + i.bytesReceived) * part;
    total += i.bytesSent + i.bytesReceived;
  }
  return { requests, bytes: total > 0 ? bytes / total : 0 };
}

// The runs' timelines on one grid (the longest interval, from the common
// start back to the earliest run), prorated by overlap; percentiles do
// not add, so each interval keeps the largest of its contributors'.
function mergeTimelines(results: LoadResult[], start: number): LoadInterval[] {
  const step = Math.max(
    ...results.flatMap((r) => (r.timeline ?? []).map((i) => i.durationMs)),
    1,
  );
  const from = Math.min(...results.map((r) => r.startedAt!));
  const to = Math.max(...results.map((r) => r.startedAt! + r.durationMs));
  const origin = start - Math.ceil((start - from) / step) * step;
  const count = Math.min(100_000, Math.ceil((to - origin) / step));
  const bins: LoadInterval[] = Array.from({ length: count }, (_, k) => ({
    startMs: round(origin + k * step - start, 3),
    durationMs: step,
    requests: 0,
    errors: 0,
    bytesSent: 0,
    bytesReceived: 0,
    p50Ms: 0,
    p99Ms: 0,
  }));
  for (const r of results) {
    for (const i of r.timeline ?? []) {
      const a = r.startedAt! + i.startMs;
      const b = a + i.durationMs;
      for (
        let k = Math.max(0, Math.floor((a - origin) / step));
        k < count && origin + k * step < b;
        k++
      ) {
        const lo = Math.max(a, origin + k * step);
        const hi = Math.min(b, origin + (k + 1) * step);
        if (hi <= lo || i.durationMs <= 0) continue;
        const part = (hi - lo) / i.durationMs;
        const bin = bins[k]!;
        bin.requests += i.requests * part;
        bin.errors += i.errors * part;
        bin.bytesSent += i.bytesSent * part;
        bin.bytesReceived += i.bytesReceived * part;
        bin.p50Ms = Math.max(bin.p50Ms, i.p50Ms);
        bin.p99Ms = Math.max(bin.p99Ms, i.p99Ms);
      }
    }
  }
  for (const bin of bins) {
    bin.requests = round(bin.requests, 1);
    bin.errors = round(bin.errors, 1);
    bin.bytesSent = Math.round(bin.bytesSent);
    bin.bytesReceived = Math.round(bin.bytesReceived);
  }
  return bins;
}

// The parameters the runs add up to (connections, rate, requests); the
// rest as the first run had them.
function mergeParameters(
  results: LoadResult[],
): LoadResult["parameters"] {
  const all = results.map((r) => r.parameters);
  if (all.some((p) => p === undefined)) return undefined;
  const sum = (f: (p: NonNullable<LoadResult["parameters"]>) => number) =>
    all.reduce((n, p) => n + f(p!), 0);
  const { shard: _, ...first } = all[0]!;
  return {
    ...first,
    connections: sum((p) => p.connections),
    ...(first.ratePerSecond !== undefined
      ? { ratePerSecond: round(sum((p) => p.ratePerSecond ?? 0), 3) }
      : {}),
    ...(first.requests !== undefined
      ? { requests: sum((p) => p.requests ?? 0) }
      : {}),
  };
}

function mergeDatagrams(results: LoadResult[], merged: LoadResult): void {
  const with_ = results.filter((r) => r.datagrams);
  if (with_.length === 0) return;
  let sent = 0, received = 0, lost = 0, jitter = 0;
  for (const r of with_) {
    const d = r.datagrams!;
    sent += d.sent;
    received += d.received;
    lost += d.lost;
    jitter += d.jitterMs * d.received;
  }
  const seen = received + lost;
  merged.datagrams = {
    sent,
    received,
    lost,
    lossPercent: seen > 0 ? round(lost / seen * 100, 3) : 0,
    // Jitter does not add: the mean of the runs', weighted by echoes.
    jitterMs: received > 0 ? round(jitter / received, 3) : 0,
  };
}

// Kernel counters per host and counter scope. Runs in one scope (workers,
// shells on one machine) saw the same counters over about the same time:
// the largest change per counter stands for the scope. A run that does
// not say where it ran is a scope of its own.
function hostCounters(results: LoadResult[]): LoadHostCounters[] {
  const groups = new Map<string, LoadHostCounters>();
  results.forEach((r, index) => {
    const parts: LoadHostCounters[] = r.hosts ?? [{
      host: r.host ?? `run ${index + 1}`,
      scope: r.kernelScope ?? "",
      runs: r.loops,
      kernel: r.kernel,
    }];
    for (const p of parts) {
      // An unknown or machine-wide scope is only the same on the same host.
      const key = `${p.host}\n${p.scope}`;
      const group = groups.get(key);
      if (!group) {
        groups.set(key, { ...p, kernel: { ...p.kernel } });
        continue;
      }
      group.runs += p.runs;
      for (const [k, v] of Object.entries(p.kernel)) {
        group.kernel[k] = Math.max(group.kernel[k] ?? 0, v);
      }
    }
  });
  return [...groups.values()];
}

/**
 * Checks that a value (parsed from a file, say) has the shape of a load
 * result before anything reads it.
 *
 * @throws {LoadError} `bad_result`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkLoadResult, emptyLoadResult } from "@netkit/netkit/load";
 *
 * checkLoadResult(emptyLoadResult("tcp", "127.0.0.1:7", "echo"));
 * assert.throws(() => checkLoadResult({ x: 1 }), { code: "bad_result" });
 * ```
 */
export function checkLoadResult(value: unknown): LoadResult {
  checkResult(value as LoadResult);
  return value as LoadResult;
}

function checkResult(r: LoadResult): void {
  const ok = r !== null && typeof r === "object" &&
    typeof r.histogram === "object" && r.histogram !== null &&
    Array.isArray(r.histogram.buckets) &&
    typeof r.latencyMs === "object" && r.latencyMs !== null &&
    typeof r.protocol === "string" && typeof r.target === "string" &&
    typeof r.mode === "string" && Number.isFinite(r.requests) &&
    Number.isFinite(r.rate) && Number.isFinite(r.durationMs) &&
    typeof r.errors === "object" && r.errors !== null &&
    typeof r.kernel === "object" && r.kernel !== null &&
    typeof r.histogram === "object" &&
    Object.values(r.errors).every(Number.isFinite) &&
    Object.values(r.kernel).every(Number.isFinite) &&
    (r.startedAt === undefined || Number.isFinite(r.startedAt)) &&
    (r.timeline === undefined || checkTimeline(r)) &&
    (r.hosts === undefined || Array.isArray(r.hosts));
  if (!ok) throw new LoadError("bad_result", "not a netkit load result");
}

// Intervals inside their run's window, of sane lengths: what the merge
// walks stays bounded whatever a file says.
function checkTimeline(r: LoadResult): boolean {
  const t = r.timeline!;
  return Array.isArray(t) && t.length <= 100_000 &&
    t.every((i) =>
      i !== null && typeof i === "object" &&
      [
        i.startMs,
        i.durationMs,
        i.requests,
        i.errors,
        i.bytesSent,
        i.bytesReceived,
        i.p50Ms,
        i.p99Ms,
      ].every(Number.isFinite) &&
      i.durationMs >= 0 && i.startMs >= -1 &&
      i.startMs + i.durationMs <= r.durationMs + 1
    );
}
