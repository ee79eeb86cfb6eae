/**
 * The load family's errors: {@linkcode LoadError} (what the load library
 * throws, with documented codes), and why a load request or connection
 * failed: the causes results count, and the classification of socket
 * errors into them.
 *
 * @module
 */

import { disconnectKind } from "../_io.ts";
import { NetkitError } from "../errors.ts";

/**
 * Stable codes of {@linkcode LoadError}:
 * - `bad_option`: an option is out of range (the message names it).
 * - `remote_target`: the target is not on loopback and `allowRemote` was
 *   not given.
 * - `bad_result`: a value given to merge or render is not a load result.
 * - `bad_histogram`: a histogram's JSON form is malformed.
 * - `targets_differ`: results of different targets (or protocols, or
 *   modes) were merged without `allowMixedTargets`.
 * - `windows_disjoint`: results to merge were measured at times that do
 *   not overlap, so they are not one run.
 * - `bad_shard`: a shard is not `I/N` with `0 ≤ I < N`, or the scheduler's
 *   environment does not say which shard this is.
 * - `start_passed`: the common start time (`startAt`) is already past.
 */
export type LoadErrorCode =
  | "bad_option"
  | "remote_target"
  | "bad_result"
  | "bad_histogram"
  | "targets_differ"
  | "windows_disjoint"
  | "bad_shard"
  | "start_passed";

/**
 * The error class of the `load/` module family.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LoadError, NetkitError } from "@netkit/netkit";
 *
 * const error = new LoadError("bad_shard", "shard 3/3: the index is 0 to 2");
 * assert.ok(error.code === "bad_shard");
 * assert.ok(error instanceof NetkitError);
 * ```
 */
export class LoadError extends NetkitError {
  /** What went wrong, stable across releases. */
  declare readonly code: LoadErrorCode;

  /**
   * Creates the error.
   *
   * @param code What went wrong.
   * @param message One line a user can act on.
   * @param options The underlying cause, if any.
   */
  constructor(code: LoadErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = "LoadError";
  }
}

/**
 * Why a request or connection failed: `refused` (nobody listening),
 * `reset` (the peer reset the connection), `timeout` (no answer in time,
 * or a datagram lost), `emfile` (out of file descriptors), `closed` (the
 * peer closed a connection with requests in flight), `mismatch` (a wrong
 * echo, or a reply nobody asked for), `protocol` (a reply that breaks
 * its protocol: a malformed HTTP response, a bad WebSocket frame), `tls`
 * (the TLS handshake failed: an untrusted or mismatched certificate),
 * `other`.
 */
export type LoadErrorCause =
  | "refused"
  | "reset"
  | "timeout"
  | "emfile"
  | "closed"
  | "mismatch"
  | "protocol"
  | "tls"
  | "other";

/**
 * Every {@linkcode LoadErrorCause}, in the order summaries list them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LOAD_ERROR_CAUSES } from "@netkit/netkit";
 *
 * assert.ok(LOAD_ERROR_CAUSES.includes("mismatch"));
 * ```
 */
export const LOAD_ERROR_CAUSES: readonly LoadErrorCause[] = Object.freeze([
  "refused",
  "reset",
  "timeout",
  "emfile",
  "closed",
  "mismatch",
  "protocol",
  "tls",
  "other",
]);

const PROTOCOL_CODES = new Set([
  "bad_http",
  "head_too_large",
  "body_too_large",
  "protocol_error",
]);

/**
 * The cause of a socket error, as load results count it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { classifyLoadError } from "@netkit/netkit";
 *
 * assert.equal(classifyLoadError(new Deno.errors.ConnectionRefused("x")), "refused");
 * assert.equal(classifyLoadError(new Deno.errors.ConnectionReset("x")), "reset");
 * ```
 */
export function classifyLoadError(error: unknown): LoadErrorCause {
  if (error instanceof Deno.errors.ConnectionRefused) return "refused";
  // A reply that breaks its protocol (a malformed HTTP response, a bad
  // WebSocket frame): the server is wrong, not the network.
  if (error instanceof NetkitError && PROTOCOL_CODES.has(error.code)) {
    return "protocol";
  }
  if (error instanceof NetkitError && error.code === "tls_failed") {
    return "tls";
  }
  if (error instanceof Deno.errors.TimedOut) return "timeout";
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return "timeout";
  }
  const message = error instanceof Error ? error.message : String(error);
  if (/os error 24\b|too many open files/i.test(message)) return "emfile";
  const kind = disconnectKind(error);
  if (kind === "reset") return "reset";
  if (kind !== undefined) return "closed";
  if (/connection reset/i.test(message)) return "reset";
  if (/refused/i.test(message)) return "refused";
  return "other";
}
