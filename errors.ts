/**
 * The base class of every error netkit throws on purpose.
 *
 * Each module family has one subclass (`TcpError`, `UdpError`, `WsError`,
 * `FileTransferError`) whose `code` is stable across releases, so callers and
 * the CLI can branch on it instead of parsing messages.
 *
 * @module
 */

/**
 * An error with a stable, machine-readable `code`.
 *
 * @example Branch on the code
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetkitError } from "@netkit/netkit";
 *
 * const error = new NetkitError("bad_address", "not an address: 'x'");
 * assert.ok(error.code === "bad_address");
 * ```
 */
export class NetkitError extends Error {
  /** A stable identifier, e.g. `"bad_address"` or `"payload_too_large"`. */
  readonly code: string;

  /**
   * Creates the error.
   *
   * @param code A stable identifier for the kind of failure.
   * @param message One line a user can act on.
   * @param options The underlying cause, if any.
   */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NetkitError";
    this.code = code;
  }
}
