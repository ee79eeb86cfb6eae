// How many lines strangers may cause in a log. Events are reported one by
// one up to a burst per interval; past it they are counted and one summary
// per interval reports them, for as long as they keep coming (a flood
// costs one line per interval, not one per connection); an interval with
// nothing counted returns to one line per event.

/** Decides which events get their own log line. */
export interface LogBudget {
  /**
   * True if an event of `kind` may be reported on its own now; false when
   * it was counted for the next summary instead.
   */
  allow(kind: string): boolean;
  /** Reports what is still counted and stops the timer. Idempotent. */
  close(): void;
}

/** Options of {@linkcode logBudget}. */
export interface LogBudgetOptions {
  /** Events reported one by one per interval before summaries take over. */
  burst: number;
  /** Milliseconds of one interval. */
  intervalMs: number;
  /** Receives each interval's counts by kind (never empty) and its length. */
  onSummary(counts: Map<string, number>, periodMs: number): void;
}

/** Creates a budget (see the module comment). */
export function logBudget(options: LogBudgetOptions): LogBudget {
  let windowStart = -Infinity;
  let used = 0;
  let summarizing = false;
  let counts = new Map<string, number>();
  let timer: ReturnType<typeof setTimeout> | undefined;

  function flush() {
    timer = undefined;
    if (counts.size === 0) {
      summarizing = false;
      return;
    }
    const done = counts;
    counts = new Map();
    options.onSummary(done, performance.now() - windowStart);
    windowStart = performance.now();
    timer = setTimeout(flush, options.intervalMs);
  }

  return {
    allow(kind) {
      const now = performance.now();
      if (!summarizing && now - windowStart >= options.intervalMs) {
        windowStart = now;
        used = 0;
      }
      if (!summarizing && used < options.burst) {
        used++;
        return true;
      }
      if (!summarizing) {
        summarizing = true;
        timer = setTimeout(flush, windowStart + options.intervalMs - now);
      }
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      return false;
    },
    close() {
      clearTimeout(timer);
      timer = undefined;
      if (counts.size > 0) {
        options.onSummary(counts, performance.now() - windowStart);
      }
      counts = new Map();
      summarizing = false;
    },
  };
}
