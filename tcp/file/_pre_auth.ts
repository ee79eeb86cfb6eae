// What a connection may cost before it proves it knows the token:
// - an absolute deadline for hello and proof, from accept (trickling bytes
//   does not extend it);
// - a cap on connections waiting to authenticate. A newcomer over it drops
//   one waiting connection: first one that has sent nothing, then one that
//   presented a well-formed hello; within those, the oldest of the address
//   holding the most (tcp/_eviction.ts). One address flooding connections
//   drops its own, never another address's handshake;
// - a slow-down per address after wrong proofs;
// - a budget of wrong proofs per window across all addresses, so rotating
//   source addresses does not multiply the guessing rate: past it, proof
//   checks wait their turn (addresses taking turns, the address with the
//   fewest waiting first) at the budget's pace. A right proof costs
//   nothing, so real senders wait only behind the checks queued ahead;
// - a log that stays bounded: sessions of strangers are reported one by
//   one up to a burst per interval, then as one summary per interval.

import { closeQuietly, delay } from "../../_io.ts";
import { logBudget } from "../../_log_budget.ts";
import { pickVictim } from "../_eviction.ts";
import { FileTransferError } from "./errors.ts";
import type { StrangerSummary } from "./types.ts";

/** Default deadline for hello and proof, from accept. */
export const DEFAULT_AUTH_TIMEOUT_MS = 10_000;
/** Default number of connections waiting to authenticate at once. */
export const DEFAULT_MAX_UNAUTHENTICATED = 64;
/** Wrong proofs allowed per window across all addresses before checks queue. */
export const GLOBAL_FAILED_PROOFS = 100;
/** The global budget's window: it refills at GLOBAL_FAILED_PROOFS per window. */
export const GLOBAL_WINDOW_MS = 10_000;
// Slow-down after wrong proofs from one address: 100 ms after the first,
// doubling, at most 2 s; forgotten after 10 minutes without a failure.
const SLOW_START_MS = 100;
const SLOW_MAX_MS = 2_000;
const SLOW_FORGET_MS = 10 * 60_000;
const SLOW_TRACKED = 4096;
// Strangers' sessions logged one by one per interval before summaries.
const LOG_BURST = 20;
const LOG_INTERVAL_MS = 10_000;

/** One connection's standing before authentication. */
export interface Ticket {
  /** Why the gate closed the connection, if it did. */
  readonly closedBy: "deadline" | "evicted" | undefined;
  /** The peer presented a well-formed hello: strangers that sent nothing go first. */
  spoke(): void;
  /**
   * Waits until this connection's proof may be checked (the address's
   * slow-down, then the global budget); resolves with the milliseconds
   * waited. Rejects if the connection is closed meanwhile.
   */
  beforeProof(signal: AbortSignal): Promise<number>;
  /** The proof was wrong. */
  failed(): void;
  /** The connection authenticated: no deadline, no longer counted. */
  authenticated(): void;
  /** The connection ended. */
  end(): void;
}

/** The gate every connection of one receiver passes. */
export interface PreAuthGate {
  /** Admits a just-accepted connection from `host` (dropping another if full). */
  admit(conn: { close(): void }, host: string): Ticket;
  /**
   * Whether a session that ended before authenticating gets reported on
   * its own; false when it was counted for the next summary instead.
   */
  report(session: { error?: { code: string } }): boolean;
  /** Stops the timers; what is still counted goes out as a summary. */
  close(): void;
}

/** Options of {@linkcode createPreAuthGate}. */
export interface PreAuthOptions {
  authTimeoutMs: number;
  maxUnauthenticated: number;
  /** Called when a connection is dropped to make room. */
  onDrop?: () => void;
  /** Receives the summaries of strangers' sessions not reported one by one. */
  onStrangers?: (summary: StrangerSummary) => void;
}

interface Entry {
  host: string;
  spoke: boolean;
  close(why: "deadline" | "evicted"): void;
}

interface Waiter {
  host: string;
  release(): void;
}

