/**
 * Types shared by the file receiver and sender reports.
 *
 * @module
 */

import type { FileTransferErrorCode } from "./errors.ts";
import type { NetkitServer } from "../../types.ts";
import type { TcpServerOptions, TcpServerStats } from "../server.ts";

/**
 * Progress of one file, reported while its bytes flow.
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
  /**
   * True while a partial file is checked before resuming: `bytes` of the
   * `size`-byte prefix were hashed so far (a big prefix takes seconds).
   */
  verifying?: boolean;
}

/**
 * Why a file or session failed: a stable code and a message.
 */
export interface TransferFailure {
  /** A {@linkcode FileTransferErrorCode}, or `"internal"` for unexpected errors. */
  code: FileTransferErrorCode | "internal";
  /** One line a user can act on. */
  message: string;
}

/** TLS settings of the sender. */
export interface SenderTlsOptions {
  /** Extra trusted CA certificates (PEM text), e.g. the receiver's self-signed certificate. */
  caCerts?: string[];
  /** Skip certificate checks. The token still authenticates the receiver; this only gives up protection of the content against an active man in the middle who also knows the token. */
  insecure?: boolean;
}

/** One entry a receiver handled in a session. */
export interface ReceivedFile {
  /** Relative path as the sender named it. */
  path: string;
  /** Relative path it was stored under (differs with `existing: "rename"`). */
  storedAs?: string;
  /** A file or a directory. */
  kind: "file" | "directory";
  /** Announced size (in `basic` mode: bytes received). */
  bytes: number;
  /** Hex SHA-256 of the stored content; empty when nothing was stored. */
  sha256: string;
  /** `stored` only after size and SHA-256 matched and the file was fsynced and renamed. */
  status: "stored" | "failed";
  /** Bytes kept from an earlier, interrupted transfer. */
  resumedFrom: number;
  /** Why it failed. */
  error?: TransferFailure;
}

/** What happened on one connection. */
export interface ReceiveSession {
  /** The sender's address, `HOST:PORT`. */
  peer: string;
  /** True when the sender authenticated, every entry was stored and the session ended cleanly. */
  ok: boolean;
  /** True for a `basic` mode session. */
  basic: boolean;
  /**
   * True once the sender proved it knows the token (in `basic` mode: once
   * it sent an acceptable name). Only such sessions end a `once` receiver.
   */
  authenticated: boolean;
  /** The entries, in order. */
  files: ReceivedFile[];
  /** File content bytes received in this session. */
  bytes: number;
  /** Duration of the session, in milliseconds. */
  durationMs: number;
  /** Why the session as a whole failed. */
  error?: TransferFailure;
  /**
   * Milliseconds the proof check was held back because wrong proofs came
   * from the same address shortly before (the slow-down); absent if none.
   */
  authDelayMs?: number;
}

/**
 * Strangers' sessions (ended before authenticating) that were counted
 * rather than reported one by one (see `onStrangers`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { StrangerSummary } from "@netkit/netkit/tcp/file";
 *
 * const summary: StrangerSummary = {
 *   sessions: 3,
 *   codes: { auth_failed: 2, timeout: 1 },
 *   periodMs: 10_000,
 * };
 * assert.equal(summary.sessions, 3);
 * ```
 */
export interface StrangerSummary {
  /** Sessions that ended before authenticating. */
  sessions: number;
  /** Those sessions by failure code (`auth_failed`, `timeout`, …). */
  codes: Record<string, number>;
  /** Milliseconds the summary covers. */
  periodMs: number;
}

/** Counters of a file receiver. */
export interface FileReceiverStats extends TcpServerStats {
  /** Sessions that ended. */
  sessions: number;
  /** Sessions that ended without `ok`. */
  sessionsFailed: number;
  /** Files and directories stored. */
  filesStored: number;
  /** Entries refused or failed. */
  filesFailed: number;
  /** Connections refused for a wrong token. */
  authFailures: number;
  /** Proof checks held back by the per-address slow-down after wrong proofs. */
  authDelayed: number;
  /** Connections closed because hello and proof did not arrive within `authTimeoutMs`. */
  authTimeouts: number;
  /** Unauthenticated connections dropped to make room (`maxUnauthenticated`). */
  unauthenticatedDropped: number;
  /** Content bytes written to stored files. */
  bytesStored: number;
  /**
   * With a code: the wrong attempts it has left; 0 once it has ended (the
   * receiver then stops). Absent with a token.
   */
  codeAttemptsLeft?: number;
}

/**
 * What a receiver does when the final file exists: refuse it (the default),
 * overwrite it, or store the new one as `name (1).ext`.
 */
export type ExistingPolicy = "refuse" | "overwrite" | "rename";

/** A running file receiver. */
export type FileReceiver = NetkitServer<FileReceiverStats>;

