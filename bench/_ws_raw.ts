// A WebSocket client for the benchmarks that costs the server under test
// as little as possible and never holds a message back: netkit's client
// edge (dialWebSocket: no-delay on, one head exchange), frames pre-encoded
// once and resent (masked with one fixed key: a server cannot tell), and
// replies parsed by the protocol core from 256 KiB reads. With
// permessage-deflate the messages go through the core's compressor, so
// the client pays the same inflate/deflate against every server.

import { dialWebSocket } from "../ws/dial.ts";
import { encodeFrame, OPCODE } from "../ws/frame.ts";
import { WsProtocol, type WsProtocolEvent } from "../ws/protocol.ts";
import type { DialConn } from "../tcp/dial.ts";
import { cpuSeconds } from "./_stats.ts";

const READ_SIZE = 256 * 1024;
const KEY = new Uint8Array([0x12, 0x34, 0x56, 0x78]);

/** One open benchmark connection. */
export interface RawWs {
  conn: DialConn;
  protocol: WsProtocol;
  /** Whether permessage-deflate was agreed. */
  compressing: boolean;
  close(): Promise<void>;
}

/** Opens ws://127.0.0.1:`port``path`, offering permessage-deflate when asked. */
export async function openRawWs(
  port: number,
  options: { deflate?: boolean; path?: string } = {},
): Promise<RawWs> {
  const dialed = await dialWebSocket(
    `ws://127.0.0.1:${port}${options.path ?? "/ws"}`,
    { deflate: options.deflate ?? false, timeoutMs: 10_000 },
  );
  const protocol = new WsProtocol({
    role: "client",
    maxMessageSize: 64 * 1024 * 1024,
    deflate: dialed.deflate ?? undefined,
  });
  const conn = dialed.conn;
  if (dialed.leftover.length > 0) protocol.receive(dialed.leftover);
  return {
    conn,
    protocol,
    compressing: dialed.deflate !== null,
    async close() {
      try {
        protocol.close(1000);
        for (const chunk of protocol.takeOutput() ?? []) {
          await conn.write(chunk);
        }
      } catch {
        // Gone already.
      }
      try {
        conn.close();
      } catch {
        // Closed.
      }
      protocol[Symbol.dispose]();
    },
  };
}

/** A binary message of `size` bytes: text-like, so deflate has work to do. */
export function benchPayload(size: number): Uint8Array {
  const words = [
    "netkit",
    "socket",
    "frame",
    "latency",
    '{"id":',
    '"value":',
    "true,",
    "null}",
    "websocket",
    "buffer",
  ];
  const out = new Uint8Array(size);
  const enc = new TextEncoder();
  let seed = 12345;
  let at = 0;
  while (at < size) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const word = enc.encode(words[seed % words.length]! + (seed >>> 24) + " ");
    const take = Math.min(word.length, size - at);
    out.set(word.subarray(0, take), at);
    at += take;
  }
  return out;
}

/**
 * Sends `payload` (pre-encoded unless compressing) and reads until
 * `expect` messages came back; throws on a wrong size or a close.
 */
class Exchanger {
  #ws: RawWs;
  #buf = new Uint8Array(READ_SIZE);
  #frame: Uint8Array | null;
  #payload: Uint8Array;
  // Pre-encoded frames back to back; batches are views of it.
  #many = new Uint8Array(0);

