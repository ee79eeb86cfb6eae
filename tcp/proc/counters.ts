/**
 * Every kernel network counter under its `nstat` name
 * (`TcpExtListenOverflows`, `TcpRetransSegs`, `UdpInErrors`), and the
 * deltas between two readings: what moved while something happened; which
 * of them explain something (the "notable counters" rule, with a line of
 * meaning each, used by `netkit load` and meant for every report of
 * counters), and whose traffic they count.
 *
 * @module
 */

import { assertLinux, readProcRequired } from "../../_proc.ts";
import { parseNetstat } from "./limits.ts";

/** Counter values by `nstat` name: group and counter joined, e.g. `TcpExtListenOverflows`. */
export type KernelCounters = Record<string, number>;

/**
 * Reads `/proc/net/netstat` and `/proc/net/snmp` (this network namespace's
 * counters since it was created) into one record of `nstat` names.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readKernelCounters } from "@netkit/netkit/tcp/proc";
 *
 * const counters = await readKernelCounters();
 * assert.ok(counters.TcpExtListenOverflows! >= 0);
 * assert.ok(counters.TcpActiveOpens! >= 0);
 * ```
 */
export async function readKernelCounters(): Promise<KernelCounters> {
  assertLinux("reading kernel counters");
  const [netstat, snmp] = await Promise.all([
    readProcRequired("/proc/net/netstat"),
    readProcRequired("/proc/net/snmp"),
  ]);
  const out: KernelCounters = {};
  for (
    const [text, source] of [
      [netstat, "/proc/net/netstat"],
      [snmp, "/proc/net/snmp"],
    ] as const
  ) {
    for (
      const [group, values] of Object.entries(parseNetstat(text, { source }))
    ) {
      for (const [name, value] of Object.entries(values)) {
        out[group + name] = value;
      }
    }
  }
  return out;
}

/**
 * The counters that changed from `before` to `after`, with their change
 * (gauges like `TcpCurrEstab` may go down).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { counterDeltas } from "@netkit/netkit/tcp/proc";
 *
 * const moved = counterDeltas(
 *   { TcpExtListenOverflows: 3, TcpActiveOpens: 10 },
 *   { TcpExtListenOverflows: 5, TcpActiveOpens: 10 },
 * );
 * assert.deepEqual(moved, { TcpExtListenOverflows: 2 });
 * ```
 */
export function counterDeltas(
  before: KernelCounters,
  after: KernelCounters,
): KernelCounters {
  const out: KernelCounters = {};
  for (const [name, value] of Object.entries(after)) {
    const delta = value - (before[name] ?? 0);
    if (delta !== 0) out[name] = delta;
  }
  return out;
}

/**
 * The TCP and UDP counters (`Tcp…`, `TcpExt…`, `Udp…`), without gauges
 * (`TcpCurrEstab`, connections open now) and without IP and ICMP, which
 * move with every packet and explain nothing on their own; `{}` where the
 * counters cannot be read (not Linux, no `/proc`), so a caller that only
 * wants them when they exist never fails for want of them. What a load
 * run reads before and after its window.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readTransportCounters } from "@netkit/netkit/tcp/proc";
 *
 * const counters = await readTransportCounters();
 * assert.equal(counters.IpInReceives, undefined);
 * assert.ok(Deno.build.os !== "linux" || counters.TcpExtListenOverflows! >= 0);
 * ```
 */
export async function readTransportCounters(): Promise<KernelCounters> {
  let all: KernelCounters;
  try {
    all = await readKernelCounters();
  } catch {
    return {};
  }
  const out: KernelCounters = {};
  for (const [name, value] of Object.entries(all)) {
    if (/^(Tcp|Udp)/.test(name) && !GAUGES.has(name)) out[name] = value;
  }
  return out;
}

const GAUGES = new Set(["TcpCurrEstab", "TcpRtoAlgorithm", "TcpMaxConn"]);

/**
 * Whose traffic the kernel's counters count: they belong to a network
 * namespace, every socket in it included. `"machine"` for the machine's
 * own namespace (the one pid 1 runs in, or the kernel's fixed number for
 * it), where other programs' traffic on the machine is included;
 * otherwise the namespace's name (`net:[4026532281]`), whose programs
 * share the counters; `"unknown"` where it cannot be told (not Linux).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { counterScope } from "@netkit/netkit/tcp/proc";
 *
 * const scope = counterScope();
 * assert.ok(scope === "machine" || scope === "unknown" || scope.startsWith("net:["));
 * ```
 */
export function counterScope(): string {
  let own: string;
  try {
    own = Deno.readLinkSync("/proc/self/ns/net");
  } catch {
    return "unknown";
  }
  // Linux 6.x gives the initial namespace a fixed number; older kernels
  // need pid 1's link, which a sandbox may hide even from root.
  if (own === INIT_NET) return "machine";
  try {
    return own === Deno.readLinkSync("/proc/1/ns/net") ? "machine" : own;
  } catch {
    return own;
  }
}

// PROC_NET_INIT_INO (0xEFFFFFF9), include/linux/proc_ns.h.
const INIT_NET = `net:[${0xeffffff9}]`;

/**
 * One counter's change, explained: see {@linkcode explainCounters}.
 */
