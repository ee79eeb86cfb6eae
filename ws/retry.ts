/**
 * Connecting again with exponential back-off and jitter: the one retry
 * rule of the WebSocket client (`retry` of `connectWebSocket`) and of
 * `reconnectWebSocket`. The waits are a pure function of the attempt
 * ({@linkcode backoffDelayMs}), so they can be checked without waiting.
 *
 * @module
 */

import { delay, errorMessage } from "../_io.ts";
import { WsError } from "./errors.ts";

/**
 * How a WebSocket client tries again: exponential back-off with jitter
 * (each wait a random time between half the cap and the cap, so clients
 * that lost the same server do not come back in step).
 */
export interface WsRetryOptions {
  /** Cap of the first wait in milliseconds; it doubles each attempt. Default 250. */
  baseDelayMs?: number;
  /** Longest wait in milliseconds. Default 30 000. */
  maxDelayMs?: number;
  /** Give up after this many failed attempts in a row. Default: never. */
  tries?: number;
  /**
   * Called before each wait with the attempt (1 for the first retry), the
   * wait in milliseconds and why: the error of the failed attempt, or the
   * end of the connection that dropped.
   */
  onRetry?: (retry: { attempt: number; delayMs: number; why: unknown }) => void;
}

const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 30_000;

/**
 * The wait in milliseconds before retry `attempt` (1, 2, …): a cap of
 * `baseDelayMs` doubled each attempt up to `maxDelayMs`, and a wait
 * between half the cap and the cap as `random` (in [0, 1)) goes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { backoffDelayMs } from "@netkit/netkit/ws";
 *
 * assert.equal(backoffDelayMs(1, {}, 0), 125);
 * assert.equal(backoffDelayMs(3, {}, 0.999), 1000);
 * assert.equal(backoffDelayMs(30, { maxDelayMs: 4000 }, 0), 2000);
 * ```
 */
export function backoffDelayMs(
  attempt: number,
  options: WsRetryOptions = {},
  random: number = Math.random(),
): number {
  const cap = Math.min(
    options.maxDelayMs ?? MAX_DELAY_MS,
    (options.baseDelayMs ?? BASE_DELAY_MS) * 2 ** Math.min(attempt - 1, 30),
  );
  return Math.round(cap / 2 + random * cap / 2);
}

/**
 * (Not re-exported by `ws/mod.ts`: the loop of the client and of
 * `reconnectWebSocket`.) Runs `connect` until it succeeds, waiting before attempt `first` and
 * every later one (attempt 0 runs at once). A `bad_url` or an abort is
 * not retried; past `tries` failed attempts, a `connect_failed` WsError
 * names the last reason.
 */
export async function withRetry<T>(
  connect: () => Promise<T>,
  retry: WsRetryOptions,
  signal: AbortSignal | undefined,
  first = 0,
  why: unknown = undefined,
): Promise<T> {
  for (let attempt = first;; attempt++) {
    if (attempt > 0) {
      if (retry.tries !== undefined && attempt > retry.tries) {
        throw new WsError(
          "connect_failed",
          `gave up after ${retry.tries} ${
            retry.tries === 1 ? "retry" : "retries"
          }: ${errorMessage(why)}`,
          { cause: why },
        );
      }
      const delayMs = backoffDelayMs(attempt, retry);
      retry.onRetry?.({ attempt, delayMs, why });
      await delay(delayMs, signal);
      signal?.throwIfAborted();
    }
    try {
      return await connect();
    } catch (error) {
      if (signal?.aborted) throw error;
      if (error instanceof WsError && error.code === "bad_url") throw error;
      why = error;
    }
  }
}
