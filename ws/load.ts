/**
 * The WebSocket load driver: `netkit load ws`.
 *
 * It speaks WebSocket through the one protocol core, {@linkcode WsProtocol}
 * (role client): received bytes go in and come out as messages, pings
 * (answered by the core, whose output is written between batches) and the
 * server's close, with the core's limits. Only the data frames skip it:
 * they are masked once with the core's frame encoder and resent, which
 * keeps the generator from being the bottleneck. Connections open through
 * the one client edge (`dialWebSocket`), like the client's.
 *
 * @module
 */

import { closeQuietly, writeAll } from "../_io.ts";
import {
  checkLoadOptions,
  checkLoadTarget,
  type LoadChannel,
  type LoadOptions,
  loadPatternByte,
  type LoadResult,
  type LoadSink,
  runLoad,
} from "../load/mod.ts";
import { counterScope, readTransportCounters } from "../tcp/proc/counters.ts";
import { encodeFrame, OPCODE } from "./frame.ts";
import { WsProtocol, type WsProtocolEvent } from "./protocol.ts";
import { dialWebSocket } from "./dial.ts";
import { toWsUrl } from "./url.ts";
import { WsError } from "./errors.ts";
import type { DialConn } from "../tcp/dial.ts";

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
 * @throws {LoadError} `remote_target` for a non-loopback host without
 * `allowRemote`; `bad_option` for a bad option.
 * @throws {WsError} `bad_url` for a URL that is not `ws://` (or
 * `http://`, which means the same).
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
  const url = toWsUrl(target);
  if (url.protocol !== "ws:") {
    throw new WsError(
      "bad_url",
      `netkit load ws takes a ws:// (or http://) URL, not ${url.protocol}// (no TLS yet)`,
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
  }, withCounters(options));
}

const BATCH_BYTES = 64 * 1024;
// Reads start at 16 KiB and grow to 256 KiB when a read fills the buffer:
// a thousand echo connections must not cost 256 MB of buffers.
const READ_SIZES = [16 * 1024, 256 * 1024];
const STREAM_WINDOW = 4 * 1024 * 1024;

/**
 * The batch of masked frames for messages of `size` bytes, made once per
 * size for every connection (making it per connection cost ~1,000 frame
 * encodings and 64 KiB each: a thousand connections took seconds to set
 * up, past the connect timeout). Masks need not differ between
 * connections: the server cannot tell.
 */
const batches = new Map<number, { frame: number; frames: Uint8Array }>();

function frameBatch(size: number, payload: Uint8Array) {
  let made = batches.get(size);
  if (made === undefined) {
    const frame = encodeFrame({ opcode: OPCODE.binary, payload, mask: true });
    const count = Math.max(1, Math.floor(BATCH_BYTES / frame.length));
    const frames = new Uint8Array(count * frame.length);
    for (let i = 0; i < count; i++) {
      frames.set(
        i === 0
          ? frame
          : encodeFrame({ opcode: OPCODE.binary, payload, mask: true }),
        i * frame.length,
      );
    }
    made = { frame: frame.length, frames };
    batches.set(size, made);
  }
  return made;
}

/** Connects, shakes hands and returns a channel sending binary messages. */
async function openWsChannel(
  url: URL,
  o: { size: number; mode: WsLoadMode; sink: LoadSink; signal: AbortSignal },
): Promise<LoadChannel> {
  // The signal carries the scheduler's connect timeout: no second one here.
  const ws = await dialWebSocket(url, { signal: o.signal, timeoutMs: 0 });
  return wsChannel(ws.conn, ws.leftover, o);
}

function wsChannel(
  conn: DialConn,
  leftover: Uint8Array,
  o: { size: number; mode: WsLoadMode; sink: LoadSink },
): LoadChannel {
  const { size, mode, sink } = o;
  let buf = new Uint8Array(READ_SIZES[0]!);
  let closed = false;
  let queued = 0;
  let writing = false;
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i++) payload[i] = loadPatternByte(i);
  const protocol = new WsProtocol({
    role: "client",
    maxMessageSize: Math.max(2 * size, 1024 * 1024),
  });
  // Data frames are encoded once, each with its own random mask, and the
  // batch is resent: queuing each message on the core would mask and copy
  // it afresh, which costs a pipelined echo a fifth of its rate (see
  // docs/architecture.md), and the server cannot tell. Everything else the
  // core writes (pongs, the reply to a close) goes out between batches.
  const made = frameBatch(size, payload);
  const frame = { length: made.frame };
  const frames = made.frames;
  const batch = frames.length / made.frame;
  const fail = (error: unknown) => {
    if (closed) return;
    closed = true;
    drained.resolve();
    closeQuietly(conn);
    sink.failed(error);
  };
  // What the core has queued (pongs); one writer at a time, so frames
  // never interleave.
  const flush = async () => {
    for (let out = protocol.takeOutput(); out && !closed;) {
      for (const chunk of out) await writeAll(conn, chunk);
      out = protocol.takeOutput();
    }
  };
  const writeMessages = async (n: number) => {
    await flush();
    await writeAll(conn, frames.subarray(0, n * frame.length));
  };
  const write = async () => {
    writing = true;
    try {
      // A pong queued while the last batch was being written goes too.
      while ((queued > 0 || protocol.hasOutput) && !closed) {
        const n = Math.min(queued, batch);
        queued -= n;
        await writeMessages(n);
        if (n > 0) sink.sent(n * size);
      }
    } catch (error) {
      fail(error);
    }
    writing = false;
  };
  const check = mode !== "sink" && mode !== "reverse";
  let unread = 0;
  let drained = Promise.withResolvers<void>();
  const onEvents = (events: WsProtocolEvent[]) => {
    for (const e of events) {
      if (closed) return;
      if ("kind" in e) throw new WsError("protocol_error", e.reason);
      if (e.type === "ping") {
        // The core queued the pong; a writer at work sends it next.
        if (!writing) void write();
      } else if (e.type === "close") {
        throw new Deno.errors.UnexpectedEof("the server sent a close frame");
      } else if (e.type === "binary" || e.type === "text") {
        // A text echo is wrong anyway; its bytes still count.
        const length = e.type === "binary"
          ? e.data.length
          : new TextEncoder().encode(e.data).length;
        sink.received(length);
        unread -= length;
        if (unread <= STREAM_WINDOW) drained.resolve();
        const ok = e.type === "binary" && equal(e.data, payload);
        if (mode === "echo") sink.reply(ok);
        else if (check && !ok) sink.mismatch();
      }
    }
  };
  (async () => {
    try {
      if (leftover.length > 0) onEvents(protocol.receive(leftover));
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) {
          throw new Deno.errors.UnexpectedEof(
            "the server closed the connection",
          );
        }
        if (closed) return;
        onEvents(protocol.receive(buf.subarray(0, n)));
        if (n === buf.length && buf.length < READ_SIZES[1]!) {
          buf = new Uint8Array(READ_SIZES[1]!);
        }
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
          await writeMessages(batch);
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

/** Whether two byte arrays hold the same bytes. */
function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// The kernel's counters, read through tcp/proc: the load library itself
// never reads /proc (load/ sits below tcp/, udp/ and ws/).
function withCounters<T extends LoadOptions>(options: T): T {
  return {
    counters: { read: readTransportCounters, scope: counterScope() },
    ...options,
  };
}