/** Options of {@linkcode serveFileReceiver}. */
export interface FileReceiverOptions extends TcpServerOptions {
  /** Folder files are stored under; it must exist. */
  dir: string;
  /**
   * The shared secret senders must prove they know. A token or a `code`
   * (exactly one) is required unless `basic`.
   */
  token?: string;
  /**
   * A code a person can read aloud (see `generateCode()`), instead of a
   * token: the keys come from a password-authenticated exchange (CPace), so
   * a recording of a session gives nothing to test guesses against. A code
   * serves one sender (the receiver ends after that session, as with
   * `once`), and after `codeAttempts` wrong codes in all it ends: the
   * receiver stops.
   */
  code?: string;
  /** Wrong codes the receiver takes before the code ends. Default 3. */
  codeAttempts?: number;
  /** Speak the classic unauthenticated flow instead of the netkit protocol. */
  basic?: boolean;
  /** What to do when a file exists: refuse (default), overwrite, or store `name (1).ext`. */
  existing?: ExistingPolicy;
  /** Largest file accepted, in bytes. Default: no limit. */
  maxSize?: number;
  /** Most entries (files and directories) per session. Default 100 000. */
  maxFiles?: number;
  /**
   * Serve one authenticated session, then shut down. A peer that never
   * authenticates (closes early, wrong token, garbage, other version, too
   * slow) does not count: it is refused and logged, other connections are
   * served meanwhile, and the receiver keeps waiting, so a stranger can
   * neither end nor block it. A second sender that authenticates while the
   * first session runs is refused `busy`.
   */
  once?: boolean;
  /**
   * Milliseconds from accept within which the hello and the proof (in
   * `basic` mode: the name) must have arrived; bytes trickling in do not
   * extend it. Default 10 000; 0 disables.
   */
  authTimeoutMs?: number;
  /**
   * Connections waiting to authenticate at once (default 64). When one
   * more arrives, the oldest waiting one is dropped, so strangers can
   * never lock a real sender out.
   */
  maxUnauthenticated?: number;
  /** Progress of each file as bytes arrive. */
  onProgress?: (progress: FileProgress) => void;
  /** Each entry as it is stored or refused. */
  onFile?: (file: ReceivedFile, peer: string) => void;
  /** Each session when it ends. */
  onSession?: (session: ReceiveSession) => void;
  /**
   * Strangers' sessions (ended before authenticating) reach `onSession`
   * one by one up to 20 per 10 s; past that, they are counted and this
   * gets one summary per 10 s, for as long as they keep coming, so a
   * flood costs a bounded log.
   */
  onStrangers?: (summary: StrangerSummary) => void;
}

/** The sender's report on one entry. */
export interface SentFile {
  /** Relative path the receiver was offered. */
  path: string;
  /** Local path. */
  source: string;
  /** What it is. */
  kind: "file" | "directory" | "other";
  /** Size in bytes. */
  bytes: number;
  /** Hex SHA-256 of the content sent; empty when nothing was sent. */
  sha256: string;
  /**
   * `stored`: the receiver verified size and SHA-256 and stored it.
   * `sent`: `basic` mode: written and closed, nothing verified.
   * `failed`: not stored (see `error`). `skipped`: symlinks and special files.
   */
  status: "stored" | "sent" | "failed" | "skipped";
  /** Bytes the receiver already had from an interrupted transfer. */
  resumedFrom: number;
  /** Relative path the receiver stored it under. */
  storedAs?: string;
  /** Why it failed or was skipped. */
  error?: TransferFailure;
}

/** What {@linkcode sendFiles} returns. */
export interface SendReport {
  /** True when every file and directory was stored (skipped symlinks do not count against it). */
  ok: boolean;
  /** Each entry, in the order sent. */
  files: SentFile[];
  /** Content bytes that crossed the wire (a resumed prefix is not sent again). */
  bytes: number;
  /** Duration of the transfer, in milliseconds. */
  durationMs: number;
  /** Why the session ended early, if it did. */
  error?: TransferFailure;
}

/** Options of {@linkcode sendFiles}. */
export interface SendFilesOptions {
  /** The receiver's token. A token or a `code` is required unless `basic`. */
  token?: string;
  /** The receiver's code (as it printed it; case and separators may differ). */
  code?: string;
  /** Connect with TLS. */
  tls?: SenderTlsOptions;
  /** Continue interrupted transfers from the receiver's verified prefix. Default true. */
  resume?: boolean;
  /** Speak the classic flow: one connection per file, name, `ok`, bytes, close. */
  basic?: boolean;
  /** Milliseconds without progress before giving up. Default 60 000; 0 waits forever. */
  timeoutMs?: number;
  /**
   * With `basic`: milliseconds the receiver has to answer "ok" after the
   * name (a classic receiver answers at once; a plain `nc -l` never does).
   * Default 5000; 0: only `timeoutMs` applies.
   */
  replyTimeoutMs?: number;
  /** Progress of each file as its bytes go out. */
  onProgress?: (progress: FileProgress) => void;
  /** Each entry when its outcome is known. */
  onFile?: (file: SentFile) => void;
}
