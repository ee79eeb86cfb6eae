// Sending a TCP reset from Deno, which has no SO_LINGER setter and whose
// conn.close() always shuts the write side down first (the peer sees a FIN
// even when linger 0 is set). What does work on Linux: connect(fd,
// AF_UNSPEC) on a connected TCP socket runs tcp_disconnect(), which sends
// an RST and drops the connection at once. The fd is not exposed either,
// so it is found through /proc: the socket's inode from /proc/net/tcp{,6}
// by its address pair, then the /proc/self/fd entry linking to that inode.
// Needs Linux, --allow-ffi and read access to /proc; without them the
// caller falls back to an ordinary close (a FIN).

import { readTcpSockets } from "../tcp/proc/mod.ts";

type Libc = Deno.DynamicLibrary<{
  connect: { parameters: ["i32", "buffer", "u32"]; result: "i32" };
}>;

// Asked without prompting: a library must not stop to ask the terminal.
function granted(): boolean {
  const query = Deno.permissions.querySync;
  return query({ name: "ffi" }).state === "granted" &&
    query({ name: "read", path: "/proc" }).state === "granted";
}

// Opened per reset and closed again: resets are rare, and a library left
// open would outlive every server that used it.
function openLibc(): Libc | null {
  try {
    return Deno.dlopen("libc.so.6", {
      connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    });
  } catch {
    return null;
  }
}

/** An AF_UNSPEC sockaddr: family 0, the rest zero. */
const UNSPEC = new Uint8Array(16);

/**
 * Resets the TCP connection between `local` and `remote` owned by this
 * process. True when an RST went out; false when this runtime cannot
 * (then close the connection normally).
 */
export async function abortTcp(
  local: Deno.NetAddr,
  remote: Deno.NetAddr,
): Promise<boolean> {
  if (Deno.build.os !== "linux" || !granted()) return false;
  let inode: number | undefined;
  try {
    const sockets = await readTcpSockets({ port: local.port });
    inode = sockets.find((s) =>
      s.local.port === local.port && s.remote.port === remote.port &&
      s.inode !== 0 && sameHost(s.remote.hostname, remote.hostname)
    )?.inode;
  } catch {
    return false;
  }
  if (inode === undefined) return false;
  // From here on synchronous: the fd cannot be closed and reused between
  // finding it and disconnecting it.
  const fd = fdOfInode(inode);
  if (fd === undefined) return false;
  const lib = openLibc();
  if (!lib) return false;
  try {
    return lib.symbols.connect(fd, UNSPEC, UNSPEC.length) === 0;
  } finally {
    lib.close();
  }
}

function sameHost(a: string, b: string): boolean {
  const strip = (h: string) => h.replace(/^::ffff:/i, "").toLowerCase();
  return strip(a) === strip(b);
}

function fdOfInode(inode: number): number | undefined {
  const want = `socket:[${inode}]`;
  try {
    for (const entry of Deno.readDirSync("/proc/self/fd")) {
      try {
        if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`) === want) {
          return Number(entry.name);
        }
      } catch {
        // The fd closed while we looked; not ours anyway.
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}
