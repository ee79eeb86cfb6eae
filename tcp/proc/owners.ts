/**
 * Which process owns a socket: the `/proc/<pid>/fd` links that name its
 * inode (`socket:[12345]`), as `ss -p` finds them.
 *
 * @module
 */

import { assertLinux, readProcText } from "../../_proc.ts";

/** A process holding a socket. */
export interface SocketOwner {
  /** Process id. */
  pid: number;
  /** Its command name (`/proc/<pid>/comm`). */
  command: string;
}

/** Bounds the scan: a host with more processes than this is not scanned past it. */
const MAX_PROCESSES = 100_000;

/**
 * Maps socket inodes to the processes holding them, from `/proc/*\/fd`.
 * Processes this user may not inspect are skipped (run as root to see
 * all); a socket several processes share lists each of them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readSocketOwners, readTcpSockets } from "@netkit/netkit/tcp/proc";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const [row] = await readTcpSockets({
 *   sport: listener.addr.port,
 *   state: "LISTEN",
 * });
 * const owners = await readSocketOwners();
 * assert.equal(owners.get(row!.inode)?.[0]?.pid, Deno.pid);
 * ```
 */
export async function readSocketOwners(): Promise<Map<number, SocketOwner[]>> {
  assertLinux("finding socket owners");
  const owners = new Map<number, SocketOwner[]>();
  let seen = 0;
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    if (++seen > MAX_PROCESSES) break;
    const pid = Number(entry.name);
    const inodes = await socketInodes(pid);
    if (inodes.length === 0) continue;
    const comm = await readProcText(`/proc/${pid}/comm`).catch(() => null);
    const owner = { pid, command: (comm ?? "?").trim() };
    for (const inode of inodes) {
      const list = owners.get(inode) ?? [];
      if (!list.some((o) => o.pid === pid)) list.push(owner);
      owners.set(inode, list);
    }
  }
  return owners;
}

async function socketInodes(pid: number): Promise<number[]> {
  const inodes: number[] = [];
  try {
    for await (const fd of Deno.readDir(`/proc/${pid}/fd`)) {
      const target = await Deno.readLink(`/proc/${pid}/fd/${fd.name}`).catch(
        () => "",
      );
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m) inodes.push(Number(m[1]));
    }
  } catch {
    // Gone, or not ours to inspect.
  }
  return inodes;
}
