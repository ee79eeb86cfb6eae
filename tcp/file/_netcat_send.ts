// The classic flow, sending side: one connection per file; write the bare
// name (no newline), wait for the reply, which must be "ok" (a trailing
// newline is accepted), stream the content, close the write side, and
// wait for the receiver to close. Nothing is verified.

import { createHash } from "node:crypto";
import type { HostPort } from "../../address.ts";
import { closeQuietly } from "../../_io.ts";
import { FileTransferError } from "./errors.ts";
import {
  FrameReader,
  readFileFull,
  type Stream,
  writeRecorded,
} from "./_frame_io.ts";
import { failureOf } from "./_receiver_config.ts";
import type { SendFilesOptions, SendReport, SentFile } from "./types.ts";
import { unsentFile, type WalkEntry } from "./_walk.ts";
import { openStream, startWatchdog, type Watchdog } from "./_connect.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CHUNK = 1024 * 1024;
// What a receiver may say besides "ok"; more is cut off.
const REPLY_LIMIT = 1024;
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
    new Uint8Array(CHUNK),
    new Uint8Array(CHUNK),
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

// Everything the receiver sends until it closes (at most REPLY_LIMIT bytes).
async function readRest(reader: FrameReader): Promise<string> {
  let text = "";
  while (text.length < REPLY_LIMIT) {
    const chunk = await reader.chunk(REPLY_LIMIT).catch(() => null);
    if (chunk === null) break;
    text += decoder.decode(chunk);
  }
  return text;
}

// Waits for "ok" (the first two bytes); anything else is the refusal.
async function awaitOk(
  reader: FrameReader,
  dog: Watchdog,
  path: string,
): Promise<void> {
  let open: boolean;
  try {
    open = await reader.peek(2, () => true);
  } catch (error) {
    if (dog.expired) {
      throw new FileTransferError("timeout", "the receiver did not answer");
    }
    throw error;
  }
  const head = decoder.decode(reader.buffered.subarray(0, 2));
  if (open && head === "ok") {
    await reader.exact(2);
    return;
  }
  const said = (decoder.decode(reader.buffered) + await readRest(reader))
    .trim().replace(/^error:\s*/i, "");
  throw new FileTransferError(
    "refused",
    `the receiver refused '${path}': ${said || "it closed without a reply"}`,
  );
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
  const dog = startWatchdog(stream, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const record = () => dog.touch();
  try {
    await writeRecorded(stream, encoder.encode(file.path), record);
    const reader = new FrameReader(stream, 4096, record);
    await awaitOk(reader, dog, file.path);
    const hash = createHash("sha256");
    await streamFile(handle, stream, io.bufs, (chunk) => {
      hash.update(chunk);
      file.bytes += chunk.length;
      io.report.bytes += chunk.length;
      options.onProgress?.({
        path: file.path,
        bytes: file.bytes,
        size,
        resumedFrom: 0,
      });
    }, record);
    await stream.closeWrite();
    // The receiver closes once it has the bytes; after "ok" only the
    // newline some receivers add may come, anything else is a complaint.
    const rest = (await readRest(reader)).trim();
    if (rest !== "") {
      throw new FileTransferError(
        "refused",
        `receiver: ${rest.replace(/^error:\s*/i, "")}`,
      );
    }
    file.sha256 = hash.digest("hex");
    file.status = "sent";
  } finally {
    dog.stop();
    closeQuietly(stream);
  }
}

// file → socket until EOF, reading the next chunk into the other buffer
// while the previous one is written; `onChunk` sees each chunk before it
// is written.
async function streamFile(
  handle: Deno.FsFile,
  stream: Stream,
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
