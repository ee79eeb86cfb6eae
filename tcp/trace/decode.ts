/**
 * The packet decoder: bytes of one captured frame in, a
 * {@linkcode DecodedPacket} out. It does no I/O and never throws: a
 * truncated or malformed frame gives a record with what could be read and
 * a `problem` saying where it stopped, so a hostile packet cannot end a
 * capture.
 *
 * @module
 */

import type {
  DecodedPacket,
  LinkType,
  TcpHeader,
  TcpOptionKind,
  TcpOptions,
  UdpHeader,
} from "./types.ts";

/** Options for {@linkcode decodeFrame}. */
export interface DecodeOptions {
  /** The link-layer header type (pcap `LINKTYPE_`). Default 1, Ethernet. */
  linkType?: LinkType;
  /** The frame's length on the wire when the capture kept less. Default: the bytes given. */
  wireLength?: number;
}

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_VLAN = [0x8100, 0x88a8];
const TCP = 6;
const UDP = 17;
/** IPv6 extension headers the decoder steps over. */
const IPV6_EXTENSIONS = new Set([0, 43, 60, 51]);
const IPV6_FRAGMENT = 44;
/** A chain longer than this is hostile: real stacks send one or two. */
const MAX_IPV6_EXTENSIONS = 8;

/**
 * Decodes one frame. Never throws.
 *
 * @example A SYN on loopback
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeFrame } from "@netkit/netkit/tcp/trace";
 *
 * const frame = new Uint8Array(54);
 * const v = new DataView(frame.buffer);
 * v.setUint16(12, 0x0800); // IPv4
 * frame.set([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6], 14);
 * frame.set([127, 0, 0, 1, 127, 0, 0, 1], 26);
 * v.setUint16(34, 40000); // source port
 * v.setUint16(36, 8080); // destination port
 * v.setUint32(38, 1000); // seq
 * frame[46] = 5 << 4; // header length 20
 * frame[47] = 0x02; // SYN
 * v.setUint16(48, 65495);
 * const p = decodeFrame(frame);
 * assert.equal(p.src, "127.0.0.1");
 * assert.equal(p.tcp?.flagText, "S");
 * assert.equal(p.tcp?.payloadLength, 0);
 * assert.equal(p.problem, undefined);
 * ```
 *
 * @example A truncated frame is reported, not thrown
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeFrame } from "@netkit/netkit/tcp/trace";
 *
 * const p = decodeFrame(new Uint8Array([0, 0, 0]));
 * assert.match(p.problem ?? "", /truncated/);
 * ```
 */
export function decodeFrame(
  frame: Uint8Array,
  options: DecodeOptions = {},
): DecodedPacket {
  const packet: DecodedPacket = {
    capturedLength: frame.length,
    wireLength: Math.max(options.wireLength ?? frame.length, frame.length),
  };
  try {
    decodeLink(
      new DataView(frame.buffer, frame.byteOffset, frame.byteLength),
      options.linkType ?? 1,
      packet,
    );
  } catch (error) {
    // Every read below is bounds-checked first; this is the last line of
    // defence so that no input can end a capture.
    packet.problem = `undecodable (${
      error instanceof Error ? error.message : String(error)
    })`;
  }
  return packet;
}

function decodeLink(v: DataView, link: LinkType, p: DecodedPacket): void {
  if (link === 101) {
    if (v.byteLength < 1) return void (p.problem = "truncated: empty frame");
    const version = v.getUint8(0) >> 4;
    if (version === 4) return decodeIpv4(v, 0, p);
    if (version === 6) return decodeIpv6(v, 0, p);
    p.problem = `raw IP frame with IP version ${version}`;
    return;
  }
  let off: number;
  let type: number;
  if (link === 113) {
    if (v.byteLength < 16) {
      return void (p.problem =
        `truncated link header (${v.byteLength} of 16 bytes)`);
    }
    type = v.getUint16(14);
    off = 16;
  } else {
    if (v.byteLength < 14) {
      return void (p.problem =
        `truncated Ethernet header (${v.byteLength} of 14 bytes)`);
    }
    type = v.getUint16(12);
    off = 14;
    // One or two VLAN tags (802.1Q, 802.1ad) before the real EtherType.
    for (let tags = 0; tags < 2 && ETH_VLAN.includes(type); tags++) {
      if (v.byteLength < off + 4) {
        return void (p.problem = "truncated VLAN tag");
      }
      type = v.getUint16(off + 2);
      off += 4;
    }
  }
  p.etherType = type;
  if (type === ETH_IPV4) decodeIpv4(v, off, p);
  else if (type === ETH_IPV6) decodeIpv6(v, off, p);
}

