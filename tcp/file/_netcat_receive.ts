// The classic flow, receiving side: the sender writes the bare file name
// and waits; the receiver takes as the name what arrived before the sender
// paused (a newline ends it early), answers exactly "ok" (or
// "error: <reason>\n" and closes), then writes everything until EOF. No
// size, no hash, no token: the path rules and the atomic write are all it
// keeps.

import { createHash } from "node:crypto";
import type { ConnectionContext } from "../server.ts";
import { writeAll } from "../../_io.ts";
import { FileTransferError } from "./errors.ts";
import type { TransferFailure } from "./types.ts";
import { type FrameReader, writeRecorded } from "./_frame_io.ts";
import {
  startWriteback,
  type Writeback,
  WRITEBACK_EVERY,
} from "./_writeback.ts";
import { decodePath, MAX_PATH_BYTES } from "./_safe_path.ts";
import {
  commitPart,
  openPart,
  prepareTarget,
  removeQuietly,
  type Target,
} from "./_store.ts";
import type { ReceivedFile, ReceiveSession } from "./types.ts";
import {
  failureOf,
  peerText,
  type ReceiverConfig,
} from "./_receiver_config.ts";

const encoder = new TextEncoder();
const LF = 0x0a;
const CR = 0x0d;
const CHUNK = 1024 * 1024;
/**
 * How long the sender must stay silent for what arrived to count as the
 * whole name. A classic sender writes the name in one write and then waits
 * for "ok", so its name arrives at once and the pause follows.
 */
export const BASIC_NAME_PAUSE_MS = 150;

/**
 * Reads the name: the bytes before the first pause of
 * {@linkcode BASIC_NAME_PAUSE_MS} or EOF, or before a newline (a CR before
 * it is dropped). Longer than {@linkcode MAX_PATH_BYTES}: `unsafe_path`.
 */
async function readName(
  reader: FrameReader,
): Promise<{ name: Uint8Array; eof: boolean }> {
  if (!await reader.peek(1, () => true)) {
    throw new FileTransferError(
      "connection_closed",
      "the peer closed before sending a name",
    );
  }
  let eof = false;
  for (;;) {
    const buffered = reader.buffered;
    const lf = buffered.indexOf(LF);
    const limit = lf === -1 ? buffered.length : lf;
    if (limit > MAX_PATH_BYTES) {
      throw new FileTransferError(
        "unsafe_path",
        `the name is longer than ${MAX_PATH_BYTES} bytes`,
      );
    }
    if (lf !== -1) {
      const line = (await reader.exact(lf + 1)).subarray(0, lf);
      const end = lf > 0 && line[lf - 1] === CR ? lf - 1 : lf;
      return { name: line.slice(0, end), eof: false };
    }
    if (eof) break;
    const got = await reader.more(BASIC_NAME_PAUSE_MS);
    if (got === "pause") break;
    if (got === "eof") eof = true;
  }
  const n = reader.buffered.length;
  return { name: (await reader.exact(n)).slice(), eof };
}

