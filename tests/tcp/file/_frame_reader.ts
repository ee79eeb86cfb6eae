// A raw peer's frame reader for the file protocol tests: reads a stream
// into a buffer and hands out exact byte counts and whole frames (opened
// once a cipher is set). Peers in tests break the protocol on purpose, so
// this knows only the framing, none of the grammar.

import {
  decodeFrameHeader,
  FRAME_HEADER_BYTES,
  type FrameCipher,
  SEAL_OVERHEAD,
} from "../../../tcp/file/protocol.ts";

/** Reads frames and raw bytes from a connection. */
export class FrameReader {
  #conn: { read(p: Uint8Array): Promise<number | null> };
  #buf: Uint8Array;
  #start = 0;
  #end = 0;
  /** Set once the session is authenticated: every later frame is sealed. */
  cipher: FrameCipher | undefined;

  constructor(
    conn: { read(p: Uint8Array): Promise<number | null> },
    size: number,
    _record?: unknown,
  ) {
    this.#conn = conn;
    this.#buf = new Uint8Array(size);
  }

  /** Bytes read and not consumed yet. */
  get buffered(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  /** Exactly `n` bytes (a view); throws at EOF. */
  async exact(n: number): Promise<Uint8Array> {
    while (this.#end - this.#start < n) {
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      if (this.#end === this.#buf.length) {
        throw new Error(`a ${n}-byte read does not fit the test reader`);
      }
      const got = await this.#conn.read(this.#buf.subarray(this.#end));
      if (got === null) throw new Error("the connection closed");
      this.#end += got;
    }
    const out = this.#buf.subarray(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** A frame header (a copy) with the limits checked. */
  async header(): Promise<{ type: number; length: number; raw: Uint8Array }> {
    const raw = (await this.exact(FRAME_HEADER_BYTES)).slice();
    const overhead = this.cipher ? SEAL_OVERHEAD : 0;
    return { ...decodeFrameHeader(raw, overhead), raw };
  }

  /** A whole frame: type and (opened) payload. */
  async frame(): Promise<{ type: number; payload: Uint8Array }> {
    const header = await this.header();
    const body = await this.exact(header.length);
    return {
      type: header.type,
      payload: this.cipher ? this.cipher.open(header.raw, body) : body,
    };
  }
}
