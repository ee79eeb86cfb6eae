// Buffered frame I/O for the file protocol: two alternating buffers so the
// caller can hand one chunk to an async file write while the next chunk is
// read from the socket, with no copy and no per-chunk allocation.

import {
  decodeFrameHeader,
  encodeFrame,
  FRAME_HEADER_BYTES,
  type FrameCipher,
  type FrameHeader,
  SEAL_OVERHEAD,
} from "./protocol.ts";
import { FileTransferError } from "./errors.ts";

/** The part of a connection the protocol needs. */
export interface Stream {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

/** Counts traffic (and, on the receiver, resets the idle timer). */
export type Recorder = (bytesIn: number, bytesOut: number) => void;

/**
 * Reads frames and raw bytes. A view returned by `exact` or `some` stays
 * valid until the reader has refilled twice after it: long enough for one
 * pending write of the previous chunk.
 */
export class FrameReader {
  #bufs: [Uint8Array, Uint8Array];
  #cur: 0 | 1 = 0;
  #start = 0;
  #end = 0;
  #stream: Stream;
  #record: Recorder;
  #pending: Promise<boolean> | undefined;
  /** Set once the session is authenticated: every later frame is sealed. */
  cipher: FrameCipher | undefined;

  constructor(stream: Stream, size: number, record: Recorder) {
    this.#bufs = [new Uint8Array(size), new Uint8Array(size)];
    this.#stream = stream;
    this.#record = record;
  }

