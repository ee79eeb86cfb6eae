// Memory by idle connections (issue #26): how a server's memory grows
// with connections that are open and quiet. Each server gets 1k, then 5k,
// 10k and 20k connections (one process, growing), each connection having
// done one small round trip first (so lazily made buffers exist), and its
// memory is read after a second of quiet: the PSS of the server and its
// children (socat forks one per connection; PSS counts shared pages once)
// minus what it had before the first connection. Per connection =
// growth / connections. The bench process and the servers get their fd
// limit raised with prlimit.

import {
  type BenchContext,
  medians,
  netkitCommand,
  repoPath,
  runRounds,
} from "./_runner.ts";
import { relays } from "./_relay.ts";
import type { RunningServer, ServerSpec } from "./_servers.ts";
import { tcpServer } from "./_tcp.ts";
import { sleep } from "./_stats.ts";
import type { BenchRow } from "./_table.ts";
import type { SweepTable } from "./_table.ts";

/** Connection kinds: how a connection is opened and given its round trip. */
export type IdleKind = "tcp" | "ws" | "relay";

const FD_WANTED = 70_000;
let fdLimit = 1024;

/** This process's open-file limits (soft, hard). */
function nofile(): [number, number] {
  const line = Deno.readTextFileSync("/proc/self/limits").split("\n")
    .find((l) => l.startsWith("Max open files"));
  const [soft, hard] = (line ?? "").trim().split(/\s+/).slice(3, 5).map((v) =>
    v === "unlimited" ? Infinity : Number(v)
  );
  return [soft ?? 1024, hard ?? 1024];
}

/**
 * Raises this process's fd limit as far as it may go (the hard limit
 * only rises with CAP_SYS_RESOURCE, which containers often lack) and
 * returns it; servers started through {@linkcode withFdLimit} get the same.
 */
export async function raiseFdLimit(): Promise<number> {
  for (const want of [FD_WANTED, nofile()[1]]) {
    const value = Math.min(want, 1_048_576);
    const { success } = await new Deno.Command("prlimit", {
      args: ["--pid", String(Deno.pid), `--nofile=${value}:${value}`],
      stderr: "null",
    }).output();
    if (success) break;
  }
  fdLimit = nofile()[0];
  return fdLimit;
}

/** `cmd` run with the fd limit this process got. */
export function withFdLimit(cmd: string[]): string[] {
  return ["prlimit", `--nofile=${fdLimit}:${fdLimit}`, ...cmd];
}

/** Proportional set size of a process and its descendants, in bytes. */
export function pss(pid: number): number {
  let total = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const text = Deno.readTextFileSync(`/proc/${p}/smaps_rollup`);
      total += Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0) * 1024;
    } catch {
      // Gone meanwhile.
    }
  }
  return total;
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let children: string;
    try {
      children = Deno.readTextFileSync(`/proc/${p}/task/${p}/children`);
    } catch {
      return;
    }
    for (const c of children.trim().split(/\s+/).filter(Boolean)) {
      out.push(Number(c));
      walk(Number(c));
    }
  };
  walk(pid);
  return out;
}

const HANDSHAKE = new TextEncoder().encode(
  "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" +
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
    "Sec-WebSocket-Version: 13\r\n\r\n",
);
// A masked binary frame of 4 bytes ("ping" with an all-zero key).
const WS_PING = new Uint8Array([
  0x82,
  0x84,
  0,
  0,
  0,
  0,
  0x70,
  0x69,
  0x6e,
  0x67,
]);
const TCP_PING = new TextEncoder().encode("ping");

async function readAtLeast(
  conn: Deno.Conn,
  buf: Uint8Array,
  n: number,
  until?: (s: string) => boolean,
) {
  let got = 0;
  let text = "";
  while (got < n || (until && !until(text))) {
    const r = await conn.read(buf.subarray(got));
    if (r === null) throw new Error("closed by the server");
    if (until) text += new TextDecoder().decode(buf.subarray(got, got + r));
    got += r;
    if (got >= buf.length) break;
  }
  return { got, text };
}

/** Opens one connection of `kind` to `port` and does its round trip. */
async function openIdle(kind: IdleKind, port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const buf = new Uint8Array(1024);
    if (kind === "ws") {
      await conn.write(HANDSHAKE);
      const head = await readAtLeast(
        conn,
        buf,
        1,
        (t) => t.includes("\r\n\r\n"),
      );
      if (!head.text.startsWith("HTTP/1.1 101")) {
        throw new Error(`no upgrade: ${head.text.split("\r\n")[0]}`);
      }
      // Frames that came with the head count toward the echo.
      const after = head.got - (head.text.indexOf("\r\n\r\n") + 4);
      await conn.write(WS_PING);
      if (after < 6) await readAtLeast(conn, buf, 6 - after);
    } else {
      await conn.write(TCP_PING);
      await readAtLeast(conn, buf, TCP_PING.length);
    }
    return conn;
  } catch (error) {
    conn.close();
    throw error;
  }
}

