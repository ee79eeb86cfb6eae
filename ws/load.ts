/**
 * The WebSocket load driver: `netkit load ws`.
 *
 * Everything WebSocket-specific is in {@linkcode openWsChannel}, built on
 * the public pieces (handshake builder and checker, frame encoder and
 * decoder), so it can move onto another engine in one place.
 *
 * @module
 */

import { closeQuietly } from "../_io.ts";
import { NetkitError } from "../errors.ts";
import {
  checkLoadOptions,
  checkLoadTarget,
  type LoadChannel,
  type LoadOptions,
  type LoadResult,
  type LoadSink,
  runLoad,
} from "../load/mod.ts";
import { encodeFrame, FrameDecoder, isProtocolError, OPCODE } from "./frame.ts";
import {
  buildClientRequest,
  checkServerHandshake,
  generateKey,
  parseResponseHead,
} from "./handshake.ts";

/**
 * What a WebSocket load does: `echo` (binary messages of `size` bytes,
 * each answered by the same bytes), `stream` (send messages as fast as the
 * server takes them and check the echoes), `sink` (send, discard replies),
 * `reverse` (only read) or `bidir` (`stream`, counting both directions).
 */
export type WsLoadMode = "echo" | "stream" | "sink" | "reverse" | "bidir";

/** Options of {@linkcode loadWebSocket}. */
export interface WsLoadOptions extends LoadOptions {
  /** Default `echo`. */
  mode?: WsLoadMode;
}

/**
 * Drives a WebSocket echo server (`ws://` only) with binary messages from
 * `connections` connections; see {@linkcode runLoad} for the closed and
 * open loops. A reply that differs from the message counts as `mismatch`.
 *
 * @throws {NetkitError} `remote_target` for a non-loopback host without
 * `allowRemote`; `bad_option` for a bad URL or option.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadWebSocket, serveWebSocket } from "@netkit/netkit/ws";
 *
 * await using server = serveWebSocket({ port: 0 });
 * const url = `ws://127.0.0.1:${server.addr.port}/ws`;
 * const result = await loadWebSocket(url, { requests: 50 });
 * assert.equal(result.requests, 50);
 * ```
 */
export async function loadWebSocket(
  target: string | URL,
  options: WsLoadOptions = {},
): Promise<LoadResult> {
  const url = new URL(target);
  if (url.protocol !== "ws:") {
    throw new NetkitError(
      "bad_option",
      `netkit load ws takes a ws:// URL, not ${url.protocol}//`,
    );
  }
  checkLoadTarget(url.hostname, options);
  const size = checkLoadOptions(options);
  const mode = options.mode ?? "echo";
  return await runLoad({
    protocol: "ws",
    target: url.href,
    mode,
    direction: mode === "sink"
      ? "sent"
      : mode === "bidir"
      ? "both"
      : "received",
    open: (sink, signal) => openWsChannel(url, { size, mode, sink, signal }),
  }, options);
}

const BATCH_BYTES = 64 * 1024;
const READ_SIZE = 256 * 1024;
const STREAM_WINDOW = 4 * 1024 * 1024;

/** Connects, shakes hands and returns a channel sending binary messages. */
async function openWsChannel(
  url: URL,
  o: { size: number; mode: WsLoadMode; sink: LoadSink; signal: AbortSignal },
): Promise<LoadChannel> {
  const conn = await Deno.connect({
    hostname: url.hostname.replace(/^\[|\]$/g, ""),
    port: Number(url.port || 80),
    signal: o.signal,
  });
  conn.setNoDelay(true);
  const buf = new Uint8Array(READ_SIZE);
  let leftover: Uint8Array;
  // The handshake must finish within the connect timeout too.
  const abort = () => closeQuietly(conn);
  o.signal.addEventListener("abort", abort, { once: true });
  try {
    const key = generateKey();
    const head = new TextEncoder().encode(buildClientRequest(url, key));
    let off = 0;
    while (off < head.length) off += await conn.write(head.subarray(off));
    let filled = 0;
    for (;;) {
      const n = await conn.read(buf.subarray(filled));
      if (n === null) throw new Deno.errors.UnexpectedEof("no handshake reply");
      filled += n;
      const parsed = parseResponseHead(buf.subarray(0, filled));
      if (!parsed) continue;
      const problems = checkServerHandshake(parsed.head, key);
      if (problems.length > 0) {
        throw new NetkitError("handshake_failed", problems[0]!.message);
      }
      leftover = buf.slice(parsed.bodyOffset, filled);
      break;
    }
  } catch (error) {
    closeQuietly(conn);
    throw o.signal.aborted ? o.signal.reason : error;
  } finally {
    o.signal.removeEventListener("abort", abort);
  }
  return wsChannel(conn, buf, leftover, o);
}