  constructor(ws: RawWs, payload: Uint8Array) {
    this.#ws = ws;
    this.#payload = payload;
    this.#frame = ws.compressing ? null : encodeFrame({
      opcode: OPCODE.binary,
      payload,
      mask: KEY,
    });
  }

  /** Frames for `n` messages, in one buffer when pre-encoded. */
  batch(n: number): Uint8Array[] {
    if (this.#frame) {
      if (n === 1) return [this.#frame];
      const size = this.#frame.length;
      if (this.#many.length < size * n) {
        this.#many = new Uint8Array(size * n);
        for (let i = 0; i < n; i++) this.#many.set(this.#frame, i * size);
      }
      return [this.#many.subarray(0, size * n)];
    }
    for (let i = 0; i < n; i++) {
      this.#ws.protocol.sendBinary(this.#payload);
    }
    return this.#ws.protocol.takeOutput() ?? [];
  }

  async write(chunks: Uint8Array[]): Promise<void> {
    for (const chunk of chunks) {
      let off = 0;
      while (off < chunk.length) {
        off += await this.#ws.conn.write(chunk.subarray(off));
      }
    }
  }

  /** Reads until at least one message arrived; returns how many did. */
  async receive(): Promise<number> {
    for (;;) {
      const n = await this.#ws.conn.read(this.#buf);
      if (n === null) throw new Error("server closed the connection");
      if (this.#frame) {
        const got = this.#skip(n);
        if (got > 0) return got;
        continue;
      }
      const events = this.#ws.protocol.receive(this.#buf.subarray(0, n));
      const got = this.#count(events);
      // Pongs the core queued, and the like.
      if (this.#ws.protocol.hasOutput) {
        await this.write(this.#ws.protocol.takeOutput() ?? []);
      }
      if (got > 0) return got;
    }
  }

  // Uncompressed echoes are only counted and their sizes checked, header
  // by header, without copying payloads: a few operations per message, so
  // the client costs far less than any server. (Anything but an unmasked
  // final binary frame of the size sent fails the run.)
  #header = new Uint8Array(10);
  #headerHave = 0;
  #skipLeft = 0;

  #skip(n: number): number {
    const buf = this.#buf;
    let got = 0;
    let i = 0;
    while (i < n) {
      if (this.#skipLeft > 0) {
        const take = Math.min(this.#skipLeft, n - i);
        this.#skipLeft -= take;
        i += take;
        if (this.#skipLeft === 0) got++;
        continue;
      }
      this.#header[this.#headerHave++] = buf[i++]!;
      if (this.#headerHave < 2) continue;
      const b0 = this.#header[0]!;
      const len7 = this.#header[1]! & 0x7f;
      const need = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
      if (this.#headerHave < need) continue;
      if (b0 !== 0x82 || (this.#header[1]! & 0x80) !== 0) {
        throw new Error(
          `unexpected frame from the server (byte 0x${b0.toString(16)})`,
        );
      }
      const length = need === 2
        ? len7
        : need === 4
        ? this.#header[2]! << 8 | this.#header[3]!
        : new DataView(this.#header.buffer).getUint32(6) +
          new DataView(this.#header.buffer).getUint32(2) * 2 ** 32;
      if (length !== this.#payload.length) {
        throw new Error(
          `echo of ${length} bytes for ${this.#payload.length} sent`,
        );
      }
      this.#headerHave = 0;
      if (length === 0) got++;
      else this.#skipLeft = length;
    }
    return got;
  }

  #count(events: WsProtocolEvent[]): number {
    let got = 0;
    for (const event of events) {
      if (!("type" in event)) {
        throw new Error(`protocol error from the server: ${event.reason}`);
      }
      if (event.type === "binary" || event.type === "text") {
        const length = event.type === "binary"
          ? event.data.length
          : event.bytes?.length ?? event.data.length;
        if (length !== this.#payload.length) {
          throw new Error(
            `echo of ${length} bytes for ${this.#payload.length} sent`,
          );
        }
        got++;
      } else if (event.type === "close") {
        throw new Error(`server closed (${event.code} ${event.reason})`);
      }
    }
    return got;
  }
}

/** Round-trip latencies of one message at a time. */
export interface PingPongFigures {
  p50Us: number;
  p99Us: number;
  count: number;
}

/**
 * Sequential round trips of `payload` on `ws`: a warm-up of `warmup`
 * messages, then as many as fit in `windowMs` (at least `minCount`).
 */
export async function pingPongSize(
  ws: RawWs,
  payload: Uint8Array,
  options: { warmup: number; windowMs: number; minCount: number },
): Promise<PingPongFigures> {
  const x = new Exchanger(ws, payload);
  // Every sample kept (a window holds thousands at most): exact
  // percentiles, and no 100 ms ceiling for slow compressed round trips.
  const samples: number[] = [];
  // Compressed messages are made one by one: with context takeover each
  // depends on the ones sent before.
  const one = ws.compressing ? null : x.batch(1);
  for (let i = 0; i < options.warmup; i++) {
    await x.write(one ?? x.batch(1));
    await x.receive();
  }
  const end = performance.now() + options.windowMs;
  let count = 0;
  while (count < options.minCount || performance.now() < end) {
    const t0 = performance.now();
    await x.write(one ?? x.batch(1));
    let got = 0;
    while (got < 1) got += await x.receive();
    samples.push((performance.now() - t0) * 1000);
    count++;
  }
  samples.sort((a, b) => a - b);
  const at = (p: number) =>
    samples[Math.min(count - 1, Math.ceil(p / 100 * count) - 1)]!;
  return { p50Us: at(50), p99Us: at(99), count };
}

/** What a pipelined run gives. */
export interface FloodFigures {
  msgsPerSecond: number;
  /** Client CPU microseconds per message (is the client the bottleneck?). */
  clientUsPerMessage: number;
  clientCpu: number;
}

/**
 * Keeps `inFlight` messages of `payload` outstanding on `ws` until
 * `count` were echoed (after `warmup` not counted). Replies of one read
 * are answered by one write of as many new messages.
 */
export async function floodRaw(
  ws: RawWs,
  payload: Uint8Array,
  options: { count: number; inFlight: number; warmup: number },
): Promise<FloodFigures> {
  const x = new Exchanger(ws, payload);
  const run = async (count: number) => {
    let sent = Math.min(options.inFlight, count);
    let received = 0;
    await x.write(x.batch(sent));
    while (received < count) {
      const got = await x.receive();
      received += got;
      const more = Math.min(got, count - sent);
      if (more > 0) {
        sent += more;
        await x.write(x.batch(more));
      }
    }
  };
  await run(options.warmup);
  const cpu0 = cpuSeconds("self");
  const t0 = performance.now();
  await run(options.count);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds("self") - cpu0;
  return {
    msgsPerSecond: options.count / seconds,
    clientUsPerMessage: cpu * 1e6 / options.count,
    clientCpu: cpu / seconds,
  };
}
