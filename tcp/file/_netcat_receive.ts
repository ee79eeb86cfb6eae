// The classic flow, receiving side: the socket loop around the classic
// core (_basic_session.ts), the name's target and lock, the part file, the
// content written with one write in flight, fsync and the atomic rename.
// No size, no hash check, no token: the path rules and the atomic write
// are all this flow keeps.

import { closeQuietly, writeAll } from "../../_io.ts";
import { FileTransferError } from "./errors.ts";
import type { TransferFailure } from "./types.ts";
import { BasicReceiver, type BasicReceiverEvent } from "./_basic_session.ts";
import type { ConnectionIo } from "./_receive_io.ts";
import {
  startWriteback,
  type Writeback,
  WRITEBACK_EVERY,
} from "./_writeback.ts";
import {
  commitPart,
  openPart,
  prepareTarget,
  removeQuietly,
  type Target,
} from "./_store.ts";
import { writeChunks } from "./_stream.ts";
import { failureOf, peerText } from "./_failure.ts";
import { type DeadlineTimer, keepDeadlines } from "./_deadline.ts";

/** Receives one file in the classic flow; returns why the session failed. */
export async function receiveBasic(
  io: ConnectionIo,
): Promise<TransferFailure | undefined> {
  const { conn, context, shared } = io;
  const { config } = shared;
  const core = new BasicReceiver({
    maxSize: config.maxSize,
    peerText: (message) => peerText(message, config.root),
  });
  let failure: TransferFailure | undefined;
  let part: PartFile | undefined;
  let writing: Promise<void> = Promise.resolve();
  let grace: DeadlineTimer | undefined;

  const flush = (): Promise<void> => {
    const out = core.takeOutput();
    if (out.length > 0) {
      writing = writing.then(() => writeChunks(conn, out, context.record))
        .catch(() => {});
    }
    return writing;
  };

  const handle = async (events: BasicReceiverEvent[]): Promise<void> => {
    for (const event of events) {
      switch (event.type) {
        case "name": {
          const taken = await takeName(io, event.path);
          if ("failure" in taken) {
            await handle(core.refuse(taken.failure));
          } else {
            part = taken.part;
            await handle(core.accept());
          }
          break;
        }
        case "data":
          await part!.data(event.bytes, event.received);
          break;
        case "stopping":
          // The classic flow's way to complain: one text line, then close.
          void flush().then(() => conn.closeWrite()).catch(() => {});
          break;
        case "end": {
          const outcome = await part!.end(event.failure);
          part = undefined;
          await handle(core.finish(outcome));
          break;
        }
        case "file":
          io.fileDone(event.file);
          break;
        case "failed":
          failure = event.failure;
          break;
      }
    }
    await flush();
  };

  const onAbort = () => {
    void handle(core.stop(performance.now(), shared.gracePeriodMs));
    if (core.finished) closeQuietly(conn);
    else grace = keepDeadlines(core, (events) => void handle(events));
  };
  const signal = context.signal;
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  // One read at a time, straight into the core's buffer. While the name
  // arrives, a read may stay pending across the pause that ends it (and
  // the decision on the name): its bytes are then the first content.
  let reading: Promise<number | null> | undefined;
  // A disk error while handling ends the file, as a cut would.
  const handleOrAbort = async (events: BasicReceiverEvent[]) => {
    try {
      await handle(events);
    } catch (error) {
      await handle(core.abort(failureOf(error)));
    }
  };
  try {
    while (!core.finished) {
      let got: number | null | "pause";
      try {
        reading ??= conn.read(core.space());
        got = await untilPause(
          reading,
          core.naming ? core.pollTimeout() : undefined,
        );
      } catch (error) {
        // A cut connection is a failure, never the end of the file.
        reading = undefined;
        await handleOrAbort(core.abort(failureOf(error)));
        continue;
      }
      if (got === "pause") {
        await handleOrAbort(core.handleTimeout(performance.now()));
        continue;
      }
      reading = undefined;
      if (got === null) {
        await handleOrAbort(core.eof());
        continue;
      }
      context.record(got, 0);
      await handleOrAbort(core.commit(got, performance.now()));
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    grace?.stop();
    await flush();
    // A read may still be pending (the name was refused after a pause).
    if (reading) closeQuietly(conn);
    await part?.end({ code: "connection_closed", message: "cut" });
  }
  return failure;
}

// Waits for a pending read, or until `at` (the pause that ends a name).
async function untilPause(
  read: Promise<number | null>,
  at: number | undefined,
): Promise<number | null | "pause"> {
  if (at === undefined) return await read;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const paused = new Promise<"pause">((resolve) => {
    timer = setTimeout(
      () => resolve("pause"),
      Math.max(0, at - performance.now()),
    );
  });
  try {
    return await Promise.race([read, paused]);
  } finally {
    clearTimeout(timer);
  }
}

// The name's target: checked, not busy, claimed (a `once` receiver), its
// part file opened empty. Refusals come back as a failure for the core.
async function takeName(
  io: ConnectionIo,
  path: string,
): Promise<{ part: PartFile } | { failure: TransferFailure }> {
  const { config } = io.shared;
  let target: Target;
  try {
    target = await prepareTarget(config.root, path, config.existing);
    if (config.locks.has(target.partPath)) {
      throw new FileTransferError(
        "busy",
        `'${path}' is being received from another sender`,
      );
    }
    if (!config.claim()) {
      throw new FileTransferError(
        "busy",
        "this --once receiver is already serving another sender",
      );
    }
  } catch (error) {
    return { failure: failureOf(error) };
  }
  io.authenticated();
  config.locks.add(target.partPath);
  let file: Deno.FsFile;
  try {
    file = await openPart(target);
    await file.truncate(0);
  } catch (error) {
    config.locks.delete(target.partPath);
    return { failure: failureOf(error) };
  }
  return { part: new PartFile(io, target, file, path) };
}

// The content's way to disk. The size is unknown until EOF: early
// writeback starts once the file is big enough for it to matter.
class PartFile {
  readonly #io: ConnectionIo;
  readonly #target: Target;
  readonly #file: Deno.FsFile;
  readonly #path: string;
  #pending: Promise<void> | undefined;
  #writeback: Writeback | undefined;

  constructor(
    io: ConnectionIo,
    target: Target,
    file: Deno.FsFile,
    path: string,
  ) {
    this.#io = io;
    this.#target = target;
    this.#file = file;
    this.#path = path;
  }

  async data(bytes: Uint8Array, received: number): Promise<void> {
    const { session, shared } = this.#io;
    session.bytes += bytes.length;
    await this.#pending;
    if (!this.#writeback && received >= 2 * WRITEBACK_EVERY) {
      this.#writeback = await startWriteback(this.#target.partPath, Infinity);
    }
    const n = bytes.length;
    const writeback = this.#writeback;
    this.#pending = writeAll(this.#file, bytes).then(() => writeback?.wrote(n));
    shared.config.onProgress?.({
      path: this.#path,
      bytes: received,
      size: undefined,
      resumedFrom: 0,
      peer: session.peer,
    });
  }

  // Unless `failure`: fsync, mode 0644, into place. The part file is gone
  // unless stored.
  async end(
    failure: TransferFailure | undefined,
  ): Promise<{ storedAs?: string; failure?: TransferFailure }> {
    let outcome: { storedAs?: string; failure?: TransferFailure } = {
      failure,
    };
    try {
      await this.#pending;
      await this.#writeback?.finish();
    } catch (error) {
      outcome.failure ??= failureOf(error);
    } finally {
      await this.#writeback?.[Symbol.asyncDispose]();
    }
    if (!outcome.failure) {
      try {
        await this.#file.sync();
        await Deno.chmod(this.#target.partPath, 0o644);
        outcome = {
          storedAs: await commitPart(
            this.#target,
            this.#io.shared.config.existing,
          ),
        };
      } catch (error) {
        outcome = { failure: failureOf(error) };
      }
    }
    this.#file.close();
    if (outcome.failure) await removeQuietly(this.#target.partPath);
    this.#io.shared.config.locks.delete(this.#target.partPath);
    return outcome;
  }
}
