import { NetkitError } from "../errors.ts";

/**
 * Stable codes of {@linkcode UdpError}:
 * - `payload_too_large`: a datagram over the protocol maximum (65,507 bytes
 *   over IPv4, 65,527 over IPv6); netkit never truncates silently.
 * - `no_server`: nothing answers at the address (no socket bound there).
 * - `timeout`: no reply within the timeout, after every retry.
 * - `unstable_api`: `Deno.listenDatagram` is missing (run with `--unstable-net`).
 * - `bind_failed`: the socket could not be bound (address in use, …).
 */
export type UdpErrorCode =
  | "payload_too_large"
  | "no_server"
  | "timeout"
  | "unstable_api"
  | "bind_failed";

/**
 * The error class of the `udp/` module family.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UdpError } from "@netkit/netkit/udp";
 *
 * const error = new UdpError("timeout", "no reply");
 * assert.ok(error.code === "timeout");
 * ```
 */
export class UdpError extends NetkitError {
  /** What went wrong, stable across releases. */
  declare readonly code: UdpErrorCode;

  /**
   * Creates the error.
   *
   * @param code What went wrong.
   * @param message One line a user can act on.
   * @param options The underlying cause, if any.
   */
  constructor(code: UdpErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = "UdpError";
  }
}
