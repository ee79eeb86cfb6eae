/**
 * Every TCP socket on a Linux host, from `/proc/net/tcp` and
 * `/proc/net/tcp6`, as typed records in the words of the TCP state machine.
 *
 * @module
 */

import type { HostPort } from "../../address.ts";
import { assertLinux } from "../../_proc.ts";
import {
  decField,
  HOST_LITTLE_ENDIAN,
  parseInetRow,
  parseTable,
  readInetTables,
  RowError,
} from "./_proc_net.ts";

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

/**
 * Parses the text of `/proc/net/tcp` or `/proc/net/tcp6`. The header line
 * and blank lines are skipped; any other line that does not parse throws a
 * `proc_parse` `ProcError` naming the source and line number.
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
  return parseTable(
    text,
    source,
    (line) => parseRow(line, options.family, little),
  );
}

function parseRow(
  line: string,
  family: 4 | 6 | undefined,
  little: boolean,
): TcpSocketRecord {
  const row = parseInetRow(line, family, little);
  const state = TCP_STATES[row.stateCode];
  if (state === undefined) {
    throw new RowError(`unknown state code ${row.fields[3]}`);
  }
  const kind = TIMER_KINDS[row.timerCode];
  if (kind === undefined) {
    throw new RowError(`unknown timer code ${row.timerCode}`);
  }
  const { local, remote } = row;
  const record: TcpSocketRecord = {
    proto: local.family === 6 ? "tcp6" : "tcp",
    family: local.family,
    local: { hostname: local.hostname, port: local.port },
    remote,
    state,
    txQueue: row.txQueue,
    rxQueue: row.rxQueue,
    timer: {
      kind,
      ticks: kind === "none" ? 0 : row.timerWhen,
      remainingMs: kind === "none" ? 0 : (row.timerWhen * 1000) / USER_HZ,
    },
    retransmits: row.retransmits,
    uid: row.uid,
    inode: row.inode,
  };
  if (state === "LISTEN") record.acceptQueue = row.rxQueue;
  // Full rows: ... inode refcnt sk rto ato qack cwnd ssthresh.
  const f = row.fields;
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

/**
 * Which sockets to keep, in the words of `ss` filters. Every field given
 * must match. To find one connection of your own, match its exact address
 * pair (`local` and `remote` from `Deno.Conn`) or its inode: a port number
 * alone may also be another program's (a TIME_WAIT socket keeps a port
 * that a new listener may bind again).
 */
export interface SocketFilter {
  /**
   * The local or the remote port is this one: both sides, as
   * `ss '( sport = :P or dport = :P )'`, so a listener, its accepted
   * connections and the clients connected to it all match.
   */
  port?: number;
  /** The local (source) port is this one, as `ss 'sport = :P'`. */
  sport?: number;
  /** The remote (destination) port is this one, as `ss 'dport = :P'`. */
  dport?: number;
  /** The socket is in this state, or in one of these states. */
  state?: TcpStateName | readonly TcpStateName[];
}

/** Options for {@linkcode readTcpSockets}: a {@linkcode SocketFilter}. */
export type ReadTcpSocketsOptions = SocketFilter;

/**
 * Keeps the records that `filter` matches (see {@linkcode SocketFilter}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { filterSockets, parseProcNetTcp } from "@netkit/netkit/tcp/proc";
 *
 * const text =
 *   "0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n" +
 *   "1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000 0 0 2\n" +
 *   "2: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 0 0 3\n";
 * const rows = parseProcNetTcp(text, { byteOrder: "little" });
 * assert.equal(filterSockets(rows, { port: 8080 }).length, 3);
 * assert.equal(filterSockets(rows, { sport: 8080 }).length, 2);
 * assert.equal(filterSockets(rows, { dport: 8080 }).length, 1);
 * assert.equal(filterSockets(rows, { sport: 8080, state: ["LISTEN"] }).length, 1);
 * ```
 */
export function filterSockets<
  T extends { local: HostPort; remote: HostPort; state: TcpStateName },
