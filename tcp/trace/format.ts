/**
 * One line per packet, in the spirit of `tcpdump -n`: the same fields in
 * the same words (`Flags [S.]`, `seq 1:6`, `ack 1`, `win`, `options
 * [...]`, `length`), sequence numbers relative to each side's ISN, the
 * window scaled, then netkit's notes and both sides' states.
 *
 * @module
 */

import type { TcpHeader, TracePacket } from "./types.ts";

/** Options for {@linkcode formatPacket}. */
export interface FormatPacketOptions {
  /** Times are printed relative to this (ms since the epoch). Default: the local time of day, `HH:MM:SS.micro`, as tcpdump. */
  startMs?: number;
  /** Append the notes and states. Default true. */
  expert?: boolean;
}

/**
 * The one-line text of a packet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatPacket, type TracePacket } from "@netkit/netkit/tcp/trace";
 *
 * const p: TracePacket = {
 *   index: 1, timeMs: 1000.5, capturedLength: 54, wireLength: 54,
 *   ipVersion: 4, protocol: 6, src: "127.0.0.1", dst: "127.0.0.1",
 *   tcp: { srcPort: 40000, dstPort: 80, seq: 7, ack: 0, flags: 0x02, flagText: "S",
 *     window: 65495, headerLength: 24, urgent: 0,
 *     options: { order: ["mss"], mss: 65495 }, payloadLength: 0, payloadOffset: 58 },
 *   relSeq: 0, windowBytes: 65495, windowShift: 0,
 *   notes: [{ kind: "handshake", text: "handshake 1/3 (SYN)" }],
 *   states: { client: "SYN_SENT", server: "LISTEN" },
 * };
 * assert.equal(
 *   formatPacket(p, { startMs: 1000 }),
 *   "+0.000500 IP 127.0.0.1.40000 > 127.0.0.1.80: Flags [S], seq 0, win 65495, " +
 *     "options [mss 65495], length 0 | handshake 1/3 (SYN) | client SYN_SENT, server LISTEN",
 * );
 * ```
 */
export function formatPacket(
  p: TracePacket,
  options: FormatPacketOptions = {},
): string {
  let line = `${clock(p.timeMs, options.startMs)} ${body(p)}`;
  if (options.expert === false) return line;
  if (p.notes.length > 0) line += ` | ${p.notes.map((n) => n.text).join("; ")}`;
  if (p.states) {
    line += ` | client ${p.states.client}, server ${p.states.server}`;
  }
  return line;
}

function clock(timeMs: number, startMs?: number): string {
  if (startMs !== undefined) {
    const s = Math.max(0, timeMs - startMs) / 1000;
    return `+${s.toFixed(6)}`;
  }
  const d = new Date(Math.floor(timeMs));
  const two = (n: number) => String(n).padStart(2, "0");
  const micro = Math.floor((timeMs % 1000) * 1000).toString().padStart(6, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${
    two(d.getSeconds())
  }.${micro}`;
}

function body(p: TracePacket): string {
  if (p.ipVersion === undefined) {
    const type = p.etherType === undefined
      ? "frame"
      : `ethertype 0x${p.etherType.toString(16).padStart(4, "0")}`;
    return `${type}, length ${p.wireLength}${problem(p)}`;
  }
  const ip = p.ipVersion === 6 ? "IP6" : "IP";
  const ports = p.tcp ?? p.udp;
  if (!ports) {
    return `${ip} ${p.src} > ${p.dst}: ${
      p.fragment ? "fragment" : `proto ${p.protocol}`
    }, length ${p.wireLength}${problem(p)}`;
  }
  const head = `${ip} ${p.src}.${ports.srcPort} > ${p.dst}.${ports.dstPort}:`;
  if (p.udp) return `${head} UDP, length ${p.udp.payloadLength}${problem(p)}`;
  return `${head} ${tcpText(p, p.tcp!)}${problem(p)}`;
}

function problem(p: TracePacket): string {
  return p.problem ? ` [${p.problem}]` : "";
}

function tcpText(p: TracePacket, tcp: TcpHeader): string {
  const parts = [`Flags [${tcp.flagText}]`];
  const seq = p.relSeq ?? tcp.seq;
  const len = tcp.payloadLength;
  parts.push(len > 0 ? `seq ${seq}:${(seq + len) >>> 0}` : `seq ${seq}`);
  if (tcp.flags & 0x10) parts.push(`ack ${p.relAck ?? tcp.ack}`);
  const shift = p.windowShift;
  parts.push(
    shift !== undefined && shift > 0
      ? `win ${p.windowBytes} (${tcp.window}<<${shift})`
      : `win ${tcp.window}`,
  );
  const opts = optionsText(tcp, p);
  if (opts) parts.push(`options [${opts}]`);
  parts.push(`length ${len}`);
  return parts.join(", ");
}

function optionsText(tcp: TcpHeader, p: TracePacket): string {
  const o = tcp.options;
  const unknown = [...(o.unknown ?? [])];
  const texts = o.order.map((kind) => {
    switch (kind) {
      case "mss":
        return `mss ${o.mss}`;
      case "wscale":
        return `wscale ${o.windowScale}`;
      case "sackOK":
        return "sackOK";
      case "TS":
        return `TS val ${o.timestamp?.value} ecr ${o.timestamp?.echo}`;
      case "sack": {
        // Relative to the receiver's base, as the acknowledgement number is.
        const base = p.relAck !== undefined ? (tcp.ack - p.relAck) >>> 0 : 0;
        const blocks = (o.sack ?? []).map(([l, r]) =>
          `{${(l - base) >>> 0}:${(r - base) >>> 0}}`
        );
        return `sack ${blocks.length} ${blocks.join("")}`;
      }
      case "other":
        return `opt-${unknown.shift()}`;
      default:
        return kind;
    }
  });
  if (o.malformed) texts.push("malformed");
  return texts.join(",");
}
