// Sending a TCP reset from Deno, which has no SO_LINGER setter and whose
// conn.close() always shuts the write side down first (the peer sees a FIN
// even when linger 0 is set). What does work on Linux: connect(fd,
// AF_UNSPEC) on a connected TCP socket runs tcp_disconnect(), which sends
// an RST and drops the connection at once.
//
// It is also the only way to really close an accepted TLS connection whose
// handshake has not finished: the runtime's close() then leaves the TCP
// socket open (and its fd held) until the client sends something or goes
// away. After the disconnect the pending handshake fails and the runtime
// lets go of the fd.
//
// The fd is not exposed, so it is found by asking each of this process's
// fds who its peer is (getpeername, getsockname), which needs no /proc
// reading per socket. Requests made close together share one pass over the
// fds: 2,000 handshakes reaching their deadline together cost a few passes,
// not 2,000. The pass lists /proc/self/fd when it can; when the process is
// out of fds (EMFILE, the very moment a reset is most needed) it walks the
// fd numbers up to the open-file limit instead.
//
// Needs Linux and --allow-ffi; without them the caller's ordinary close is
// all there is (a FIN, or for an unfinished TLS handshake nothing at all).

/** Requests closer together than this share one pass over the fds. */
const BATCH_GAP_MS = 20;
/** The fd walk's bound when /proc cannot be listed and the limit is unknown. */
const WALK_MAX_FDS = 1 << 20;

const AF_INET = 2;
const AF_INET6 = 10;
const SOL_SOCKET = 1;
const SO_TYPE = 3;
const SOCK_STREAM = 1;
const RLIMIT_NOFILE = 7;