  /**
   * Switches to buffers of `size` bytes, keeping what is buffered. Only
   * between frames, while no earlier view is still in use; a no-op while
   * a read left by `more` is pending (it fills the current buffer).
   */
  grow(size: number): void {
    if (size <= this.#bufs[0].length || this.#pending) return;
    const left = this.buffered;
    this.#bufs = [new Uint8Array(size), new Uint8Array(size)];
    this.#bufs[0].set(left, 0);
    this.#cur = 0;
    this.#start = 0;
    this.#end = left.length;
  }

  /** Bytes buffered but not consumed yet. */
  get buffered(): Uint8Array {
    return this.#bufs[this.#cur].subarray(this.#start, this.#end);
  }

  // Reads once, into the free end of the current buffer while `need`
  // bytes (counted from the unconsumed start) still fit there; otherwise
  // into the other buffer, moving what is left first. So one `exact` call
  // switches buffers at most once, which is what keeps the view of the
  // previous chunk valid while it is written.
  async #refill(need = 1): Promise<boolean> {
    if (this.#pending) {
      const p = this.#pending;
      this.#pending = undefined;
      return await p;
    }
    let buf = this.#bufs[this.#cur];
    if (buf.length - this.#start < need || this.#end === buf.length) {
      const from = buf;
      this.#cur = this.#cur === 0 ? 1 : 0;
      buf = this.#bufs[this.#cur];
      const left = this.#end - this.#start;
      buf.set(from.subarray(this.#start, this.#end), 0);
      this.#start = 0;
      this.#end = left;
    }
    if (this.#end === buf.length) {
      throw new FileTransferError(
        "message_too_large",
        "more bytes than this stage of the session can hold",
      );
    }
    const n = await this.#stream.read(buf.subarray(this.#end));
    if (n === null) return false;
    this.#record(n, 0);
    this.#end += n;
    return true;
  }

  /**
   * Waits up to `ms` for more bytes: `"data"` when some arrived, `"eof"`
   * at the end, `"pause"` when the peer sent nothing for `ms` (the read
   * stays pending and the next read takes its bytes).
   */
  async more(ms: number): Promise<"data" | "eof" | "pause"> {
    this.#pending ??= this.#refill();
    const pending = this.#pending;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const paused = new Promise<"pause">((resolve) => {
      timer = setTimeout(() => resolve("pause"), ms);
    });
    try {
      const got = await Promise.race([
        pending.then((ok) => ok ? "data" as const : "eof" as const),
        paused,
      ]);
      if (got !== "pause") this.#pending = undefined;
      return got;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Exactly `n` bytes (n ≤ buffer size); throws `connection_closed` at EOF. */
  async exact(n: number): Promise<Uint8Array> {
    // More than the buffers hold could never arrive: refuse instead of
    // reading into no room forever.
    if (n > this.#bufs[0].length) {
      throw new FileTransferError(
        "message_too_large",
        `a ${n}-byte message does not fit this stage of the session`,
      );
    }
    while (this.#end - this.#start < n) {
      if (!await this.#refill(n)) throw closed();
    }
    const buf = this.#bufs[this.#cur];
    const out = buf.subarray(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** Between 1 and `max` bytes; throws `connection_closed` at EOF. */
  async some(max: number): Promise<Uint8Array> {
    const out = await this.chunk(max);
    if (out === null) throw closed();
    return out;
  }

  /** Between 1 and `max` bytes, or null at EOF. */
  async chunk(max: number): Promise<Uint8Array | null> {
    if (this.#end === this.#start && !await this.#refill()) return null;
    const n = Math.min(max, this.#end - this.#start);
    const buf = this.#bufs[this.#cur];
    const out = buf.subarray(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /**
   * Reads until at least `n` bytes are buffered or `accept` rejects what is
   * there; returns false at EOF. Used to reject a wrong hello early.
   */
  async peek(
    n: number,
    accept: (bytes: Uint8Array) => boolean,
  ): Promise<boolean> {
    while (this.#end - this.#start < n) {
      if (!accept(this.buffered)) return true;
      if (!await this.#refill(n)) return false;
    }
    return true;
  }

  /**
   * Reads a frame header (limits checked before the payload is touched);
   * `length` is the payload's length on the wire (sealed: with the tag).
   */
  async header(): Promise<FrameHeader & { raw: Uint8Array }> {
    const raw = (await this.exact(FRAME_HEADER_BYTES)).slice();
    const overhead = this.cipher ? SEAL_OVERHEAD : 0;
    return { ...decodeFrameHeader(raw, overhead), raw };
  }

  /**
   * The payload of the frame `header` starts: opened when sealed (a new
   * array), else a view. The whole frame must fit the buffers.
   */
  async payload(header: { length: number; raw: Uint8Array }): Promise<
    Uint8Array
  > {
    const body = await this.exact(header.length);
    return this.cipher ? this.cipher.open(header.raw, body) : body;
  }

  /** Reads a whole control frame: type and (opened) payload. */
  async frame(): Promise<{ type: number; payload: Uint8Array }> {
    const header = await this.header();
    return { type: header.type, payload: await this.payload(header) };
  }

  /** The size of each of the two buffers. */
  get capacity(): number {
    return this.#bufs[0].length;
  }

  /** Reads and discards until EOF or `limit` bytes; for draining a peer. */
  async drain(limit: number): Promise<void> {
    if (this.#pending) {
      const p = this.#pending;
      this.#pending = undefined;
      await p;
    }
    let total = this.#end - this.#start;
    this.#start = this.#end;
    while (total < limit) {
      const buf = this.#bufs[this.#cur];
      const n = await this.#stream.read(buf);
      if (n === null) return;
      this.#record(n, 0);
      total += n;
    }
  }
}

function closed(): FileTransferError {
  return new FileTransferError(
    "connection_closed",
    "the connection closed in the middle of the session",
  );
}

/** Writes one frame, sealed when `cipher` is set. */
export function writeFrame(
  stream: Stream,
  cipher: FrameCipher | undefined,
  frame: { type: number; payload?: Uint8Array },
  record: Recorder,
): Promise<void> {
  const payload = frame.payload ?? new Uint8Array(0);
  return writeRecorded(
    stream,
    cipher
      ? cipher.seal(frame.type, payload)
      : encodeFrame(frame.type, payload),
    record,
  );
}

/** Writes all of `data`, recording it. */
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

/** Reads up to `into.length` bytes from a file, stopping early only at EOF. */
export async function readFileFull(
  file: Deno.FsFile,
  into: Uint8Array,
): Promise<number> {
  let off = 0;
  while (off < into.length) {
    const n = await file.read(into.subarray(off));
    if (n === null) break;
    off += n;
  }
  return off;
}

/**
 * Feeds the first `length` bytes of `file` (read from the start) into
 * `hash`, through `buf`; `onChunk` runs after each chunk with the bytes
 * hashed so far (progress, and an idle timer that must not fire while a
 * big prefix is hashed).
 */
export async function hashFilePrefix(
  file: Deno.FsFile,
  length: number,
  into: {
    hash: { update(data: Uint8Array): unknown };
    buf: Uint8Array;
    onChunk(done: number): void;
  },
): Promise<void> {
  const { hash, buf } = into;
  await file.seek(0, Deno.SeekMode.Start);
  let left = length;
  while (left > 0) {
    const n = await readFileFull(
      file,
      buf.subarray(0, Math.min(left, buf.length)),
    );
    if (n === 0) break;
    hash.update(buf.subarray(0, n));
    left -= n;
    into.onChunk(length - left);
  }
}
