// TCP_NODELAY through libc where Deno's API does not reach. Deno gives
// only plain TCP connections setNoDelay(): a TLS connection (accepted
// from Deno.listenTls or dialed) has none, so a wss:// server kept
// Nagle's algorithm, and a reply that follows a partial segment waited
// for the client's delayed ACK (40 ms). Linux copies TCP_NODELAY from a
// listening socket to every connection accepted from it, so setting it
// once on the listener covers them all. The fd is not exposed either: it
// is found through /proc (the socket's inode from /proc/net/tcp{,6}, then
// the /proc/self/fd entry linking to it). _tcp_reset.ts asks each fd for
// its peer instead, which a listening socket does not have.
// Needs Linux, --allow-ffi and read access to /proc (Deno 2.9 wants
// --allow-all for /proc/net and /proc/self); without them nothing
// changes and the caller is told so.
//
// Reading the option back (readNoDelay) is what the tests use to hold
// every kind of socket netkit writes messages to to no-delay.

import type { HostPort } from "../address.ts";
import { parseProcNetTcp, type TcpSocketRecord } from "./proc/sockets.ts";

const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;

const SYMBOLS = {
  getsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
  setsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "u32"],
    result: "i32",
  },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>;

// Asked without prompting: a library must not stop to ask the terminal.
function granted(): boolean {
  if (Deno.build.os !== "linux") return false;
  const query = Deno.permissions.querySync;
  return query({ name: "ffi" }).state === "granted" &&
    query({ name: "read", path: "/proc" }).state === "granted";
}

// Opened per call and closed again: this runs once per listener (and in
// tests), and a library left open would outlive every server that used it.
function withLibc<T>(fn: (libc: Libc) => T): T | undefined {
  let lib: Libc;
  try {
    lib = Deno.dlopen("libc.so.6", SYMBOLS);
  } catch {
    return undefined;
  }
  try {
    return fn(lib);
  } finally {
    lib.close();
  }
}

function sockets(): TcpSocketRecord[] {
  const out: TcpSocketRecord[] = [];
  for (const family of [4, 6] as const) {
    const path = family === 4 ? "/proc/net/tcp" : "/proc/net/tcp6";
    try {
      out.push(...parseProcNetTcp(Deno.readTextFileSync(path), { family }));
    } catch {
      // No IPv6, or unreadable: what the other file has is all there is.
    }
  }
  return out;
}

/** This process's fds by socket inode (only the inodes asked for). */
function fdsOf(inodes: Set<number>): Map<number, number> {
  const found = new Map<number, number>();
  try {
    for (const entry of Deno.readDirSync("/proc/self/fd")) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(
          Deno.readLinkSync(`/proc/self/fd/${entry.name}`),
        );
        const inode = match ? Number(match[1]) : 0;
        if (inodes.has(inode)) found.set(inode, Number(entry.name));
      } catch {
        // The fd closed while we looked; not one we want anyway.
      }
    }
  } catch {
    // Unreadable: nothing found.
  }
  return found;
}

const ONE = new Uint8Array(new Int32Array([1]).buffer);

/**
 * Sets TCP_NODELAY on this process's listening socket at `addr`, so every
 * connection accepted from it has no-delay from the start (TLS ones
 * included, which Deno gives no setNoDelay). False when it could not
 * (no FFI or /proc access, not Linux, the socket not found).
 */
export function setListenerNoDelay(addr: Deno.NetAddr): boolean {
  if (!granted()) return false;
  const inodes = new Set(
    sockets().filter((s) =>
      s.state === "LISTEN" && s.local.port === addr.port && s.inode !== 0
    ).map((s) => s.inode),
  );
  if (inodes.size === 0) return false;
  // Synchronous from here on: the fd cannot be closed and reused between
  // finding it and setting the option. (Two of ours on one port, IPv4
  // and IPv6 say: both get it.)
  const fds = [...fdsOf(inodes).values()];
  if (fds.length === 0) return false;
  return withLibc((libc) =>
    fds.every((fd) =>
      libc.symbols.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, ONE, 4) === 0
    )
  ) ?? false;
}

/** One of this process's TCP sockets and its TCP_NODELAY as the kernel has it. */
export interface NoDelayReading {
  local: HostPort;
  remote: HostPort;
  /** The TCP state (`ESTABLISHED`, `LISTEN`, …). */
  state: string;
  noDelay: boolean;
}

/**
 * TCP_NODELAY of every socket this process holds whose local port is
 * `localPort` and/or whose remote port is `remotePort`, read back from the
 * kernel with getsockopt. Throws when it cannot read (tests need FFI and
 * /proc).
 */
export function readNoDelay(
  filter: { localPort?: number; remotePort?: number },
): NoDelayReading[] {
  if (!granted()) {
    throw new Error("reading TCP_NODELAY needs Linux, --allow-ffi and /proc");
  }
  const wanted = sockets().filter((s) =>
    s.inode !== 0 &&
    (filter.localPort === undefined || s.local.port === filter.localPort) &&
    (filter.remotePort === undefined || s.remote.port === filter.remotePort)
  );
  const fds = fdsOf(new Set(wanted.map((s) => s.inode)));
  const out = withLibc((libc) =>
    wanted.filter((s) => fds.has(s.inode)).map((s) => {
      const value = new Int32Array(1);
      const length = new Uint32Array([4]);
      const rc = libc.symbols.getsockopt(
        fds.get(s.inode)!,
        IPPROTO_TCP,
        TCP_NODELAY,
        new Uint8Array(value.buffer),
        new Uint8Array(length.buffer),
      );
      if (rc !== 0) {
        throw new Error(`getsockopt failed on fd ${fds.get(s.inode)}`);
      }
      return {
        local: s.local,
        remote: s.remote,
        state: s.state,
        noDelay: value[0] !== 0,
      };
    })
  );
  if (out === undefined) throw new Error("cannot open libc");
  return out;
}
