// What a connection may cost before it proves it knows the token: an
// absolute deadline for hello and proof (trickling bytes does not extend
// it), a cap on connections waiting to authenticate (the oldest is dropped
// for a newcomer, so strangers cannot lock real senders out), and a
// per-address slow-down after wrong proofs.

import { closeQuietly } from "../../_io.ts";

/** Default deadline for hello and proof, from accept. */
export const DEFAULT_AUTH_TIMEOUT_MS = 10_000;
/** Default number of connections waiting to authenticate at once. */
export const DEFAULT_MAX_UNAUTHENTICATED = 64;
// Slow-down after wrong proofs from one address: 100 ms after the first,
// doubling, at most 2 s; forgotten after 10 minutes without a failure.
const SLOW_START_MS = 100;
const SLOW_MAX_MS = 2_000;
const SLOW_FORGET_MS = 10 * 60_000;
const SLOW_TRACKED = 4096;

/** One connection's standing before authentication. */
export interface Ticket {
  /** Why the gate closed the connection, if it did. */
  readonly closedBy: "deadline" | "evicted" | undefined;
  /** The connection authenticated: no deadline, no longer counted. */
  authenticated(): void;
  /** The connection ended. */
  end(): void;
}

/** The gate every connection of one receiver passes. */
export interface PreAuthGate {
  admit(conn: { close(): void }): Ticket;
  /** Milliseconds to wait before checking a proof from `host`. */
  delayFor(host: string): number;
  /** Records a wrong proof from `host`. */
  failed(host: string): void;
}

/** Creates the gate. */
export function createPreAuthGate(
  options: { authTimeoutMs: number; maxUnauthenticated: number },
  onDrop: () => void,
): PreAuthGate {
  const waiting = new Set<{ close(): void }>();
  const failures = new Map<string, { count: number; last: number }>();
  return {
    admit(conn) {
      let closedBy: Ticket["closedBy"];
      const entry = {
        close() {
          closedBy ??= "evicted";
          closeQuietly(conn);
        },
      };
      if (waiting.size >= options.maxUnauthenticated) {
        const oldest = waiting.values().next().value!;
        waiting.delete(oldest);
        onDrop();
        oldest.close();
      }
      waiting.add(entry);
      const timer = options.authTimeoutMs > 0
        ? setTimeout(() => {
          closedBy ??= "deadline";
          waiting.delete(entry);
          closeQuietly(conn);
        }, options.authTimeoutMs)
        : undefined;
      const release = () => {
        clearTimeout(timer);
        waiting.delete(entry);
      };
      return {
        get closedBy() {
          return closedBy;
        },
        authenticated: release,
        end: release,
      };
    },
    delayFor(host) {
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
    failed(host) {
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
