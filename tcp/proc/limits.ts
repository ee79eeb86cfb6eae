/**
 * The limits and counters behind "too many open files" and "connection
 * reset by peer": a process's descriptor limits, the kernel's TCP sysctls
 * and the TCP counters since boot, each with what it means and what to do.
 *
 * @module
 */

import { ProcError } from "../../errors.ts";
import { assertLinux, readProcText } from "../../_proc.ts";
import { errorMessage, osMessage } from "../../_io.ts";

/** What every reading carries besides its value. */
export interface TcpReadingInfo {
  /** The name users know it by, e.g. `net.core.somaxconn` or `ListenOverflows`. */
  name: string;
  /** Unit of the value, e.g. `s`; absent for plain counts. */
  unit?: string;
  /** One line on what the value means. */
  meaning: string;
  /** One line on what to do about it (given its value when it was read). */
  hint: string;
}

/** A value that was read. */
export interface TcpAvailable<T> extends TcpReadingInfo {
  /** It was read. */
  available: true;
  /** The value. */
  value: T;
}

/** A value that could not be read (e.g. a file hidden in a container). */
export interface TcpUnavailable extends TcpReadingInfo {
  /** It was not read. */
  available: false;
  /** Why not, e.g. `cannot read /proc/sys/net/core/somaxconn: not found`. */
  reason: string;
}

/** One value of {@linkcode TcpLimits}: read, or not with a reason. */
export type TcpReading<T> = TcpAvailable<T> | TcpUnavailable;

/** A resource limit: a number or `"unlimited"`. */
export type LimitValue = number | "unlimited";

/** One row of `/proc/<pid>/limits`. */
export interface ProcLimit {
  /** The soft limit, which the process may raise up to `hard`. */
  soft: LimitValue;
  /** The hard limit. */
  hard: LimitValue;
  /** Units column, e.g. `files`; empty when the kernel prints none. */
  units: string;
}

/**
 * Parses `/proc/<pid>/limits` into rows keyed by name (`Max open files`).
 * A row that does not parse throws a `proc_parse` {@linkcode ProcError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseLimits } from "@netkit/netkit/tcp";
 *
 * const limits = parseLimits(
 *   "Limit                     Soft Limit           Hard Limit           Units     \n" +
 *     "Max cpu time              unlimited            unlimited            seconds   \n" +
 *     "Max open files            1024                 524288               files     \n",
 * );
 * assert.ok(limits["Max open files"]!.soft === 1024);
 * assert.ok(limits["Max cpu time"]!.hard === "unlimited");
 * ```
 */
export function parseLimits(
  text: string,
  options: { source?: string } = {},
): Record<string, ProcLimit> {
  const source = options.source ?? "/proc/self/limits";
  const out: Record<string, ProcLimit> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trimEnd();
    if (line === "" || (i === 0 && line.startsWith("Limit "))) continue;
    const m = /^(\S.*?)\s{2,}(\d+|unlimited)\s+(\d+|unlimited)(?:\s+(\S+))?$/
      .exec(line);
    if (!m) {
      throw new ProcError(
        "proc_parse",
        `${source}: line ${i + 1}: expected 'NAME SOFT HARD [UNITS]': '${
          line.slice(0, 80)
        }'`,
      );
    }
    out[m[1]!] = {
      soft: limitValue(m[2]!),
      hard: limitValue(m[3]!),
      units: m[4] ?? "",
    };
  }
  return out;
}

function limitValue(text: string): LimitValue {
  return text === "unlimited" ? "unlimited" : Number(text);
}

/** Counters by group (`TcpExt`, `Tcp`, `IpExt`, …) and name. */
export type ProcNetCounters = Record<string, Record<string, number>>;

/**
 * Parses `/proc/net/netstat` or `/proc/net/snmp`: pairs of lines, a
 * `Group: names…` line then a `Group: values…` line. A pair whose counts
 * differ, a value that is not a number or an unpaired line throws a
 * `proc_parse` {@linkcode ProcError} naming the line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseNetstat } from "@netkit/netkit/tcp";
 *
 * const counters = parseNetstat(
 *   "TcpExt: ListenOverflows ListenDrops\nTcpExt: 3 4\n",
 * );
 * assert.ok(counters.TcpExt!.ListenDrops === 4);
 * ```
 */
