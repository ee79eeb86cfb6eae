// Hand-built frames: Ethernet (zero MACs, as Linux loopback), IPv4 or IPv6,
// TCP or UDP, so the decoder and the expert can be tested byte by byte.

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;

export interface SegmentSpec {
  src?: string;
  dst?: string;
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  flags: number;
  window?: number;
  /** Raw option bytes (padded to 4 by the builder). */
  options?: number[];
  payload?: number;
}

/** mss 65495, sackOK, TS val/ecr, nop, wscale 7: what Linux puts in a SYN. */
export function synOptions(wscale = 7, ts = 1): number[] {
  return [
    2,
    4,
    0xff,
    0xd7, // mss 65495
    4,
    2, // sackOK
    8,
    10,
    ts >>> 24,
    (ts >> 16) & 255,
    (ts >> 8) & 255,
    ts & 255,
    0,
    0,
    0,
    0, // TS
    1, // nop
    3,
    3,
    wscale, // wscale
  ];
}

function ipv4Bytes(text: string): number[] {
  return text.split(".").map(Number);
}

function ipv6Bytes(text: string): number[] {
  const [head, tail] = text.split("::") as [string, string | undefined];
  const h = head === "" ? [] : head.split(":");
  const t = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 255];
  });
}

/** A whole Ethernet frame carrying one TCP segment. */
export function tcpFrame(spec: SegmentSpec): Uint8Array {
  const options = [...(spec.options ?? [])];
  while (options.length % 4 !== 0) options.push(0);
  const tcpLength = 20 + options.length;
  const payload = spec.payload ?? 0;
  const tcp = new Uint8Array(tcpLength + payload);
  const t = new DataView(tcp.buffer);
  t.setUint16(0, spec.sport);
  t.setUint16(2, spec.dport);
  t.setUint32(4, spec.seq ?? 0);
  t.setUint32(8, spec.ack ?? 0);
  tcp[12] = (tcpLength / 4) << 4;
  tcp[13] = spec.flags;
  t.setUint16(14, spec.window ?? 512);
  tcp.set(options, 20);
  tcp.fill(0x61, tcpLength);
  return ipFrame(spec.src ?? "127.0.0.1", spec.dst ?? "127.0.0.1", 6, tcp);
}

/** A whole Ethernet frame carrying one UDP datagram. */
export function udpFrame(
  sport: number,
  dport: number,
  payload: Uint8Array,
  src = "127.0.0.1",
  dst = "127.0.0.1",
): Uint8Array {
  const udp = new Uint8Array(8 + payload.length);
  const u = new DataView(udp.buffer);
  u.setUint16(0, sport);
  u.setUint16(2, dport);
  u.setUint16(4, udp.length);
  udp.set(payload, 8);
  return ipFrame(src, dst, 17, udp);
}

/** Ethernet + IPv4 or IPv6 (by the address's spelling) + `transport`. */
export function ipFrame(
  src: string,
  dst: string,
  protocol: number,
  transport: Uint8Array,
): Uint8Array {
  const v6 = src.includes(":");
  const ipLength = v6 ? 40 : 20;
  const frame = new Uint8Array(14 + ipLength + transport.length);
  const v = new DataView(frame.buffer);
  v.setUint16(12, v6 ? 0x86dd : 0x0800);
  if (v6) {
    frame[14] = 0x60;
    v.setUint16(18, transport.length);
    frame[20] = protocol;
    frame[21] = 64;
    frame.set(ipv6Bytes(src), 22);
    frame.set(ipv6Bytes(dst), 38);
  } else {
    frame[14] = 0x45;
    v.setUint16(16, 20 + transport.length);
    v.setUint16(20, 0x4000); // don't fragment
    frame[22] = 64;
    frame[23] = protocol;
    frame.set(ipv4Bytes(src), 26);
    frame.set(ipv4Bytes(dst), 30);
  }
  frame.set(transport, 14 + ipLength);
  return frame;
}
