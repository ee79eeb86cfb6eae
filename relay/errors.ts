import { NetkitError } from "../errors.ts";

/**
 * Stable codes of {@linkcode RelayError}:
 * - `bad_endpoint`: an endpoint string netkit cannot parse (`tcp://HOST:PORT`,
 *   `tls://HOST:PORT`, `udp://HOST:PORT`, `ws://HOST:PORT/PATH`, `wss://…`,
 *   `unix:PATH`, `exec:COMMAND`).
 * - `unsupported_endpoint`: an endpoint kind or option that cannot be used
 *   there (`exec:` as a listen side, UDP paired with a stream endpoint, a
 *   proxy for a `unix:` target, a client certificate without its key).
 * - `missing_tls`: a `tls://` listen side without a certificate and key.
 * - `tls_handshake`: a client of a `tls://` listen side failed its handshake
 *   (not TLS, a protocol error); reported, the target is never contacted.
 * - `session_evicted`: a UDP relay's session table was full and the
 *   longest-idle session made room for a new client (reported through
 *   `onError`, rate-limited: a line each, then one summary per interval).
 */
export type RelayErrorCode =
  | "bad_endpoint"
  | "unsupported_endpoint"
  | "missing_tls"
  | "tls_handshake"
  | "session_evicted";

/**
 * The error class of the relay.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RelayError } from "@netkit/netkit/relay";
 *
 * const error = new RelayError("bad_endpoint", "bad endpoint 'x'");
 * assert.equal(error.code, "bad_endpoint");
 * ```
 */
export class RelayError extends NetkitError {
  /** What went wrong, stable across releases. */
  declare readonly code: RelayErrorCode;

  /**
   * Creates the error.
   *
   * @param code What went wrong.
   * @param message One line a user can act on.
   * @param options The underlying cause, if any.
   */
  constructor(code: RelayErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = "RelayError";
  }
}