/** Receives one file in the classic flow into `session`. */
export async function receiveBasic(io: {
  conn: Deno.Conn;
  reader: FrameReader;
  context: ConnectionContext;
  config: ReceiverConfig;
  session: ReceiveSession;
  /** A name arrived: as far as this mode ever authenticates. */
  authenticated(): void;
  /** True once the sender was told that the receiver stops. */
  stopped(): boolean;
}): Promise<void> {
  const { conn, reader, context, config, session } = io;
  const file: ReceivedFile = {
    path: "",
    kind: "file",
    bytes: 0,
    sha256: "",
    status: "failed",
    resumedFrom: 0,
  };
  const reply = (text: string) =>
    writeRecorded(conn, encoder.encode(text), context.record).catch(() => {});
  const refuse = (failure: TransferFailure) =>
    reply(`error: ${peerText(failure.message, config.root)}\n`);
  const done = () => {
    session.files.push(file);
    if (file.status === "stored") config.stats.filesStored++;
    else config.stats.filesFailed++;
    config.onFile?.(file, session.peer);
  };
  let target: Target;
  let eof: boolean;
  try {
    const read = await readName(reader);
    eof = read.eof;
    // Shown (escaped) in logs even when refused: it is what the peer sent.
    file.path = new TextDecoder().decode(read.name);
    file.path = decodePath(read.name);
    target = await prepareTarget(config.root, file.path, config.existing);
    if (config.locks.has(target.partPath)) {
      throw new FileTransferError(
        "busy",
        `'${file.path}' is being received from another sender`,
      );
    }
    if (!config.claim()) {
      throw new FileTransferError(
        "busy",
        "this --once receiver is already serving another sender",
      );
    }
  } catch (error) {
    if (
      error instanceof FileTransferError && error.code === "connection_closed"
    ) throw error;
    file.error = failureOf(error);
    await refuse(file.error);
    done();
    return;
  }
  io.authenticated();
  config.locks.add(target.partPath);
  try {
    const failure = await receiveBasicContent(
      { reader, config, session, refuse, reply, stopped: io.stopped },
      target,
      file,
      eof,
    );
    if (failure) {
      file.error = failure;
      await removeQuietly(target.partPath);
    }
  } finally {
    config.locks.delete(target.partPath);
  }
  done();
}

interface BasicIo {
  reader: FrameReader;
  config: ReceiverConfig;
  session: ReceiveSession;
  refuse(failure: TransferFailure): Promise<void>;
  reply(text: string): Promise<void>;
  stopped(): boolean;
}

async function receiveBasicContent(
  io: BasicIo,
  target: Target,
  file: ReceivedFile,
  eof: boolean,
): Promise<TransferFailure | undefined> {
  const { reader, config, session } = io;
  let part: Deno.FsFile;
  try {
    part = await openPart(target);
    await part.truncate(0);
  } catch (error) {
    const failure = failureOf(error);
    await io.refuse(failure);
    return failure;
  }
  try {
    // Exactly "ok": classic senders compare the whole reply with it.
    await io.reply("ok");
    const hash = createHash("sha256");
    let pending: Promise<void> | undefined;
    // The size is unknown until EOF: early writeback starts once the file
    // is big enough for it to matter (see _writeback.ts).
    let writeback: Writeback | undefined;
    try {
      for (;;) {
        reader.grow(CHUNK);
        const chunk = eof ? null : await reader.chunk(CHUNK);
        if (chunk === null) break;
        file.bytes += chunk.length;
        session.bytes += chunk.length;
        if (file.bytes > config.maxSize) {
          const failure = failureOf(
            new FileTransferError(
              "too_large",
              `'${file.path}' is over the receiver's limit of ${config.maxSize} bytes`,
            ),
          );
          await io.refuse(failure);
          return failure;
        }
        hash.update(chunk);
        await pending;
        if (!writeback && file.bytes >= 2 * WRITEBACK_EVERY) {
          writeback = await startWriteback(target.partPath, Infinity);
        }
        const n = chunk.length;
        pending = writeAll(part, chunk).then(() => writeback?.wrote(n));
        config.onProgress?.({
          path: file.path,
          bytes: file.bytes,
          size: undefined,
          resumedFrom: 0,
          peer: session.peer,
        });
      }
      await pending;
      await writeback?.finish();
    } catch (error) {
      await pending?.catch(() => {});
      return failureOf(error);
    } finally {
      await writeback?.[Symbol.asyncDispose]();
    }
    if (io.stopped()) {
      // What arrived before the close may be any prefix of the file.
      return { code: "shutting_down", message: "the receiver stopped" };
    }
    try {
      await part.sync();
      await Deno.chmod(target.partPath, 0o644);
      file.storedAs = await commitPart(target, config.existing);
    } catch (error) {
      return failureOf(error);
    }
    file.sha256 = hash.digest("hex");
    file.status = "stored";
    config.stats.bytesStored += file.bytes;
    return undefined;
  } finally {
    part.close();
  }
}
