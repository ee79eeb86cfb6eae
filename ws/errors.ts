import { NetkitError } from "../errors.ts";

/**
 * Stable codes of {@linkcode WsError}:
 * - `connect_failed`: no server answered at the address (TCP or TLS).
 * - `timeout`: the peer did not answer in time.
 * - `head_too_large`: an HTTP head exceeded the size or header-count limit.
 * - `bad_http`: bytes that are not a valid HTTP/1.1 head.
 * - `handshake_failed`: the opening handshake was not acceptable.
 * - `protocol_error`: the peer broke RFC 6455 framing rules.
 * - `message_too_large`: a frame or message exceeded the configured limit.
 * - `closed`: the connection is already closed.
 * - `queue_full`: received messages piled up unread past the limit.
 * - `bad_url`: the URL is not a `ws://` or `wss://` URL.
 * - `bad_close`: a close code that may not be sent (1005, 1006, 1015, …).
 */
export type WsErrorCode =
  | "connect_failed"
  | "timeout"
  | "head_too_large"
  | "bad_http"
  | "handshake_failed"
  | "protocol_error"
  | "message_too_large"
  | "closed"
  | "queue_full"
  | "bad_url"
  | "bad_close";

/**
 * The error class of the `ws/` module family.
 *
 * @example Branch on the code
 * ```ts
 * import assert from "node:assert/strict";
 * import { WsError } from "@netkit/netkit/ws";
 *
 * const error = new WsError("timeout", "no handshake reply within 5000 ms");
 * assert.ok(error.code === "timeout");
 * ```
 */
export class WsError extends NetkitError {
  /** What went wrong, stable across releases. */
  declare readonly code: WsErrorCode;

  /**
   * Creates a WebSocket error.
   *
   * @param code What went wrong.
   * @param message One line a user can act on.
   * @param options The underlying cause, if any.
   */
  constructor(code: WsErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = "WsError";
  }
}
