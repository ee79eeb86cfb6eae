// The shared TCP clients: bulk echo and 64-byte ping-pong.

import {
  measure,
  PHASE,
  type PhaseState,
  type PingPongResult,
} from "./_measure.ts";
import {
  type BenchContext,
  medians,
  netkitCommand,
  peerMissing,
  pingPongRows,
  repoPath,
  runRounds,
} from "./_runner.ts";
import { type ServerSpec, withServer } from "./_servers.ts";
import { cpuSeconds, type LatencyHistogram } from "./_stats.ts";
import type { BenchRow } from "./_table.ts";

const WRITE_SIZE = 64 * 1024;
// The client reads in bigger chunks than it writes so it stays the cheaper side.
const READ_SIZE = 256 * 1024;

/** What one bulk measurement gives. */
export interface TcpBulkResult {
  /** MB (10^6 bytes) per second through the server, one way. */
  mbps: number;
  seconds: number;
  /** Client CPU seconds per second (1.0 = one core busy). */
  clientCpu: number;
}

/**
 * Writes `totalBytes` with 64 KiB writes while reading the echo
 * concurrently, half-closes, and reads until EOF. Checks the byte count and
 * the first byte of every read against the pattern written.
 */
export async function tcpBulk(
  port: number,
  totalBytes: number,
): Promise<TcpBulkResult> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let got = 0;
  let stalled = false;
  // A server that stops echoing (socat's PIPE can deadlock on itself) is
  // caught here instead of hanging the run.
  let seen = -1;
  let quietTicks = 0;
  const watchdog = setInterval(() => {
    quietTicks = got === seen ? quietTicks + 1 : 0;
    seen = got;
    if (quietTicks >= STALL_SECONDS) {
      stalled = true;
      conn.close();
    }
  }, 1000);
  try {
    const out = new Uint8Array(WRITE_SIZE);
    for (let i = 0; i < out.length; i++) out[i] = pattern(i);
    const cpu0 = cpuSeconds("self");
    const t0 = performance.now();
    const writer = (async () => {
      let sent = 0;
      while (sent < totalBytes) {
        const chunk = out.subarray(0, Math.min(WRITE_SIZE, totalBytes - sent));
        let off = 0;
        while (off < chunk.length) off += await conn.write(chunk.subarray(off));
        sent += chunk.length;
      }
      await conn.closeWrite();
    })();
    const reader = (async () => {
      const buf = new Uint8Array(READ_SIZE);
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) return;
        if (buf[0] !== pattern(got % WRITE_SIZE)) {
          throw new Error(`echo corrupted at byte ${got}`);
        }
        got += n;
      }
    })();
    await Promise.all([writer, reader]);
    const seconds = (performance.now() - t0) / 1000;
    if (got !== totalBytes) {
      throw new Error(`echoed ${got} of ${totalBytes} bytes`);
    }
    return {
      mbps: totalBytes / 1e6 / seconds,
      seconds,
      clientCpu: (cpuSeconds("self") - cpu0) / seconds,
    };
  } catch (error) {
    if (stalled) {
      throw new StallError(`no echo for ${STALL_SECONDS} s after ${got} bytes`);
    }
    throw error;
  } finally {
    clearInterval(watchdog);
    try {
      conn.close();
    } catch {
      // The watchdog closed it.
    }
  }
}

const STALL_SECONDS = 5;

/** The server stopped echoing; the run can be repeated with a fresh server. */
export class StallError extends Error {
  override name = "StallError";
}

function pattern(offset: number): number {
  return (offset * 7 + 3) & 0xff;
}

/** Options of {@linkcode tcpPingPong}. */
export interface TcpPingPongOptions {
  /** Connections, each doing its own sequential round trips. Default 1. */
  connections?: number;
  /** Payload bytes. Default 64. */
  size?: number;
  /** Warm-up, duration and server pid, as for every ping-pong. */
  warmupMs?: number;
  durationMs?: number;
  serverCpu?: () => number;
}

/**
 * Sequential round trips of `size` bytes on each of `connections`
 * connections at once: write, read until the whole payload is back, repeat.
 */
export async function tcpPingPong(
  port: number,
  options: TcpPingPongOptions = {},
): Promise<PingPongResult> {
  const size = options.size ?? 64;
  const n = options.connections ?? 1;
  const conns: Deno.TcpConn[] = [];
  try {
    // Connect in small batches: a burst of 100 SYNs is not what we measure.
    for (let i = 0; i < n; i += 10) {
      const batch = Math.min(10, n - i);
      conns.push(
        ...await Promise.all(
          Array.from(
            { length: batch },
            () => Deno.connect({ hostname: "127.0.0.1", port }),
          ),
        ),
      );
    }
    for (const c of conns) c.setNoDelay(true);
    return await measure(
      options,
      (state, histogram) =>
        conns.map((conn) => pingPongLoop(conn, size, state, histogram)),
    );
  } finally {
    for (const c of conns) c.close();
  }
}

async function pingPongLoop(
  conn: Deno.TcpConn,
  size: number,
  state: PhaseState,
  histogram: LatencyHistogram,
): Promise<number> {
  const out = new Uint8Array(size).fill(0x5a);
  const back = new Uint8Array(size);
  let count = 0;
  while (state.phase !== PHASE.STOP) {
    const measuring = state.phase === PHASE.MEASURE;
    const t0 = performance.now();
    let off = 0;
    while (off < size) {
      off += await conn.write(off === 0 ? out : out.subarray(off));
    }
    let got = 0;
    while (got < size) {
      const n = await conn.read(got === 0 ? back : back.subarray(got));
      if (n === null) throw new Error("server closed the connection");
      got += n;
    }
    if (measuring && state.phase === PHASE.MEASURE) {
      histogram.record(performance.now() - t0);
      count++;
    }
  }
  return count;
}

