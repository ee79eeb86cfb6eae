/**
 * The error class of netkit's file transfer, with stable codes shared by
 * the library, the CLI and the wire protocol.
 *
 * @module
 */

import { NetkitError } from "../../errors.ts";

/**
 * Stable codes of {@linkcode FileTransferError}. The same codes travel on the
 * wire (as numbers, see `docs/file-transfer.md`), so a sender reports the
 * receiver's reason with the receiver's word for it.
 *
 * - `version_mismatch`: the peers speak different protocol versions.
 * - `bad_hello`: the peer does not speak the netkit file protocol.
 * - `protocol_error`: a malformed or unexpected message.
 * - `message_too_large`: a message over the protocol's size limits.
 * - `auth_failed`: wrong token or code (or the receiver could not prove it
 *   knows it).
 * - `integrity_failed`: a message authentication code did not match: the
 *   stream was altered on the way.
 * - `unsafe_path`: a path breaks the path-safety rules.
 * - `exists`: the target exists and neither overwrite nor rename was asked.
 * - `too_large`: the file is over the receiver's `maxSize`.
 * - `too_many_files`: the session is over the receiver's `maxFiles`.
 * - `size_mismatch`: more or fewer bytes than announced.
 * - `hash_mismatch`: the SHA-256 of what arrived is not the sender's.
 * - `busy`: another session is writing the same path right now.
 * - `disk_error`: the receiver (or sender) could not read or write a file.
 * - `connection_closed`: the connection ended before the session did.
 * - `timeout`: the peer stopped answering.
 * - `shutting_down`: the receiver is stopping.
 * - `refused`: a `--basic` receiver refused the file.
 * - `not_found`: a path given to the sender, or the receiver's folder,
 *   does not exist (or the folder is not a folder).
 * - `not_writable`: the receiver cannot create files in its folder.
 * - `connection_refused`: nothing listens at the receiver's address.
 * - `mode_mismatch`: one side authenticates with a code, the other with a
 *   token.
 */
export type FileTransferErrorCode =
  | "version_mismatch"
  | "bad_hello"
  | "protocol_error"
  | "message_too_large"
  | "auth_failed"
  | "integrity_failed"
  | "unsafe_path"
  | "exists"
  | "too_large"
  | "too_many_files"
  | "size_mismatch"
  | "hash_mismatch"
  | "busy"
  | "disk_error"
  | "connection_closed"
  | "timeout"
  | "shutting_down"
  | "refused"
  | "not_found"
  | "not_writable"
  | "connection_refused"
  | "mode_mismatch";

/**
 * The error class of netkit's file transfer.
 *
 * @example Branch on the code
 * ```ts
 * import assert from "node:assert/strict";
 * import { FileTransferError } from "@netkit/netkit/tcp";
 *
 * const error = new FileTransferError("unsafe_path", "'..' is not allowed");
 * assert.ok(error.code === "unsafe_path");
 * ```
 */
export class FileTransferError extends NetkitError {
  /** What went wrong, stable across releases. */
  declare readonly code: FileTransferErrorCode;

  /**
   * Creates the error.
   *
   * @param code What went wrong.
   * @param message One line a user can act on.
   * @param options The underlying cause, if any.
   */
  constructor(
    code: FileTransferErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
    this.name = "FileTransferError";
  }
}
