/**
 * The expert: decoded packets in, in capture order, each one annotated as
 * Wireshark's expert does (handshake, retransmission and its interval,
 * duplicate ACK, zero window, window full, window probe, window update,
 * keep-alive, RST and which side sent it, FIN and its ACK, TIME_WAIT
 * begins) with sequence numbers made relative to each side's ISN, the
 * window scaled, and the state each side is in after the packet.
 *
 * It does no I/O: time comes with each packet. It keeps a little state per
 * conversation (bounded) and nothing per packet beyond the transmissions
 * not yet acknowledged (bounded per side).
 *
 * The states are those the packets imply when every packet is delivered.
 * A capture on loopback sees a packet before a firewall (nftables) on the
 * same host drops it, so a dropped packet makes a state run ahead until a
 * retransmission shows the packet was lost; the state is corrected then,
 * and the note says what was lost.
 *
 * @module
 */

import type {
  DecodedPacket,
  TcpHeader,
  TcpStateName,
  TraceNote,
  TracePacket,
} from "./types.ts";

/** Options for {@linkcode createTraceAnalyzer}. */
export interface TraceAnalyzerOptions {
  /**
   * Ports servers listen on (e.g. the port a trace filters on): when a
   * conversation is seen without its SYN (and for UDP), the end on one of
   * these ports is taken as the server; otherwise the end with the lower
   * port is. A `Set` is consulted as it is when each conversation starts,
   * so a caller may add ports as it learns them.
   */
  serverPorts?: Iterable<number>;
  /** How many conversations are tracked at once; the oldest closed ones go first. Default 4096. */
  maxConversations?: number;
}

/** The analyzer: one {@linkcode TracePacket} per decoded packet. */
export interface TraceAnalyzer {
  /** Annotates one decoded packet captured at `timeMs` (ms since the epoch). */
  add(packet: DecodedPacket, timeMs: number): TracePacket;
  /** How many conversations are tracked now. */
  readonly conversations: number;
}

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;
/**
 * Transmissions remembered per side to time a retransmission, oldest
 * forgotten first. They are kept after an ACK covers them: a capture sees
 * ACKs that a firewall then drops, and the retransmission still needs its
 * interval.
 */
const MAX_SENT = 1024;
const DEFAULT_MAX_CONVERSATIONS = 4096;
/** Entries looked at when a conversation must be forgotten. */
const EVICT_SCAN = 64;

interface Transmission {
  end: number;
  at: number;
}

interface Side {
  addr: string;
  port: number;
  /** Raw sequence number relative numbers start from (the ISN when the SYN was seen). */
  base?: number;
  sawSyn: boolean;
  /** When it last sent its SYN (or SYN-ACK). */
  synAt?: number;
  /** Raw sequence number after the highest byte (SYN, FIN included) sent. */
  next?: number;
  /** The shift announced in its SYN. */
  wscale?: number;
  lastAck?: number;
  /** Raw window field of its last segment. */
  lastWindow?: number;
  /** Raw sequence number of its FIN. */
  finSeq?: number;
  finAcked: boolean;
  state: TcpStateName;
  sent: Map<number, Transmission>;
  dupAcks: number;
  /** Time of its last window probe or keep-alive. */
  lastProbeAt?: number;
}

interface Conversation {
  client: Side;
  server: Side;
  tcp: boolean;
  /** "on" when both SYNs carried a window scale, "off" when the handshake showed it is not in use. */
  scaling: "unknown" | "on" | "off";
  synAckSeen: boolean;
  /** The client retransmitted its SYN since the last SYN-ACK. */
  synRepeated: boolean;
}