const SYMBOLS = {
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>;

interface Request {
  local: Deno.NetAddr;
  remote: Deno.NetAddr;
  resolve(sent: boolean): void;
}

let queue: Request[] = [];
let flushTimer: ReturnType<typeof setTimeout> | undefined;
let lastFlush = -Infinity;

/**
 * Resets the TCP connection between `local` and `remote` owned by this
 * process. Resolves true when an RST went out; false when this runtime
 * cannot (no Linux, no --allow-ffi) or no such socket is open: then close
 * the connection normally.
 */
export function resetTcp(
  local: Deno.NetAddr,
  remote: Deno.NetAddr,
): Promise<boolean> {
  if (Deno.build.os !== "linux" || !ffiGranted()) {
    return Promise.resolve(false);
  }
  const { promise, resolve } = Promise.withResolvers<boolean>();
  queue.push({ local, remote, resolve });
  if (flushTimer === undefined) {
    const wait = Math.max(0, lastFlush + BATCH_GAP_MS - performance.now());
    flushTimer = setTimeout(flush, wait);
  }
  return promise;
}

// Asked without prompting: a library must not stop to ask the terminal.
function ffiGranted(): boolean {
  return Deno.permissions.querySync({ name: "ffi" }).state === "granted";
}

function flush() {
  flushTimer = undefined;
  lastFlush = performance.now();
  const batch = queue;
  queue = [];
  const wanted = new Map<string, Request[]>();
  for (const request of batch) {
    const key = endpointKey(request.remote.hostname, request.remote.port);
    if (key === undefined) {
      request.resolve(false);
      continue;
    }
    wanted.set(key, [...wanted.get(key) ?? [], request]);
  }
  // From here on synchronous: an fd cannot be closed and reused between
  // checking its peer and disconnecting it.
  const lib = openLibc();
  try {
    if (lib && wanted.size > 0) disconnectWanted(lib, wanted);
  } finally {
    lib?.close();
  }
  for (const requests of wanted.values()) {
    for (const request of requests) request.resolve(false);
  }
}

function disconnectWanted(lib: Libc, wanted: Map<string, Request[]>) {
  const address = new Uint8Array(128);
  const length = new Uint32Array(1);
  const type = new Int32Array(1);
  const typeLength = new Uint32Array([4]);
  const unspec = new Uint8Array(16);
  const name = (call: "getpeername" | "getsockname", fd: number) => {
    length[0] = address.length;
    return lib.symbols[call](fd, address, length) === 0
      ? sockaddrKey(address)
      : undefined;
  };
  for (const fd of fdNumbers(lib)) {
    const peer = name("getpeername", fd);
    const requests = peer === undefined ? undefined : wanted.get(peer);
    if (!requests) continue;
    const local = name("getsockname", fd);
    const index = requests.findIndex((r) =>
      endpointKey(r.local.hostname, r.local.port) === local
    );
    if (index < 0) continue;
    typeLength[0] = 4;
    if (
      lib.symbols.getsockopt(fd, SOL_SOCKET, SO_TYPE, type, typeLength) !==
        0 || type[0] !== SOCK_STREAM
    ) continue;
    const [request] = requests.splice(index, 1);
    if (requests.length === 0) wanted.delete(peer!);
    request!.resolve(lib.symbols.connect(fd, unspec, unspec.length) === 0);
    if (wanted.size === 0) return;
  }
}

function* fdNumbers(lib: Libc): Iterable<number> {
  let listed: number[] | undefined;
  try {
    listed = [...Deno.readDirSync("/proc/self/fd")].map((e) => Number(e.name));
  } catch {
    // No fd left to list them with (EMFILE), or no /proc: walk the numbers.
  }
  if (listed) return yield* listed;
  const limit = new BigUint64Array(2);
  const max = lib.symbols.getrlimit(RLIMIT_NOFILE, limit) === 0
    ? Math.min(Number(limit[0]), WALK_MAX_FDS)
    : WALK_MAX_FDS;
  for (let fd = 0; fd < max; fd++) yield fd;
}

// Opened per pass and closed again, so nothing outlives the servers that
// asked. libc is already loaded: opening it needs no fd.
function openLibc(): Libc | null {
  try {
    return Deno.dlopen("libc.so.6", SYMBOLS);
  } catch {
    return null;
  }
}

/** `address` (a sockaddr) as an endpoint key, or undefined if not IP. */
function sockaddrKey(address: Uint8Array): string | undefined {
  const view = new DataView(address.buffer);
  const family = view.getUint16(0, true);
  const port = view.getUint16(2, false);
  if (family === AF_INET) return key(mapped(address.subarray(4, 8)), port);
  if (family === AF_INET6) return key(address.subarray(8, 24), port);
  return undefined;
}

/** A host and port as the same key a sockaddr gets (IPv4 as IPv4-mapped IPv6). */
function endpointKey(hostname: string, port: number): string | undefined {
  const bytes = ipBytes(hostname);
  return bytes && key(bytes, port);
}

function key(ip16: Uint8Array, port: number): string {
  return `${ip16.toHex()}:${port}`;
}

function mapped(ip4: Uint8Array): Uint8Array {
  const ip = new Uint8Array(16);
  ip[10] = ip[11] = 0xff;
  ip.set(ip4, 12);
  return ip;
}

/** The 16 bytes of an IPv4 (as IPv4-mapped) or IPv6 address text. */
function ipBytes(text: string): Uint8Array | undefined {
  const host = text.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  if (!host.includes(":")) {
    const ip4 = ipv4Bytes(host);
    return ip4 && mapped(ip4);
  }
  const halves = host.split("::");
  if (halves.length > 2) return undefined;
  const groups = halves.map((h) => h === "" ? [] : h.split(":"));
  const words: number[][] = [];
  for (const half of groups) {
    const out: number[] = [];
    for (const [i, group] of half.entries()) {
      const ip4 = i === half.length - 1 && group.includes(".")
        ? ipv4Bytes(group)
        : undefined;
      if (ip4) out.push((ip4[0]! << 8) | ip4[1]!, (ip4[2]! << 8) | ip4[3]!);
      else if (/^[0-9a-f]{1,4}$/i.test(group)) out.push(parseInt(group, 16));
      else return undefined;
    }
    words.push(out);
  }
  const [head = [], tail = []] = words;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [
    ...head,
    ...new Array(halves.length === 1 ? 0 : missing).fill(0),
    ...tail,
  ];
  const ip = new Uint8Array(16);
  all.forEach((w, i) => {
    ip[2 * i] = w >> 8;
    ip[2 * i + 1] = w & 0xff;
  });
  return ip;
}

function ipv4Bytes(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) {
    return undefined;
  }
  const bytes = parts.map(Number);
  return bytes.every((b) => b <= 255) ? new Uint8Array(bytes) : undefined;
}
