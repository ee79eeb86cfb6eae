/**
 * Types shared by the file receiver and sender reports.
 *
 * @module
 */

import type { FileTransferErrorCode } from "./file_errors.ts";

/**
 * Progress of one file, reported while its bytes flow.
 *
 * @example
 * ```ts
 * import type { FileProgress } from "@netkit/netkit/tcp";
 *
 * const p: FileProgress = { path: "a.txt", bytes: 5, size: 10, resumedFrom: 0 };
 * console.assert(p.bytes / p.size! === 0.5);
 * ```
 */
export interface FileProgress {
  /** Relative path of the file. */
  path: string;
  /** Bytes of the file done so far (including a resumed prefix). */
  bytes: number;
  /** Announced size; unknown in `--basic` mode on the receiver. */
  size: number | undefined;
  /** Where this transfer started (the resumed prefix). */
  resumedFrom: number;
  /** The peer, on the receiver (`HOST:PORT`). */
  peer?: string;
}

/**
 * Why a file or session failed: a stable code and a message.
 *
 * @example
 * ```ts
 * import type { TransferFailure } from "@netkit/netkit/tcp";
 *
 * const f: TransferFailure = { code: "exists", message: "'a.txt' exists" };
 * console.assert(f.code === "exists");
 * ```
 */
export interface TransferFailure {
  /** A {@linkcode FileTransferErrorCode}, or `"internal"` for unexpected errors. */
  code: FileTransferErrorCode | "internal";
  /** One line a user can act on. */
  message: string;
}
