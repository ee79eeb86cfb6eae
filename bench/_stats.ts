// Small statistics for the benchmarks: medians, a latency histogram, CPU time.

/** The median of the finite `values` (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const BUCKETS_PER_US = 10;
const MAX_US = 100_000;

/**
 * A latency histogram with 0.1 µs buckets up to 100 ms: recording is one
 * array increment, so it costs the client nothing measurable.
 */
export class LatencyHistogram {
  #counts = new Uint32Array(MAX_US * BUCKETS_PER_US + 1);
  #total = 0;

  /** Records one latency in milliseconds (performance.now() units). */
  record(ms: number): void {
    const i = Math.min(
      Math.floor(ms * 1000 * BUCKETS_PER_US),
      this.#counts.length - 1,
    );
    this.#counts[i]!++;
    this.#total++;
  }

  /** Adds another histogram's counts to this one. */
  merge(other: LatencyHistogram): void {
    for (let i = 0; i < this.#counts.length; i++) {
      this.#counts[i]! += other.#counts[i]!;
    }
    this.#total += other.#total;
  }

  /** Samples recorded. */
  get count(): number {
    return this.#total;
  }

  /** The `p`-th percentile (0–100) in microseconds. */
  percentileUs(p: number): number {
    if (this.#total === 0) return NaN;
    const rank = Math.ceil((p / 100) * this.#total);
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return (i + 0.5) / BUCKETS_PER_US;
    }
    return MAX_US;
  }
}

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used so far, or NaN once it is gone. */
export function cpuSeconds(pid: number | "self"): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the parenthesised command name, which may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** Sleeps; the benchmarks use it only between phases, never to synchronise. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * CPU time used by processes outside this benchmark (other people's work on
 * a shared machine), in cores, between `start()` and the returned function.
 * Our own share is this process plus its reaped children (the servers).
 */
export function foreignLoad(): () => number {
  const t0 = performance.now();
  const busy0 = machineBusySeconds();
  const own0 = ownSeconds();
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const foreign = machineBusySeconds() - busy0 - (ownSeconds() - own0);
    return Math.max(0, foreign) / seconds;
  };
}

function machineBusySeconds(): number {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0]!;
  const [, ...fields] = line.trim().split(/\s+/).map(Number);
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = fields[3]! + fields[4]!;
  return (total - idle) / CLOCK_TICKS_PER_SECOND;
}

function ownSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  // utime, stime, cutime, cstime
  return (f[11]! + f[12]! + f[13]! + f[14]!) / CLOCK_TICKS_PER_SECOND;
}
