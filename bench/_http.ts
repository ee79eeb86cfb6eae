// `netkit load http` against wrk, the HTTP load generator people use, on
// the same keep-alive server process in the same run: requests/s (target
// 0.8× wrk) and the latency percentiles each reports. Open-loop latency
// is compared with wrk2 (-R) when it is installed; Debian ships only wrk,
// which has no open loop: then those rows are skipped with a note.

import {
  type BenchContext,
  medians,
  netkitCommand,
  peerMissing,
  repoPath,
  runRounds,
} from "./_runner.ts";
import type { RunningServer, ServerSpec } from "./_servers.ts";
import type { BenchRow } from "./_table.ts";

interface HttpRun {
  rate: number;
  p50Ms: number;
  p99Ms: number;
}

function httpServers(): ServerSpec[] {
  return [
    {
      name: "node http",
      transport: "tcp",
      cmd: ["node", repoPath("bench/peers/node_http.mjs")],
    },
    {
      name: "Deno.serve",
      transport: "tcp",
      cmd: [
        Deno.execPath(),
        "run",
        "--allow-net",
        repoPath("bench/peers/deno_http.ts"),
      ],
    },
  ];
}

/** Runs `netkit load http` as users do and reads its `--json`. */
async function netkitHttp(url: string, args: string[]): Promise<HttpRun> {
  const argv = netkitCommand(["load", "http", url, ...args, "--json"]);
  const { success, stdout, stderr } = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(
      `netkit load http ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`,
    );
  }
  const r = JSON.parse(new TextDecoder().decode(stdout));
  const failed = Object.values(r.errors as Record<string, number>)
    .reduce((a, b) => a + b, 0);
  if (failed > 0) {
    throw new Error(`netkit load counted errors: ${JSON.stringify(r.errors)}`);
  }
  return { rate: r.rate, p50Ms: r.latencyMs.p50, p99Ms: r.latencyMs.p99 };
}