export function parseNetstat(
  text: string,
  options: { source?: string } = {},
): ProcNetCounters {
  const source = options.source ?? "/proc/net/netstat";
  const out: ProcNetCounters = {};
  const lines = text.split("\n");
  const bad = (n: number, why: string) =>
    new ProcError("proc_parse", `${source}: line ${n + 1}: ${why}`);
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() === "") continue;
    const names = splitGroup(lines[i]!);
    const valuesLine = lines[i + 1];
    if (!names) throw bad(i, "expected 'Group: names…'");
    if (valuesLine === undefined || valuesLine.trim() === "") {
      throw bad(i, `'${names.group}' names without a line of values`);
    }
    const values = splitGroup(valuesLine);
    if (!values || values.group !== names.group) {
      throw bad(i + 1, `expected the values of '${names.group}'`);
    }
    if (values.fields.length !== names.fields.length) {
      throw bad(
        i + 1,
        `${values.fields.length} values for ${names.fields.length} names in '${names.group}'`,
      );
    }
    const group: Record<string, number> = out[names.group] ??= {};
    names.fields.forEach((name, k) => {
      const v = values.fields[k]!;
      if (!/^-?\d+$/.test(v)) {
        throw bad(i + 1, `'${names.group} ${name}' is not a number: '${v}'`);
      }
      group[name] = Number(v);
    });
    i++;
  }
  return out;
}

function splitGroup(line: string): { group: string; fields: string[] } | null {
  const m = /^(\w+):\s*(.*)$/.exec(line.trim());
  if (!m) return null;
  return { group: m[1]!, fields: m[2]! === "" ? [] : m[2]!.split(/\s+/) };
}

/** The process a {@linkcode TcpLimits} describes. */
export interface TcpProcessLimits {
  /** `Max open files` soft limit (RLIMIT_NOFILE). */
  openFilesSoft: TcpReading<LimitValue>;
  /** `Max open files` hard limit. */
  openFilesHard: TcpReading<LimitValue>;
  /** Descriptors the process holds (entries of `/proc/<pid>/fd`). */
  descriptorsInUse: TcpReading<number>;
}

/** The kernel settings that size TCP's queues and timers. */
export interface TcpSysctls {
  /** `net.core.somaxconn`: cap on every listen() backlog. */
  somaxconn: TcpReading<number>;
  /** `net.ipv4.tcp_max_syn_backlog`: half-open connections per listener. */
  tcpMaxSynBacklog: TcpReading<number>;
  /** `net.ipv4.tcp_synack_retries`. */
  tcpSynackRetries: TcpReading<number>;
  /** Seconds from the first SYN/ACK to its last retransmit, from `tcp_synack_retries`. */
  synRecvLastRetransmit: TcpReading<number>;
  /** Seconds a half-open (SYN_RECV) connection lives, from `tcp_synack_retries`. */
  synRecvLifetime: TcpReading<number>;
  /** `net.ipv4.tcp_syncookies`: 0 off, 1 on overflow, 2 always. */
  tcpSyncookies: TcpReading<number>;
  /** `net.ipv4.tcp_abort_on_overflow`: 0 drop the ACK, 1 send RST. */
  tcpAbortOnOverflow: TcpReading<number>;
  /** `net.ipv4.tcp_fin_timeout`: seconds an orphan waits in FIN_WAIT2. */
  tcpFinTimeout: TcpReading<number>;
  /** `net.ipv4.tcp_tw_reuse`: 0 off, 1 on, 2 loopback only. */
  tcpTwReuse: TcpReading<number>;
  /** `net.ipv4.tcp_max_tw_buckets`: most TIME_WAIT sockets kept. */
  tcpMaxTwBuckets: TcpReading<number>;
}

