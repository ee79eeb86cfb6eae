// Echo server variants for bench/investigate.ts: ways to write the same
// server, measured side by side to see where the time goes.
// Usage: deno run --unstable-net --allow-all echo_variants.ts VARIANT
// Prints "listening <tcp|udp> 127.0.0.1:PORT".

import { serveEcho } from "../../tcp/echo.ts";
import { serveTcp } from "../../tcp/server.ts";
import { serveUdpEcho } from "../../udp/echo.ts";

const variant = Deno.args[0] ?? "udp-netkit";
const MAX = 65_536;
const BUF = 64 * 1024;

function announce(kind: string, addr: Deno.Addr) {
  console.log(`listening ${kind} 127.0.0.1:${(addr as Deno.NetAddr).port}`);
}

// ---- UDP ----

/** receive(buf) then await send, in `loops` concurrent loops. */
async function udpAwaited(
  socket: Deno.DatagramConn,
  loops: number,
  ownBuffer: boolean,
) {
  await Promise.all(Array.from({ length: loops }, async () => {
    const buf = new Uint8Array(MAX);
    for (;;) {
      const [data, from] = ownBuffer
        ? await socket.receive(buf)
        : await socket.receive();
      await socket.send(data, from);
    }
  }));
}

/** send() not awaited: the next receive is posted before the send settles. */
async function udpUnawaited(socket: Deno.DatagramConn) {
  // Each datagram keeps its buffer until its send settles: a small ring.
  const ring = Array.from({ length: 4 }, () => new Uint8Array(MAX));
  const pending: (Promise<unknown> | undefined)[] = [];
  for (let i = 0;; i = (i + 1) & 3) {
    await pending[i];
    const [data, from] = await socket.receive(ring[i]);
    pending[i] = socket.send(data, from).catch(() => {});
  }
}

/** Reuses one address object per peer instead of the one receive() made. */
async function udpCachedAddress(socket: Deno.DatagramConn) {
  const buf = new Uint8Array(MAX);
  let last: Deno.NetAddr | undefined;
  for (;;) {
    const [data, from] = await socket.receive(buf);
    const f = from as Deno.NetAddr;
    if (!last || last.port !== f.port || last.hostname !== f.hostname) last = f;
    await socket.send(data, last);
  }
}

async function udpIterator(socket: Deno.DatagramConn) {
  for await (const [data, from] of socket) await socket.send(data, from);
}

/** Promise callbacks instead of an async function. */
function udpThen(socket: Deno.DatagramConn): Promise<void> {
  const buf = new Uint8Array(MAX);
  return new Promise((_, reject) => {
    const next = (): void => void socket.receive(buf).then(echo, reject);
    const echo = ([data, from]: [Uint8Array, Deno.Addr]): void =>
      void socket.send(data, from).then(next, reject);
    next();
  });
}

async function udpNodeDgram() {
  const dgram = await import("node:dgram");
  const s = dgram.createSocket("udp4");
  s.on("message", (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address));
  s.bind(
    0,
    "127.0.0.1",
    () => console.log(`listening udp 127.0.0.1:${s.address().port}`),
  );
}

async function udp(name: string) {
  if (name === "netkit") {
    announce("udp", serveUdpEcho({ port: 0 }).addr);
    return;
  }
  if (name === "node-dgram-in-deno") return await udpNodeDgram();
  const socket = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  announce("udp", socket.addr);
  const loops = Number(name.match(/(\d+)$/)?.[1] ?? 1);
  switch (name.replace(/\d+$/, "")) {
    case "loop":
      return await udpAwaited(socket, loops, true);
    case "loop-alloc":
      return await udpAwaited(socket, loops, false);
    case "nowait":
      return await udpUnawaited(socket);
    case "cached-addr":
      return await udpCachedAddress(socket);
    case "iterator":
      return await udpIterator(socket);
    case "then":
      return await udpThen(socket);
  }
  throw new Error(`unknown variant udp-${name}`);
}

// ---- TCP ----

/** The plain loop: read, write all, read again. */
async function tcpLoop(conn: Deno.Conn) {
  const buf = new Uint8Array(BUF);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    let off = 0;
    while (off < n) off += await conn.write(buf.subarray(off, n));
  }
  await conn.closeWrite();
}

/** Two buffers: the next read runs while the previous chunk is written. */
async function tcpDouble(conn: Deno.Conn) {
  const bufs = [new Uint8Array(BUF), new Uint8Array(BUF)];
  let writing: Promise<void> = Promise.resolve();
  let failure: unknown;
  for (let i = 0;; i ^= 1) {
    const n = await conn.read(bufs[i]!);
    await writing;
    if (failure) throw failure;
    if (n === null) break;
    const chunk = bufs[i]!.subarray(0, n);
    writing = (async () => {
      let off = 0;
      while (off < n) {
        off += await conn.write(off === 0 ? chunk : chunk.subarray(off));
      }
    })().catch((e) => {
      failure = e;
    });
  }
  await conn.closeWrite();
}

async function tcp(name: string) {
  const handlers: Record<string, (conn: Deno.Conn) => Promise<void>> = {
    loop: tcpLoop,
    double: tcpDouble,
    pipe: (conn) => conn.readable.pipeTo(conn.writable),
  };
  if (name === "netkit") {
    announce("tcp", serveEcho({ port: 0 }).addr);
    return;
  }
  if (name.startsWith("raw-")) {
    // Deno.listen without serveTcp: what the shared accept loop costs.
    const handler = handlers[name.slice(4)];
    if (!handler) throw new Error(`unknown variant tcp-${name}`);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    announce("tcp", listener.addr);
    for await (const conn of listener) {
      handler(conn).catch(() => {}).finally(() => {
        try {
          conn.close();
        } catch {
          // pipeTo closed it already.
        }
      });
    }
    return;
  }
  const handler = handlers[name];
  if (!handler) throw new Error(`unknown variant tcp-${name}`);
  announce("tcp", serveTcp(handler, { port: 0 }).addr);
}

if (variant.startsWith("udp-")) await udp(variant.slice(4));
else if (variant.startsWith("tcp-")) await tcp(variant.slice(4));
else throw new Error(`variant must start with udp- or tcp-: ${variant}`);
