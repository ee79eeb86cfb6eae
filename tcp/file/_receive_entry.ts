// The disk side of an entry the sender offers, driven by the receiver
// core's events: a directory made; a file's target checked and locked, its
// part file opened (and its prefix hashed for a resume offer), its content
// written with one write in flight while the next frame is read, and the
// verified file fsynced and moved into place. What the sender may send and
// whether the bytes are right is the core's business, not this file's.

import { osMessage, writeAll } from "../../_io.ts";
import { FileTransferError } from "./errors.ts";
import type { TransferFailure } from "./types.ts";
import type {
  OfferedEntry,
  ReceiverEvent,
  ReceiverSession,
} from "./_receiver_session.ts";
import type { ReceiverConfig } from "./_receiver_config.ts";
import { ensureDirectory, ensureParents } from "./_safe_path.ts";
import {
  commitPart,
  openPart,
  prepareTarget,
  removeQuietly,
  type Target,
} from "./_store.ts";
import { startWriteback, type Writeback } from "./_writeback.ts";
import { readPrefix } from "./_file_read.ts";
import { failureOf } from "./_failure.ts";
import { MAX_CONTROL_PAYLOAD, MAX_DATA_PAYLOAD } from "./protocol.ts";

// A session that ends with these keeps its part file for resume; a breach
// (size lie, bad MAC, protocol error) does not.
const RESUMABLE = new Set(["connection_closed", "timeout", "shutting_down"]);

/** True when a session that ended with `code` keeps its part file. */
export function resumable(code: string): boolean {
  return RESUMABLE.has(code);
}
const NO_WRITEBACK: Writeback = {
  wrote() {},
  finish: () => Promise.resolve(),
  [Symbol.asyncDispose]: () => Promise.resolve(),
};

/** What an entry needs from its connection. */
export interface EntryIo {
  config: ReceiverConfig;
  /** The sender, `HOST:PORT`, for progress reports. */
  peer: string;
  /** Work that is not idleness (hashing a big prefix). */
  touch(): void;
}

/** Makes the offered directory (and its parents) under the folder. */
export async function storeDirectory(
  core: ReceiverSession,
  entry: OfferedEntry,
  io: EntryIo,
): Promise<ReceiverEvent[]> {
  const { root } = io.config;
  try {
    await ensureParents(root, entry.components, entry.path);
    await ensureDirectory(root, entry.components, entry.path, entry.mode);
  } catch (error) {
    return core.refuseEntry(failureOf(error));
  }
  return core.directoryStored();
}

/** One file being received into its part file. */
export class IncomingFile {
  readonly #core: ReceiverSession;
  readonly #entry: OfferedEntry;
  readonly #io: EntryIo;
  readonly #target: Target;
  readonly #part: Deno.FsFile;
  #writeback: Writeback = NO_WRITEBACK;
  #pending: Promise<void> | undefined;
  #failure: TransferFailure | undefined;
  #from = 0;
  #lastReport = 0;
  #closed = false;

  private constructor(
    core: ReceiverSession,
    entry: OfferedEntry,
    io: EntryIo,
    target: Target,
    part: Deno.FsFile,
  ) {
    this.#core = core;
    this.#entry = entry;
    this.#io = io;
    this.#target = target;
    this.#part = part;
  }

  /**
   * Checks the target, takes its lock and opens its part file, hashes the
   * part file's prefix when the core may offer it for resume, and answers
   * the core: `accept()`, or `refuseEntry()` (then `file` is undefined).
   * Throws when the part file cannot be read (the session cannot go on).
   */
  static async open(
    core: ReceiverSession,
    entry: OfferedEntry,
    io: EntryIo,
  ): Promise<{ file?: IncomingFile; events: ReceiverEvent[] }> {
    const { config } = io;
    let target: Target;
    try {
      target = await prepareTarget(config.root, entry.path, config.existing);
    } catch (error) {
      return { events: core.refuseEntry(failureOf(error)) };
    }
    if (config.locks.has(target.partPath)) {
      return {
        events: core.refuseEntry({
          code: "busy",
          message: `'${entry.path}' is being received from another sender`,
        }),
      };
    }
    config.locks.add(target.partPath);
    let part: Deno.FsFile;
    try {
      part = await openPart(target);
    } catch (error) {
      config.locks.delete(target.partPath);
      return { events: core.refuseEntry(failureOf(error)) };
    }
    const file = new IncomingFile(core, entry, io, target, part);
    try {
      await file.#offerPrefix();
    } catch (error) {
      await file.abandon("disk_error");
      throw error;
    }
    return { file, events: core.accept() };
  }

