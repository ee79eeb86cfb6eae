// The receive buffer of a file-transfer core: the driver reads straight
// into it (no copy), the core parses in place and hands out views.
//
// Two buffers alternate. Reads go into the free end of the current one
// while the item being parsed (a frame: `need` bytes from the unconsumed
// start) still fits there; otherwise what is left moves to the start of
// the other buffer first. So a view handed out stays intact until the
// buffers have switched twice after it. A switch happens only in `space()`
// and only once per item, and the second switch needs a whole item parsed
// from the other buffer first: a driver that keeps one disk write of a
// view in flight and waits for it before it writes the next view (or
// before it decides on a file's end) never sees that view overwritten.
// This is what lets the receiver write unsealed DATA (over verified TLS)
// and --basic content straight from the socket buffer.

import {
  decodeFrameHeader,
  FRAME_HEADER_BYTES,
  type FrameHeader,
} from "./protocol.ts";

/** Bytes received and not yet parsed, in two alternating buffers. */
export class Inbox {
  #bufs: [Uint8Array, Uint8Array];
  #cur: 0 | 1 = 0;
  #start = 0;
  #end = 0;

  constructor(size: number) {
    this.#bufs = [new Uint8Array(size), new Uint8Array(size)];
  }

  /** The size of each buffer: the largest item this stage can hold. */
  get capacity(): number {
    return this.#bufs[0].length;
  }

  /** Bytes received and not consumed yet. */
  get length(): number {
    return this.#end - this.#start;
  }

  /** A view of the bytes received and not consumed yet. */
  get buffered(): Uint8Array {
    return this.#bufs[this.#cur].subarray(this.#start, this.#end);
  }

  /**
   * Free room to read into. `need` is how many bytes, counted from the
   * unconsumed start, the item being parsed needs in one piece. Empty only
   * when the buffered bytes fill a whole buffer, which a core prevents by
   * sizing the buffers for the largest item of its stage.
   */
  space(need: number): Uint8Array {
    let buf = this.#bufs[this.#cur];
    if (buf.length - this.#start < need || this.#end === buf.length) {
      const from = buf;
      this.#cur = this.#cur === 0 ? 1 : 0;
      buf = this.#bufs[this.#cur];
      buf.set(from.subarray(this.#start, this.#end), 0);
      this.#end -= this.#start;
      this.#start = 0;
    }
    return buf.subarray(this.#end);
  }

  /** Records that `n` bytes were read into the last {@linkcode space}. */
  commit(n: number): void {
    this.#end += n;
  }

  /** Copies `bytes` in (as much as fits); returns how many were taken. */
  copyIn(bytes: Uint8Array, need: number): number {
    const room = this.space(need);
    const n = Math.min(room.length, bytes.length);
    room.set(bytes.subarray(0, n), 0);
    this.#end += n;
    return n;
  }

  /** Consumes `n` buffered bytes and returns them as a view. */
  take(n: number): Uint8Array {
    const out = this.#bufs[this.#cur].subarray(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** Drops everything buffered. */
  clear(): void {
    this.#start = this.#end;
  }

  /**
   * Switches to buffers of `size` bytes, keeping what is buffered. Views
   * handed out earlier stay valid: the old buffers are never reused.
   */
  grow(size: number): void {
    if (size <= this.#bufs[0].length) return;
    const left = this.buffered;
    this.#bufs = [new Uint8Array(size), new Uint8Array(size)];
    this.#bufs[0].set(left, 0);
    this.#cur = 0;
    this.#start = 0;
    this.#end = left.length;
  }
}

/** A whole frame found in place: views of its 5-byte header and its body. */
export interface RawFrame {
  type: number;
  header: Uint8Array;
  body: Uint8Array;
}

/**
 * An {@linkcode Inbox} read as protocol frames. A frame's header is
 * decoded (the size limits) and handed to the caller's check as soon as
 * its 5 bytes are in, before any payload byte is waited for: the one place
 * where "limits where bytes arrive" holds for both session cores.
 */
export class FrameInbox extends Inbox {
  #pending: FrameHeader | null = null;

  /** Bytes the frame being parsed needs in one piece. */
  get frameNeed(): number {
    return FRAME_HEADER_BYTES + (this.#pending?.length ?? 0);
  }

  /**
   * The next whole frame, or null while bytes are missing. `overhead` is
   * the seal's tag when frames are sealed; `check` throws to refuse a
   * header (a type out of turn, a size lie).
   */
  nextFrame(
    overhead: number,
    check: (type: number, length: number) => void,
  ): RawFrame | null {
    if (this.#pending === null) {
      if (this.length < FRAME_HEADER_BYTES) return null;
      const header = decodeFrameHeader(this.buffered, overhead);
      check(header.type, header.length);
      this.#pending = header;
    }
    const { type, length } = this.#pending;
    if (this.length < FRAME_HEADER_BYTES + length) return null;
    this.#pending = null;
    const frame = this.take(FRAME_HEADER_BYTES + length);
    return {
      type,
      header: frame.subarray(0, FRAME_HEADER_BYTES),
      body: frame.subarray(FRAME_HEADER_BYTES),
    };
  }

  /** Drops everything buffered, a frame half-parsed included. */
  override clear(): void {
    super.clear();
    this.#pending = null;
  }
}
