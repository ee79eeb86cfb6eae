// The row format /proc/net/{tcp,tcp6,udp,udp6} share: hex endpoints in host
// byte order, hex state and queue fields, decimal uid and inode. Shared by
// sockets.ts (TCP) and udp_sockets.ts; the public parsers wrap RowError in
// a ProcError naming the source and line.

import type { HostPort } from "../../address.ts";
import { ProcError } from "../../errors.ts";
import { readProcRequired, readProcText } from "../../_proc.ts";

/** A field that does not parse; the caller names the file and line. */
export class RowError extends Error {}

/** True when this machine writes /proc words little-endian (x86, arm64). */
export const HOST_LITTLE_ENDIAN =
  new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const HEX = /^[0-9A-Fa-f]+$/;

/** The columns every /proc/net/{tcp,udp}{,6} row starts with. */
export interface InetRow {
  local: HostPort & { family: 4 | 6 };
  remote: HostPort;
  stateCode: number;
  txQueue: number;
  rxQueue: number;
  timerCode: number;
  timerWhen: number;
  retransmits: number;
  uid: number;
  inode: number;
  /** Every whitespace-separated field, for the columns after the inode. */
  fields: string[];
}

/** Parses the first ten columns of a row (`sl` … `inode`). */
export function parseInetRow(
  line: string,
  family: 4 | 6 | undefined,
  little: boolean,
): InetRow {
  const f = line.split(/\s+/);
  if (f.length < 10) {
    throw new RowError(`expected at least 10 fields, got ${f.length}`);
  }
  if (!/^\d+:$/.test(f[0]!)) throw new RowError("row does not start with 'N:'");
  const local = parseEndpoint(f[1]!, family, little, "local address");
  const remote = parseEndpoint(f[2]!, local.family, little, "remote address");
  const stateCode = hexField(f[3]!, 2, "state");
  const [txQueue, rxQueue] = pair(f[4]!, "tx_queue:rx_queue");
  const [timerCode, timerWhen] = pair(f[5]!, "tr:tm->when");
  const retransmits = hexField(f[6]!, 8, "retrnsmt");
  const uid = decField(f[7]!, "uid");
  decField(f[8]!, "timeout");
  const inode = decField(f[9]!, "inode");
  return {
    local,
    remote: { hostname: remote.hostname, port: remote.port },
    stateCode,
    txQueue,
    rxQueue,
    timerCode,
    timerWhen,
    retransmits,
    uid,
    inode,
    fields: f,
  };
}

/**
 * Parses every row of a /proc/net table with `parseRow`, skipping the
 * header and blank lines; a row that does not parse is a `proc_parse`
 * ProcError naming `source` and the line number.
 */
export function parseTable<T>(
  text: string,
  source: string,
  parseRow: (line: string) => T,
): T[] {
  const records: T[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const trimmed = lines[i]!.trim();
    if (trimmed === "" || (records.length === 0 && trimmed.startsWith("sl "))) {
      continue;
    }
    try {
      records.push(parseRow(trimmed));
    } catch (error) {
      if (!(error instanceof RowError)) throw error;
      throw procParseError(source, i + 1, error.message, trimmed);
    }
  }
  return records;
}

/** The `proc_parse` error for line `lineNumber` of `source`. */
export function procParseError(
  source: string,
  lineNumber: number,
  why: string,
  line: string,
): ProcError {
  const shown = line.length > 80 ? line.slice(0, 80) + "…" : line;
  return new ProcError(
    "proc_parse",
    `${source}: line ${lineNumber}: ${why}: '${shown}'`,
  );
}

export function hexField(
  text: string,
  maxDigits: number,
  name: string,
): number {
  if (text.length > maxDigits || !HEX.test(text)) {
    throw new RowError(`bad ${name} '${text}'`);
  }
  return parseInt(text, 16);
}

export function decField(text: string, name: string): number {
  if (!/^-?\d{1,20}$/.test(text)) throw new RowError(`bad ${name} '${text}'`);
  return Number(text);
}

function pair(text: string, name: string): [number, number] {
  const m = /^([0-9A-Fa-f]{1,8}):([0-9A-Fa-f]{1,16})$/.exec(text);
  if (!m) throw new RowError(`bad ${name} '${text}'`);
  return [parseInt(m[1]!, 16), parseInt(m[2]!, 16)];
}

function parseEndpoint(
  text: string,
  family: 4 | 6 | undefined,
  little: boolean,
  name: string,
): HostPort & { family: 4 | 6 } {
  const m = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(text);
  if (!m) throw new RowError(`bad ${name} '${text}'`);
  const hex = m[1]!;
  const got: 4 | 6 = hex.length === 8 ? 4 : 6;
  if (family !== undefined && got !== family) {
    throw new RowError(`${name} '${text}' is not IPv${family}`);
  }
  const bytes = wordsToBytes(hex, little);
  const port = parseInt(m[2]!, 16);
  const hostname = got === 4 ? bytes.join(".") : formatIpv6(bytes);
  return { hostname, port, family: got };
}

/** Hex 32-bit words in host byte order → network-order bytes. */
function wordsToBytes(hex: string, little: boolean): number[] {
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word: number[] = [];
    for (let b = 0; b < 8; b += 2) {
      word.push(parseInt(hex.slice(w + b, w + b + 2), 16));
    }
    if (little) word.reverse();
    bytes.push(...word);
  }
  return bytes;
}

/** RFC 5952 text form: lowercase, longest zero run as `::`, v4-mapped dotted. */
function formatIpv6(bytes: number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes.slice(12).join(".")}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLen).join(":");
  return `${head}::${tail}`;
}

/**
 * Drops rows listed twice. The kernel writes these tables a page at a time
 * and resumes each read by position in a hash chain, so a socket created
 * or closed meanwhile on a busy host can make a row appear twice (or one
 * be skipped, which no reader can undo). A socket is its inode; a row
 * without one (TIME_WAIT, SYN_RECV) its address pair, unique in the table.
 */
export function withoutRepeats<
  T extends {
    proto: string;
    inode: number;
    local: HostPort;
    remote: HostPort;
  },
>(records: T[]): T[] {
  const seen = new Set<string>();
  return records.filter((r) => {
    const key = r.inode !== 0
      ? `${r.proto} #${r.inode}`
      : `${r.proto} ${r.local.hostname} ${r.local.port} ${r.remote.hostname} ${r.remote.port}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * One protocol's IPv4 and IPv6 tables (`/proc/net/NAME` and `NAME6`; the
 * second is absent on a kernel without IPv6), parsed and each socket
 * listed once.
 */
export async function readInetTables<
  T extends {
    proto: string;
    inode: number;
    local: HostPort;
    remote: HostPort;
  },
>(
  name: "tcp" | "udp",
  parse: (text: string, options: { family: 4 | 6; source: string }) => T[],
): Promise<T[]> {
  const v4Path = `/proc/net/${name}`;
  const v6Path = `/proc/net/${name}6`;
  const [v4, v6] = await Promise.all([
    readProcRequired(v4Path),
    readProcText(v6Path),
  ]);
  const records = parse(v4, { family: 4, source: v4Path });
  if (v6 !== null) records.push(...parse(v6, { family: 6, source: v6Path }));
  return withoutRepeats(records);
}