/** The `/proc/net/netstat` TcpExt counters {@linkcode readTcpLimits} reports. */
export type TcpExtCounterName =
  | "ListenOverflows"
  | "ListenDrops"
  | "TCPReqQFullDrop"
  | "TCPReqQFullDoCookies"
  | "SyncookiesSent"
  | "SyncookiesRecv"
  | "SyncookiesFailed"
  | "TCPSynRetrans"
  | "TCPTimeouts"
  | "TCPAbortOnData"
  | "TCPAbortOnClose"
  | "TCPAbortOnTimeout"
  | "TCPAbortOnMemory"
  | "TCPTimeWaitOverflow"
  | "TW";

/** The `/proc/net/snmp` Tcp counters {@linkcode readTcpLimits} reports. */
export type SnmpTcpCounterName =
  | "ActiveOpens"
  | "PassiveOpens"
  | "AttemptFails"
  | "EstabResets"
  | "CurrEstab"
  | "OutSegs"
  | "RetransSegs"
  | "OutRsts";

/** Everything `netkit tcp limits` shows. */
export interface TcpLimits {
  /** The process whose descriptor limits were read. */
  pid: number;
  /** Descriptor limits and use of that process. */
  process: TcpProcessLimits;
  /** Kernel settings. */
  sysctl: TcpSysctls;
  /** `/proc/net/netstat` TcpExt counters, since boot. */
  tcpExt: Record<TcpExtCounterName, TcpReading<number>>;
  /** `/proc/net/snmp` Tcp counters, since boot (CurrEstab is a gauge). */
  tcp: Record<SnmpTcpCounterName, TcpReading<number>>;
}

type Text = { meaning: string; hint: string };

const TCP_EXT_TEXT: Record<TcpExtCounterName, Text> = {
  ListenOverflows: {
    meaning:
      "times a full accept queue dropped a SYN or a handshake's final ACK",
    hint:
      "the server accepts too slowly or its backlog is too small: accept faster, raise the backlog and net.core.somaxconn",
  },
  ListenDrops: {
    meaning: "SYNs and ACKs dropped on listening sockets, overflows included",
    hint:
      "if well above ListenOverflows, look for SYN-queue drops and memory pressure",
  },
  TCPReqQFullDrop: {
    meaning:
      "SYNs dropped because the SYN queue was full and SYN cookies were off",
    hint:
      "turn on tcp_syncookies or raise tcp_max_syn_backlog; it may be a SYN flood",
  },
  TCPReqQFullDoCookies: {
    meaning: "SYNs answered with a cookie because the SYN queue was full",
    hint:
      "a SYN flood or a burst beyond tcp_max_syn_backlog: raise it and the listen backlog",
  },
  SyncookiesSent: {
    meaning: "SYN cookies sent",
    hint:
      "the SYN queue overflowed: raise tcp_max_syn_backlog, or look for a SYN flood",
  },
  SyncookiesRecv: {
    meaning: "valid cookie ACKs received: connections made through cookies",
    hint: "follows SyncookiesSent; cookie connections lose some TCP options",
  },
  SyncookiesFailed: {
    meaning: "ACKs carrying an invalid cookie",
    hint:
      "stray or forged ACKs; a high rate alongside a SYN flood is an attack",
  },
  TCPSynRetrans: {
    meaning: "SYN and SYN/ACK retransmissions",
    hint:
      "handshakes get lost: check ListenOverflows on the server, packet loss, firewalls",
  },
  TCPTimeouts: {
    meaning:
      "retransmission timeouts: data went unacknowledged for a whole RTO",
    hint: "packet loss or unresponsive peers; compare RetransSegs with OutSegs",
  },
  TCPAbortOnData: {
    meaning:
      "RSTs sent on close while data was still moving (SO_LINGER 0, data after close)",
    hint:
      "the app closes mid-transfer: finish the exchange, or shut down writing and read to EOF first",
  },
  TCPAbortOnClose: {
    meaning: "RSTs sent because the app closed a socket with unread data",
    hint:
      'read requests to the end before closing; the peer sees "connection reset by peer"',
  },
  TCPAbortOnTimeout: {
    meaning:
      "connections dropped after retransmissions or keepalive probes ran out",
    hint: "peers vanished or the path is lossy",
  },
  TCPAbortOnMemory: {
    meaning: "orphaned connections killed because TCP memory ran short",
    hint:
      "too many closed-but-lingering sockets: raise net.ipv4.tcp_mem or tcp_max_orphans",
  },
  TCPTimeWaitOverflow: {
    meaning:
      "TIME_WAIT sockets destroyed at once because tcp_max_tw_buckets was reached",
    hint:
      "raise tcp_max_tw_buckets, or reuse connections (keep-alive, pooling)",
  },
  TW: {
    meaning: "sockets that finished TIME_WAIT",
    hint:
      "a high rate means many short connections: reuse them (keep-alive, pooling)",
  },
};

