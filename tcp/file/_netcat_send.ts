// The classic flow, sending side: one connection per file, the socket
// loop around the classic core (_basic_session.ts): the bare name, the
// reply (which must be "ok"), the content from two alternating buffers
// (the next chunk is read while the previous one is written), the write
// side closed, and the receiver's close awaited. Nothing is verified.

import type { HostPort } from "../../address.ts";
import { closeQuietly } from "../../_io.ts";
import type { SendFilesOptions, SendReport, SentFile } from "./types.ts";
import { unsentFile, type WalkEntry } from "./_walk.ts";
import { openStream } from "./_connect.ts";
import {
  BASIC_CHUNK,
  BASIC_REPLY_TIMEOUT_MS,
  BasicSender,
  type BasicSenderEvent,
} from "./_basic_session.ts";
import { readFileFull } from "./_file_read.ts";
import { writeRecorded } from "./_stream.ts";
import type { ByteStream } from "../../types.ts";
import { failureOf } from "./_failure.ts";
import { keepDeadlines } from "./_deadline.ts";
import { failureError } from "./_send_link.ts";

const DEFAULT_TIMEOUT_MS = 60_000;

/** Sends each file over its own connection in the classic flow. */
export async function sendBasic(
  address: HostPort,
  entries: WalkEntry[],
  options: SendFilesOptions,
  report: SendReport,
): Promise<void> {
  // Two buffers: the next chunk is read from the file while the previous
  // one is still being written to the socket.
  const bufs: [Uint8Array, Uint8Array] = [
    new Uint8Array(BASIC_CHUNK),
    new Uint8Array(BASIC_CHUNK),
  ];
  for (const entry of entries) {
    // The classic flow has no directories: files carry their relative path.
    if (entry.kind === "directory" && !entry.reason) continue;
    const file = unsentFile(entry);
    if (entry.reason) {
      file.error = failureOf(entry.reason);
    } else {
      try {
        await sendOneBasic(address, file, options, { bufs, report });
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
  io: { bufs: [Uint8Array, Uint8Array]; report: SendReport },
): Promise<void> {
  using handle = await Deno.open(file.source, { read: true });
  const size = (await handle.stat()).size;
  const stream = await openStream(address, options.tls);
  const core = new BasicSender({
    path: file.path,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    replyTimeoutMs: options.replyTimeoutMs ?? BASIC_REPLY_TIMEOUT_MS,
    now: performance.now(),
  });
  // A passed deadline closes the connection: the read or write in flight
  // ends, and the core says why.
  const deadline = keepDeadlines(core, () => closeQuietly(stream));
  const record = () => core.progress(performance.now());
  try {
    await writeRecorded(stream, core.takeOutput()[0]!, record);
    if ((await replies(stream, core, deadline.arm)).type !== "ok") {
      throw failureError(core.failure!);
    }
    await streamFile(handle, stream, io.bufs, (chunk) => {
      core.content(chunk);
      file.bytes += chunk.length;
      io.report.bytes += chunk.length;
      options.onProgress?.({
        path: file.path,
        bytes: file.bytes,
        size,
        resumedFrom: 0,
      });
    }, record);
    core.endContent();
    await stream.closeWrite();
    const end = await replies(stream, core, deadline.arm);
    if (end.type !== "sent") throw failureError(core.failure!);
    file.sha256 = end.sha256;
    file.status = "sent";
  } catch (error) {
    throw core.failure ? failureError(core.failure) : error;
  } finally {
    deadline.stop();
    closeQuietly(stream);
  }
}

// Reads the receiver's bytes into the core until it has something to say.
async function replies(
  stream: ByteStream,
  core: BasicSender,
  arm: () => void,
): Promise<BasicSenderEvent> {
  for (;;) {
    let n: number | null;
    try {
      n = await stream.read(core.space());
    } catch {
      n = null;
    }
    const events = n === null ? core.eof() : core.commit(n, performance.now());
    arm();
    if (events.length > 0) return events[0]!;
    // The deadline closed the connection: the core has said why.
    if (core.finished) return { type: "failed", failure: core.failure! };
  }
}

// file → socket until EOF, reading the next chunk into the other buffer
// while the previous one is written; `onChunk` sees each chunk before it
// is written.
async function streamFile(
  handle: Deno.FsFile,
  stream: ByteStream,
  bufs: [Uint8Array, Uint8Array],
  onChunk: (chunk: Uint8Array) => void,
  record: () => void,
): Promise<void> {
  let i = 0;
  let reading = readFileFull(handle, bufs[0]);
  let writing: Promise<void> = Promise.resolve();
  try {
    for (;;) {
      const n = await reading;
      if (n === 0) break;
      const chunk = bufs[i]!.subarray(0, n);
      onChunk(chunk);
      // The other buffer is free once its write has finished.
      await writing;
      i = i === 0 ? 1 : 0;
      reading = readFileFull(handle, bufs[i]!);
      writing = writeRecorded(stream, chunk, record);
    }
    await writing;
  } finally {
    // On an error the other operation may still be running: wait for it
    // (the handle and the buffers must outlive it) and drop its error.
    await Promise.allSettled([reading, writing]);
  }
}
