// Latency by concurrent connections (issue #26): `netkit load` at one
// fixed open-loop rate (latency counted from when each request was due,
// so a stall cannot hide) spread over 1, 10, 100 and 1,000 connections,
// against netkit's and Node's TCP echo and WebSocket echo, the same
// client for both. Each measurement is a fresh server that gets every
// connection count in turn. Context rows: how p50 and p99 grow with
// connections, netkit against Node.

import {
  type BenchContext,
  medians,
  netkitCommand,
  repoPath,
  runRounds,
} from "./_runner.ts";
import type { ServerSpec } from "./_servers.ts";
import { tcpServer } from "./_tcp.ts";
import type { BenchRow } from "./_table.ts";
import { netkitLoad } from "./_load.ts";

/** Connection counts swept. */
const CONNECTIONS = [1, 10, 100, 1000];
/** Requests per second over all connections: light for every server here. */
const RATE = 2000;

interface Kind {
  key: "tcp" | "ws";
  name: string;
  servers: ServerSpec[];
  target(port: number): string;
}

function kinds(): Kind[] {
  return [
    {
      key: "tcp",
      name: "TCP echo",
      servers: [tcpServer("netkit"), tcpServer("node")],
      target: (port) => `127.0.0.1:${port}`,
    },
    {
      key: "ws",
      name: "WebSocket echo",
      servers: [
        {
          name: "netkit",
          transport: "tcp",
          cmd: netkitCommand([
            "ws",
            "serve",
            "--port",
            "0",
            "--grace",
            "0",
            "--no-page",
          ]),
        },
        {
          name: "node",
          transport: "tcp",
          cmd: ["node", repoPath("bench/peers/node_ws_echo.mjs")],
        },
      ],
      target: (port) => `ws://127.0.0.1:${port}/ws`,
    },
  ];
}

type ByConnections = Record<number, { p50: number; p99: number }>;

/** The section: a table per kind, p50/p99 by connections, netkit and Node. */
export async function connsRows(ctx: BenchContext): Promise<BenchRow[]> {
  const seconds = ctx.quick ? 1 : 3;
  const rows: BenchRow[] = [];
  for (const kind of kinds()) {
    const results = await runRounds(
      ctx,
      `${kind.key} latency by connections`,
      kind.servers,
      async (s) => {
        const out: ByConnections = {};
        for (const c of CONNECTIONS) {
          const r = await netkitLoad([
            kind.key,
            kind.target(s.port),
            "-c",
            String(c),
            "--rate",
            String(RATE),
            "-d",
            String(seconds),
            // Connections open at 500/s inside the warm-up (a burst of a
            // thousand WebSocket dials takes ~2 s of client CPU here, the
            // default timeout), and a late reply is latency, not a loss.
            "--connect-rate",
            "500",
            "--warmup",
            String(Math.max(1, c / 500 + 1)),
            "--timeout",
            "10",
          ]) as unknown as { latencyMs: { p50: number; p99: number } };
          out[c] = {
            p50: r.latencyMs.p50 * 1000,
            p99: r.latencyMs.p99 * 1000,
          };
        }
        return out;
      },
      { rounds: ctx.quick ? 1 : Math.min(ctx.rounds, 3), timeoutMs: 300_000 },
    );
    const us = (v: number | undefined) =>
      v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(0);
    const tableRows: string[][] = [];
    for (const c of CONNECTIONS) {
      const key = `conns.${kind.key}.${c}`;
      const p50 = medians(ctx, `${key}.p50_us`, results, (r) => r[c]!.p50);
      const p99 = medians(ctx, `${key}.p99_us`, results, (r) => r[c]!.p99);
      tableRows.push([
        c.toLocaleString("en-US"),
        `${us(p50.netkit)} / ${us(p99.netkit)}`,
        `${us(p50.node)} / ${us(p99.node)}`,
        `${(p50.netkit! / p50.node!).toFixed(2)}× / ${
          (p99.netkit! / p99.node!).toFixed(2)
        }×`,
      ]);
      if (c === CONNECTIONS.at(-1)) {
        for (const [what, f] of [["p50", p50], ["p99", p99]] as const) {
          rows.push({
            name: `${kind.name} at ${RATE.toLocaleString("en-US")}/s over ${
              c.toLocaleString("en-US")
            } connections, ${what}`,
            netkit: f.netkit!,
            peer: f.node!,
            peerName: "node",
            unit: "µs",
            higherIsBetter: false,
          });
        }
      }
    }
    (ctx.tables ??= []).push({
      title: `${kind.name}: latency by connections at ${
        RATE.toLocaleString("en-US")
      } requests/s (netkit load, open loop): p50 / p99 µs`,
      header: ["connections", "netkit", "node", "netkit/node (p50 / p99)"],
      rows: tableRows,
    });
  }
  return rows;
}