const SNMP_TCP_TEXT: Record<SnmpTcpCounterName, Text> = {
  ActiveOpens: {
    meaning: "connections this host opened (SYN_SENT)",
    hint:
      "a high rate means clients open many short connections: pool or keep them alive",
  },
  PassiveOpens: {
    meaning: "connections listeners accepted (SYN_RECV)",
    hint: "the connection rate of this host's servers",
  },
  AttemptFails: {
    meaning:
      "connection attempts that failed in SYN_SENT or SYN_RECV (refused, reset, timed out)",
    hint:
      "clients reach closed ports or overloaded servers: look for SYN_SENT sockets and ListenOverflows",
  },
  EstabResets: {
    meaning: "ESTABLISHED or CLOSE_WAIT connections reset",
    hint:
      'peers abort: look for "connection reset by peer", crashes and idle timeouts',
  },
  CurrEstab: {
    meaning:
      "connections now ESTABLISHED or CLOSE_WAIT (a gauge, not a counter)",
    hint:
      "many CLOSE_WAIT in 'netkit tcp states' mean the app does not close what its peer closed",
  },
  OutSegs: {
    meaning: "segments sent",
    hint: "the base for RetransSegs",
  },
  RetransSegs: {
    meaning: "segments retransmitted",
    hint: "above about 1% of OutSegs suggests loss or congestion",
  },
  OutRsts: {
    meaning: "segments sent with RST",
    hint:
      "connections to closed ports, or aborts: compare the TCPAbortOn* counters",
  },
};

/** The kernel's initial retransmission timeout and its cap (TCP_RTO_MAX). */
const RTO_INITIAL_S = 1;
const RTO_MAX_S = 120;

/**
 * When the SYN/ACKs of a half-open connection go out with `retries`
 * retransmissions: the initial timeout of 1 s doubles after each one (up to
 * 120 s). Returns the time of the last retransmit and the time the
 * connection is dropped, in seconds: 5 retries → 31 s and 63 s.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { synRecvTimes } from "@netkit/netkit/tcp";
 *
 * const t = synRecvTimes(5);
 * assert.ok(t.lastRetransmitSeconds === 31 && t.lifetimeSeconds === 63);
 * ```
 */
export function synRecvTimes(
  retries: number,
): { lastRetransmitSeconds: number; lifetimeSeconds: number } {
  let elapsed = 0;
  let rto = RTO_INITIAL_S;
  let last = 0;
  for (let i = 0; i <= retries; i++) {
    elapsed += rto;
    if (i < retries) last = elapsed;
    rto = Math.min(rto * 2, RTO_MAX_S);
  }
  return { lastRetransmitSeconds: last, lifetimeSeconds: elapsed };
}

/** Options for {@linkcode readTcpLimits}. */
export interface ReadTcpLimitsOptions {
  /** Process whose descriptor limits and use to read. Default: this one. */
  pid?: number;
}