/** Runs wrk (or wrk2) with --latency and reads its report. */
async function wrk(
  program: string,
  url: string,
  args: string[],
): Promise<HttpRun> {
  const { success, stdout, stderr } = await new Deno.Command(program, {
    args: [...args, "--latency", url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  if (!success) {
    throw new Error(`${program}: ${new TextDecoder().decode(stderr)}${text}`);
  }
  if (/Socket errors|Non-2xx/.test(text)) {
    throw new Error(`${program} counted errors:\n${text}`);
  }
  const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const percentile = (p: string) => {
    // "     50%    1.23ms" (wrk) or " 50.000%    1.23ms" (wrk2).
    const m = new RegExp(`^\\s*${p}(?:\\.0+)?%\\s+([\\d.]+)(us|ms|s)\\b`, "m")
      .exec(text);
    if (!m) return NaN;
    const scale = m[2] === "us" ? 1e-3 : m[2] === "s" ? 1e3 : 1;
    return Number(m[1]) * scale;
  };
  return { rate, p50Ms: percentile("50"), p99Ms: percentile("99") };
}

/** The http section: netkit load http and wrk on the same servers. */
export async function httpRows(ctx: BenchContext): Promise<BenchRow[]> {
  if (peerMissing(ctx, "wrk")) return [];
  const seconds = ctx.quick ? 1 : 3;
  const conns = "50";
  const url = (s: RunningServer) => `http://127.0.0.1:${s.port}/`;
  const closed = await runRounds(
    ctx,
    "load http keep-alive",
    httpServers(),
    async (s) => {
      // wrk before and after, so drift on a busy machine weighs on both;
      // the first also warms the server's JIT. netkit gets a warm-up of
      // its own (a fresh process).
      const wrkArgs = ["-t1", `-c${conns}`, `-d${seconds}s`];
      const before = await wrk("wrk", url(s), wrkArgs);
      const netkit = await netkitHttp(url(s), [
        "-c",
        conns,
        "-d",
        String(seconds),
        "--warmup",
        "1",
      ]);
      const after = await wrk("wrk", url(s), wrkArgs);
      return {
        wrkRate: (before.rate + after.rate) / 2,
        wrkP99: Math.max(before.p99Ms, after.p99Ms),
        netkitRate: netkit.rate,
        netkitP99: netkit.p99Ms,
      };
    },
  );
  const rows: BenchRow[] = [];
  const pick =
    (k: "wrkRate" | "wrkP99" | "netkitRate" | "netkitP99") =>
    (r: Record<typeof k, number>) => r[k];
  const wrkRate = medians(ctx, "http.closed.wrk_rps", closed, pick("wrkRate"));
  const nkRate = medians(
    ctx,
    "http.closed.netkit_rps",
    closed,
    pick("netkitRate"),
  );
  const wrkP99 = medians(ctx, "http.closed.wrk_p99_ms", closed, pick("wrkP99"));
  const nkP99 = medians(
    ctx,
    "http.closed.netkit_p99_ms",
    closed,
    pick("netkitP99"),
  );
  for (const server of httpServers().map((s) => s.name)) {
    if (wrkRate[server] === undefined) continue;
    rows.push({
      name: `load http, keep-alive, ${conns} conns, 1 thread, ${server}`,
      netkit: nkRate[server]!,
      peer: wrkRate[server]!,
      peerName: "wrk -t1",
      unit: "req/s",
      target: 0.8,
    }, {
      name: `load http closed-loop p99, ${conns} conns, ${server}`,
      netkit: nkP99[server]!,
      peer: wrkP99[server]!,
      peerName: "wrk -t1",
      unit: "ms",
      higherIsBetter: false,
      note:
        "closed loop: both time each request from when it was sent, so a stall hides in either (coordinated omission); the open-loop row does not",
    });
  }
  rows.push(...await openLoopRows(ctx, url, seconds, conns));
  return rows;
}

// Open loop at a fixed rate: latency from the schedule. wrk2 (-R) does the
// same; without it only netkit's figures are shown.
async function openLoopRows(
  ctx: BenchContext,
  url: (s: RunningServer) => string,
  seconds: number,
  conns: string,
): Promise<BenchRow[]> {
  const rate = ctx.quick ? 1000 : 2000;
  // Without wrk2 there is nothing to compare with (Debian's wrk has no
  // open loop): the rows are skipped with a note naming wrk2.
  if (peerMissing(ctx, "wrk2", "wrk2 (open-loop rows)")) return [];
  const servers = httpServers().slice(0, 1);
  const runs = await runRounds(
    ctx,
    `load http open loop ${rate}/s`,
    servers,
    async (s) => {
      const netkit = await netkitHttp(url(s), [
        "-c",
        conns,
        "--rate",
        String(rate),
        "-d",
        String(seconds + 2),
        "--warmup",
        "1",
      ]);
      const peer = await wrk("wrk2", url(s), [
        "-t1",
        `-c${conns}`,
        `-d${seconds + 3}s`,
        `-R${rate}`,
      ]);
      return {
        netkitP50: netkit.p50Ms,
        netkitP99: netkit.p99Ms,
        peerP50: peer.p50Ms,
        peerP99: peer.p99Ms,
      };
    },
  );
  const name = servers[0]!.name;
  const get = (key: string, f: (r: Record<string, number>) => number) =>
    medians(ctx, key, runs, f)[name]!;
  const note =
    "both time each request from when it was due (wrk2 -R and netkit --rate): a stall shows in both";
  return (["50", "99"] as const).map((p) => ({
    name: `load http open loop ${rate}/s p${p}, ${conns} conns, ${name}`,
    netkit: get(`http.open.netkit_p${p}_ms`, (r) => r[`netkitP${p}`]!),
    peer: get(`http.open.wrk2_p${p}_ms`, (r) => r[`peerP${p}`]!),
    peerName: "wrk2 -R",
    unit: "ms",
    higherIsBetter: false,
    note,
  }));
}
