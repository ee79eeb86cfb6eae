// The drivers' side of a connection: the byte stream shape the file
// transfer runs over, and writes that are counted as they go.

/** The part of a connection the protocol needs. */
export interface Stream {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

/** Counts traffic (and, on the receiver, resets the idle timer). */
export type Recorder = (bytesIn: number, bytesOut: number) => void;

/** Writes all of `data`, recording each partial write. */
export async function writeRecorded(
  stream: Stream,
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
  stream: Stream,
  chunks: Uint8Array[],
  record: Recorder,
): Promise<void> {
  for (const chunk of chunks) await writeRecorded(stream, chunk, record);
}
