/**
 * See the packets: a packet capture netkit owns (a raw packet socket read
 * through FFI, no tcpdump needed), an I/O-free decoder (Ethernet and Linux
 * loopback, IPv4, IPv6, TCP with its options, UDP; hostile input never
 * throws), the expert's annotations (handshake, retransmissions and their
 * intervals, duplicate ACKs, zero windows and probes, window updates, RST
 * and FIN and who sent them, TIME_WAIT) with each side's state, one line
 * per packet in the spirit of `tcpdump -n`, classic pcap files, and
 * sequence diagrams.
 *
 * The capture needs Linux and root or CAP_NET_RAW; everything else is
 * plain functions on bytes and records.
 *
 * @example Decode, annotate and print one frame
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTraceAnalyzer, decodeFrame, formatPacket } from "@netkit/netkit/tcp/trace";
 *
 * const frame = new Uint8Array(54);
 * const v = new DataView(frame.buffer);
 * v.setUint16(12, 0x0800);
 * frame.set([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1], 14);
 * v.setUint16(34, 40000);
 * v.setUint16(36, 8080);
 * v.setUint32(38, 123456);
 * frame[46] = 0x50;
 * frame[47] = 0x02; // SYN
 * v.setUint16(48, 65495);
 * const packet = createTraceAnalyzer().add(decodeFrame(frame), 0);
 * assert.match(formatPacket(packet, { startMs: 0 }), /Flags \[S\], seq 0, win 65495, length 0 \| handshake 1\/3/);
 * ```
 *
 * @module
 */

export type * from "./types.ts";
export * from "./decode.ts";
export * from "./analyze.ts";
export * from "./format.ts";
export * from "./pcap.ts";
export * from "./capture.ts";
export * from "./trace.ts";
export * from "./diagram.ts";
