// The sender's hot path: file → hash → (seal) → socket from the same
// buffer. Three content buffers rotate: one being read from the file, one
// hashed and sealed in place by the core, one being written. The core
// builds the frames around the content (START with the first chunk, END
// with the last); this loop only moves bytes.

import type { FileProgress } from "./types.ts";
import {
  CONTENT_AT,
  CONTENT_BUFFER_BYTES,
  CONTENT_CHUNK,
} from "./_sender_session.ts";
import { failureError, type SendLink } from "./_send_link.ts";
import { readFileFull } from "./_file_read.ts";

/** The three buffers content rotates through; one set per session. */
export function contentBuffers(): Uint8Array[] {
  return [
    new Uint8Array(CONTENT_BUFFER_BYTES),
    new Uint8Array(CONTENT_BUFFER_BYTES),
    new Uint8Array(CONTENT_BUFFER_BYTES),
  ];
}

/**
 * Streams `handle` (positioned at `from`) up to `size` through the core.
 * Stops early when the receiver gives up (the core has failed) or the file
 * shrank (END goes out early and the receiver reports the size).
 * `onChunk` sees each chunk's size and the offset after it.
 */
export async function streamContent(
  link: SendLink,
  handle: Deno.FsFile,
  span: { from: number; size: number; bufs: Uint8Array[] },
  onChunk: (n: number, progress: Omit<FileProgress, "path">) => void,
): Promise<void> {
  const { core } = link;
  const { from, size, bufs } = span;
  const want = (at: number) => Math.min(CONTENT_CHUNK, size - at);
  const content = (buf: Uint8Array, n: number) =>
    buf.subarray(CONTENT_AT, CONTENT_AT + n);
  let offset = from;
  let i = 0;
  let writeFailed = false;
  let writing: Promise<void> = Promise.resolve();
  let reading: Promise<number> = offset < size
    ? readFileFull(handle, content(bufs[0]!, want(offset)))
    : Promise.resolve(0);
  try {
    while (offset < size) {
      const n = await reading;
      if (n === 0) break; // The file shrank: END now.
      const buf = bufs[i]!;
      const next = (i + 1) % bufs.length;
      offset += n;
      if (offset < size) {
        reading = readFileFull(handle, content(bufs[next]!, want(offset)));
        reading.catch(() => 0);
      }
      // Hashed and sealed while the previous buffer is still being written.
      core.sealContent(buf, n);
      await writing;
      // The receiver gave up (its ERROR arrived): stop at once.
      if (core.finished) break;
      onChunk(n, { bytes: offset, size, resumedFrom: from });
      writing = link.write(core.takeOutput()).catch((error) => {
        writeFailed = true;
        throw error;
      });
      // Awaited on the next turn; a failure meanwhile (the receiver gone
      // while the next block is read) is not unhandled: that would end the
      // process instead of reporting why the receiver stopped.
      writing.catch(() => {});
      i = next;
    }
    await writing;
    await reading;
    if (core.streaming) {
      core.endContent();
      await link.flush().catch((error) => {
        writeFailed = true;
        throw error;
      });
    }
  } catch (error) {
    // On an error the other operation may still be running: wait for it
    // (the handle and the buffers must outlive it).
    await Promise.allSettled([reading, writing]);
    // A failed write usually means the receiver said why and closed.
    const reason = writeFailed ? await link.reason() : undefined;
    if (reason) throw failureError(reason);
    throw error;
  }
}
