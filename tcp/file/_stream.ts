// The drivers' side of a connection: writes that are counted as they go
// (the connection itself is a ByteStream, types.ts).

import type { ByteStream } from "../../types.ts";

/** Counts traffic (and, on the receiver, resets the idle timer). */
export type Recorder = (bytesIn: number, bytesOut: number) => void;

/** Writes all of `data`, recording each partial write. */
export async function writeRecorded(
  stream: ByteStream,
  data: Uint8Array,
  record: Recorder,
): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const n = await stream.write(data.subarray(off));
    record(0, n);
    off += n;
  }
}

/** Writes `chunks` in order. */
export async function writeChunks(
  stream: ByteStream,
  chunks: Uint8Array[],
  record: Recorder,
): Promise<void> {
  for (const chunk of chunks) await writeRecorded(stream, chunk, record);
}