/**
 * Reads the limits, sysctls and counters of {@linkcode TcpLimits}. A value
 * that cannot be read (a file hidden in a container, another user's
 * process) comes back as `{ available: false, reason }`; only a non-Linux
 * system throws (`unsupported_os`).
 *
 * @example
 * ```ts ignore
 * import { readTcpLimits } from "@netkit/netkit/tcp";
 *
 * const limits = await readTcpLimits();
 * const overflows = limits.tcpExt.ListenOverflows;
 * if (overflows.available && overflows.value > 0) console.log(overflows.hint);
 * ```
 */
export async function readTcpLimits(
  options: ReadTcpLimitsOptions = {},
): Promise<TcpLimits> {
  assertLinux("reading TCP limits");
  const self = options.pid === undefined || options.pid === Deno.pid;
  const pid = options.pid ?? Deno.pid;
  const dir = self ? "/proc/self" : `/proc/${pid}`;
  // Count first and alone: concurrent reads below hold descriptors too.
  const descriptorsInUse = await countDescriptors(`${dir}/fd`, self);
  const [limitsText, netstat, snmp, ...sysctls] = await Promise.all([
    attempt(() => readProcText(`${dir}/limits`)),
    attempt(() => readProcText("/proc/net/netstat")),
    attempt(() => readProcText("/proc/net/snmp")),
    ...SYSCTL_PATHS.map((p) =>
      attempt(() => readProcText(`/proc/sys/${p.replaceAll(".", "/")}`))
    ),
  ]);
  return {
    pid,
    process: processLimits(limitsText, `${dir}/limits`, descriptorsInUse),
    sysctl: sysctlReadings(sysctls),
    tcpExt: counterReadings(
      netstat,
      "/proc/net/netstat",
      "TcpExt",
      TCP_EXT_TEXT,
    ),
    tcp: counterReadings(snmp, "/proc/net/snmp", "Tcp", SNMP_TCP_TEXT),
  };
}

const SYSCTL_PATHS = [
  "net.core.somaxconn",
  "net.ipv4.tcp_max_syn_backlog",
  "net.ipv4.tcp_synack_retries",
  "net.ipv4.tcp_syncookies",
  "net.ipv4.tcp_abort_on_overflow",
  "net.ipv4.tcp_fin_timeout",
  "net.ipv4.tcp_tw_reuse",
  "net.ipv4.tcp_max_tw_buckets",
] as const;

/** Text of a file, `null` when missing, or the error message. */
type Attempt = { text: string | null } | { error: string };

async function attempt(read: () => Promise<string | null>): Promise<Attempt> {
  try {
    return { text: await read() };
  } catch (error) {
    return { error: errorMessage(error) };
  }
}

async function countDescriptors(
  path: string,
  self: boolean,
): Promise<Attempt & { count?: number }> {
  try {
    let count = 0;
    for await (const _ of Deno.readDir(path)) count++;
    // Listing /proc/self/fd holds one descriptor of our own while it runs.
    return { text: "", count: self ? count - 1 : count };
  } catch (error) {
    const why = error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : error instanceof Deno.errors.NotFound
      ? "not found"
      : osMessage(error);
    return { error: `cannot list ${path}: ${why}` };
  }
}

type Got<T> = { value: T } | { reason: string };

function reading<T>(info: TcpReadingInfo, got: Got<T>): TcpReading<T> {
  return "value" in got
    ? { ...info, available: true, value: got.value }
    : { ...info, available: false, reason: got.reason };
}

function failure(a: Attempt, path: string): string | undefined {
  if ("error" in a) return a.error;
  if (a.text === null) return `cannot read ${path}: not found`;
  return undefined;
}

