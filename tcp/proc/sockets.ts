/**
 * Every TCP socket on a Linux host, from `/proc/net/tcp` and
 * `/proc/net/tcp6`, as typed records in the words of the TCP state machine.
 *
 * @module
 */

import type { HostPort } from "../../address.ts";
import { TcpError } from "../errors.ts";
import { assertLinux, readProcRequired, readProcText } from "../../_proc.ts";

/** The name of a TCP state as the kernel's `tcp_states.h` spells it. */
export type TcpStateName =
  | "ESTABLISHED"
  | "SYN_SENT"
  | "SYN_RECV"
  | "FIN_WAIT1"
  | "FIN_WAIT2"
  | "TIME_WAIT"
  | "CLOSE"
  | "CLOSE_WAIT"
  | "LAST_ACK"
  | "LISTEN"
  | "CLOSING"
  | "NEW_SYN_RECV";

/**
 * The `st` column of `/proc/net/tcp` (a hex code) to its state name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TCP_STATES } from "@netkit/netkit/tcp";
 *
 * assert.ok(TCP_STATES[0x0a] === "LISTEN");
 * assert.ok(TCP_STATES[parseInt("06", 16)] === "TIME_WAIT");
 * ```
 */
export const TCP_STATES: Readonly<Record<number, TcpStateName>> = Object.freeze(
  {
    0x01: "ESTABLISHED",
    0x02: "SYN_SENT",
    0x03: "SYN_RECV",
    0x04: "FIN_WAIT1",
    0x05: "FIN_WAIT2",
    0x06: "TIME_WAIT",
    0x07: "CLOSE",
    0x08: "CLOSE_WAIT",
    0x09: "LAST_ACK",
    0x0a: "LISTEN",
    0x0b: "CLOSING",
    0x0c: "NEW_SYN_RECV",
  },
);

// ss(8) spells states differently; accept both so users can paste either.
const STATE_ALIASES: Record<string, TcpStateName> = {
  ESTAB: "ESTABLISHED",
  UNCONN: "CLOSE",
  CLOSED: "CLOSE",
};

/**
 * Turns a state name as a user may type it into a {@linkcode TcpStateName}:
 * case-insensitive, `-` or `_` or nothing between words, and the `ss`
 * spellings (`ESTAB`, `FIN-WAIT-1`, `SYN-RECV`, `UNCONN`). Returns
 * `undefined` for anything else.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTcpState } from "@netkit/netkit/tcp";
 *
 * assert.ok(parseTcpState("fin-wait-1") === "FIN_WAIT1");
 * assert.ok(parseTcpState("ESTAB") === "ESTABLISHED");
 * assert.ok(parseTcpState("nope") === undefined);
 * ```
 */
export function parseTcpState(text: string): TcpStateName | undefined {
  const squashed = text.trim().toUpperCase().replace(/[-_\s]/g, "");
  for (const name of Object.values(TCP_STATES)) {
    if (name.replaceAll("_", "") === squashed) return name;
  }
  return STATE_ALIASES[squashed];
}

/**
 * What the socket's timer is waiting for (the `tr` column):
 * 0 none, 1 retransmit, 2 keepalive (or another `sk_timer` use),
 * 3 TIME_WAIT expiry, 4 zero-window probe.
 */
export type TcpTimerKind =
  | "none"
  | "retransmit"
  | "keepalive"
  | "time_wait"
  | "zero_window_probe";

const TIMER_KINDS: readonly TcpTimerKind[] = [
  "none",
  "retransmit",
  "keepalive",
  "time_wait",
  "zero_window_probe",
];

/** The kernel prints timers in clock ticks of USER_HZ, which is 100 on Linux. */
const USER_HZ = 100;

/** A socket's pending timer. */
export interface TcpTimer {
  /** What the timer is for. */
  kind: TcpTimerKind;
  /** Time until it fires, in clock ticks (USER_HZ, 1/100 s), as /proc prints it. */
  ticks: number;
  /** Time until it fires, in milliseconds. */
  remainingMs: number;
}