/**
 * Starts an analyzer.
 *
 * @example The three-way handshake, annotated
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTraceAnalyzer, type DecodedPacket } from "@netkit/netkit/tcp/trace";
 *
 * const seg = (from: number, to: number, flags: number, seq: number, ack: number): DecodedPacket => ({
 *   capturedLength: 54, wireLength: 54, ipVersion: 4, protocol: 6,
 *   src: "127.0.0.1", dst: "127.0.0.1",
 *   tcp: { srcPort: from, dstPort: to, seq, ack, flags, flagText: "", window: 100,
 *     headerLength: 20, urgent: 0, options: { order: [] }, payloadLength: 0, payloadOffset: 54 },
 * });
 * const expert = createTraceAnalyzer();
 * const syn = expert.add(seg(40000, 80, 0x02, 1000, 0), 0);
 * const synAck = expert.add(seg(80, 40000, 0x12, 5000, 1001), 1);
 * const ack = expert.add(seg(40000, 80, 0x10, 1001, 5001), 2);
 * assert.equal(syn.notes[0]?.text, "handshake 1/3 (SYN)");
 * assert.deepEqual(synAck.states, { client: "ESTABLISHED", server: "SYN_RECV" });
 * assert.deepEqual([ack.relSeq, ack.relAck], [1, 1]);
 * assert.deepEqual(ack.states, { client: "ESTABLISHED", server: "ESTABLISHED" });
 * ```
 */
export function createTraceAnalyzer(
  options: TraceAnalyzerOptions = {},
): TraceAnalyzer {
  const serverPorts = options.serverPorts instanceof Set
    ? options.serverPorts as Set<number>
    : new Set(options.serverPorts ?? []);
  const max = Math.max(
    1,
    options.maxConversations ?? DEFAULT_MAX_CONVERSATIONS,
  );
  const conversations = new Map<string, Conversation>();
  let index = 0;

  function remember(key: string, conv: Conversation): void {
    conversations.delete(key);
    if (conversations.size >= max) evict();
    conversations.set(key, conv);
  }

  function evict(): void {
    let scanned = 0;
    for (const [key, conv] of conversations) {
      if (++scanned > EVICT_SCAN) break;
      if (isOver(conv.client.state) && isOver(conv.server.state)) {
        conversations.delete(key);
        return;
      }
    }
    const oldest = conversations.keys().next();
    if (!oldest.done) conversations.delete(oldest.value);
  }

  return {
    get conversations() {
      return conversations.size;
    },
    add(packet, timeMs) {
      const out: TracePacket = { ...packet, index: ++index, timeMs, notes: [] };
      if (packet.problem) {
        out.notes.push({ kind: "malformed", text: packet.problem });
      }
      const ports = packet.tcp ?? packet.udp;
      if (!ports || packet.src === undefined || packet.dst === undefined) {
        return out;
      }
      const src = endpoint(packet.src, ports.srcPort);
      const dst = endpoint(packet.dst, ports.dstPort);
      const key = `${packet.tcp ? "tcp" : "udp"} ${
        src < dst ? `${src} ${dst}` : `${dst} ${src}`
      }`;
      let conv = conversations.get(key);
      const tcp = packet.tcp;
      const opening = tcp !== undefined && (tcp.flags & (SYN | ACK)) === SYN;
      if (
        !conv || (opening && !isSynRepeat(conv, src, tcp.seq))
      ) {
        conv = newConversation(packet, src, dst, ports, serverPorts);
      }
      remember(key, conv);
      const from = conv.client.addr === src ? "client" : "server";
      out.from = from;
      out.client = conv.client.addr;
      out.server = conv.server.addr;
      if (tcp) {
        const [a, b] = from === "client"
          ? [conv.client, conv.server]
          : [conv.server, conv.client];
        analyzeTcp(conv, a, b, tcp, from, timeMs, out);
        out.states = { client: conv.client.state, server: conv.server.state };
      }
      return out;
    },
  };
}