>(records: readonly T[], filter: SocketFilter = {}): T[] {
  const { port, sport, dport } = filter;
  const states = filter.state === undefined ? undefined : new Set<TcpStateName>(
    typeof filter.state === "string" ? [filter.state] : filter.state,
  );
  return records.filter((r) =>
    (port === undefined || r.local.port === port || r.remote.port === port) &&
    (sport === undefined || r.local.port === sport) &&
    (dport === undefined || r.remote.port === dport) &&
    (states === undefined || states.has(r.state))
  );
}

/** Sorting order of states: a connection's life from LISTEN to CLOSE. */
const STATE_ORDER: readonly TcpStateName[] = [
  "LISTEN",
  "SYN_SENT",
  "SYN_RECV",
  "NEW_SYN_RECV",
  "ESTABLISHED",
  "FIN_WAIT1",
  "FIN_WAIT2",
  "CLOSING",
  "TIME_WAIT",
  "CLOSE_WAIT",
  "LAST_ACK",
  "CLOSE",
];

/**
 * Orders sockets by state (in the order of a connection's life: LISTEN,
 * SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT1, FIN_WAIT2, CLOSING,
 * TIME_WAIT, CLOSE_WAIT, LAST_ACK, CLOSE), then local port, then remote
 * port, then addresses: the order `netkit tcp states` prints them in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareSockets } from "@netkit/netkit/tcp/proc";
 *
 * const at = (state: "LISTEN" | "ESTABLISHED", port: number) => ({
 *   proto: "tcp" as const,
 *   state,
 *   local: { hostname: "127.0.0.1", port },
 *   remote: { hostname: "127.0.0.1", port: 0 },
 * });
 * const rows = [at("ESTABLISHED", 80), at("LISTEN", 443), at("LISTEN", 80)];
 * rows.sort(compareSockets);
 * assert.deepEqual(rows.map((r) => `${r.state} ${r.local.port}`), [
 *   "LISTEN 80",
 *   "LISTEN 443",
 *   "ESTABLISHED 80",
 * ]);
 * ```
 */
export function compareSockets(
  a: { proto: string; state: TcpStateName; local: HostPort; remote: HostPort },
  b: { proto: string; state: TcpStateName; local: HostPort; remote: HostPort },
): number {
  return STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state) ||
    a.local.port - b.local.port ||
    a.remote.port - b.remote.port ||
    compareText(a.proto, b.proto) ||
    compareText(a.local.hostname, b.local.hostname) ||
    compareText(a.remote.hostname, b.remote.hostname);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Reads every TCP socket of this host (its network namespace) from
 * `/proc/net/tcp` and `/proc/net/tcp6`, keeps those `filter` matches
 * (see {@linkcode SocketFilter}: `port` matches either side, `sport` and
 * `dport` one side) and returns them sorted by {@linkcode compareSockets}.
 * A missing `tcp6` (IPv6 disabled) is not an error; a missing `tcp` is
 * `proc_unavailable`; on other systems than Linux it throws `unsupported_os`.
 *
 * The kernel writes these tables a page at a time while sockets come and
 * go: a row it repeats is listed once here, but on a busy host a socket
 * opened or closed during the read may also be missed, so to see one
 * socket reach a state, read again until it does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readTcpSockets } from "@netkit/netkit/tcp/proc";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const { port } = listener.addr;
 * // This listener, not another program's socket that used the same port.
 * const rows = await readTcpSockets({ sport: port, state: "LISTEN" });
 * const mine = rows.filter((r) => r.local.hostname === "127.0.0.1");
 * assert.equal(mine.length, 1);
 * assert.equal(mine[0]!.acceptQueue, 0);
 * ```
 */
export async function readTcpSockets(
  filter: SocketFilter = {},
): Promise<TcpSocketRecord[]> {
  assertLinux("reading TCP sockets");
  const records = await readInetTables("tcp", parseProcNetTcp);
  return filterSockets(records, filter).sort(compareSockets);
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
