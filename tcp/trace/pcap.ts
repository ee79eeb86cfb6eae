/**
 * The classic pcap file format (what `tcpdump -w` writes and `tcpdump -r`,
 * `tshark -r` and Wireshark read): a 24-byte file header, then per packet
 * a 16-byte record header and the captured bytes. Encoding and reading
 * only, no I/O: the capture driver writes what these return.
 *
 * @module
 */

import { TcpError } from "../errors.ts";
import type { LinkType } from "./types.ts";

/** Options for {@linkcode pcapFileHeader}. */
export interface PcapOptions {
  /** The largest frame a record may hold. Default 262144, as tcpdump. */
  snaplen?: number;
  /** Link type of every frame. Default 1 (Ethernet, which Linux loopback uses). */
  linkType?: LinkType;
  /** Nanosecond timestamps (magic 0xa1b23c4d) instead of microseconds. Default false. */
  nanoseconds?: boolean;
}

/** A capture time: whole seconds since the epoch and nanoseconds within the second. */
export interface PcapTime {
  /** Seconds since the Unix epoch. */
  seconds: number;
  /** Nanoseconds, 0-999999999. */
  nanoseconds: number;
}

/** One record of a pcap file. */
export interface PcapRecord extends PcapTime {
  /** The frame as captured (a view into the file's bytes). */
  frame: Uint8Array;
  /** Its length on the wire. */
  wireLength: number;
}

/** A pcap file's header fields. */
export interface PcapFileInfo {
  /** Link type of the frames. */
  linkType: number;
  /** The snap length. */
  snaplen: number;
  /** Whether timestamps are in nanoseconds. */
  nanoseconds: boolean;
}

const MAGIC_MICRO = 0xa1b2c3d4;
const MAGIC_NANO = 0xa1b23c4d;
const FILE_HEADER = 24;
const RECORD_HEADER = 16;
/** The default snap length, tcpdump's. */
export const DEFAULT_SNAPLEN = 262144;

/**
 * The 24-byte file header (little-endian, version 2.4).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pcapFileHeader } from "@netkit/netkit/tcp/trace";
 *
 * const h = pcapFileHeader();
 * assert.equal(h.length, 24);
 * assert.equal(new DataView(h.buffer).getUint32(0, true), 0xa1b2c3d4);
 * ```
 */
export function pcapFileHeader(options: PcapOptions = {}): Uint8Array {
  const h = new Uint8Array(FILE_HEADER);
  const v = new DataView(h.buffer);
  v.setUint32(0, options.nanoseconds ? MAGIC_NANO : MAGIC_MICRO, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setUint32(16, options.snaplen ?? DEFAULT_SNAPLEN, true);
  v.setUint32(20, options.linkType ?? 1, true);
  return h;
}

/**
 * The 16-byte header of one record. Pass `into` (16 bytes) to reuse one
 * buffer for every packet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pcapRecordHeader } from "@netkit/netkit/tcp/trace";
 *
 * const h = pcapRecordHeader({ seconds: 10, nanoseconds: 1500 }, 54, 54);
 * const v = new DataView(h.buffer);
 * assert.deepEqual([v.getUint32(0, true), v.getUint32(4, true)], [10, 1]);
 * ```
 */
export function pcapRecordHeader(
  time: PcapTime,
  capturedLength: number,
  wireLength: number,
  options: { nanoseconds?: boolean; into?: Uint8Array } = {},
): Uint8Array {
  const h = options.into ?? new Uint8Array(RECORD_HEADER);
  const v = new DataView(h.buffer, h.byteOffset, RECORD_HEADER);
  v.setUint32(0, time.seconds, true);
  v.setUint32(
    4,
    options.nanoseconds
      ? time.nanoseconds
      : Math.floor(time.nanoseconds / 1000),
    true,
  );
  v.setUint32(8, capturedLength, true);
  v.setUint32(12, Math.max(wireLength, capturedLength), true);
  return h;
}

/**
 * Reads a classic pcap file (either byte order, micro- or nanoseconds).
 * Throws a `pcap_invalid` {@linkcode TcpError} on a bad header; a record
 * cut short at the end (a capture that was killed) ends the list.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pcapFileHeader, pcapRecordHeader, readPcap } from "@netkit/netkit/tcp/trace";
 *
 * const frame = new Uint8Array(60);
 * const file = new Uint8Array([
 *   ...pcapFileHeader(),
 *   ...pcapRecordHeader({ seconds: 1, nanoseconds: 0 }, 60, 60),
 *   ...frame,
 * ]);
 * const { info, records } = readPcap(file);
 * assert.equal(info.linkType, 1);
 * assert.equal(records.length, 1);
 * assert.equal(records[0]?.frame.length, 60);
 * ```
 */
export function readPcap(
  bytes: Uint8Array,
): { info: PcapFileInfo; records: PcapRecord[] } {
  if (bytes.length < FILE_HEADER) {
    throw new TcpError(
      "pcap_invalid",
      "not a pcap file: shorter than 24 bytes",
    );
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = v.getUint32(0, true);
  let little: boolean;
  let nanoseconds: boolean;
  if (magic === MAGIC_MICRO || magic === MAGIC_NANO) {
    little = true;
    nanoseconds = magic === MAGIC_NANO;
  } else {
    const big = v.getUint32(0, false);
    if (big !== MAGIC_MICRO && big !== MAGIC_NANO) {
      throw new TcpError(
        "pcap_invalid",
        `not a classic pcap file (magic 0x${magic.toString(16)})`,
      );
    }
    little = false;
    nanoseconds = big === MAGIC_NANO;
  }
  const info: PcapFileInfo = {
    snaplen: v.getUint32(16, little),
    linkType: v.getUint32(20, little),
    nanoseconds,
  };
  const records: PcapRecord[] = [];
  let off = FILE_HEADER;
  while (off + RECORD_HEADER <= bytes.length) {
    const captured = v.getUint32(off + 8, little);
    const end = off + RECORD_HEADER + captured;
    if (end > bytes.length) break;
    const sub = v.getUint32(off + 4, little);
    records.push({
      seconds: v.getUint32(off, little),
      nanoseconds: nanoseconds ? sub : sub * 1000,
      wireLength: v.getUint32(off + 12, little),
      frame: bytes.subarray(off + RECORD_HEADER, end),
    });
    off = end;
  }
  return { info, records };
}
