// Internals shared by the receiver, the sender and --basic mode.

import { disconnectKind, errorMessage, osMessage } from "../../_io.ts";
import { FileTransferError } from "./errors.ts";
import type { FileProgress, TransferFailure } from "./types.ts";
import type {
  ExistingPolicy,
  FileReceiverStats,
  ReceivedFile,
} from "./types.ts";
import type { TcpServerStats } from "../server.ts";

/** Configuration shared by every session of one receiver. */
export interface ReceiverConfig {
  root: string;
  token: string;
  existing: ExistingPolicy;
  maxSize: number;
  maxFiles: number;
  idleTimeoutMs: number;
  locks: Set<string>;
  stats: Omit<FileReceiverStats, keyof TcpServerStats>;
  onProgress?: (progress: FileProgress) => void;
  onFile?: (file: ReceivedFile, peer: string) => void;
  /**
   * Called when a session authenticates: false when a `once` receiver
   * already serves another one (this one is then refused `busy`).
   */
  claim(): boolean;
}

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

/**
 * A message fit for the peer: the receiver's absolute folder (which OS
 * error messages name) becomes `.`; the peer only knows relative paths.
 */
export function peerText(message: string, root: string): string {
  return message.replaceAll(`${root}/`, "").replaceAll(root, ".");
}
