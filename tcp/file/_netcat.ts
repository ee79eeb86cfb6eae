// The classic flow, both sides: the sender writes the file name and "\n",
// the receiver answers "ok\n" (or "error: <reason>\n" and closes), the
// sender streams the content and closes its write side. No size, no hash,
// no token: the path rules and the atomic write are all it keeps.

import { createHash } from "node:crypto";
import type { ConnectionContext } from "../server.ts";
import type { HostPort } from "../../address.ts";
import { closeQuietly, writeAll } from "../../_io.ts";
import { FileTransferError } from "./errors.ts";
import type { TransferFailure } from "./types.ts";
import { FrameReader, readFileFull, writeRecorded } from "./_frame_io.ts";
import { decodePath, MAX_PATH_BYTES } from "./_safe_path.ts";
import {
  commitPart,
  openPart,
  prepareTarget,
  removeQuietly,
  type Target,
} from "./_store.ts";
import type { ReceivedFile, ReceiveSession } from "./types.ts";
import { failureOf, type ReceiverConfig } from "./_receiver_config.ts";
import type { SendFilesOptions, SendReport, SentFile } from "./types.ts";
import type { WalkEntry } from "./_walk.ts";
import { openStream, startWatchdog } from "./_connect.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const LF = 0x0a;
const CHUNK = 1024 * 1024;

/** Reads one line (without "\n" and a trailing "\r"), at most `limit` bytes. */
async function readLine(
  reader: FrameReader,
  limit: number,
): Promise<Uint8Array> {
  const open = await reader.peek(limit + 1, (b) => !b.includes(LF));
  const at = reader.buffered.indexOf(LF);
  if (at === -1 || at > limit) {
    if (!open || at === -1 && reader.buffered.length < limit) {
      throw new FileTransferError(
        "connection_closed",
        "the peer closed before ending its line",
      );
    }
    throw new FileTransferError(
      "unsafe_path",
      `the name line is longer than ${limit} bytes`,
    );
  }
  const line = (await reader.exact(at + 1)).subarray(0, at);
  const end = line.length > 0 && line[line.length - 1] === 0x0d
    ? line.length - 1
    : line.length;
  return line.slice(0, end);
}

/** Receives one file in the classic flow into `session`. */
export async function receiveBasic(
  conn: Deno.Conn,
  reader: FrameReader,
  context: ConnectionContext,
  config: ReceiverConfig,
  session: ReceiveSession,
): Promise<void> {
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
  const done = () => {
    session.files.push(file);
    if (file.status === "stored") config.stats.filesStored++;
    else config.stats.filesFailed++;
    config.onFile?.(file, session.peer);
  };
  let target: Target;
  try {
    file.path = decodePath(await readLine(reader, MAX_PATH_BYTES));
    target = await prepareTarget(config.root, file.path, config.existing);
    if (config.locks.has(target.partPath)) {
      throw new FileTransferError(
        "busy",
        `'${file.path}' is being received from another sender`,
      );
    }
  } catch (error) {
    if (
      error instanceof FileTransferError && error.code === "connection_closed"
    ) throw error;
    file.error = failureOf(error);
    await reply(`error: ${file.error.message}\n`);
    done();
    return;
  }
  config.locks.add(target.partPath);
  try {
    const failure = await receiveBasicContent(
      reader,
      config,
      target,
      file,
      session,
      reply,
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

async function receiveBasicContent(
  reader: FrameReader,
  config: ReceiverConfig,
  target: Target,
  file: ReceivedFile,
  session: ReceiveSession,
  reply: (text: string) => Promise<void>,
): Promise<TransferFailure | undefined> {
  let part: Deno.FsFile;
  try {
    part = await openPart(target);
    await part.truncate(0);
  } catch (error) {
    const failure = failureOf(error);
    await reply(`error: ${failure.message}\n`);
    return failure;
  }
  try {
    await reply("ok\n");
    reader.grow(CHUNK);
    const hash = createHash("sha256");
    let pending: Promise<void> | undefined;
    try {
      for (;;) {
        const chunk = await reader.chunk(CHUNK);
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
          await reply(`error: ${failure.message}\n`);
          return failure;
        }
        hash.update(chunk);
        await pending;
        pending = writeAll(part, chunk);
        config.onProgress?.({
          path: file.path,
          bytes: file.bytes,
          size: undefined,
          resumedFrom: 0,
          peer: session.peer,
        });
      }
      await pending;
    } catch (error) {
      await pending?.catch(() => {});
      return failureOf(error);
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

/** Sends each file over its own connection in the classic flow. */
export async function sendBasic(
  address: HostPort,
  entries: WalkEntry[],
  options: SendFilesOptions,
  report: SendReport,
): Promise<void> {
  const buf = new Uint8Array(CHUNK);
  for (const entry of entries) {
    // The classic flow has no directories: files carry their relative path.
    if (entry.kind === "directory" && !entry.reason) continue;
    const file: SentFile = {
      path: entry.path,
      source: entry.source,
      kind: entry.kind === "skip" ? "other" : entry.kind,
      bytes: 0,
      sha256: "",
      status: entry.kind === "skip" ? "skipped" : "failed",
      resumedFrom: 0,
    };
    if (entry.reason) {
      file.error = failureOf(entry.reason);
    } else {
      try {
        await sendOneBasic(address, file, options, buf, report);
      } catch (error) {
        file.error = failureOf(error);
      }
    }
    report.files.push(file);
    options.onFile?.(file);
  }
}

async function sendOneBasic(
  address: HostPort,
  file: SentFile,
  options: SendFilesOptions,
  buf: Uint8Array,
  report: SendReport,
): Promise<void> {
  using handle = await Deno.open(file.source, { read: true });
  const size = (await handle.stat()).size;
  const stream = await openStream(address, options.tls);
  const dog = startWatchdog(stream, options.timeoutMs ?? 60_000);
  const record = () => dog.touch();
  try {
    await writeRecorded(stream, encoder.encode(`${file.path}\n`), record);
    const reader = new FrameReader(stream, 4096, record);
    const answer = decoder.decode(
      await readLine(reader, 1024).catch((error) => {
        if (dog.expired) {
          throw new FileTransferError("timeout", "the receiver did not answer");
        }
        throw error;
      }),
    );
    if (!/^ok$/i.test(answer.trim())) {
      throw new FileTransferError(
        "refused",
        `the receiver refused '${file.path}': ${
          answer.replace(/^error:\s*/i, "")
        }`,
      );
    }
    const hash = createHash("sha256");
    for (;;) {
      const n = await readFileFull(handle, buf);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      await writeRecorded(stream, buf.subarray(0, n), record);
      file.bytes += n;
      report.bytes += n;
      options.onProgress?.({
        path: file.path,
        bytes: file.bytes,
        size,
        resumedFrom: 0,
      });
    }
    await stream.closeWrite();
    // The receiver closes once it has the bytes; a line is its complaint.
    const rest = await readLine(reader, 1024).catch(() => null);
    if (rest !== null) {
      throw new FileTransferError(
        "refused",
        `receiver: ${decoder.decode(rest).replace(/^error:\s*/i, "")}`,
      );
    }
    file.sha256 = hash.digest("hex");
    file.status = "sent";
  } finally {
    dog.stop();
    closeQuietly(stream);
  }
}
