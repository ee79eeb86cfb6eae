// A persistent raw-DEFLATE context (RFC 1951, no zlib header) driven one
// message at a time with Z_SYNC_FLUSH, as permessage-deflate needs.
//
// node:zlib offers three ways to do this in Deno 2.9.6; measured on a
// 1.2 KB JSON message, 5000 times, with context takeover:
//   - the zlib handle's writeSync (what node's own *Sync functions use
//     inside): 15.8 µs/message, synchronous, and output arrives in
//     buffers we size, so the inflated-size limit stops inflation at the
//     limit instead of after it;
//   - a DeflateRaw stream, write() + flush(Z_SYNC_FLUSH, callback):
//     22.3 µs/message and asynchronous (a promise per message);
//   - deflateRawSync per message: 41.8 µs/message and no context
//     takeover at all (`_processChunk`, the sync path, closes the handle
//     after one call).
// So: the handle when the runtime has it (checked once), the stream
// otherwise. Both honour the same limit, both are tested.

import zlib from "node:zlib";
import { Buffer } from "node:buffer";

const { Z_SYNC_FLUSH, Z_NO_FLUSH, Z_HUFFMAN_ONLY, Z_DEFAULT_STRATEGY } =
  zlib.constants;

/** One direction of a permessage-deflate connection. */
export interface RawContext {
  /** True when `run` returns bytes directly, false when it returns a promise. */
  readonly sync: boolean;
  /**
   * Feeds `parts` in order, the last one with Z_SYNC_FLUSH, and returns
   * everything produced. Throws `LimitExceeded` past `maxOutput` bytes
   * (the context is then unusable), `CorruptData` on bad input.
   */
  run(
    parts: Uint8Array[],
    maxOutput: number,
  ): Uint8Array | Promise<Uint8Array>;
  /** Forgets the window (no context takeover). */
  reset(): void;
  /** Frees the context. */
  close(): void;
}

/** Thrown by {@linkcode RawContext.run} when output passes the limit. */
export class LimitExceeded extends Error {}
/** Thrown by {@linkcode RawContext.run} on input that is not DEFLATE data. */
export class CorruptData extends Error {}

/** How a context is made. */
export interface RawContextOptions {
  mode: "deflate" | "inflate";
  /** 8–15; 8 compresses with Huffman codes only (zlib has no 256-byte window). */
  windowBits: number;
  /** Use the stream path even where the handle exists (tests). */
  forceStream?: boolean;
}

interface ZlibHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
  reset(): void;
  onerror: (message: string, errno: number) => void;
}

interface Internals {
  _handle?: ZlibHandle;
  _writeState?: Uint32Array;
}

const CHUNK = 64 * 1024;

function createStream(options: RawContextOptions) {
  // A raw stream with an 8-bit window is what zlib cannot make; Huffman-only
  // output has no back references, so it is valid for any window.
  const huffman = options.windowBits === 8;
  return options.mode === "deflate"
    ? zlib.createDeflateRaw({
      windowBits: huffman ? 9 : options.windowBits,
      strategy: huffman ? Z_HUFFMAN_ONLY : Z_DEFAULT_STRATEGY,
      memLevel: 8,
    })
    : zlib.createInflateRaw({ windowBits: 15 });
}

/** Creates a context: the sync handle path if available, else the stream. */
export function createRawContext(options: RawContextOptions): RawContext {
  const stream = createStream(options);
  const internals = stream as unknown as Internals;
  const handle = internals._handle;
  const state = internals._writeState;
  if (
    !options.forceStream && handle && state &&
    typeof handle.writeSync === "function" &&
    typeof handle.reset === "function"
  ) {
    return handleContext(stream, handle, state, options.mode === "inflate");
  }
  return streamContext(options);
}

