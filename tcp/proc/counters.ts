/**
 * Every kernel network counter under its `nstat` name
 * (`TcpExtListenOverflows`, `TcpRetransSegs`, `UdpInErrors`), and the
 * deltas between two readings: what moved while something happened.
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
