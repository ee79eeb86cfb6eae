/**
 * A fixed-bucket latency histogram: recording never allocates, two
 * histograms merge by adding counts, and the JSON form adds up across
 * workers and machines.
 *
 * @module
 */

import { LoadError } from "./errors.ts";

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
      throw new LoadError("bad_histogram", "not a netkit latency histogram");
    }
    const h = new LatencyHistogram();
    h.add(json);
    return h;
  }
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
