/**
 * Which kernel counters a load result reports: the TCP and UDP counters
 * (`Tcp…`, `TcpExt…`, `Udp…` under their `nstat` names, as
 * `readKernelCounters` in `tcp/proc` reads them) that moved during the
 * run. IP and ICMP counters move with every packet and say nothing a
 * load run can act on; `TcpCurrEstab` is a gauge (connections open now).
 *
 * @module
 */

import {
  counterDeltas,
  type KernelCounters,
  readKernelCounters,
} from "../tcp/proc/counters.ts";

/**
 * The TCP and UDP counters that changed from `before` to `after`, with
 * their change; gauges left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadCounterDeltas } from "@netkit/netkit/load";
 *
 * const moved = loadCounterDeltas(
 *   { TcpExtListenOverflows: 1, IpInReceives: 5, TcpCurrEstab: 2 },
 *   { TcpExtListenOverflows: 4, IpInReceives: 9, TcpCurrEstab: 7 },
 * );
 * assert.deepEqual(moved, { TcpExtListenOverflows: 3 });
 * ```
 */
export function loadCounterDeltas(
  before: KernelCounters,
  after: KernelCounters,
): KernelCounters {
  const out: KernelCounters = {};
  for (const [name, delta] of Object.entries(counterDeltas(before, after))) {
    if (/^(Tcp|Udp)/.test(name) && name !== "TcpCurrEstab") out[name] = delta;
  }
  return out;
}

/**
 * {@linkcode readKernelCounters}, or `{}` where the counters cannot be
 * read (not Linux, no `/proc`): a load run never fails for want of them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readKernelCountersOrNone } from "@netkit/netkit/load";
 *
 * const counters = await readKernelCountersOrNone();
 * assert.ok(Deno.build.os !== "linux" || counters.TcpExtListenOverflows! >= 0);
 * ```
 */
export async function readKernelCountersOrNone(): Promise<KernelCounters> {
  try {
    return await readKernelCounters();
  } catch {
    return {};
  }
}
