/**
 * Every Unix domain socket on a Linux host, from `/proc/net/unix`, with
 * its state in `ss`'s words.
 *
 * @module
 */

import { assertLinux, readProcRequired } from "../../_proc.ts";
import { procParseError } from "./_proc_net.ts";
import type { TcpStateName } from "./sockets.ts";

/** One row of `/proc/net/unix`. */
export interface UnixSocketRecord {
  /** Always `unix`: tells these rows from TCP and UDP ones in one list. */
  proto: "unix";
  /** `stream`, `dgram` or `seqpacket` (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET). */
  type: "stream" | "dgram" | "seqpacket";
  /**
   * As `ss -x` names it: `LISTEN` for a listening socket, `ESTABLISHED`
   * for a connected one, `CLOSE` (ss: `UNCONN`) for an unconnected one,
   * `SYN_SENT` while connecting and `CLOSING` while disconnecting.
   */
  state: Extract<
    TcpStateName,
    "LISTEN" | "ESTABLISHED" | "CLOSE" | "SYN_SENT" | "CLOSING"
  >;
  /**
   * The bound path, `@name` for an abstract address (its NUL bytes shown
   * as `@`, as the kernel prints them), `null` when unbound. Chosen by
   * whoever bound it: escape it before printing it.
   */
  path: string | null;
  /** Socket inode (the key `readSocketOwners` maps to processes). */
  inode: number;
  /** Kernel references held on the socket. */
  refCount: number;
}

const TYPES: Record<number, UnixSocketRecord["type"]> = {
  1: "stream",
  2: "dgram",
  5: "seqpacket",
};

// The St column (socket_state): SS_UNCONNECTED 1, SS_CONNECTING 2,
// SS_CONNECTED 3, SS_DISCONNECTING 4; mapped as ss does.
const STATES: Record<number, UnixSocketRecord["state"]> = {
  1: "CLOSE",
  2: "SYN_SENT",
  3: "ESTABLISHED",
  4: "CLOSING",
};

/** `__SO_ACCEPTCON` in the Flags column: a listening socket. */
const ACCEPTCON = 0x10000;

const ROW =
  /^[0-9A-Fa-f]+: ([0-9A-Fa-f]{8}) [0-9A-Fa-f]{8} ([0-9A-Fa-f]{8}) ([0-9A-Fa-f]{4}) ([0-9A-Fa-f]{2}) +(\d{1,20})(?: (.*))?$/;

/**
 * Parses the text of `/proc/net/unix`. The kernel prints a path's bytes
 * as they are, so a path with a newline in it continues on the next line:
 * a line that is not a row is taken as the rest of the path above it. A
 * line that is neither is a `proc_parse` `ProcError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseProcNetUnix } from "@netkit/netkit/tcp/proc";
 *
 * const text = "Num       RefCount Protocol Flags    Type St Inode Path\n" +
 *   "0000000000000000: 00000002 00000000 00010000 0001 01 20321 /run/app.sock\n" +
 *   "0000000000000000: 00000003 00000000 00000000 0001 03 20400\n" +
 *   "0000000000000000: 00000002 00000000 00000000 0002 01 20500 @hidden\n";
 * const [listener, conn, dgram] = parseProcNetUnix(text);
 * assert.equal(listener!.state, "LISTEN");
 * assert.equal(listener!.path, "/run/app.sock");
 * assert.equal(conn!.state, "ESTABLISHED");
 * assert.equal(conn!.path, null);
 * assert.equal(dgram!.type, "dgram");
 * assert.equal(dgram!.path, "@hidden");
 * ```
 */
export function parseProcNetUnix(
  text: string,
  source = "/proc/net/unix",
): UnixSocketRecord[] {
  const records: UnixSocketRecord[] = [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (i === 0 && line.startsWith("Num ")) continue;
    const m = ROW.exec(line);
    const type = m ? TYPES[parseInt(m[3]!, 16)] : undefined;
    const state = m ? STATES[parseInt(m[4]!, 16)] : undefined;
    if (m && type && state) {
      const listening = (parseInt(m[2]!, 16) & ACCEPTCON) !== 0;
      records.push({
        proto: "unix",
        type,
        state: listening ? "LISTEN" : state,
        path: m[6] ?? null,
        inode: Number(m[5]),
        refCount: parseInt(m[1]!, 16),
      });
      continue;
    }
    const previous = records.at(-1);
    if (previous?.path != null) {
      previous.path += `\n${line}`;
      continue;
    }
    throw procParseError(source, i + 1, "not a socket row", line);
  }
  return records;
}

/** Options for {@linkcode readUnixSockets}. */
export interface ReadUnixSocketsOptions {
  /** The socket is in this state, or in one of these states. */
  state?: TcpStateName | readonly TcpStateName[];
}

/**
 * Reads every Unix domain socket of this host (its network namespace)
 * from `/proc/net/unix`, optionally only those in some states, sorted by
 * state (as `compareSockets` orders them), then path, then inode.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readUnixSockets } from "@netkit/netkit/tcp/proc";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.remove(path);
 * using listener = Deno.listen({ transport: "unix", path });
 * const rows = await readUnixSockets({ state: "LISTEN" });
 * assert.ok(rows.some((r) => r.path === path));
 * await Deno.remove(path);
 * ```
 */
export async function readUnixSockets(
  options: ReadUnixSocketsOptions = {},
): Promise<UnixSocketRecord[]> {
  assertLinux("reading Unix sockets");
  const records = parseProcNetUnix(await readProcRequired("/proc/net/unix"));
  const wanted = options.state === undefined
    ? undefined
    : new Set<TcpStateName>(
      typeof options.state === "string" ? [options.state] : options.state,
    );
  // Read a page at a time while sockets come and go: a row may repeat.
  const seen = new Set<number>();
  return records
    .filter((r) => !seen.has(r.inode) && seen.add(r.inode))
    .filter((r) => wanted === undefined || wanted.has(r.state))
    .sort((a, b) =>
      ORDER.indexOf(a.state) - ORDER.indexOf(b.state) ||
      (a.path ?? "\uffff").localeCompare(b.path ?? "\uffff") ||
      a.inode - b.inode
    );
}

const ORDER: readonly UnixSocketRecord["state"][] = [
  "LISTEN",
  "SYN_SENT",
  "ESTABLISHED",
  "CLOSING",
  "CLOSE",
];