function decodeIpv4(v: DataView, off: number, p: DecodedPacket): void {
  const have = v.byteLength - off;
  if (have < 20) {
    return void (p.problem = `truncated IPv4 header (${have} of 20 bytes)`);
  }
  const first = v.getUint8(off);
  if (first >> 4 !== 4) {
    return void (p.problem = `IPv4 EtherType but IP version ${first >> 4}`);
  }
  p.ipVersion = 4;
  const ihl = (first & 0x0f) * 4;
  p.ttl = v.getUint8(off + 8);
  p.protocol = v.getUint8(off + 9);
  p.src = ipv4Text(v, off + 12);
  p.dst = ipv4Text(v, off + 16);
  if (ihl < 20) {
    return void (p.problem = `bad IPv4 header length ${ihl}`);
  }
  if (have < ihl) {
    return void (p.problem =
      `truncated IPv4 options (${have} of ${ihl} bytes)`);
  }
  let total = v.getUint16(off + 2);
  // Large segments handed over by TSO/GSO may carry 0 here: the frame is the truth.
  if (total === 0) total = p.wireLength - off;
  if (total < ihl) {
    return void (p.problem = `bad IPv4 total length ${total}`);
  }
  const fragment = v.getUint16(off + 6);
  if ((fragment & 0x1fff) !== 0) {
    p.fragment = true;
    return;
  }
  decodeTransport(v, off + ihl, total - ihl, p);
}

function decodeIpv6(v: DataView, off: number, p: DecodedPacket): void {
  const have = v.byteLength - off;
  if (have < 40) {
    return void (p.problem = `truncated IPv6 header (${have} of 40 bytes)`);
  }
  const version = v.getUint8(off) >> 4;
  if (version !== 6) {
    return void (p.problem = `IPv6 EtherType but IP version ${version}`);
  }
  p.ipVersion = 6;
  p.ttl = v.getUint8(off + 7);
  p.src = ipv6Text(v, off + 8);
  p.dst = ipv6Text(v, off + 24);
  let payload = v.getUint16(off + 4);
  // A jumbogram (payload length 0) or a GSO super-packet: the frame is the truth.
  if (payload === 0) payload = p.wireLength - off - 40;
  let next = v.getUint8(off + 6);
  let at = off + 40;
  for (let n = 0; n <= MAX_IPV6_EXTENSIONS; n++) {
    if (!IPV6_EXTENSIONS.has(next) && next !== IPV6_FRAGMENT) break;
    if (n === MAX_IPV6_EXTENSIONS) {
      p.protocol = next;
      return void (p.problem =
        `more than ${MAX_IPV6_EXTENSIONS} IPv6 extension headers`);
    }
    if (v.byteLength < at + 8) {
      p.protocol = next;
      return void (p.problem = "truncated IPv6 extension header");
    }
    const len = next === IPV6_FRAGMENT
      ? 8
      : next === 51
      ? (v.getUint8(at + 1) + 2) * 4
      : (v.getUint8(at + 1) + 1) * 8;
    if (next === IPV6_FRAGMENT && (v.getUint16(at + 2) & 0xfff8) !== 0) {
      p.protocol = v.getUint8(at);
      p.fragment = true;
      return;
    }
    next = v.getUint8(at);
    at += len;
    payload -= len;
  }
  p.protocol = next;
  if (payload < 0) {
    return void (p.problem = "IPv6 extension headers longer than the payload");
  }
  decodeTransport(v, at, payload, p);
}

function decodeTransport(
  v: DataView,
  off: number,
  length: number,
  p: DecodedPacket,
): void {
  if (p.protocol === TCP) p.tcp = decodeTcp(v, off, length, p);
  else if (p.protocol === UDP) p.udp = decodeUdp(v, off, length, p);
}

function decodeTcp(
  v: DataView,
  off: number,
  length: number,
  p: DecodedPacket,
): TcpHeader | undefined {
  const have = v.byteLength - off;
  if (have < 20) {
    p.problem = `truncated TCP header (${Math.max(0, have)} of 20 bytes)`;
    return undefined;
  }
  const headerLength = (v.getUint8(off + 12) >> 4) * 4;
  const flags = v.getUint8(off + 13);
  const tcp: TcpHeader = {
    srcPort: v.getUint16(off),
    dstPort: v.getUint16(off + 2),
    seq: v.getUint32(off + 4),
    ack: v.getUint32(off + 8),
    flags,
    flagText: tcpFlagText(flags),
    window: v.getUint16(off + 14),
    headerLength,
    urgent: v.getUint16(off + 18),
    options: { order: [] },
    payloadLength: 0,
    payloadOffset: off + headerLength,
  };
  if (headerLength < 20) {
    p.problem = `bad TCP header length ${headerLength}`;
    tcp.payloadOffset = off + 20;
    return tcp;
  }
  if (length < headerLength) {
    p.problem =
      `TCP header (${headerLength} bytes) longer than the IP payload (${length})`;
    return tcp;
  }
  if (have < headerLength) {
    p.problem = `truncated TCP options (${have} of ${headerLength} bytes)`;
    return tcp;
  }
  tcp.options = decodeTcpOptions(v, off + 20, off + headerLength);
  if (tcp.options.malformed) p.problem = "malformed TCP option";
  tcp.payloadLength = length - headerLength;
  return tcp;
}