/** One row of `/proc/net/tcp` or `/proc/net/tcp6`. */
export interface TcpSocketRecord {
  /** `tcp` from `/proc/net/tcp`, `tcp6` from `/proc/net/tcp6`. */
  proto: "tcp" | "tcp6";
  /** IP version of the addresses (a v4-mapped tcp6 socket is still 6). */
  family: 4 | 6;
  /** Local address; an IPv6 address is in compressed form (`::1`). */
  local: HostPort;
  /** Remote address; `0.0.0.0` port 0 (or `::`) for a listener. */
  remote: HostPort;
  /** State name. */
  state: TcpStateName;
  /** Bytes sent and not yet acknowledged (0 for LISTEN). */
  txQueue: number;
  /** Bytes received and not yet read; for LISTEN, the accept-queue length. */
  rxQueue: number;
  /** LISTEN only: connections waiting for `accept()` (equals `rxQueue`). */
  acceptQueue?: number;
  /** The pending timer. */
  timer: TcpTimer;
  /** Unanswered retransmissions (or SYN/ACK retries for SYN_RECV). */
  retransmits: number;
  /** Owner's user id (0 for TIME_WAIT and half-open rows). */
  uid: number;
  /** Socket inode, 0 when no process holds it (TIME_WAIT, orphans). */
  inode: number;
  /** Congestion and timer details; absent on TIME_WAIT and half-open rows. */
  info?: TcpSocketInfo;
}

/** The extra fields at the end of a full `/proc/net/tcp` row. */
export interface TcpSocketInfo {
  /** Retransmission timeout, in milliseconds. */
  rtoMs: number;
  /** Delayed-ACK timeout, in milliseconds. */
  atoMs: number;
  /** Congestion window, in segments. */
  cwnd: number;
  /** Slow-start threshold in segments; `null` while still in initial slow start (the kernel prints -1). */
  ssthresh: number | null;
}

