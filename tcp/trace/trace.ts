/**
 * A trace: the capture driver, the decoder and the expert put together,
 * with an optional pcap file beside. Raw socket → one reused buffer →
 * decoder → expert → your callback (and the file); nothing is kept per
 * packet.
 *
 * @module
 */

import {
  type CapturedFrame,
  type CaptureOptions,
  openCapture,
} from "./capture.ts";
import type { PacketCapture } from "./capture.ts";
import { decodeFrame } from "./decode.ts";
import { createTraceAnalyzer, type TraceAnalyzerOptions } from "./analyze.ts";
import { pcapFileHeader, pcapRecordHeader } from "./pcap.ts";
import type { TracePacket } from "./types.ts";
import { TcpError } from "../errors.ts";
import { errorMessage } from "../../_io.ts";

/** Options for {@linkcode startTrace} and {@linkcode tracePackets}. */
export interface TraceOptions extends CaptureOptions, TraceAnalyzerOptions {
  /** Keep only packets to or from this IP address (IPv4 or IPv6 literal). */
  host?: string;
  /** Stop after this many packets. */
  count?: number;
  /** Also write every kept packet to this classic pcap file (created or truncated). */
  write?: string;
}

/** Counts of a trace so far. */
export interface TraceStats {
  /** Packets kept (passed the filters) and handed over. */
  packets: number;
  /** Packets the socket received, before the host filter (both loopback copies count). */
  received: number;
  /** Packets the kernel dropped because the receive buffer was full. */
  dropped: number;
}

/** A running trace. */
export interface Tracer extends AsyncDisposable {
  /** The capture underneath. */
  readonly capture: PacketCapture;
  /**
   * Decodes and annotates the packets waiting now (without waiting) and
   * hands each to `onPacket` with its raw frame (reused once it returns).
   * Returns how many it handed over; 0 also once `count` is reached.
   */
  poll(onPacket: (packet: TracePacket, frame: CapturedFrame) => void): number;
  /** Waits off the main thread until packets are waiting (true) or `timeoutMs` passed. */
  wait(timeoutMs: number): Promise<boolean>;
  /** Whether `count` packets were handed over. */
  readonly done: boolean;
  /** Counts so far. */
  stats(): TraceStats;
  /** Flushes the pcap file and closes everything. */
  close(): Promise<void>;
}

/** Bytes of pcap records buffered before a write. */
const WRITE_BUFFER = 64 * 1024;

/**
 * Starts a trace (root or CAP_NET_RAW; see {@linkcode openCapture} for
 * the errors). Also throws `capture_failed` when the pcap file cannot be
 * created.
 *
 * @example
 * ```ts ignore
 * import { formatPacket, startTrace } from "@netkit/netkit/tcp/trace";
 *
 * await using tracer = startTrace({ port: 8080, count: 10 });
 * while (!tracer.done) {
 *   if (tracer.poll((p) => console.log(formatPacket(p))) === 0) await tracer.wait(100);
 * }
 * ```
 */
export function startTrace(options: TraceOptions = {}): Tracer {
  const host = options.host === undefined
    ? undefined
    : normalizeIp(options.host);
  const capture = openCapture(options);
  const expert = createTraceAnalyzer({
    serverPorts: options.serverPorts ??
      (options.port === undefined ? [] : [options.port]),
    maxConversations: options.maxConversations,
  });
  let file: PcapFile | undefined;
  try {
    if (options.write !== undefined) {
      file = pcapFile(options.write, capture);
    }
  } catch (error) {
    capture.close().catch(() => {});
    throw error;
  }
  const limit = options.count ?? Infinity;
  let packets = 0;

  return {
    capture,
    get done() {
      return packets >= limit;
    },
    poll(onPacket) {
      if (packets >= limit) return 0;
      let handed = 0;
      capture.drain((frame) => {
        const decoded = decodeFrame(frame.frame, {
          linkType: capture.linkType,
          wireLength: frame.wireLength,
        });
        if (
          host !== undefined && decoded.src !== host && decoded.dst !== host
        ) {
          return true;
        }
        const packet = expert.add(decoded, frame.timeMs);
        file?.add(frame);
        packets++;
        handed++;
        onPacket(packet, frame);
        return packets < limit;
      });
      return handed;
    },
    wait: (timeoutMs) => capture.wait(timeoutMs),
    stats() {
      const kernel = capture.stats();
      return { packets, received: kernel.received, dropped: kernel.dropped };
    },
    async close() {
      try {
        file?.close();
      } finally {
        await capture.close();
      }
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}

/**
 * The packets of a trace as they come, until `count` packets, `signal`
 * aborts or `durationMs` passed. Closes the capture when the loop ends.
 *
 * @example
 * ```ts ignore
 * import { formatPacket, tracePackets } from "@netkit/netkit/tcp/trace";
 *
 * for await (const p of tracePackets({ port: 8080, durationMs: 5000 })) {
 *   console.log(formatPacket(p));
 * }
 * ```
 */
export async function* tracePackets(
  options: TraceOptions & { durationMs?: number; signal?: AbortSignal } = {},
): AsyncGenerator<TracePacket> {
  const tracer = startTrace(options);
  const end = options.durationMs === undefined
    ? Infinity
    : performance.now() + options.durationMs;
  try {
    const batch: TracePacket[] = [];
    while (!tracer.done && !options.signal?.aborted) {
      const left = end - performance.now();
      if (left <= 0) break;
      batch.length = 0;
      tracer.poll((p) => batch.push(p));
      if (batch.length === 0) await tracer.wait(Math.min(100, left));
      for (const p of batch) yield p;
    }
  } finally {
    await tracer.close();
  }
}

interface PcapFile {
  add(frame: CapturedFrame): void;
  close(): void;
}

/** A pcap file written through one reused buffer. */
function pcapFile(path: string, capture: PacketCapture): PcapFile {
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path, { write: true, create: true, truncate: true });
  } catch (error) {
    throw new TcpError(
      "capture_failed",
      `cannot write ${path}: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  const buffer = new Uint8Array(WRITE_BUFFER + capture.snaplen + 16);
  let used = 0;
  const put = (bytes: Uint8Array) => {
    buffer.set(bytes, used);
    used += bytes.length;
  };
  const flush = () => {
    for (let off = 0; off < used;) {
      off += f.writeSync(buffer.subarray(off, used));
    }
    used = 0;
  };
  const header = new Uint8Array(16);
  put(pcapFileHeader({ snaplen: capture.snaplen, linkType: capture.linkType }));
  return {
    add(frame) {
      put(
        pcapRecordHeader(frame, frame.frame.length, frame.wireLength, {
          into: header,
        }),
      );
      put(frame.frame);
      if (used >= WRITE_BUFFER) flush();
    },
    close() {
      try {
        flush();
      } finally {
        f.close();
      }
    },
  };
}

/** An IP literal in the decoder's spelling (IPv6 compressed, lower case). */
function normalizeIp(host: string): string {
  const bare = host.replace(/^\[|\]$/g, "");
  if (!bare.includes(":")) return bare;
  let text: string;
  try {
    text = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  } catch {
    return bare.toLowerCase();
  }
  // The decoder writes IPv4-mapped addresses dotted, as tcpdump does.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(text);
  if (!mapped) return text;
  const hi = parseInt(mapped[1]!, 16);
  const lo = parseInt(mapped[2]!, 16);
  return `::ffff:${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}