function endpoint(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function isOver(state: TcpStateName): boolean {
  return state === "CLOSED" || state === "TIME_WAIT";
}

function isSynRepeat(conv: Conversation, src: string, seq: number): boolean {
  return conv.client.addr === src && conv.client.sawSyn &&
    conv.client.base === seq;
}

function newSide(addr: string, port: number): Side {
  return {
    addr,
    port,
    sawSyn: false,
    finAcked: false,
    state: "?",
    sent: new Map(),
    dupAcks: 0,
  };
}

function newConversation(
  packet: DecodedPacket,
  src: string,
  dst: string,
  ports: { srcPort: number; dstPort: number },
  serverPorts: ReadonlySet<number>,
): Conversation {
  const flags = packet.tcp?.flags ?? 0;
  // Who is the client: the SYN's sender; the SYN-ACK's receiver; the end
  // not on a known server port; the end with the higher port.
  let srcIsClient: boolean;
  if ((flags & (SYN | ACK)) === SYN) srcIsClient = true;
  else if ((flags & (SYN | ACK)) === (SYN | ACK)) srcIsClient = false;
  else if (serverPorts.has(ports.dstPort)) srcIsClient = true;
  else if (serverPorts.has(ports.srcPort)) srcIsClient = false;
  else srcIsClient = ports.srcPort >= ports.dstPort;
  const s = newSide(src, ports.srcPort);
  const d = newSide(dst, ports.dstPort);
  return {
    client: srcIsClient ? s : d,
    server: srcIsClient ? d : s,
    tcp: packet.tcp !== undefined,
    scaling: "unknown",
    synAckSeen: false,
    synRepeated: false,
  };
}

/** `a < b` in sequence space (RFC 1982). */
function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`;
}

function analyzeTcp(
  conv: Conversation,
  a: Side,
  b: Side,
  tcp: TcpHeader,
  from: "client" | "server",
  t: number,
  out: TracePacket,
): void {
  const to = from === "client" ? "server" : "client";
  const notes = out.notes;
  const syn = (tcp.flags & SYN) !== 0;
  const fin = (tcp.flags & FIN) !== 0;
  const rst = (tcp.flags & RST) !== 0;
  const ack = (tcp.flags & ACK) !== 0;
  const len = tcp.payloadLength;
  const segLen = len + (syn ? 1 : 0) + (fin ? 1 : 0);

  if (a.base === undefined && !syn) a.base = (tcp.seq - 1) >>> 0;
  if (ack && b.base === undefined) b.base = (tcp.ack - 1) >>> 0;

  if (syn) handshake(conv, a, b, tcp, t, notes);
  else if (rst) {
    const refused = to === "client" && b.state === "SYN_SENT";
    notes.push({
      kind: "reset",
      text: `RST from the ${from}${
        refused ? ": connection refused" : ": the connection is aborted"
      }`,
    });
    a.state = "CLOSED";
    b.state = "CLOSED";
  } else {
    if (a.state === "?" || b.state === "?") {
      // Seen mid-conversation: data and ACKs mean it is established.
      if (a.state === "?") a.state = "ESTABLISHED";
      if (b.state === "?") b.state = "ESTABLISHED";
    }
    if (
      ack && a === conv.client && b.state === "SYN_RECV" &&
      b.base !== undefined && tcp.ack === ((b.base + 1) >>> 0)
    ) {
      b.state = "ESTABLISHED";
      if (a.state === "SYN_SENT") a.state = "ESTABLISHED";
      notes.push({
        kind: "handshake",
        text: len > 0
          ? "handshake 3/3 (ACK, with data)"
          : "handshake 3/3 (ACK)",
      });
    }
    segment(conv, a, b, tcp, segLen, from, to, t, notes);
  }

  out.relSeq = a.base === undefined ? undefined : (tcp.seq - a.base) >>> 0;
  if (ack && b.base !== undefined) out.relAck = (tcp.ack - b.base) >>> 0;
  const shift = syn
    ? 0
    : conv.scaling === "on"
    ? a.wscale ?? 0
    : conv.scaling === "off"
    ? 0
    : undefined;
  out.windowShift = shift;
  out.windowBytes = tcp.window * 2 ** (shift ?? 0);

  if (segLen > 0) {
    remember(a, tcp.seq, (tcp.seq + segLen) >>> 0, t);
    if (a.next === undefined || seqLt(a.next, (tcp.seq + segLen) >>> 0)) {
      a.next = (tcp.seq + segLen) >>> 0;
    }
  }
  if (ack && !rst) {
    if (a.lastAck === undefined || seqLt(a.lastAck, tcp.ack)) a.dupAcks = 0;
    a.lastAck = tcp.ack;
  }
  if (!rst) a.lastWindow = tcp.window;
}

function handshake(
  conv: Conversation,
  a: Side,
  b: Side,
  tcp: TcpHeader,
  t: number,
  notes: TraceNote[],
): void {
  const isAck = (tcp.flags & ACK) !== 0;
  const repeat = a.sawSyn && a.base === tcp.seq;
  const previous = repeat ? a.synAt : undefined;
  a.synAt = t;
  const intervalMs = previous === undefined ? undefined : t - previous;
  const after = intervalMs === undefined ? "" : ` after ${seconds(intervalMs)}`;
  if (!isAck) {
    if (repeat) {
      notes.push({
        kind: "retransmission",
        text: `SYN retransmitted${after}: ${
          conv.synAckSeen
            ? "the SYN-ACK did not reach the client"
            : "no SYN-ACK came back (the listener ignored the SYN, or it was lost)"
        }`,
        intervalMs,
      });
      conv.synRepeated = true;
    } else {
      notes.push({ kind: "handshake", text: "handshake 1/3 (SYN)" });
    }
    a.sawSyn = true;
    a.base = tcp.seq;
    a.wscale = tcp.options.windowScale;
    a.state = "SYN_SENT";
    b.state = conv.synAckSeen ? "SYN_RECV" : "LISTEN";
    return;
  }
  if (repeat) {
    notes.push({
      kind: "retransmission",
      text: conv.synRepeated
        ? "SYN-ACK sent again, answering the retransmitted SYN"
        : `SYN-ACK retransmitted${after}: no ACK from the client reached the server`,
      intervalMs,
    });
  } else {
    notes.push({ kind: "handshake", text: "handshake 2/3 (SYN-ACK)" });
  }
  conv.synRepeated = false;
  conv.synAckSeen = true;
  a.sawSyn = true;
  a.base = tcp.seq;
  a.wscale = tcp.options.windowScale;
  conv.scaling = b.wscale !== undefined && a.wscale !== undefined
    ? "on"
    : "off";
  a.state = "SYN_RECV";
  b.state = "ESTABLISHED";
}

function segment(
  conv: Conversation,
  a: Side,
  b: Side,
  tcp: TcpHeader,
  segLen: number,
  from: "client" | "server",
  to: "client" | "server",
  t: number,
  notes: TraceNote[],
): void {
  const fin = (tcp.flags & FIN) !== 0;
  const ack = (tcp.flags & ACK) !== 0;
  const len = tcp.payloadLength;
  const peerClosed = b.lastWindow === 0;

  // Probes first: a zero-window probe or keep-alive repeats the byte
  // before the next one (seq = next - 1) or, as Wireshark counts it, sends
  // one new byte into a zero window.
  const probe = a.next !== undefined && !fin && (
    (len === 0 && tcp.seq === ((a.next - 1) >>> 0)) ||
    (peerClosed && len === 1 && tcp.seq === a.next)
  );
  if (probe) {
    const since = a.lastProbeAt === undefined
      ? ""
      : ` (${seconds(t - a.lastProbeAt)} after the last)`;
    notes.push(
      peerClosed
        ? {
          kind: "window-probe",
          text: `window probe: is the ${to}'s window still zero?${since}`,
          intervalMs: a.lastProbeAt === undefined
            ? undefined
            : t - a.lastProbeAt,
        }
        : { kind: "keep-alive", text: `keep-alive from the ${from}${since}` },
    );
    a.lastProbeAt = t;
  } else if (
    segLen > 0 && a.next !== undefined && seqLt(tcp.seq, a.next)
  ) {
    const prev = sentBefore(a, tcp.seq);
    const after = prev === undefined ? "" : ` after ${seconds(t - prev.at)}`;
    const what = len > 0 ? `${len} bytes` : "FIN";
    notes.push({
      kind: "retransmission",
      text: `retransmission (${what})${after}${
        fin && len === 0 && a.finSeq === tcp.seq
          ? `: the ${to}'s ACK of the FIN did not reach the ${from}`
          : ""
      }`,
      intervalMs: prev === undefined ? undefined : t - prev.at,
    });
    if (fin && len === 0 && a.finSeq === tcp.seq && a.finAcked) {
      // The ACK seen earlier was lost: the FIN is still unacknowledged.
      a.finAcked = false;
      if (a.state === "FIN_WAIT2") a.state = "FIN_WAIT1";
      if (a.state === "CLOSED" || a.state === "TIME_WAIT") a.state = "LAST_ACK";
    }
  }

  // What this packet acknowledges.
  if (ack && b.finSeq !== undefined && !b.finAcked) {
    if (tcp.ack === ((b.finSeq + 1) >>> 0)) {
      b.finAcked = true;
      if (b.state === "FIN_WAIT1") {
        b.state = "FIN_WAIT2";
        notes.push({
          kind: "fin-acked",
          text: `ACKs the ${to}'s FIN: ${to} FIN_WAIT2`,
        });
      } else if (b.state === "CLOSING") {
        b.state = "TIME_WAIT";
        notes.push(timeWait(to));
      } else if (b.state === "LAST_ACK") {
        b.state = "CLOSED";
        notes.push({
          kind: "fin-acked",
          text: `ACKs the ${to}'s FIN: the ${to}'s socket is closed`,
        });
      }
    }
  }

  if (tcp.window === 0) {
    notes.push({
      kind: "zero-window",
      text: a.lastWindow === 0
        ? `zero window: the ${from}'s receive buffer is still full`
        : `zero window: the ${from}'s receive buffer is full`,
    });
  } else if (
    ack && len === 0 && !fin && !probe && a.lastAck === tcp.ack &&
    a.lastWindow !== undefined && tcp.window !== a.lastWindow
  ) {
    notes.push({
      kind: "window-update",
      text: a.lastWindow === 0
        ? `window update: the ${from}'s window opens again`
        : "window update",
    });
  } else if (
    ack && len === 0 && !fin && !probe && a.lastAck === tcp.ack &&
    tcp.window === a.lastWindow && b.next !== undefined &&
    seqLt(tcp.ack, b.next)
  ) {
    a.dupAcks++;
    notes.push({
      kind: "duplicate-ack",
      text: `duplicate ACK #${a.dupAcks}: the ${from} is missing bytes`,
    });
  }

  if (
    len > 0 && b.lastAck !== undefined && b.lastWindow !== undefined &&
    b.lastWindow > 0
  ) {
    const shift = conv.scaling === "on" ? b.wscale ?? 0 : 0;
    const windowEnd = (b.lastAck + b.lastWindow * 2 ** shift) >>> 0;
    if (((tcp.seq + len) >>> 0) === windowEnd) {
      notes.push({
        kind: "window-full",
        text: `window full: this fills the ${to}'s advertised window`,
      });
    }
  }

  if (fin && a.finSeq === undefined) {
    a.finSeq = (tcp.seq + len) >>> 0;
    if (a.state === "CLOSE_WAIT") a.state = "LAST_ACK";
    else a.state = "FIN_WAIT1";
    notes.push({
      kind: "fin",
      text: `FIN from the ${from}: it sends no more data`,
    });
    if (b.state === "FIN_WAIT2") {
      b.state = "TIME_WAIT";
      notes.push(timeWait(to));
    } else if (b.state === "FIN_WAIT1") b.state = "CLOSING";
    else if (b.state !== "TIME_WAIT" && b.state !== "CLOSED") {
      b.state = "CLOSE_WAIT";
    }
  }
}

function timeWait(side: "client" | "server"): TraceNote {
  return {
    kind: "time-wait",
    text: `TIME_WAIT begins on the ${side} (60 s on Linux)`,
  };
}

function remember(a: Side, seq: number, end: number, at: number): void {
  const known = a.sent.get(seq);
  if (known) {
    known.at = at;
    if (seqLt(known.end, end)) known.end = end;
    return;
  }
  if (a.sent.size >= MAX_SENT) {
    const oldest = a.sent.keys().next();
    if (!oldest.done) a.sent.delete(oldest.value);
  }
  a.sent.set(seq, { end, at });
}

/** The earlier transmission that carried byte `seq`, if remembered. */
function sentBefore(a: Side, seq: number): Transmission | undefined {
  const exact = a.sent.get(seq);
  if (exact) return exact;
  for (const [start, tx] of a.sent) {
    if (!seqLt(seq, start) && seqLt(seq, tx.end)) return tx;
  }
  return undefined;
}