function handleContext(
  stream: zlib.DeflateRaw | zlib.InflateRaw,
  handle: ZlibHandle,
  state: Uint32Array,
  inflate: boolean,
): RawContext {
  let error: string | undefined;
  // Node reports zlib errors through this callback; replacing it keeps
  // them synchronous and away from the stream's 'error' event.
  handle.onerror = (message) => {
    error = message;
  };
  let scratch = new Uint8Array(CHUNK);
  return {
    sync: true,
    run(parts, maxOutput) {
      const out: Uint8Array[] = [];
      let total = 0;
      let used = 0;
      parts: for (let p = 0; p < parts.length; p++) {
        const input = parts[p]!;
        const flush = p === parts.length - 1 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        let inOff = 0;
        let inLen = input.length;
        for (;;) {
          const room = Math.min(scratch.length - used, maxOutput - total + 1);
          handle.writeSync(flush, input, inOff, inLen, scratch, used, room);
          if (error !== undefined) {
            const why = error;
            error = undefined;
            handle.reset();
            throw new CorruptData(why);
          }
          const availOut = state[0]!;
          const availIn = state[1]!;
          const produced = room - availOut;
          used += produced;
          total += produced;
          if (total > maxOutput) {
            handle.reset();
            throw new LimitExceeded();
          }
          inOff += inLen - availIn;
          inLen = availIn;
          if (used === scratch.length) {
            out.push(scratch);
            scratch = new Uint8Array(CHUNK);
            used = 0;
          }
          if (availOut !== 0) {
            if (inLen > 0 && inflate) {
              // Output room left but input unread: the peer's stream had
              // a final block (RFC 7692 §7.2.3.3). Like any inflater we
              // ignore what follows it, and the next message starts a
              // new stream.
              handle.reset();
              break parts;
            }
            break;
          }
        }
      }
      if (out.length === 0) return scratch.slice(0, used);
      out.push(scratch.subarray(0, used));
      const result = Buffer.concat(out, total);
      scratch = new Uint8Array(CHUNK);
      return new Uint8Array(result.buffer, result.byteOffset, result.length);
    },
    reset() {
      handle.reset();
    },
    close() {
      stream.close();
    },
  };
}

function streamContext(options: RawContextOptions): RawContext {
  let stream = createStream(options);
  const fresh = () => {
    stream.close();
    stream = createStream(options);
  };
  return {
    sync: false,
    run(parts, maxOutput) {
      const { promise, resolve, reject } = Promise.withResolvers<
        Uint8Array
      >();
      const chunks: Uint8Array[] = [];
      let total = 0;
      const current = stream;
      let done = false;
      const finish = (error?: Error) => {
        done = true;
        current.off("data", onData);
        current.off("error", onError);
        current.off("end", onEnd);
        // A discarded stream may still report what it had queued.
        current.on("error", () => {});
        if (error) {
          fresh();
          return reject(error);
        }
        const result = Buffer.concat(chunks, total);
        resolve(new Uint8Array(result.buffer, result.byteOffset, total));
      };
      const onData = (chunk: Uint8Array) => {
        total += chunk.length;
        // Chunks arrive as zlib fills them: past the limit the context is
        // dropped before it inflates any further.
        if (total > maxOutput) return finish(new LimitExceeded());
        chunks.push(chunk);
      };
      const onError = (error: Error) => finish(new CorruptData(error.message));
      // A final block ends the stream; the next message starts a new one.
      const onEnd = () => {
        finish();
        fresh();
      };
      current.on("data", onData);
      current.on("error", onError);
      current.on("end", onEnd);
      for (const part of parts) if (!done) current.write(part);
      if (!done) {
        current.flush(Z_SYNC_FLUSH, () => {
          if (current !== stream || done) return;
          // zlib errors are emitted a tick after the flush completes.
          const errored = (current as { errored?: Error | null }).errored;
          if (errored || current.destroyed) {
            return finish(
              new CorruptData(errored?.message ?? "invalid compressed data"),
            );
          }
          finish();
        });
      }
      return promise;
    },
    reset() {
      fresh();
    },
    close() {
      stream.close();
    },
  };
}
