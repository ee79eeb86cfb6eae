/**
 * The base class of every error netkit throws on purpose.
 *
 * Each module family has one subclass (`TcpError`, `UdpError`, `WsError`,
 * `FileTransferError`, `RelayError`, `LoadError`, `HttpError`, and
 * {@linkcode ProcError} here for what reads `/proc`) whose `code` is stable
 * across releases and listed in its family's errors file, so callers and the
 * CLI can branch on it instead of parsing messages.
 *
 * @module
 */

/**
 * An error with a stable, machine-readable `code`.
 *
 * Codes a plain `NetkitError` carries (each family's subclass lists its
 * own):
 * - `bad_address`: an address that is not `HOST:PORT`, `[IPv6]:PORT` or
 *   `:PORT`.
 * - `bad_http`: bytes that are not a valid HTTP/1.1 head (the shared head
 *   parser; the WebSocket and HTTP families report it as theirs).
 * - `head_too_large`: an HTTP head over the size or header-count limit.
 * - `usage`: the CLI was called wrongly (exit code 2).
 * - `bind_failed`: the CLI could not listen on an address.
 * - `read_failed`: the CLI could not read a file it was given.
 * - `tls_file`: the CLI could not read a certificate or key file.
 * - `stdout_closed`: the CLI's standard output was closed (a pipe's reader
 *   went away).
 * - `write_failed`: the CLI could not write a file it was asked to.
 * - `bad_result`: a file given to `netkit load merge` or `load report` holds
 *   no load result.
 * - `worker_failed`: a `netkit load --workers` worker stopped with an error.
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

/**
 * Stable codes of {@linkcode ProcError}:
 * - `proc_unavailable`: a `/proc` file (or the kernel's sock_diag netlink
 *   interface) could not be read.
 * - `proc_parse`: a `/proc` file (or a sock_diag answer) had a line netkit
 *   cannot parse.
 * - `unsupported_os`: the feature reads Linux's `/proc` and this system is
 *   not Linux.
 */
export type ProcErrorCode =
  | "proc_unavailable"
  | "proc_parse"
  | "unsupported_os";

/**
 * The error of what reads the kernel's view (`/proc`, sock_diag): the
 * `tcp/proc` readers, and the UDP, load, lab and trace code built on them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetkitError, ProcError } from "@netkit/netkit";
 *
 * const error = new ProcError("unsupported_os", "needs Linux's /proc");
 * assert.ok(error.code === "unsupported_os");
 * assert.ok(error instanceof NetkitError);
 * ```
 */
export class ProcError extends NetkitError {
  /** What went wrong, stable across releases. */
  declare readonly code: ProcErrorCode;

  /**
   * Creates the error.
   *
   * @param code What went wrong.
   * @param message One line a user can act on.
   * @param options The underlying cause, if any.
   */
  constructor(code: ProcErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = "ProcError";
  }
}
