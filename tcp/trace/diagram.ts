/**
 * Packets to a sequence diagram ({@linkcode SequenceDiagram} of
 * `view/`): one arrow per TCP or UDP packet, labelled with its flags in
 * words and its relative numbers, the expert's notes under it and both
 * sides' states beside it. Draw it with `sequenceText`, `sequenceSvg` or
 * `sequenceHtml` from `@netkit/netkit/view`.
 *
 * @module
 */

import type {
  SequenceArrow,
  SequenceDiagram,
  SequenceTone,
} from "../../view/sequence_diagram.ts";
import type { TracePacket } from "./types.ts";

/** Options for {@linkcode traceDiagram}. */
export interface TraceDiagramOptions {
  /** The diagram's title. */
  title?: string;
  /** Times are measured from here (ms since the epoch). Default: the first packet. */
  startMs?: number;
  /**
   * The name of each connection by its client end (`host:port`), e.g.
   * `client 3`; by default, when several connections share the columns,
   * the client's port.
   */
  nameOf?: (client: string) => string | undefined;
}

const PROBLEMS = new Set([
  "retransmission",
  "duplicate-ack",
  "zero-window",
  "window-probe",
  "reset",
  "malformed",
]);

/**
 * The arrow for one packet, or `undefined` for a packet that is neither
 * TCP nor UDP.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { packetArrow, type TracePacket } from "@netkit/netkit/tcp/trace";
 *
 * const p: TracePacket = {
 *   index: 1, timeMs: 5, capturedLength: 54, wireLength: 54, ipVersion: 4, protocol: 6,
 *   src: "127.0.0.1", dst: "127.0.0.1", from: "server",
 *   tcp: { srcPort: 80, dstPort: 40000, seq: 9, ack: 2, flags: 0x12, flagText: "S.",
 *     window: 100, headerLength: 20, urgent: 0, options: { order: [] },
 *     payloadLength: 0, payloadOffset: 54 },
 *   relSeq: 0, relAck: 1, windowBytes: 100, notes: [],
 * };
 * const arrow = packetArrow(p, 0);
 * assert.equal(arrow?.label, "SYN-ACK");
 * assert.equal(arrow?.detail, "seq 0 ack 1 win 100");
 * assert.equal(arrow?.from, "server");
 * ```
 */
export function packetArrow(
  p: TracePacket,
  startMs: number,
  who?: string,
): SequenceArrow | undefined {
  if (p.from === undefined) return undefined;
  const arrow: SequenceArrow = {
    kind: "arrow",
    tMs: p.timeMs - startMs,
    from: p.from,
    label: p.tcp ? flagWords(p.tcp.flags) : "UDP",
    tone: tone(p),
  };
  if (p.tcp) {
    const seq = p.relSeq ?? p.tcp.seq;
    const len = p.tcp.payloadLength;
    const parts = [len > 0 ? `seq ${seq}:${(seq + len) >>> 0}` : `seq ${seq}`];
    if (p.tcp.flags & 0x10) parts.push(`ack ${p.relAck ?? p.tcp.ack}`);
    parts.push(`win ${p.windowBytes ?? p.tcp.window}`);
    arrow.detail = parts.join(" ");
  } else if (p.udp) arrow.detail = `len ${p.udp.payloadLength}`;
  if (p.notes.length > 0) arrow.note = p.notes.map((n) => n.text).join("; ");
  if (p.states) arrow.states = { ...p.states };
  if (who !== undefined) arrow.who = who;
  return arrow;
}

/**
 * A diagram of packets (one conversation or several sharing the columns).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { traceDiagram } from "@netkit/netkit/tcp/trace";
 *
 * const d = traceDiagram([], { title: "nothing" });
 * assert.deepEqual(d, { title: "nothing", client: "client", server: "server", items: [] });
 * ```
 */
export function traceDiagram(
  packets: readonly TracePacket[],
  options: TraceDiagramOptions = {},
): SequenceDiagram {
  const start = options.startMs ?? packets[0]?.timeMs ?? 0;
  const clients = new Set(packets.map((p) => p.client).filter(Boolean));
  const one = clients.size === 1
    ? packets.find((p) => p.client !== undefined)
    : undefined;
  const diagram: SequenceDiagram = {
    ...(options.title === undefined ? {} : { title: options.title }),
    client: one ? `client ${one.client}` : "client",
    server: one ? `server ${one.server}` : "server",
    items: [],
  };
  for (const p of packets) {
    const name = p.client === undefined
      ? undefined
      : options.nameOf?.(p.client) ??
        (clients.size > 1
          ? `:${p.client.slice(p.client.lastIndexOf(":") + 1)}`
          : undefined);
    const arrow = packetArrow(p, start, name);
    if (arrow) diagram.items.push(arrow);
  }
  return diagram;
}

/** Flags in words: `SYN`, `SYN-ACK`, `PSH-ACK`, `FIN-ACK`, `RST`, `ACK`. */
function flagWords(flags: number): string {
  const words: string[] = [];
  if (flags & 0x02) words.push("SYN");
  if (flags & 0x01) words.push("FIN");
  if (flags & 0x04) words.push("RST");
  if (flags & 0x08) words.push("PSH");
  if (flags & 0x20) words.push("URG");
  if (flags & 0x10) words.push("ACK");
  return words.length === 0 ? "none" : words.join("-");
}

function tone(p: TracePacket): SequenceTone {
  if (p.notes.some((n) => PROBLEMS.has(n.kind))) return "problem";
  if (p.tcp && p.tcp.flags & 0x07) return "control";
  return "data";
}
