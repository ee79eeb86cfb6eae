/**
 * The records of a packet trace: what the decoder reads off one frame
 * ({@linkcode DecodedPacket}) and what the expert analysis adds to it
 * ({@linkcode TracePacket}).
 *
 * Sequence and acknowledgement numbers in a {@linkcode TcpHeader} are the
 * raw 32-bit values from the wire; {@linkcode TracePacket} adds them
 * relative to each side's initial sequence number (ISN), as tcpdump and
 * Wireshark print them.
 *
 * @module
 */

/** Link-layer header types (pcap `LINKTYPE_` values) the decoder reads. */
export type LinkType =
  /** Ethernet (also Linux loopback over a packet socket: zero MAC addresses). */
  | 1
  /** Raw IP: the frame starts with the IPv4 or IPv6 header. */
  | 101
  /** Linux cooked capture v1 (`tcpdump -i any`). */
  | 113;

/** One TCP option as it appeared, in order (tcpdump prints them so). */
export type TcpOptionKind =
  | "eol"
  | "nop"
  | "mss"
  | "wscale"
  | "sackOK"
  | "sack"
  | "TS"
  | "other";

/** The TCP options netkit reads; unknown ones are listed by kind number. */
export interface TcpOptions {
  /** The order the options came in, NOPs included. */
  order: TcpOptionKind[];
  /** Maximum segment size (SYN and SYN-ACK only). */
  mss?: number;
  /** The window scale shift announced (SYN and SYN-ACK only), 0-14. */
  windowScale?: number;
  /** SACK permitted (SYN and SYN-ACK only). */
  sackPermitted?: boolean;
  /** Selective acknowledgement blocks: raw `[left, right)` sequence numbers. */
  sack?: [number, number][];
  /** Timestamps (RFC 7323): the sender's clock and the echo of the peer's. */
  timestamp?: { value: number; echo: number };
  /** Kind numbers of options netkit does not interpret. */
  unknown?: number[];
  /** Set when an option's length ran past the header: the rest was not read. */
  malformed?: boolean;
}

/** A TCP header, numbers as on the wire. */
export interface TcpHeader {
  /** Source port. */
  srcPort: number;
  /** Destination port. */
  dstPort: number;
  /** Raw sequence number. */
  seq: number;
  /** Raw acknowledgement number (meaningful when the ACK flag is set). */
  ack: number;
  /** The flag bits (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80). */
  flags: number;
  /** The flags as tcpdump prints them inside `Flags [...]`: `S`, `S.`, `P.`, `F.`, `R`, `none`. */
  flagText: string;
  /** The raw window field (scale it with the sender's window scale shift). */
  window: number;
  /** Header length in bytes, options included. */
  headerLength: number;
  /** The urgent pointer. */
  urgent: number;
  /** The options. */
  options: TcpOptions;
  /** Payload bytes carried, from the IP length (not what the capture kept). */
  payloadLength: number;
  /** Where the payload starts in the frame (it may be cut short by the snap length). */
  payloadOffset: number;
}

/** A UDP header. */
export interface UdpHeader {
  /** Source port. */
  srcPort: number;
  /** Destination port. */
  dstPort: number;
  /** The UDP length field (header included). */
  length: number;
  /** Payload bytes carried. */
  payloadLength: number;
  /** Where the payload starts in the frame. */
  payloadOffset: number;
}

/**
 * What the decoder read off one frame. Fields are absent when the frame
 * did not carry them; `problem` says why decoding stopped early.
 */
export interface DecodedPacket {
  /** Bytes of the frame the capture kept. */
  capturedLength: number;
  /** Bytes of the frame on the wire. */
  wireLength: number;
  /** The EtherType (0x0800 IPv4, 0x86dd IPv6, 0x0806 ARP, …), when the link layer has one. */
  etherType?: number;
  /** IP version. */
  ipVersion?: 4 | 6;
  /** Source address (IPv6 compressed as RFC 5952). */
  src?: string;
  /** Destination address. */
  dst?: string;
  /** The transport protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, …). */
  protocol?: number;
  /** IPv4 TTL or IPv6 hop limit. */
  ttl?: number;
  /** Set for an IPv4 fragment other than the first: no transport header in it. */
  fragment?: boolean;
  /** The TCP header. */
  tcp?: TcpHeader;
  /** The UDP header. */
  udp?: UdpHeader;
  /** Why the frame could not be decoded in full (truncated or malformed). */
  problem?: string;
}

/** The TCP states, as `/proc/net/tcp` and ss name them. */
export type TcpStateName =
  | "LISTEN"
  | "SYN_SENT"
  | "SYN_RECV"
  | "ESTABLISHED"
  | "FIN_WAIT1"
  | "FIN_WAIT2"
  | "CLOSE_WAIT"
  | "CLOSING"
  | "LAST_ACK"
  | "TIME_WAIT"
  | "CLOSED"
  | "?";

/** What an expert reads off a packet. */
export type TraceNoteKind =
  | "handshake"
  | "retransmission"
  | "duplicate-ack"
  | "zero-window"
  | "window-full"
  | "window-probe"
  | "window-update"
  | "keep-alive"
  | "reset"
  | "fin"
  | "fin-acked"
  | "time-wait"
  | "malformed"
  /** Seen on the wire but never delivered: set by a caller that knows (the lab), not read off the packet. */
  | "lost";

/** One annotation on a packet. */
export interface TraceNote {
  /** What it is. */
  kind: TraceNoteKind;
  /** One line for a person, e.g. `retransmission after 1.003 s`. */
  text: string;
  /** For a retransmission or probe: milliseconds since the previous transmission of the same bytes. */
  intervalMs?: number;
}

/** A decoded packet with its place in a conversation and the expert notes. */
export interface TracePacket extends DecodedPacket {
  /** 1-based position in the trace. */
  index: number;
  /** When it was captured, milliseconds since the Unix epoch (kernel timestamp). */
  timeMs: number;
  /** TCP and UDP: which end sent it. The client is the side that sent the SYN (or, without one, the higher port). */
  from?: "client" | "server";
  /** TCP and UDP: the client's end, `host:port` (`[v6]:port`). */
  client?: string;
  /** TCP and UDP: the server's end. */
  server?: string;
  /** TCP: sequence number relative to the sender's ISN (or to its first seen sequence number). */
  relSeq?: number;
  /** TCP with ACK: acknowledgement relative to the receiver's ISN. */
  relAck?: number;
  /** TCP: the window in bytes, scaled by the sender's window scale when the handshake showed it. */
  windowBytes?: number;
  /** TCP: the scale shift applied to the window (absent when unknown: the handshake was not seen). */
  windowShift?: number;
  /** The annotations, most important first. */
  notes: TraceNote[];
  /** TCP: each side's state after this packet, as the packets imply (each one delivered). */
  states?: { client: TcpStateName; server: TcpStateName };
}
