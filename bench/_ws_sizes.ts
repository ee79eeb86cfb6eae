// WebSocket round-trip latency by message size (issue #26): one message in
// flight, 16 B to 1 MiB, with and without permessage-deflate, netkit's
// `ws serve` against Node's `ws` and python websockets, the same client
// for all (bench/_ws_raw.ts: netkit's client edge, no-delay, frames
// encoded once). Each measurement is a fresh server and one connection
// that goes through every size, smallest first (a warm-up, then a window
// per size). Target: at every size, netkit's p50 within 1.2× of the
// better peer and never above 2 ms. A size where Nagle meets delayed ACKs
// shows as a p50 near 40 ms.

import {
  type BenchContext,
  medians,
  netkitCommand,
  repoPath,
  runRounds,
} from "./_runner.ts";
import type { ServerSpec } from "./_servers.ts";
import type { BenchRow, SweepTable } from "./_table.ts";
import {
  benchPayload,
  openRawWs,
  type PingPongFigures,
  pingPongSize,
} from "./_ws_raw.ts";

const KiB = 1024;
/** The sizes swept, in bytes. */
export const SIZES = [
  16,
  KiB,
  8 * KiB,
  16 * KiB,
  32 * KiB,
  64 * KiB,
  256 * KiB,
  1024 * KiB,
];
const P50_BOUND_US = 2000;
const RATIO_TARGET = 1.2;
const PIN = Deno.env.get("SIZES_PIN") === "1";

function sizeName(bytes: number): string {
  if (bytes >= 1024 * KiB) return `${bytes / 1024 / KiB} MiB`;
  if (bytes >= KiB) return `${bytes / KiB} KiB`;
  return `${bytes} B`;
}

function servers(deflate: boolean): ServerSpec[] {
  const flag = deflate ? ["--deflate"] : [];
  return [
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
        "--max-buffered",
        "64M",
        ...flag,
      ]),
    },
    {
      name: "node ws",
      transport: "tcp",
      cmd: ["node", repoPath("bench/peers/node_ws_echo.mjs"), ...flag],
    },
    {
      name: "python",
      transport: "tcp",
      cmd: [
        "/usr/bin/python3",
        repoPath("bench/peers/python_ws_echo.py"),
        ...flag,
      ],
    },
    // Context, not a peer for the target: the runtime's own WebSocket
    // (Deno.upgradeWebSocket), which has no permessage-deflate.
    ...(deflate ? [] : [{
      name: "deno bare",
      transport: "tcp" as const,
      cmd: [
        Deno.execPath(),
        "run",
        "--allow-net",
        repoPath("bench/peers/deno_bare_ws.ts"),
      ],
    }]),
  ];
}

/** Every size on one connection: p50/p99 per size. */
async function sweep(
  port: number,
  deflate: boolean,
  quick: boolean,
): Promise<Record<number, PingPongFigures>> {
  const ws = await openRawWs(port, { deflate });
  try {
    if (deflate && !ws.compressing) {
      throw new Error("the server did not agree to permessage-deflate");
    }
    const out: Record<number, PingPongFigures> = {};
    for (const size of SIZES) {
      out[size] = await pingPongSize(ws, benchPayload(size), {
        warmup: size >= 256 * KiB ? 10 : 100,
        windowMs: quick ? 150 : 600,
        minCount: size >= 256 * KiB ? 20 : 50,
      });
    }
    return out;
  } finally {
    await ws.close();
  }
}

/**
 * The section: a table per compression setting (p50 and p99 per server
 * and size, netkit's p50 over the better peer's, PASS/MISS per size) and
 * two rows per setting with targets: the worst ratio and the largest p50.
 */
export async function wsSizeRows(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const deflate of [false, true]) {
    const label = deflate ? "permessage-deflate" : "no compression";
    const results = await runRounds(
      ctx,
      `ws sizes (${label})`,
      servers(deflate),
      (s) => sweep(s.port, deflate, ctx.quick),
      // One core: client and server take turns anyway (one message in
      // flight), and unpinned round trips flip between ~20 and ~60 µs
      // with where the scheduler puts them.
      { pin: PIN, rounds: ctx.quick ? 1 : Math.min(ctx.rounds, 3) },
    );
    const key = `ws.sizes.${deflate ? "deflate" : "plain"}`;
    const p50: Record<number, Record<string, number>> = {};
    const p99: Record<number, Record<string, number>> = {};
    for (const size of SIZES) {
      p50[size] = medians(
        ctx,
        `${key}.${size}.p50_us`,
        results,
        (r) => r[size]!.p50Us,
      );
      p99[size] = medians(
        ctx,
        `${key}.${size}.p99_us`,
        results,
        (r) => r[size]!.p99Us,
      );
    }
    const peers = ["node ws", "python"].filter((p) => results.has(p));
    const context = ["deno bare"].filter((p) => results.has(p));
    let worst = { ratio: 0, size: 0, peer: "", nk: NaN, other: NaN };
    let largest = { us: 0, size: 0 };
    const tableRows = SIZES.map((size) => {
      const f = p50[size]!;
      const best = peers.reduce(
        (a, p) => (f[p]! < f[a]! ? p : a),
        peers[0]!,
      );
      const ratio = f.netkit! / f[best]!;
      if (ratio > worst.ratio) {
        worst = { ratio, size, peer: best, nk: f.netkit!, other: f[best]! };
      }
      if (f.netkit! > largest.us) largest = { us: f.netkit!, size };
      const ok = ratio <= RATIO_TARGET && f.netkit! <= P50_BOUND_US;
      const us = (v: number | undefined) =>
        v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(0);
      return [
        sizeName(size),
        ...["netkit", ...peers, ...context].map((s) =>
          `${us(f[s])} / ${us(p99[size]![s])}`
        ),
        `${ratio.toFixed(2)}× ${best}`,
        ok ? "PASS" : "MISS",
      ];
    });
    (ctx.tables ??= []).push(
      {
        title:
          `WebSocket round trip by message size, ${label}: p50 / p99 µs (one message in flight${
            PIN ? ", 1 core" : ""
          })`,
        header: [
          "size",
          "netkit",
          ...peers,
          ...context,
          "netkit / better peer (p50)",
          "≤ 1.2× and ≤ 2 ms",
        ],
        rows: tableRows,
      } satisfies SweepTable,
    );
    const name = `WebSocket round trip by size (${label})`;
    rows.push(
      {
        name: `${name}, worst p50 vs the better peer (${sizeName(worst.size)})`,
        netkit: worst.nk,
        peer: worst.other,
        peerName: worst.peer,
        unit: "µs",
        higherIsBetter: false,
        target: RATIO_TARGET,
      },
      {
        name: `${name}, largest netkit p50 (${sizeName(largest.size)})`,
        netkit: largest.us,
        peer: P50_BOUND_US,
        peerName: "2 ms bound",
        unit: "µs",
        higherIsBetter: false,
        target: 1.0,
      },
    );
  }
  return rows;
}