/** Reads the TCP options in `[from, to)`; a bad length marks them malformed and stops. */
function decodeTcpOptions(v: DataView, from: number, to: number): TcpOptions {
  const o: TcpOptions = { order: [] };
  // Each step advances by at least one byte: at most 40 steps.
  for (let at = from; at < to;) {
    const kind = v.getUint8(at);
    if (kind === 0) {
      o.order.push("eol");
      break;
    }
    if (kind === 1) {
      o.order.push("nop");
      at++;
      continue;
    }
    if (at + 1 >= to) {
      o.malformed = true;
      break;
    }
    const len = v.getUint8(at + 1);
    if (len < 2 || at + len > to) {
      o.malformed = true;
      break;
    }
    const name = optionKind(kind, len);
    if (name === "mss") o.mss = v.getUint16(at + 2);
    else if (name === "wscale") {
      o.windowScale = Math.min(v.getUint8(at + 2), 14);
    } else if (name === "sackOK") o.sackPermitted = true;
    else if (name === "TS") {
      o.timestamp = { value: v.getUint32(at + 2), echo: v.getUint32(at + 6) };
    } else if (name === "sack") {
      o.sack = [];
      for (let b = at + 2; b + 8 <= at + len; b += 8) {
        o.sack.push([v.getUint32(b), v.getUint32(b + 4)]);
      }
    } else (o.unknown ??= []).push(kind);
    o.order.push(name);
    at += len;
  }
  return o;
}

/** An option's name, when its length is the one its kind requires. */
function optionKind(kind: number, len: number): TcpOptionKind {
  if (kind === 2 && len === 4) return "mss";
  if (kind === 3 && len === 3) return "wscale";
  if (kind === 4 && len === 2) return "sackOK";
  if (kind === 5 && len >= 10 && (len - 2) % 8 === 0) return "sack";
  if (kind === 8 && len === 10) return "TS";
  return "other";
}

function decodeUdp(
  v: DataView,
  off: number,
  length: number,
  p: DecodedPacket,
): UdpHeader | undefined {
  const have = v.byteLength - off;
  if (have < 8) {
    p.problem = `truncated UDP header (${Math.max(0, have)} of 8 bytes)`;
    return undefined;
  }
  const udpLength = v.getUint16(off + 4);
  const udp: UdpHeader = {
    srcPort: v.getUint16(off),
    dstPort: v.getUint16(off + 2),
    length: udpLength,
    payloadLength: Math.max(0, Math.min(udpLength, length) - 8),
    payloadOffset: off + 8,
  };
  if (udpLength < 8) p.problem = `bad UDP length ${udpLength}`;
  else if (udpLength > length) {
    p.problem = `UDP length ${udpLength} past the IP payload (${length})`;
  }
  return udp;
}

/** tcpdump's flag letters in tcpdump's order: F S R P . U E W. */
const FLAG_LETTERS: [number, string][] = [
  [0x01, "F"],
  [0x02, "S"],
  [0x04, "R"],
  [0x08, "P"],
  [0x10, "."],
  [0x20, "U"],
  [0x40, "E"],
  [0x80, "W"],
];

/**
 * The TCP flag bits as tcpdump writes them inside `Flags [...]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tcpFlagText } from "@netkit/netkit/tcp/trace";
 *
 * assert.equal(tcpFlagText(0x12), "S.");
 * assert.equal(tcpFlagText(0x19), "FP.");
 * assert.equal(tcpFlagText(0), "none");
 * ```
 */
export function tcpFlagText(flags: number): string {
  let text = "";
  for (const [bit, letter] of FLAG_LETTERS) if (flags & bit) text += letter;
  return text === "" ? "none" : text;
}

function ipv4Text(v: DataView, off: number): string {
  return `${v.getUint8(off)}.${v.getUint8(off + 1)}.${v.getUint8(off + 2)}.${
    v.getUint8(off + 3)
  }`;
}

/** An IPv6 address in RFC 5952 form: lower case, the longest run of zero groups as `::`. */
function ipv6Text(v: DataView, off: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(v.getUint16(off + i * 2));
  // IPv4-mapped addresses read best with the IPv4 part dotted.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${ipv4Text(v, off + 12)}`;
  }
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(":");
  return `${hex.slice(0, bestAt).join(":")}::${
    hex.slice(bestAt + bestLen).join(":")
  }`;
}