/** What one sweep over connection counts gives: bytes per connection at each count. */
export type IdleSweep = Record<number, number>;

export async function sweepServer(
  server: RunningServer,
  kind: IdleKind,
  counts: number[],
): Promise<IdleSweep> {
  await sleep(500);
  const base = pss(server.pid);
  const conns: Deno.TcpConn[] = [];
  const out: IdleSweep = {};
  try {
    for (const count of counts) {
      // In batches: the listen backlog is finite.
      while (conns.length < count) {
        const batch = Math.min(250, count - conns.length);
        conns.push(
          ...await Promise.all(
            Array.from({ length: batch }, () => openIdle(kind, server.port)),
          ),
        );
      }
      // A quiet second: what is left is what idle connections cost.
      await sleep(1000);
      out[count] = (pss(server.pid) - base) / count;
    }
    return out;
  } finally {
    resetAll(server.port);
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // Closed already.
      }
    }
  }
}

/**
 * Resets (RST, no TIME_WAIT) every connection of this process to `port`:
 * 20,000 client sockets closed normally would sit in TIME_WAIT for a
 * minute and hold most of the 28k ephemeral ports the next server needs.
 * connect(fd, AF_UNSPEC) over FFI, as relay/_abort.ts does, with the fds
 * found once for all from /proc.
 */
function resetAll(port: number): void {
  const inodes = new Set<number>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of Deno.readTextFileSync(file).split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (parseInt(f[2]!.split(":")[1]!, 16) === port) inodes.add(Number(f[9]));
    }
  }
  const lib = Deno.dlopen("libc.so.6", {
    connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  });
  const unspec = new Uint8Array(16);
  try {
    for (const entry of Deno.readDirSync("/proc/self/fd")) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(
          Deno.readLinkSync(`/proc/self/fd/${entry.name}`),
        );
        if (m && inodes.has(Number(m[1]))) {
          lib.symbols.connect(Number(entry.name), unspec, 16);
        }
      } catch {
        // Closed meanwhile.
      }
    }
  } finally {
    lib.close();
  }
}

/** The servers compared for one kind: netkit first, then its peer(s). */
function idleServers(kind: IdleKind, echoPort: number): ServerSpec[] {
  const node = (file: string) => ["node", repoPath(`bench/peers/${file}`)];
  const specs: Record<IdleKind, ServerSpec[]> = {
    tcp: [
      tcpServer("netkit"),
      { ...tcpServer("node"), name: "node net" },
      // Context: the least a Deno echo holds per connection.
      {
        name: "deno floor",
        transport: "tcp",
        cmd: [
          Deno.execPath(),
          "run",
          "--allow-net",
          repoPath("bench/peers/deno_tcp_floor.ts"),
        ],
      },
    ],
    ws: [
      {
        name: "netkit",
        transport: "tcp",
        // No idle timeout: the connections must stay for the whole sweep.
        cmd: netkitCommand([
          "ws",
          "serve",
          "--port",
          "0",
          "--grace",
          "0",
          "--no-page",
          "--idle-timeout",
          "0",
        ]),
      },
      { name: "node ws", transport: "tcp", cmd: node("node_ws_echo.mjs") },
      // Context: the runtime's own WebSocket server.
      {
        name: "deno bare",
        transport: "tcp",
        cmd: [
          Deno.execPath(),
          "run",
          "--allow-net",
          repoPath("bench/peers/deno_bare_ws.ts"),
        ],
      },
    ],
    relay: relays(echoPort, 512),
  };
  return specs[kind].map((s) => ({ ...s, cmd: withFdLimit(s.cmd) }));
}

const KIND_NAMES: Record<IdleKind, string> = {
  tcp: "TCP echo",
  ws: "WebSocket echo",
  relay: "TCP relay",
};

/**
 * The idle-memory section: per kind, a table of KB per connection by
 * connection count (netkit, its peer, the ratio), and a row with a target
 * at the largest count (≤ 1.0× Node for TCP and WebSocket; the relay
 * against socat is context).
 */
