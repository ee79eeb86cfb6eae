/**
 * Listening sockets' backlogs from the kernel's sock_diag netlink interface,
 * the way `ss -ltn` reads them: `/proc/net/tcp` shows a LISTEN socket's
 * accept queue but not its backlog limit.
 *
 * Deno has no netlink API, so this calls libc through FFI
 * (`Deno.dlopen`, which needs `--allow-ffi`; `--allow-all` includes it).
 *
 * @module
 */

import { ProcError } from "../../errors.ts";
import { assertLinux } from "../../_proc.ts";
import { errorMessage } from "../../_io.ts";

/** A LISTEN socket's queues as sock_diag reports them (`ss -ltn` Recv-Q, Send-Q). */
export interface ListenQueue {
  /** Connections completed by the kernel and waiting for `accept()` (ss Recv-Q). */
  acceptQueue: number;
  /** The effective backlog, `min(listen() backlog, somaxconn)` (ss Send-Q). */
  backlog: number;
  /** Local port. */
  port: number;
  /** The socket's inode, the key that joins it to `/proc/net/tcp` rows. */
  inode: number;
}

const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_SOCK_DIAG = 4;
const SOCK_DIAG_BY_FAMILY = 20;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const IPPROTO_TCP = 6;
const TCP_LISTEN = 10;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const NLMSG_HDR = 16;
const REQ_LEN = NLMSG_HDR + 56;
/** A dump answers in pages; 64 KiB holds many of them, and each recv() returns whole messages. */
const RECV_BYTES = 64 * 1024;
/** Bounds the whole dump: a host with a million listeners is not what this is for. */
const MAX_MESSAGES = 1_000_000;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  setsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "u32"],
    result: "i32",
  },
  close: { parameters: ["i32"], result: "i32" },
} as const;

/** The inet_diag_req_v2 dump request for LISTEN sockets of one family. */
function listenDumpRequest(family: 4 | 6, seq = 1): Uint8Array {
  const buf = new Uint8Array(REQ_LEN);
  const view = new DataView(buf.buffer);
  view.setUint32(0, REQ_LEN, true);
  view.setUint16(4, SOCK_DIAG_BY_FAMILY, true);
  view.setUint16(6, NLM_F_REQUEST | NLM_F_DUMP, true);
  view.setUint32(8, seq, true);
  buf[16] = family === 4 ? AF_INET : AF_INET6;
  buf[17] = IPPROTO_TCP;
  view.setUint32(20, 1 << TCP_LISTEN, true);
  return buf;
}

/**
 * Parses the netlink messages of one `recv()`: inet_diag_msg records become
 * {@linkcode ListenQueue}s; returns `done` at NLMSG_DONE and throws a
 * `proc_unavailable` {@linkcode ProcError} on NLMSG_ERROR.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseListenDump } from "@netkit/netkit/tcp/proc";
 *
 * const done = new Uint8Array(20);
 * new DataView(done.buffer).setUint32(0, 20, true);
 * new DataView(done.buffer).setUint16(4, 3, true); // NLMSG_DONE
 * assert.deepEqual(parseListenDump(done), { queues: [], done: true });
 * ```
 */
export function parseListenDump(
  bytes: Uint8Array,
): { queues: ListenQueue[]; done: boolean } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const queues: ListenQueue[] = [];
  let off = 0;
  while (off + NLMSG_HDR <= bytes.length) {
    const len = view.getUint32(off, true);
    const type = view.getUint16(off + 4, true);
    if (len < NLMSG_HDR || off + len > bytes.length) {
      throw new ProcError("proc_parse", `sock_diag: bad netlink length ${len}`);
    }
    if (type === NLMSG_DONE) return { queues, done: true };
    if (type === NLMSG_ERROR) {
      const errno = -view.getInt32(off + NLMSG_HDR, true);
      throw new ProcError(
        "proc_unavailable",
        `sock_diag refused the request (errno ${errno})`,
      );
    }
    if (type === SOCK_DIAG_BY_FAMILY && len >= NLMSG_HDR + 72) {
      const m = off + NLMSG_HDR;
      queues.push({
        port: view.getUint16(m + 4, false),
        acceptQueue: view.getUint32(m + 56, true),
        backlog: view.getUint32(m + 60, true),
        inode: view.getUint32(m + 68, true),
      });
    }
    off += (len + 3) & ~3;
  }
  return { queues, done: false };
}

/**
 * Reads every LISTEN socket's accept queue and backlog (IPv4 and IPv6)
 * through sock_diag netlink, keyed by inode. Throws `proc_unavailable` when
 * FFI is not allowed (`--allow-ffi`), libc cannot be loaded or the kernel
 * refuses; `unsupported_os` off Linux.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readListenQueues } from "@netkit/netkit/tcp/proc";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 7 });
 * const queues = readListenQueues();
 * const mine = [...queues.values()].find((q) => q.port === listener.addr.port);
 * assert.equal(mine?.backlog, 7);
 * ```
 */
export function readListenQueues(): Map<number, ListenQueue> {
  assertLinux("reading listen backlogs");
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen("libc.so.6", SYMBOLS);
  } catch (error) {
    throw new ProcError(
      "proc_unavailable",
      `cannot call sock_diag through libc FFI: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  try {
    const out = new Map<number, ListenQueue>();
    for (const family of [4, 6] as const) {
      for (const q of dump(lib.symbols, family)) out.set(q.inode, q);
    }
    return out;
  } finally {
    lib.close();
  }
}

function dump(
  libc: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"],
  family: 4 | 6,
): ListenQueue[] {
  const fd = libc.socket(
    AF_NETLINK,
    SOCK_DGRAM | SOCK_CLOEXEC,
    NETLINK_SOCK_DIAG,
  );
  if (fd < 0) {
    throw new ProcError("proc_unavailable", "cannot open a sock_diag socket");
  }
  try {
    // A kernel that never answers must not hang the caller: 2 s receive timeout.
    const timeval = new Uint8Array(16);
    new DataView(timeval.buffer).setBigInt64(0, 2n, true);
    libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeval, 16);
    const req = listenDumpRequest(family);
    if (Number(libc.send(fd, req, BigInt(req.length), 0)) !== req.length) {
      throw new ProcError("proc_unavailable", "sock_diag: send failed");
    }
    const buf = new Uint8Array(RECV_BYTES);
    const queues: ListenQueue[] = [];
    for (let i = 0; i < MAX_MESSAGES; i++) {
      const n = Number(libc.recv(fd, buf, BigInt(buf.length), 0));
      if (n <= 0) {
        throw new ProcError("proc_unavailable", "sock_diag: no answer");
      }
      const got = parseListenDump(buf.subarray(0, n));
      queues.push(...got.queues);
      if (got.done) return queues;
    }
    throw new ProcError("proc_unavailable", "sock_diag: dump did not end");
  } finally {
    libc.close(fd);
  }
}
