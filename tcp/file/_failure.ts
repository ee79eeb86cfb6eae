// Failures as the reports and the wire carry them: any thrown value turned
// into a code and a message, the code a failure travels as, and messages
// made fit for the peer. Shared by the session cores and the drivers.

import { disconnectKind, errorMessage, osMessage } from "../../_io.ts";
import { FileTransferError, type FileTransferErrorCode } from "./errors.ts";
import type { TransferFailure } from "./types.ts";

/** Turns any error into a reportable failure. */
export function failureOf(error: unknown): TransferFailure {
  if (error instanceof FileTransferError) {
    return { code: error.code, message: error.message };
  }
  if (error instanceof Deno.errors.TimedOut) {
    return { code: "timeout", message: errorMessage(error) };
  }
  if (disconnectKind(error) !== undefined) {
    return { code: "connection_closed", message: "the connection was cut" };
  }
  if (
    error instanceof Deno.errors.PermissionDenied ||
    error instanceof Deno.errors.NotFound ||
    error instanceof Deno.errors.AlreadyExists ||
    error instanceof Deno.errors.IsADirectory ||
    error instanceof Deno.errors.NotADirectory ||
    error instanceof Deno.errors.FilesystemLoop ||
    (error instanceof Error && /os error/.test(error.message))
  ) {
    return {
      code: "disk_error",
      message: osMessage(error),
    };
  }
  return { code: "internal", message: errorMessage(error) };
}

/** The code a failure travels as: an unexpected (`internal`) one is a disk error. */
export function wireCode(
  failure: TransferFailure | undefined,
): FileTransferErrorCode {
  if (!failure || failure.code === "internal") return "disk_error";
  return failure.code;
}

/**
 * A message fit for the peer: the receiver's absolute folder (which OS
 * error messages name) becomes `.`; the peer only knows relative paths.
 */
export function peerText(message: string, root: string): string {
  return message.replaceAll(`${root}/`, "").replaceAll(root, ".");
}
