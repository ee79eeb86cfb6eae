/**
 * Every UDP socket on a Linux host, from `/proc/net/udp` and
 * `/proc/net/udp6`, in the same shape as the TCP records.
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
import {
  compareSockets,
  filterSockets,
  type ParseProcNetTcpOptions,
  type SocketFilter,
} from "./sockets.ts";

/** One row of `/proc/net/udp` or `/proc/net/udp6`. */
export interface UdpSocketRecord {
  /** `udp` from `/proc/net/udp`, `udp6` from `/proc/net/udp6`. */
  proto: "udp" | "udp6";
  /** IP version of the addresses. */
  family: 4 | 6;
  /** Local address. */
  local: HostPort;
  /** Remote address; `0.0.0.0` port 0 (or `::`) unless connected. */
  remote: HostPort;
  /**
   * `ESTABLISHED` for a connected socket, `CLOSE` for the usual unconnected
   * one (`ss` prints it `UNCONN`).
   */
  state: "ESTABLISHED" | "CLOSE";
  /** Bytes queued to send. */
  txQueue: number;
  /** Bytes received and not yet read. */
  rxQueue: number;
  /** Owner's user id. */
  uid: number;
  /** Socket inode. */
  inode: number;
  /** Datagrams dropped on this socket (a full receive buffer, mostly). */
  drops: number;
}

/**
 * Parses the text of `/proc/net/udp` or `/proc/net/udp6` (options as for
 * `parseProcNetTcp`); a line that does not parse is a `proc_parse` `ProcError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseProcNetUdp } from "@netkit/netkit/tcp/proc";
 *
 * const text =
 *   "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n" +
 *   "  7: 0100007F:0035 00000000:0000 07 00000000:00000300 00:00000000 00000000   101        0 5150 2 0000000000000000 4\n";
 * const [dns] = parseProcNetUdp(text, { byteOrder: "little" });
 * assert.equal(dns!.local.port, 53);
 * assert.equal(dns!.state, "CLOSE");
 * assert.equal(dns!.rxQueue, 768);
 * assert.equal(dns!.drops, 4);
 * ```
 */
export function parseProcNetUdp(
  text: string,
  options: ParseProcNetTcpOptions = {},
): UdpSocketRecord[] {
  const source = options.source ??
    (options.family === 6 ? "/proc/net/udp6" : "/proc/net/udp");
  const little =
    (options.byteOrder ?? (HOST_LITTLE_ENDIAN ? "little" : "big")) === "little";
  return parseTable(text, source, (line) => {
    const row = parseInetRow(line, options.family, little);
    const state = row.stateCode === 0x01
      ? "ESTABLISHED"
      : row.stateCode === 0x07
      ? "CLOSE"
      : undefined;
    if (state === undefined) {
      throw new RowError(`unknown UDP state code ${row.fields[3]}`);
    }
    // ... inode ref pointer drops
    const drops = row.fields[12];
    return {
      proto: row.local.family === 6 ? "udp6" : "udp",
      family: row.local.family,
      local: { hostname: row.local.hostname, port: row.local.port },
      remote: row.remote,
      state,
      txQueue: row.txQueue,
      rxQueue: row.rxQueue,
      uid: row.uid,
      inode: row.inode,
      drops: drops === undefined ? 0 : decField(drops, "drops"),
    };
  });
}

/**
 * Reads every UDP socket of this host (its network namespace) from
 * `/proc/net/udp` and `/proc/net/udp6`, keeps those `filter` matches
 * (ports and states as for `readTcpSockets`) and returns them sorted by
 * `compareSockets`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readUdpSockets } from "@netkit/netkit/tcp/proc";
 *
 * const socket = Deno.listenDatagram({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   transport: "udp",
 * });
 * try {
 *   const { port } = socket.addr as Deno.NetAddr;
 *   const rows = await readUdpSockets({ sport: port });
 *   assert.ok(rows.some((r) => r.local.hostname === "127.0.0.1"));
 * } finally {
 *   socket.close();
 * }
 * ```
 */
export async function readUdpSockets(
  filter: SocketFilter = {},
): Promise<UdpSocketRecord[]> {
  assertLinux("reading UDP sockets");
  const records = await readInetTables("udp", parseProcNetUdp);
  return filterSockets(records, filter).sort(compareSockets);
}