function processLimits(
  limitsFile: Attempt,
  path: string,
  fds: Attempt & { count?: number },
): TcpProcessLimits {
  let soft: { value: LimitValue } | { reason: string };
  let hard: { value: LimitValue } | { reason: string };
  const why = failure(limitsFile, path);
  if (why !== undefined) {
    soft = hard = { reason: why };
  } else {
    try {
      const row = parseLimits((limitsFile as { text: string }).text, {
        source: path,
      })["Max open files"];
      if (row) {
        soft = { value: row.soft };
        hard = { value: row.hard };
      } else {
        soft = hard = { reason: `no 'Max open files' row in ${path}` };
      }
    } catch (error) {
      soft = hard = { reason: errorMessage(error) };
    }
  }
  const inUse: Got<number> = "error" in fds
    ? { reason: fds.error }
    : { value: fds.count! };
  const softValue = "value" in soft ? soft.value : undefined;
  return {
    openFilesSoft: reading(
      {
        name: "open files (soft)",
        meaning:
          'most descriptors (files, sockets, pipes) it may hold; one more fails with "too many open files"',
        hint:
          "raise with 'ulimit -n' up to the hard limit, or LimitNOFILE= in a systemd unit; Deno raises soft to hard at startup",
      },
      soft,
    ),
    openFilesHard: reading(
      {
        name: "open files (hard)",
        meaning: "ceiling an unprivileged process may raise its soft limit to",
        hint:
          "raise in /etc/security/limits.conf or with LimitNOFILE= in a systemd unit",
      },
      hard,
    ),
    descriptorsInUse: reading(
      {
        name: "descriptors in use",
        meaning: "descriptors the process holds now (entries of /proc/PID/fd)",
        hint: usageHint("value" in inUse ? inUse.value : undefined, softValue),
      },
      inUse,
    ),
  };
}

function usageHint(
  used: number | undefined,
  soft: LimitValue | undefined,
): string {
  if (
    used === undefined || soft === undefined || soft === "unlimited" ||
    soft === 0
  ) {
    return "compare with the soft limit: reaching it gives EMFILE on accept() and open()";
  }
  const pct = Math.round((used / soft) * 100);
  return pct >= 80
    ? `${pct}% of the soft limit: close idle connections or raise the limit before accept() fails with EMFILE`
    : `${pct}% of the soft limit`;
}