function wsChannel(
  conn: Deno.TcpConn,
  buf: Uint8Array,
  leftover: Uint8Array,
  o: { size: number; mode: WsLoadMode; sink: LoadSink },
): LoadChannel {
  const { size, mode, sink } = o;
  let closed = false;
  let queued = 0;
  let writing = false;
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i++) payload[i] = (i * 31 + 7) & 0xff;
  // Frames are encoded once, each with its own random mask, and the batch
  // is resent: a load generator need not pay a fresh mask per message, and
  // the server cannot tell.
  const frame = encodeFrame({ opcode: OPCODE.binary, payload, mask: true });
  const batch = Math.max(1, Math.floor(BATCH_BYTES / frame.length));
  const frames = new Uint8Array(batch * frame.length);
  for (let i = 0; i < batch; i++) {
    frames.set(
      i === 0
        ? frame
        : encodeFrame({ opcode: OPCODE.binary, payload, mask: true }),
      i * frame.length,
    );
  }
  const fail = (error: unknown) => {
    if (closed) return;
    closed = true;
    drained.resolve();
    closeQuietly(conn);
    sink.failed(error);
  };
  const writeAll = async (bytes: Uint8Array) => {
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
  };
  // Pongs wait for the write in progress: two writes at once could
  // interleave their bytes and break the framing.
  const control: Uint8Array[] = [];
  const flushControl = async () => {
    while (control.length > 0 && !closed) await writeAll(control.shift()!);
  };
  const write = async () => {
    writing = true;
    try {
      await flushControl();
      while (queued > 0 && !closed) {
        await flushControl();
        const n = Math.min(queued, batch);
        queued -= n;
        await writeAll(frames.subarray(0, n * frame.length));
        sink.sent(n * size);
      }
    } catch (error) {
      fail(error);
    }
    writing = false;
  };
  const decoder = new FrameDecoder({
    expectMasked: false,
    maxPayload: Math.max(2 * size, 1024 * 1024),
  });
  const check = mode !== "sink" && mode !== "reverse";
  let unread = 0;
  let at = 0; // bytes of the current message so far
  let ok = true;
  let drained = Promise.withResolvers<void>();
  const onChunk = (chunk: Uint8Array) => {
    for (const f of decoder.push(chunk)) {
      if (closed) return;
      if (isProtocolError(f)) throw new NetkitError("protocol_error", f.reason);
      if (f.opcode === OPCODE.ping) {
        control.push(
          encodeFrame({ opcode: OPCODE.pong, payload: f.payload, mask: true }),
        );
        if (!writing) void write();
      } else if (f.opcode === OPCODE.close) {
        throw new Deno.errors.UnexpectedEof("the server sent a close frame");
      } else if (f.opcode <= OPCODE.binary) {
        sink.received(f.payload.length);
        unread -= f.payload.length;
        if (unread <= STREAM_WINDOW) drained.resolve();
        // A server may fragment its echo: check each piece where it falls.
        if (f.opcode !== OPCODE.continuation) {
          at = 0;
          ok = f.opcode === OPCODE.binary;
        }
        ok = ok && at + f.payload.length <= size &&
          matches(f.payload, payload, at);
        at += f.payload.length;
        if (!f.fin) continue;
        ok = ok && at === size;
        if (mode === "echo") sink.reply(ok);
        else if (check && !ok) sink.mismatch();
      }
    }
  };
  (async () => {
    try {
      if (leftover.length > 0) onChunk(leftover);
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) {
          throw new Deno.errors.UnexpectedEof(
            "the server closed the connection",
          );
        }
        if (closed) return;
        onChunk(buf.subarray(0, n));
      }
    } catch (error) {
      fail(error);
    }
  })();
  if (mode !== "echo" && mode !== "reverse") {
    writing = true; // this loop owns the socket's write side
    (async () => {
      try {
        while (!closed) {
          // An echo server buffers what we do not read yet (and drops a
          // client that lets too much pile up): keep a window in flight.
          while (check && unread > STREAM_WINDOW && !closed) {
            drained = Promise.withResolvers<void>();
            await drained.promise;
          }
          await flushControl();
          await writeAll(frames);
          unread += batch * size;
          sink.sent(batch * size);
        }
      } catch (error) {
        fail(error);
      }
    })();
  }
  return {
    send(count) {
      queued += count;
      if (!writing) void write();
    },
    close() {
      closed = true;
      drained.resolve();
      closeQuietly(conn);
    },
  };
}

/** Whether `piece` equals `whole` from offset `at`. */
function matches(piece: Uint8Array, whole: Uint8Array, at: number): boolean {
  for (let i = 0; i < piece.length; i++) {
    if (piece[i] !== whole[at + i]) return false;
  }
  return true;
}