/** One of {@linkcode tcpServers} by name. */
export function tcpServer(name: "netkit" | "node" | "socat"): ServerSpec {
  return tcpServers().find((s) => s.name === name)!;
}

/** The TCP echo servers compared: netkit, Node `s.pipe(s)`, socat `PIPE`. */
export function tcpServers(): ServerSpec[] {
  return [
    {
      name: "netkit",
      transport: "tcp",
      cmd: netkitCommand([
        "echo",
        "serve",
        "--tcp",
        "--port",
        "0",
        "--grace",
        "0",
      ]),
    },
    {
      name: "node",
      transport: "tcp",
      cmd: ["node", repoPath("bench/peers/node_tcp_echo.mjs")],
    },
    {
      name: "socat",
      transport: "tcp",
      cmd: [
        "socat",
        "TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,backlog=256",
        "PIPE",
      ],
    },
  ];
}

const GiB = 1024 ** 3;

/** TCP rows of issue #2: bulk echo, ping-pong with 1 and 100 connections. */
export async function tcpRows(ctx: BenchContext): Promise<BenchRow[]> {
  const servers = tcpServers();
  const rows: BenchRow[] = [];
  const bulkBytes = ctx.quick ? GiB / 4 : GiB;
  const bulkName = `TCP echo bulk, ${
    bulkBytes / GiB >= 1 ? "1 GiB" : `${bulkBytes / 1024 ** 2} MiB`
  }`;
  const bulk = medians(
    ctx,
    "tcp.bulk.mbps",
    await runRounds(
      ctx,
      "tcp bulk",
      servers,
      (s) => tcpBulk(s.port, bulkBytes),
    ),
    (r) => r.mbps,
  );
  const stalls = (name: string) => ctx.stalls[`tcp bulk/${name}`] ?? 0;
  const stallNote = (name: string) =>
    stalls(name) > 0
      ? `${name} stopped echoing in ${
        stalls(name)
      } run(s) (socat PIPE blocks writing its own full pipe); those runs were repeated with a fresh server.`
      : undefined;
  rows.push(
    {
      name: bulkName,
      netkit: bulk.netkit!,
      peer: bulk.node!,
      peerName: "node",
      unit: "MB/s",
      target: 1.0,
      note: stallNote("netkit") ?? stallNote("node"),
    },
    {
      name: bulkName,
      netkit: bulk.netkit!,
      peer: bulk.socat!,
      peerName: "socat",
      unit: "MB/s",
      target: 2.0,
      note: stallNote("socat"),
    },
  );
  if (!peerMissing(ctx, "iperf3")) {
    rows.push({
      name: "TCP loopback ceiling (iperf3, one way)",
      netkit: bulk.netkit!,
      peer: await iperf3(ctx),
      peerName: "iperf3",
      unit: "MB/s",
      note:
        "iperf3 measures one direction only, with no echo: context, not a target.",
    });
  }

  const durationMs = ctx.quick ? 1000 : 2000;
  // Sequential ping-pong is pinned to one core: unpinned, client and server
  // flip between sharing a core (~20 µs a round trip) and waking each other
  // across cores (~60 µs), and the figures follow the flips, not the servers.
  const core = ctx.pin ? " (1 core)" : "";
  const runs = [
    {
      connections: 1,
      pin: true,
      name: `TCP ping-pong 64 B, 1 conn${core}`,
      target: 1.0,
    },
    {
      connections: 100,
      pin: true,
      name: `TCP ping-pong 64 B, 100 conns${core}`,
      target: 1.1,
    },
    ...(ctx.pin
      ? [{
        connections: 100,
        pin: false,
        name: "TCP ping-pong 64 B, 100 conns (unpinned)",
      }]
      : []),
  ];
  for (const run of runs) {
    const key = `tcp.pingpong.${run.connections}${
      run.pin && ctx.pin ? ".pinned" : ""
    }`;
    const results = await runRounds(
      ctx,
      `tcp ping-pong ${run.connections}${
        run.pin && ctx.pin ? " (1 core)" : ""
      }`,
      servers,
      (s) =>
        tcpPingPong(s.port, {
          connections: run.connections,
          durationMs,
          serverCpu: s.cpuSeconds,
        }),
      { pin: run.pin },
    );
    rows.push(
      ...pingPongRows(
        ctx,
        { name: run.name, key, target: run.target },
        results,
      ),
    );
  }
  return rows;
}

/** iperf3's one-way loopback figure in MB/s (one run: it is context). */
async function iperf3(ctx: BenchContext): Promise<number> {
  const seconds = ctx.quick ? 2 : 5;
  return await withServer(
    {
      name: "iperf3",
      transport: "tcp",
      cmd: ["iperf3", "-s", "-B", "127.0.0.1", "-p", "{port}"],
    },
    async (server) => {
      const { success, stdout, stderr } = await new Deno.Command("iperf3", {
        args: [
          "-c",
          "127.0.0.1",
          "-p",
          String(server.port),
          "-t",
          String(seconds),
          "-J",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!success) {
        throw new Error(
          `iperf3 client failed: ${new TextDecoder().decode(stderr)}${
            new TextDecoder().decode(stdout)
          }`,
        );
      }
      const report = JSON.parse(new TextDecoder().decode(stdout));
      const mbps = report.end.sum_received.bits_per_second / 8 / 1e6;
      ctx.raw["tcp.iperf3.mbps"] = { iperf3: [Math.round(mbps)] };
      ctx.log(`iperf3 -t ${seconds}: ${mbps.toFixed(0)} MB/s one way`);
      return mbps;
    },
  );
}