function sysctlReadings(files: Attempt[]): TcpSysctls {
  const values = SYSCTL_PATHS.map(
    (name, i): { value: number } | { reason: string } => {
      const a = files[i]!;
      const path = `/proc/sys/${name.replaceAll(".", "/")}`;
      const why = failure(a, path);
      if (why !== undefined) return { reason: why };
      const text = (a as { text: string }).text.trim();
      if (!/^-?\d+$/.test(text)) {
        return { reason: `${path} is not a number: '${text.slice(0, 40)}'` };
      }
      return { value: Number(text) };
    },
  );
  const v = (i: number) => values[i]!;
  const num = (
    i: number,
  ) => ("value" in v(i) ? (v(i) as { value: number }).value : undefined);
  const synack = num(2);
  const times = synack === undefined ? undefined : synRecvTimes(synack);
  const derived = (
    pick: (t: ReturnType<typeof synRecvTimes>) => number,
  ): Got<number> =>
    times === undefined
      ? { reason: (v(2) as { reason: string }).reason }
      : { value: pick(times) };
  const somaxconn = num(0);
  return {
    somaxconn: reading({
      name: SYSCTL_PATHS[0],
      meaning:
        "cap on every listen() backlog: handshaken connections waiting for accept()",
      hint: "if ListenOverflows grows, raise it and the server's backlog" +
        (somaxconn !== undefined && somaxconn < 511
          ? `; it silently cuts Deno's default backlog of 511 to ${somaxconn}`
          : " (Deno's tcpBacklog defaults to 511)"),
    }, v(0)),
    tcpMaxSynBacklog: reading({
      name: SYSCTL_PATHS[1],
      meaning: "most half-open (SYN_RECV) connections per listener",
      hint: "raise it if TCPReqQFullDrop or SyncookiesSent grow",
    }, v(1)),
    tcpSynackRetries: reading({
      name: SYSCTL_PATHS[2],
      meaning:
        "SYN/ACK retransmissions before a half-open connection is dropped",
      hint: times
        ? `retransmits at 1, 2, 4, … s: the last after ${times.lastRetransmitSeconds} s, dropped after ${times.lifetimeSeconds} s; lower it to shed SYN floods sooner`
        : "retransmits at 1, 2, 4, … s: 5 retries drop a half-open connection after 63 s",
    }, v(2)),
    synRecvLastRetransmit: reading({
      name: "SYN_RECV last retransmit",
      unit: "s",
      meaning:
        "time from the first SYN/ACK to its last retransmit (1 s timeout, doubling)",
      hint: "derived from tcp_synack_retries: 2^n − 1 s",
    }, derived((t) => t.lastRetransmitSeconds)),
    synRecvLifetime: reading({
      name: "SYN_RECV lifetime",
      unit: "s",
      meaning:
        "how long a half-open connection waits for the client's final ACK",
      hint: "derived from tcp_synack_retries: 2^(n+1) − 1 s",
    }, derived((t) => t.lifetimeSeconds)),
    tcpSyncookies: reading({
      name: SYSCTL_PATHS[3],
      meaning:
        "SYN cookies: answer SYNs without queue space when the SYN queue is full",
      hint: [
        "0: off, a full SYN queue drops SYNs (TCPReqQFullDrop); 1 (the default) is safer",
        "1: cookies only when the SYN queue overflows (the default); SyncookiesSent counts them",
        "2: cookies for every SYN, even without overflow; TCP options may be lost",
      ][num(3) ?? -1] ?? "0 off, 1 on overflow (default), 2 always",
    }, v(3)),
    tcpAbortOnOverflow: reading({
      name: SYSCTL_PATHS[4],
      meaning: "what a full accept queue does with a handshake's final ACK",
      hint: num(4) === 1
        ? '1: a full accept queue answers with RST: clients see "connection reset by peer"; 0 (default) drops the ACK so they retry'
        : num(4) === 0
        ? `0: a full accept queue drops the client's final ACK (client retries); 1 would answer with RST: "connection reset by peer"`
        : '0 drops the final ACK (client retries); 1 answers with RST: "connection reset by peer"',
    }, v(4)),
    tcpFinTimeout: reading({
      name: SYSCTL_PATHS[5],
      unit: "s",
      meaning:
        "how long an orphaned connection (closed by the app) waits in FIN_WAIT2 for the peer's FIN",
      hint:
        "many FIN_WAIT2 sockets mean peers do not close; lowering it frees them sooner",
    }, v(5)),
    tcpTwReuse: reading({
      name: SYSCTL_PATHS[6],
      meaning:
        "whether new outgoing connections may reuse TIME_WAIT sockets (with timestamps)",
      hint: [
        "0: off; a client making many short connections to one server can run out of ports",
        "1: on for all outgoing connections",
        "2: on for loopback only (the default)",
      ][num(6) ?? -1] ?? "0 off, 1 on, 2 loopback only (default)",
    }, v(6)),
    tcpMaxTwBuckets: reading({
      name: SYSCTL_PATHS[7],
      meaning:
        "most TIME_WAIT sockets the host keeps; beyond it they are destroyed at once",
      hint:
        "TIME_WAIT is normal on the side that closes first; raise it only if TCPTimeWaitOverflow grows",
    }, v(7)),
  };
}

function counterReadings<N extends string>(
  file: Attempt,
  path: string,
  group: string,
  texts: Record<N, Text>,
): Record<N, TcpReading<number>> {
  let values: Record<string, number> | undefined;
  let why = failure(file, path);
  if (why === undefined) {
    try {
      values =
        parseNetstat((file as { text: string }).text, { source: path })[group];
      if (!values) why = `no '${group}' lines in ${path}`;
    } catch (error) {
      why = errorMessage(error);
    }
  }
  const out = {} as Record<N, TcpReading<number>>;
  for (const name of Object.keys(texts) as N[]) {
    const info = { name, ...texts[name] };
    const value = values?.[name];
    out[name] = value !== undefined ? reading(info, { value }) : reading(info, {
      reason: why ?? `${group} ${name} is not in ${path} on this kernel`,
    });
  }
  return out;
}