/** Creates the gate. */
export function createPreAuthGate(options: PreAuthOptions): PreAuthGate {
  const waiting = new Set<Entry>();
  const slowDown = createSlowDown();
  const budget = createProofBudget();
  const strangers = logBudget({
    burst: LOG_BURST,
    intervalMs: LOG_INTERVAL_MS,
    onSummary(counts, periodMs) {
      const codes = Object.fromEntries(counts);
      const sessions = Object.values(codes).reduce((a, b) => a + b, 0);
      options.onStrangers?.({ sessions, codes, periodMs });
    },
  });
  return {
    admit(conn, host) {
      let closedBy: Ticket["closedBy"];
      // Aborted when the gate closes the connection or the session ends.
      const gone = new AbortController();
      const entry: Entry = {
        host,
        spoke: false,
        close(why) {
          closedBy ??= why;
          release();
          closeQuietly(conn);
        },
      };
      if (waiting.size >= options.maxUnauthenticated) {
        options.onDrop?.();
        pickVictim(waiting)!.close("evicted");
      }
      waiting.add(entry);
      const timer = options.authTimeoutMs > 0
        ? setTimeout(() => entry.close("deadline"), options.authTimeoutMs)
        : undefined;
      let reserved = false;
      let charged = false;
      function release() {
        clearTimeout(timer);
        waiting.delete(entry);
        gone.abort();
        if (reserved && !charged) budget.refund();
        reserved = false;
      }
      return {
        get closedBy() {
          return closedBy;
        },
        spoke() {
          entry.spoke = true;
        },
        async beforeProof(signal) {
          const started = performance.now();
          const both = AbortSignal.any([signal, gone.signal]);
          const slow = slowDown.delayFor(host);
          await delay(slow, both);
          const took = both.aborted ? "aborted" : await budget.take(host, both);
          if (both.aborted) {
            if (took !== "aborted") budget.refund();
            throw new FileTransferError(
              "connection_closed",
              "closed while waiting to check the proof",
            );
          }
          reserved = true;
          return slow > 0 || took === "queued"
            ? performance.now() - started
            : 0;
        },
        failed() {
          charged = true;
          slowDown.failed(host);
        },
        authenticated: release,
        end: release,
      };
    },
    report(session) {
      return strangers.allow(session.error?.code ?? "unknown");
    },
    close() {
      budget.close();
      strangers.close();
    },
  };
}

/** The per-address slow-down after wrong proofs. */
function createSlowDown() {
  const failures = new Map<string, { count: number; last: number }>();
  return {
    /** Milliseconds to wait before checking a proof from `host`. */
    delayFor(host: string): number {
      const seen = failures.get(host);
      if (!seen) return 0;
      const now = performance.now();
      if (now - seen.last > SLOW_FORGET_MS) {
        failures.delete(host);
        return 0;
      }
      const wait = Math.min(SLOW_MAX_MS, SLOW_START_MS * 2 ** (seen.count - 1));
      return Math.max(0, seen.last + wait - now);
    },
    failed(host: string) {
      const seen = failures.get(host) ?? { count: 0, last: 0 };
      failures.delete(host);
      seen.count = Math.min(seen.count + 1, 32);
      seen.last = performance.now();
      failures.set(host, seen);
      if (failures.size > SLOW_TRACKED) {
        failures.delete(failures.keys().next().value!);
      }
    },
  };
}

/**
 * The global budget of wrong proofs: a bucket of GLOBAL_FAILED_PROOFS
 * refilled over GLOBAL_WINDOW_MS. Each check reserves one proof (a right
 * proof gives it back), so concurrent checks never overspend it.
 */
function createProofBudget() {
  const rate = GLOBAL_FAILED_PROOFS / GLOBAL_WINDOW_MS; // proofs per ms
  let tokens = GLOBAL_FAILED_PROOFS;
  let last = performance.now();
  const queue: Waiter[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;

  function refill() {
    const now = performance.now();
    tokens = Math.min(GLOBAL_FAILED_PROOFS, tokens + (now - last) * rate);
    last = now;
  }

  // Addresses take turns: the one with the fewest checks waiting goes
  // first, so one address queueing many cannot starve another's.
  function next(): Waiter {
    const counts = new Map<string, number>();
    for (const w of queue) counts.set(w.host, (counts.get(w.host) ?? 0) + 1);
    let best = 0;
    for (let i = 1; i < queue.length; i++) {
      if (counts.get(queue[i]!.host)! < counts.get(queue[best]!.host)!) {
        best = i;
      }
    }
    return queue.splice(best, 1)[0]!;
  }

  function pump() {
    timer = undefined;
    refill();
    while (queue.length > 0 && tokens >= 1) {
      tokens -= 1;
      next().release();
    }
    if (queue.length > 0) {
      timer = setTimeout(pump, Math.ceil((1 - tokens) / rate));
    }
  }

  return {
    /**
     * Resolves once a proof from `host` may be checked (one reserved):
     * "now", or "queued" after waiting its turn; "aborted" if `signal`
     * aborted first.
     */
    take(
      host: string,
      signal: AbortSignal,
    ): Promise<"now" | "queued" | "aborted"> {
      refill();
      if (queue.length === 0 && tokens >= 1) {
        tokens -= 1;
        return Promise.resolve("now");
      }
      return new Promise((resolve) => {
        const waiter: Waiter = { host, release: () => done("queued") };
        const done = (took: "queued" | "aborted") => {
          signal.removeEventListener("abort", leave);
          resolve(took);
        };
        const leave = () => {
          const at = queue.indexOf(waiter);
          if (at >= 0) queue.splice(at, 1);
          done("aborted");
        };
        signal.addEventListener("abort", leave, { once: true });
        queue.push(waiter);
        timer ??= setTimeout(pump, Math.max(0, Math.ceil((1 - tokens) / rate)));
      });
    },
    /** A reserved proof was not wrong: it goes back. */
    refund() {
      tokens += 1;
      if (queue.length > 0) {
        clearTimeout(timer);
        timer = setTimeout(pump, 0);
      }
    },
    close() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
