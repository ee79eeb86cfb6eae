/**
 * Why a load request or connection failed: the causes results count, and
 * the classification of socket errors into them.
 *
 * @module
 */

import { disconnectKind } from "../_io.ts";

/** Why a request or connection failed. */
export type LoadErrorCause =
  | "refused"
  | "reset"
  | "timeout"
  | "emfile"
  | "closed"
  | "mismatch"
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
  "other",
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
