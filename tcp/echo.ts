/**
 * TCP echo: a server that survives load, half-close, idle peers and
 * "too many open files", and a ping client that measures round trips.
 *
 * @module
 */

import { formatAddress, type HostPort, parseAddress } from "../address.ts";
import { delay, osMessage, writeAll } from "../_io.ts";
import {
  type PingOptions,
  type PingProbe,
  type PingResult,
  summarizePings,
} from "../ping.ts";
import { TcpError } from "./errors.ts";
import {
  type ConnectionContext,
  serveTcp,
  type TcpServer,
  type TcpServerOptions,
} from "./server.ts";

/** Options of {@linkcode serveEcho}: those of every TCP server. */
export type EchoServerOptions = TcpServerOptions;

// Read buffer sizes: an idle connection holds the first (its read is
// pending on it, and the whole buffer is resident), a read that fills one
// moves to the next.
const READ_SIZES = [64, 4 * 1024, 64 * 1024];

/**
 * Starts a TCP echo server.
 *
 * Each connection is served by a read/write loop over one buffer (64 B,
 * grown to 64 KiB as reads fill it, so idle connections cost little):
 * the next read waits for the previous write, so a client that does not
 * read stalls only itself (no unbounded buffering). When the client shuts
 * down its write side, everything it sent has been echoed, and the server
 * half-closes too (`printf hello | nc -N HOST PORT` prints `hello`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveEcho } from "@netkit/netkit/tcp";
 *
 * await using server = serveEcho({ port: 0 });
 * using conn = await Deno.connect({ port: server.addr.port });
 * await conn.write(new TextEncoder().encode("hi"));
 * const buf = new Uint8Array(2);
 * await conn.read(buf);
 * assert.ok(new TextDecoder().decode(buf) === "hi");
 * ```
 */
export function serveEcho(options: EchoServerOptions = {}): TcpServer {
  return serveTcp(echoConnection, options);
}

async function echoConnection(
  conn: Deno.Conn,
  context: ConnectionContext,
): Promise<void> {
  // Plain reads, not conn.readable: the stream closes the whole socket at
  // EOF, which would make the final half-close impossible. Buffers start
  // small, so thousands of idle or chatty connections cost little, and
  // grow when a read fills them (bulk traffic).
  let size = 0;
  let buf = new Uint8Array(READ_SIZES[0]!);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    const chunk = n === buf.length ? buf : buf.subarray(0, n);
    let written = await conn.write(chunk);
    while (written < n) written += await conn.write(chunk.subarray(written));
    context.record(n, n);
    if (n === buf.length && size < READ_SIZES.length - 1) {
      buf = new Uint8Array(READ_SIZES[++size]!);
    }
  }
  await conn.closeWrite();
}

/**
 * Measures round trips to a TCP echo server over one connection.
 *
 * A probe whose reply does not arrive in time, or comes back altered,
 * counts as lost; the connection is then opened anew for the next probe.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pingTcp, serveEcho } from "@netkit/netkit/tcp";
 *
 * await using server = serveEcho({ port: 0 });
 * const result = await pingTcp(server.addr, { count: 3, intervalMs: 0 });
 * assert.ok(result.received === 3);
 * ```
 */
export async function pingTcp(
  target: HostPort | string,
  options: PingOptions = {},
): Promise<PingResult> {
  const addr = typeof target === "string" ? parseAddress(target) : target;
  const count = options.count ?? 5;
  const size = Math.max(8, options.size ?? 64);
  const interval = options.intervalMs ?? 1000;
  const timeout = options.timeoutMs ?? 2000;
  const probes: PingProbe[] = [];
  const payload = new Uint8Array(size);
  const reply = new Uint8Array(size);
  let conn: Deno.TcpConn | undefined;
  try {
    for (let seq = 1; seq <= count && !options.signal?.aborted; seq++) {
      const started = performance.now();
      conn ??= await connectTcp(addr);
      new DataView(payload.buffer).setUint32(0, seq);
      payload.fill(seq & 0xff, 4);
      const ok = await roundTrip(conn, payload, reply, timeout);
      const probe: PingProbe = {
        seq,
        rttMs: ok ? performance.now() - started : null,
        bytes: size,
      };
      if (!ok) {
        conn.close();
        conn = undefined;
      }
      probes.push(probe);
      options.onProbe?.(probe);
      if (seq < count) {
        await delay(interval - (performance.now() - started), options.signal);
      }
    }
  } finally {
    conn?.close();
  }
  return { ...summarizePings(probes), probes };
}

/**
 * Connects, turning a failure into a {@linkcode TcpError} `connect_failed`
 * that names the address ("connection refused by …", "the name does not
 * resolve").
 * The connection has no-delay set: what is written leaves at once.
 */
export async function connectTcp(addr: HostPort): Promise<Deno.TcpConn> {
  try {
    const conn = await Deno.connect({
      hostname: addr.hostname,
      port: addr.port,
      transport: "tcp",
    });
    // A probe or a typed line must not wait for the ACK of the last one.
    conn.setNoDelay(true);
    return conn;
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) {
      throw new TcpError(
        "connect_failed",
        `connection refused by ${addr.hostname}:${addr.port} (is a server listening?)`,
        { cause: error },
      );
    }
    throw new TcpError(
      "connect_failed",
      `cannot connect to ${formatAddress(addr)}: ${osMessage(error)}`,
      { cause: error },
    );
  }
}

async function roundTrip(
  conn: Deno.Conn,
  payload: Uint8Array,
  reply: Uint8Array,
  timeout: number,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeout);
  });
  const exchange = (async () => {
    await writeAll(conn, payload);
    let got = 0;
    while (got < reply.length) {
      const n = await conn.read(reply.subarray(got));
      if (n === null) return false;
      got += n;
    }
    return reply.every((b, i) => b === payload[i]);
  })().catch(() => false);
  try {
    return await Promise.race([exchange, expired]);
  } finally {
    clearTimeout(timer);
  }
}