/** Options for {@linkcode parseProcNetTcp}. */
export interface ParseProcNetTcpOptions {
  /** 4 for `/proc/net/tcp`, 6 for `tcp6`. Default: from the address width. */
  family?: 4 | 6;
  /** Name used in error messages. Default `/proc/net/tcp` or `/proc/net/tcp6`. */
  source?: string;
  /**
   * Byte order of the machine that wrote the text: addresses are printed
   * as 32-bit words in host byte order. Default: this machine's.
   */
  byteOrder?: "little" | "big";
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Parses the text of `/proc/net/tcp` or `/proc/net/tcp6`. The header line
 * and blank lines are skipped; any other line that does not parse throws a
 * `proc_parse` {@linkcode TcpError} naming the source and line number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseProcNetTcp } from "@netkit/netkit/tcp";
 *
 * const text =
 *   "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
 *   "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000002 00:00000000 00000000  1000        0 4242 1 0 100 0 0 10 0\n";
 * const [listener] = parseProcNetTcp(text, { byteOrder: "little" });
 * assert.ok(listener!.local.hostname === "127.0.0.1");
 * assert.ok(listener!.local.port === 8080);
 * assert.ok(listener!.state === "LISTEN");
 * assert.ok(listener!.acceptQueue === 2);
 * ```
 */
export function parseProcNetTcp(
  text: string,
  options: ParseProcNetTcpOptions = {},
): TcpSocketRecord[] {
  const source = options.source ??
    (options.family === 6 ? "/proc/net/tcp6" : "/proc/net/tcp");
  const little =
    (options.byteOrder ?? (HOST_LITTLE_ENDIAN ? "little" : "big")) === "little";
  const records: TcpSocketRecord[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const trimmed = line.trim();
    if (trimmed === "" || (records.length === 0 && trimmed.startsWith("sl "))) {
      continue;
    }
    try {
      records.push(parseRow(trimmed, options.family, little));
    } catch (error) {
      if (!(error instanceof RowError)) throw error;
      const shown = trimmed.length > 80 ? trimmed.slice(0, 80) + "…" : trimmed;
      throw new TcpError(
        "proc_parse",
        `${source}: line ${i + 1}: ${error.message}: '${shown}'`,
      );
    }
  }
  return records;
}

class RowError extends Error {}

const HEX = /^[0-9A-Fa-f]+$/;

function parseRow(
  line: string,
  family: 4 | 6 | undefined,
  little: boolean,
): TcpSocketRecord {
  const f = line.split(/\s+/);
  // Full socket rows have 17 fields; TIME_WAIT and half-open rows stop after 12.
  if (f.length < 10) {
    throw new RowError(`expected at least 10 fields, got ${f.length}`);
  }
  if (!/^\d+:$/.test(f[0]!)) throw new RowError("row does not start with 'N:'");
  const local = parseEndpoint(f[1]!, family, little, "local address");
  const remote = parseEndpoint(f[2]!, local.family, little, "remote address");
  const code = hexField(f[3]!, 2, "state");
  const state = TCP_STATES[code];
  if (state === undefined) throw new RowError(`unknown state code ${f[3]}`);
  const [tx, rx] = pair(f[4]!, "tx_queue:rx_queue");
  const [tr, when] = pair(f[5]!, "tr:tm->when");
  const kind = TIMER_KINDS[tr];
  if (kind === undefined) throw new RowError(`unknown timer code ${tr}`);
  const retransmits = hexField(f[6]!, 8, "retrnsmt");
  const uid = decField(f[7]!, "uid");
  decField(f[8]!, "timeout");
  const inode = decField(f[9]!, "inode");
  const record: TcpSocketRecord = {
    proto: local.family === 6 ? "tcp6" : "tcp",
    family: local.family,
    local: { hostname: local.hostname, port: local.port },
    remote: { hostname: remote.hostname, port: remote.port },
    state,
    txQueue: tx,
    rxQueue: rx,
    timer: {
      kind,
      ticks: kind === "none" ? 0 : when,
      remainingMs: kind === "none" ? 0 : (when * 1000) / USER_HZ,
    },
    retransmits,
    uid,
    inode,
  };
  if (state === "LISTEN") record.acceptQueue = rx;
  // Full rows: ... inode refcnt sk rto ato qack cwnd ssthresh.
  if (f.length >= 17) {
    const ssthresh = decField(f[16]!, "ssthresh");
    record.info = {
      rtoMs: (decField(f[12]!, "rto") * 1000) / USER_HZ,
      atoMs: (decField(f[13]!, "ato") * 1000) / USER_HZ,
      cwnd: decField(f[15]!, "cwnd"),
      ssthresh: ssthresh < 0 ? null : ssthresh,
    };
  }
  return record;
}

function hexField(text: string, maxDigits: number, name: string): number {
  if (text.length > maxDigits || !HEX.test(text)) {
    throw new RowError(`bad ${name} '${text}'`);
  }
  return parseInt(text, 16);
}

function decField(text: string, name: string): number {
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

/** Options for {@linkcode readTcpSockets}. */
export interface ReadTcpSocketsOptions {
  /** Keep only sockets whose local or remote port is this. */
  port?: number;
  /** Keep only sockets in this state. */
  state?: TcpStateName;
}

/**
 * Reads every TCP socket of this host (its network namespace) from
 * `/proc/net/tcp` and `/proc/net/tcp6`, optionally filtered. A missing
 * `tcp6` (IPv6 disabled) is not an error; a missing `tcp` is
 * `proc_unavailable`; on other systems than Linux it throws `unsupported_os`.
 *
 * @example
 * ```ts ignore
 * import { readTcpSockets } from "@netkit/netkit/tcp";
 *
 * for (const s of await readTcpSockets({ state: "LISTEN" })) {
 *   console.log(s.local.port, "accept queue", s.acceptQueue);
 * }
 * ```
 */
export async function readTcpSockets(
  options: ReadTcpSocketsOptions = {},
): Promise<TcpSocketRecord[]> {
  assertLinux("reading TCP sockets");
  const [v4, v6] = await Promise.all([
    readProcRequired("/proc/net/tcp"),
    readProcText("/proc/net/tcp6"),
  ]);
  const records = parseProcNetTcp(v4, { family: 4, source: "/proc/net/tcp" });
  if (v6 !== null) {
    records.push(
      ...parseProcNetTcp(v6, { family: 6, source: "/proc/net/tcp6" }),
    );
  }
  const { port, state } = options;
  return records.filter((r) =>
    (port === undefined || r.local.port === port || r.remote.port === port) &&
    (state === undefined || r.state === state)
  );
}

/** How many sockets are in each state (every state present, zero or not). */
export type TcpStateCounts = Record<TcpStateName, number>;

/**
 * Counts sockets per state.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { countStates, parseProcNetTcp } from "@netkit/netkit/tcp";
 *
 * const text =
 *   "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1 0\n" +
 *   "   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000 0 0 2 1 0\n";
 * const counts = countStates(parseProcNetTcp(text, { byteOrder: "little" }));
 * assert.ok(counts.LISTEN === 1 && counts.ESTABLISHED === 1);
 * assert.ok(counts.TIME_WAIT === 0);
 * ```
 */
export function countStates(
  records: Iterable<{ state: TcpStateName }>,
): TcpStateCounts {
  const counts = Object.fromEntries(
    Object.values(TCP_STATES).map((name) => [name, 0]),
  ) as TcpStateCounts;
  for (const r of records) counts[r.state]++;
  return counts;
}