export async function idleRows(ctx: BenchContext): Promise<BenchRow[]> {
  const limit = await raiseFdLimit();
  const wanted = ctx.quick ? [1000, 5000] : [1000, 5000, 10_000, 20_000];
  // What the fd limit allows: the bench process holds one fd per client
  // connection, a relay two per connection (and the echo behind it one).
  const capped = (fdsPerConn: number) => {
    const most = Math.floor((limit - 500) / fdsPerConn / 1000) * 1000;
    return [...new Set(wanted.map((c) => Math.min(c, most)))];
  };
  const limitNote = (counts: number[]) =>
    counts.at(-1)! < wanted.at(-1)!
      ? [
        `The open-file limit here is ${limit} (prlimit cannot raise the hard limit without CAP_SYS_RESOURCE): at most ${
          counts.at(-1)!.toLocaleString("en-US")
        } connections.`,
      ]
      : [];
  const rows: BenchRow[] = [];
  // The echo every relay forwards to (its memory is not counted).
  const { startServer } = await import("./_servers.ts");
  const echo = await startServer({
    name: "echo",
    transport: "tcp",
    cmd: withFdLimit(
      netkitCommand(["echo", "serve", "--tcp", "--port", "0", "--grace", "0"]),
    ),
  });
  try {
    for (const kind of ["tcp", "ws", "relay"] as IdleKind[]) {
      const servers = idleServers(kind, echo.port);
      const counts = capped(kind === "relay" ? 2 : 1);
      // socat forks a process per connection: 20k processes would be
      // gigabytes of page tables and a fork storm on a shared machine.
      const socatCounts = counts.filter((c) => c <= 5000);
      const results = await runRounds(
        ctx,
        `idle ${kind}`,
        servers,
        (s) => sweepServer(s, kind, s.name === "socat" ? socatCounts : counts),
        { rounds: ctx.quick ? 1 : 2, timeoutMs: 600_000 },
      );
      const peerName = servers[1]!.name;
      const context = servers.slice(2).map((s) => s.name);
      const perCount: Record<number, Record<string, number>> = {};
      for (const count of counts) {
        perCount[count] = medians(
          ctx,
          `idle.${kind}.${count}.bytes_per_conn`,
          results,
          (r) => r[count] ?? NaN,
        );
      }
      const kb = (b: number | undefined) =>
        b === undefined || !Number.isFinite(b) ? "–" : (b / 1024).toFixed(1);
      const table: SweepTable = {
        title: `${
          KIND_NAMES[kind]
        }: memory per idle connection (KB of PSS growth / connections)`,
        header: [
          "connections",
          "netkit",
          peerName,
          "netkit/peer",
          ...context.map((c) => `${c} (context)`),
        ],
        rows: counts.map((count) => {
          const f = perCount[count]!;
          const r = f.netkit! / f[peerName]!;
          return [
            count.toLocaleString("en-US"),
            kb(f.netkit),
            kb(f[peerName]),
            Number.isFinite(r) ? `${r.toFixed(2)}×` : "–",
            ...context.map((c) => kb(f[c])),
          ];
        }),
        notes: [
          ...marginal(counts, perCount, ["netkit", peerName, ...context]),
          ...limitNote(counts),
          ...(kind === "relay"
            ? [
              "socat forks a process per connection: measured up to 5,000 (PSS of all its processes).",
            ]
            : []),
        ],
      };
      (ctx.tables ??= []).push(table);
      const largest = kind === "relay"
        ? socatCounts[socatCounts.length - 1]!
        : counts[counts.length - 1]!;
      rows.push({
        name: `${KIND_NAMES[kind]}, memory per idle connection at ${
          largest.toLocaleString("en-US")
        }`,
        netkit: perCount[largest]!.netkit! / 1024,
        peer: perCount[largest]![peerName]! / 1024,
        peerName,
        unit: "KB",
        higherIsBetter: false,
        target: kind === "relay" ? undefined : 1.0,
      });
    }
  } finally {
    await echo.stop();
  }
  return rows;
}

/**
 * What each connection added between the two largest counts: the
 * growth without fixed costs (V8's young generation grows to tens of MB
 * under a burst of connections whatever their number).
 */
function marginal(
  counts: number[],
  perCount: Record<number, Record<string, number>>,
  names: string[],
): string[] {
  if (counts.length < 2) return [];
  const [a, b] = counts.slice(-2) as [number, number];
  const parts = names.map((name) => {
    const kb = (perCount[b]![name]! * b - perCount[a]![name]! * a) / (b - a) /
      1024;
    return `${name} ${Number.isFinite(kb) ? kb.toFixed(1) : "–"} KB`;
  });
  return [
    `Each connection from ${a.toLocaleString("en-US")} to ${
      b.toLocaleString("en-US")
    } added: ${parts.join(", ")} (fixed costs left out).`,
  ];
}
