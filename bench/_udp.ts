// The shared UDP client: sequential 64-byte round trips per socket.

import {
  measure,
  type MeasureOptions,
  PHASE,
  type PhaseState,
  type PingPongResult,
} from "./_measure.ts";
import {
  type BenchContext,
  medians,
  netkitCommand,
  pingPongRows,
  repoPath,
  runRounds,
} from "./_runner.ts";
import type { ServerSpec } from "./_servers.ts";
import type { LatencyHistogram } from "./_stats.ts";
import type { BenchRow } from "./_table.ts";

/** Options of {@linkcode udpPingPong}. */
export interface UdpPingPongOptions extends MeasureOptions {
  /** Sockets, each doing its own sequential round trips. Default 1. */
  clients?: number;
  /** Payload bytes. Default 64. */
  size?: number;
}

/** What one UDP ping-pong measurement gives. */
export interface UdpPingPongResult extends PingPongResult {
  /** Replies that did not come within 100 ms, so the probe was sent again. */
  resent: number;
}

/**
 * Measures sequential UDP round trips against an echo server on
 * 127.0.0.1:`port`. Each probe carries a sequence number, so a late reply
 * never counts twice; a reply missing for 100 ms is sent again.
 */
export async function udpPingPong(
  port: number,
  options: UdpPingPongOptions = {},
): Promise<UdpPingPongResult> {
  const size = options.size ?? 64;
  const sockets = Array.from(
    { length: options.clients ?? 1 },
    () =>
      Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" }),
  );
  const resent = { count: 0 };
  try {
    const result = await measure(
      options,
      (state, histogram) =>
        sockets.map((socket) =>
          clientLoop(socket, port, size, state, histogram, resent)
        ),
    );
    return { ...result, resent: resent.count };
  } finally {
    for (const s of sockets) s.close();
  }
}

async function clientLoop(
  socket: Deno.DatagramConn,
  port: number,
  size: number,
  state: PhaseState,
  histogram: LatencyHistogram,
  resent: { count: number },
): Promise<number> {
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port };
  const out = new Uint8Array(size);
  const outView = new DataView(out.buffer);
  const inBuf = new Uint8Array(2048);
  const inView = new DataView(inBuf.buffer);
  let seq = 0;
  let count = 0;
  let watched = -1;
  // One timer for the whole run, not one per round trip.
  const watchdog = setInterval(() => {
    if (watched === seq) {
      resent.count++;
      socket.send(out, to).catch(() => {});
    }
    watched = seq;
  }, 100);
  try {
    while (state.phase !== PHASE.STOP) {
      seq = (seq + 1) >>> 0;
      outView.setUint32(0, seq);
      const measuring = state.phase === PHASE.MEASURE;
      const t0 = performance.now();
      await socket.send(out, to);
      for (;;) {
        const [data] = await socket.receive(inBuf);
        if (data.length === size && inView.getUint32(0) === seq) break;
      }
      if (measuring && state.phase === PHASE.MEASURE) {
        histogram.record(performance.now() - t0);
        count++;
      }
    }
  } finally {
    clearInterval(watchdog);
  }
  return count;
}

/** The UDP echo servers compared: netkit, Node `dgram`, socat (one process). */
export function udpServers(): ServerSpec[] {
  return [
    {
      name: "netkit",
      transport: "udp",
      cmd: netkitCommand([
        "echo",
        "serve",
        "--udp",
        "--port",
        "0",
        "--grace",
        "0",
      ]),
    },
    {
      name: "node",
      transport: "udp",
      cmd: ["node", repoPath("bench/peers/node_udp_echo.mjs")],
    },
    {
      // UDP-LISTEN serves the first peer only; fork mode (a process per
      // datagram, ~2k/s) would measure fork(), not echo.
      name: "socat",
      transport: "udp",
      cmd: [
        "socat",
        "-T",
        "30",
        "UDP-LISTEN:{port},bind=127.0.0.1,reuseaddr",
        "PIPE",
      ],
    },
  ];
}

/**
 * UDP rows of issue #2: sequential 64-byte round trips from one socket and
 * from 8 sockets at once (socat's UDP-LISTEN serves one peer: node only),
 * pinned to one core, and one socket unpinned as context.
 */
export async function udpRows(ctx: BenchContext): Promise<BenchRow[]> {
  const durationMs = ctx.quick ? 1000 : 2000;
  const core = ctx.pin ? " (1 core)" : "";
  const runs = [
    {
      clients: 1,
      pin: true,
      name: `UDP ping-pong 64 B, 1 client${core}`,
      target: 1.0,
    },
    {
      clients: 8,
      pin: true,
      name: `UDP ping-pong 64 B, 8 clients${core}`,
      target: 1.0,
    },
    ...(ctx.pin
      ? [{
        clients: 1,
        pin: false,
        name: "UDP ping-pong 64 B, 1 client (unpinned)",
      }]
      : []),
  ];
  const rows: BenchRow[] = [];
  for (const run of runs) {
    const key = `udp.pingpong.${run.clients}${
      run.pin && ctx.pin ? ".pinned" : ""
    }`;
    const servers = udpServers().filter((s) =>
      run.clients === 1 || s.name !== "socat"
    );
    const results = await runRounds(
      ctx,
      `udp ping-pong ${run.clients}${run.pin && ctx.pin ? " (1 core)" : ""}`,
      servers,
      (s) =>
        udpPingPong(s.port, {
          clients: run.clients,
          durationMs,
          serverCpu: s.cpuSeconds,
        }),
      { pin: run.pin },
    );
    medians(ctx, `${key}.resent`, results, (r) => r.resent);
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