export interface ExplainedCounter {
  /** The `nstat` name, e.g. `TcpExtListenOverflows`. */
  name: string;
  /** How much it moved. */
  delta: number;
  /** One line saying what it means; empty for counters that explain nothing on their own. */
  meaning: string;
  /** True for the counters that explain a failure (see {@linkcode NOTABLE_COUNTERS}). */
  notable: boolean;
}

/**
 * The counters that explain something when they move (overflows, drops,
 * resets, retransmits, timeouts, UDP errors), in the order a reader should
 * see them, each with one line saying what it means. Everything else
 * (segments in and out, opens, …) counts normal traffic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NOTABLE_COUNTERS } from "@netkit/netkit/tcp/proc";
 *
 * assert.match(NOTABLE_COUNTERS.TcpExtListenOverflows!, /accept queue/);
 * assert.equal(NOTABLE_COUNTERS.TcpActiveOpens, undefined);
 * ```
 */
export const NOTABLE_COUNTERS: Readonly<Record<string, string>> = Object
  .freeze({
    TcpExtListenOverflows:
      "a connection arrived while a listener's accept queue was full: dropped",
    TcpExtListenDrops:
      "connection attempts a listening socket dropped (overflows included)",
    TcpExtTCPReqQFullDrop:
      "SYNs dropped: the SYN queue was full and SYN cookies were off",
    TcpExtTCPReqQFullDoCookies:
      "the SYN queue was full, so SYN cookies answered instead",
    TcpExtSyncookiesSent: "SYN cookies sent: the SYN queue was under pressure",
    TcpExtSyncookiesFailed: "ACKs carrying a SYN cookie that did not check out",
    TcpExtTCPBacklogDrop:
      "segments dropped: a socket's backlog was full (its program was busy)",
    TcpExtTCPRcvQDrop: "segments dropped: a socket's receive buffer was full",
    TcpExtTCPZeroWindowDrop:
      "segments dropped: the receiver had no room (zero window)",
    TcpExtTCPTimeWaitOverflow:
      "closed connections that got no TIME-WAIT entry (tcp_max_tw_buckets)",
    TcpAttemptFails:
      "connection attempts that failed (refused, or reset before established)",
    TcpEstabResets: "established connections ended by a reset",
    TcpOutRsts:
      "resets sent (refused connections, aborts, closes with unread data)",
    TcpExtTCPAbortOnData:
      "resets sent because data arrived after the application closed",
    TcpExtTCPAbortOnClose:
      "resets sent because the application closed with unread data",
    TcpExtTCPAbortOnTimeout:
      "connections given up after too many retransmission timeouts",
    TcpExtTCPAbortOnMemory: "connections dropped for lack of kernel memory",
    TcpExtTCPAbortOnLinger:
      "connections reset when the FIN-WAIT-2 linger ran out",
    TcpExtTCPAbortFailed: "resets the kernel wanted to send but could not",
    TcpRetransSegs:
      "segments sent again because they were lost or not acknowledged",
    TcpExtTCPSynRetrans:
      "SYNs and SYN-ACKs sent again: a handshake went unanswered",
    TcpExtTCPLostRetransmit: "retransmitted segments that were lost again",
    TcpExtTCPTimeouts:
      "retransmission timeouts: nothing was acknowledged for a whole RTO",
    TcpExtTCPRetransFail: "retransmissions the kernel failed to send",
    TcpInErrs: "segments received with errors (bad checksum, bad header)",
    TcpInCsumErrors: "segments received with a bad checksum",
    UdpInErrors:
      "datagrams not delivered (a receive buffer full, a bad checksum)",
    UdpRcvbufErrors: "datagrams dropped: a socket's receive buffer was full",
    UdpSndbufErrors: "datagrams not sent: the send buffer was full",
    UdpNoPorts: "datagrams to a port nobody listens on (answered by ICMP)",
    UdpInCsumErrors: "datagrams received with a bad checksum",
    UdpMemErrors: "datagrams dropped for lack of kernel memory",
  });

/**
 * Counter changes as a reader should see them: by default only the
 * {@linkcode NOTABLE_COUNTERS} that moved, in that table's order, each
 * with its one-line meaning; with `all`, every counter that moved (the
 * notable ones first, then the rest by name, with an empty meaning).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { explainCounters } from "@netkit/netkit/tcp/proc";
 *
 * const deltas = { TcpActiveOpens: 400, TcpRetransSegs: 3, TcpExtListenOverflows: 2 };
 * const shown = explainCounters(deltas);
 * assert.deepEqual(shown.map((c) => c.name), ["TcpExtListenOverflows", "TcpRetransSegs"]);
 * assert.match(shown[0]!.meaning, /accept queue was full/);
 * assert.equal(explainCounters(deltas, { all: true }).length, 3);
 * ```
 */
export function explainCounters(
  deltas: KernelCounters,
  options: { all?: boolean } = {},
): ExplainedCounter[] {
  const out: ExplainedCounter[] = [];
  for (const [name, meaning] of Object.entries(NOTABLE_COUNTERS)) {
    const delta = deltas[name];
    if (delta !== undefined && delta !== 0) {
      out.push({ name, delta, meaning, notable: true });
    }
  }
  if (options.all) {
    const rest = Object.keys(deltas).filter((n) =>
      !(n in NOTABLE_COUNTERS) && deltas[n] !== 0
    ).sort();
    for (const name of rest) {
      out.push({ name, delta: deltas[name]!, meaning: "", notable: false });
    }
  }
  return out;
}