  // A part file left by an earlier session: the core says how much of it
  // to offer, and hashes what is read here.
  async #offerPrefix(): Promise<void> {
    const existing = (await this.#part.stat()).size;
    const length = this.#core.resumePoint(existing);
    if (length === 0) return;
    const { config, peer } = this.#io;
    await readPrefix(
      this.#part,
      length,
      new Uint8Array(MAX_DATA_PAYLOAD),
      (chunk, done) => {
        this.#core.hashPrefix(chunk);
        // Hashing a big prefix is work for this connection, not idleness.
        this.#io.touch();
        config.onProgress?.({
          path: this.#entry.path,
          bytes: done,
          size: length,
          resumedFrom: 0,
          peer,
          verifying: true,
        });
      },
    );
  }

  /** `START`: where the content goes. */
  async start(from: number, truncate: boolean): Promise<void> {
    if (truncate) await this.#part.truncate(0);
    await this.#part.seek(from, Deno.SeekMode.Start);
    this.#from = from;
    this.#lastReport = from;
    this.#writeback = await startWriteback(
      this.#target.partPath,
      this.#entry.size - from,
    );
  }

  /**
   * Content: written once the previous write has finished, so one write is
   * in flight while the next frame is read (and `bytes`, possibly a view of
   * the socket buffer, stays untouched until it is written).
   */
  async data(bytes: Uint8Array, received: number): Promise<void> {
    await this.#settle();
    if (!this.#failure) {
      const n = bytes.length;
      this.#pending = writeAll(this.#part, bytes).then(() =>
        this.#writeback.wrote(n)
      );
      // #settle() takes its failure; until then it is not unhandled (a
      // full disk would otherwise end the whole receiver).
      this.#pending.catch(() => {});
    }
    const { config, peer } = this.#io;
    if (
      config.onProgress && received - this.#lastReport >= MAX_CONTROL_PAYLOAD
    ) {
      this.#lastReport = received;
      config.onProgress({
        path: this.#entry.path,
        bytes: received,
        size: this.#entry.size,
        resumedFrom: this.#from,
        peer,
      });
    }
  }

  /**
   * `END`: unless the core found the file wrong (`failure`), it is
   * fsynced, given its mode and moved into place. Returns the outcome for
   * the core's `finishFile()`; the part file is gone unless stored.
   */
  async end(
    failure: TransferFailure | undefined,
  ): Promise<{ storedAs?: string; failure?: TransferFailure }> {
    await this.#settle();
    let outcome: { storedAs?: string; failure?: TransferFailure } = {
      failure: failure ?? this.#failure,
    };
    if (!outcome.failure) {
      try {
        await this.#writeback.finish();
        await this.#part.sync();
        await Deno.chmod(this.#target.partPath, this.#entry.mode & 0o777);
        outcome = {
          storedAs: await commitPart(this.#target, this.#io.config.existing),
        };
      } catch (error) {
        outcome = { failure: failureOf(error) };
      }
    }
    await this.#close(outcome.failure !== undefined);
    return outcome;
  }

  /**
   * The session ended with this file open: its part file stays for resume
   * after a cut connection, a timeout or a stop, and goes after a breach.
   */
  async abandon(code: string): Promise<void> {
    await this.#settle().catch(() => {});
    await this.#close(!resumable(code));
  }

  // Waits for the write in flight; its failure fails the file (the core
  // drops the rest of its content and reports this at END).
  async #settle(): Promise<void> {
    if (!this.#pending) return;
    try {
      await this.#pending;
    } catch (error) {
      this.#failure ??= failureOf(diskError(this.#entry.path, error));
      this.#core.diskFailed(this.#failure);
    }
    this.#pending = undefined;
  }

  async #close(remove: boolean): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writeback[Symbol.asyncDispose]();
    this.#part.close();
    if (remove) await removeQuietly(this.#target.partPath);
    this.#io.config.locks.delete(this.#target.partPath);
  }
}

function diskError(path: string, error: unknown): FileTransferError {
  return new FileTransferError(
    "disk_error",
    `'${path}': cannot write: ${osMessage(error)}`,
    { cause: error },
  );
}
