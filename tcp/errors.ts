import { NetkitError } from "../errors.ts";

/**
 * Stable codes of {@linkcode TcpError}:
 * - `accept_backoff`: `accept()` failed with a temporary error (EMFILE,
 *   ENFILE, …); the server waits and retries.
 * - `connect_failed`: no server answered at the address (or, for
 *   {@linkcode dial} through a proxy, at the proxy's address).
 * - `proxy_failed`: the proxy refused the tunnel or answered with
 *   something that is not its protocol.
 * - `proxy_auth_required`: the proxy wants credentials, or refused the
 *   ones given (HTTP 407, SOCKS5 method or RFC 1929 refusal).
 * - `bad_proxy`: the proxy URL is not `http://` or `socks5://HOST:PORT`.
 * - `tls_failed`: the TLS handshake failed (an untrusted or mismatched
 *   certificate, a client certificate the server refused).
 * - `timeout`: a peer did not answer in time.
 * - `handshake_timeout`: a TLS client of a server did not finish its
 *   handshake within the deadline, or its unfinished handshake was reset
 *   to make room (reported through `onError`, rate-limited).
 * - `bind_failed`: the server could not listen (address in use, no
 *   permission for a low port, an address this host does not have).
 * - `lab_unknown`: `runLab` was given a scenario name it does not know.
 * - `lab_failed`: a lab scenario's setup or subprocess failed (the
 *   namespace, nftables, the server under test).
 * - `capture_denied`: a packet capture needs root or CAP_NET_RAW.
 * - `capture_failed`: a packet capture could not start (no such
 *   interface, FFI not allowed, the kernel refused the socket or filter).
 * - `pcap_invalid`: bytes given as a pcap file are not one.
 */
export type TcpErrorCode =
  | "accept_backoff"
  | "connect_failed"
  | "proxy_failed"
  | "proxy_auth_required"
  | "bad_proxy"
  | "tls_failed"
  | "timeout"
  | "handshake_timeout"
  | "bind_failed"
  | "lab_unknown"
  | "lab_failed"
  | "capture_denied"
  | "capture_failed"
  | "pcap_invalid";

/**
 * The error class of the `tcp/` module family.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TcpError } from "@netkit/netkit/tcp";
 *
 * const error = new TcpError("timeout", "no reply within 1000 ms");
 * assert.ok(error.code === "timeout");
 * ```
 */
export class TcpError extends NetkitError {
  /** What went wrong, stable across releases. */
  declare readonly code: TcpErrorCode;

  /**
   * Creates the error.
   *
   * @param code What went wrong.
   * @param message One line a user can act on.
   * @param options The underlying cause, if any.
   */
  constructor(code: TcpErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = "TcpError";
  }
}
