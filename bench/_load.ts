// `netkit load` against the bench's own clients, on the same server
// process in the same run: does the load generator measure servers, not
// itself? Rows: 100-connection ping-pong rate and bulk MB/s (target 0.9×
// the bench client), and the gain of --workers 2.

import {
  type BenchContext,
  medians,
  netkitCommand,
  runRounds,
} from "./_runner.ts";
import type { RunningServer } from "./_servers.ts";
import type { BenchRow } from "./_table.ts";
import { tcpBulk, tcpPingPong, tcpServers } from "./_tcp.ts";

/** Runs `netkit load` as users do and returns its `--json` object. */
export async function netkitLoad(
  args: string[],
): Promise<{ rate: number; mbps: number; errors: Record<string, number> }> {
  const { success, stdout, stderr } = await new Deno.Command(
    netkitCommand(["load", ...args, "--json"])[0]!,
    {
      args: netkitCommand(["load", ...args, "--json"]).slice(1),
      stdout: "piped",
      stderr: "piped",
    },
  ).output();
  if (!success) {
    throw new Error(
      `netkit load ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`,
    );
  }
  const result = JSON.parse(new TextDecoder().decode(stdout));
  const failed = Object.values(result.errors as Record<string, number>)
    .reduce((a, b) => a + b, 0);
  if (failed > 0) {
    throw new Error(
      `netkit load counted errors: ${JSON.stringify(result.errors)}`,
    );
  }
  return result;
}

interface Pair {
  client: number;
  load: number;
  loadWorkers?: number;
}

/** The load section: netkit and Node echo servers, each driven by both clients. */
export async function loadRows(ctx: BenchContext): Promise<BenchRow[]> {
  const servers = tcpServers().filter((s) => s.name !== "socat");
  const seconds = ctx.quick ? 1 : 2;
  const target = (s: RunningServer) => `127.0.0.1:${s.port}`;
  // A fresh process: a longer warm-up than the bench client's 0.3 s, whose
  // code is already hot from earlier rows.
  const common = ["-c", "100", "-d", String(seconds), "--warmup", "1"];
  // Pinned to one core like the TCP section's ping-pong rows, so the
  // figures follow the clients' CPU cost, not where the scheduler put them.
  const pingPong = await runRounds(
    ctx,
    "load ping-pong 100 conns (1 core)",
    servers,
    async (s) => {
      // The bench client before and after, so a change in what else the
      // machine does weighs on both sides alike.
      const client = () =>
        tcpPingPong(s.port, { connections: 100, durationMs: seconds * 1000 });
      const before = await client();
      const load = await netkitLoad(["tcp", target(s), ...common]);
      const after = await client();
      return { client: (before.rps + after.rps) / 2, load: load.rate } as Pair;
    },
    { pin: true },
  );
  // --workers needs both cores: unpinned, one loop against two.
  const workers = await runRounds(
    ctx,
    "load --workers 2",
    servers,
    async (s) => {
      const one = await netkitLoad(["tcp", target(s), ...common]);
      const two = await netkitLoad([
        "tcp",
        target(s),
        ...common,
        "--workers",
        "2",
      ]);
      return { client: NaN, load: one.rate, loadWorkers: two.rate } as Pair;
    },
  );
  const bulkBytes = (ctx.quick ? 256 : 1024) * 1024 ** 2;
  const bulk = await runRounds(
    ctx,
    "load bulk",
    servers,
    async (s) => {
      const client = await tcpBulk(s.port, bulkBytes);
      const load = await netkitLoad([
        "tcp",
        target(s),
        "--mode",
        "stream",
        "-c",
        "1",
        "-d",
        String(seconds),
        "--warmup",
        "0.3",
      ]);
      return { client: client.mbps, load: load.mbps } as Pair;
    },
  );
  const rows: BenchRow[] = [];
  const pick = (k: keyof Pair) => (p: Pair) => p[k] ?? NaN;
  const ppClient = medians(
    ctx,
    "load.pingpong.client",
    pingPong,
    pick("client"),
  );
  const ppLoad = medians(
    ctx,
    "load.pingpong.netkit_load",
    pingPong,
    pick("load"),
  );
  const wOne = medians(ctx, "load.workers.1", workers, pick("load"));
  const wTwo = medians(ctx, "load.workers.2", workers, pick("loadWorkers"));
  const bulkClient = medians(ctx, "load.bulk.client", bulk, pick("client"));
  const bulkLoad = medians(ctx, "load.bulk.netkit_load", bulk, pick("load"));
  for (const server of servers.map((s) => s.name)) {
    rows.push(
      {
        name:
          `netkit load ping-pong 64 B, 100 conns (1 core), ${server} echo server`,
        netkit: ppLoad[server]!,
        peer: ppClient[server]!,
        peerName: "bench client",
        unit: "rt/s",
        target: 0.9,
      },
      {
        name: `netkit load --workers 2 gain, ${server} echo server`,
        netkit: wTwo[server]!,
        peer: wOne[server]!,
        peerName: "netkit load, 1 worker",
        unit: "rt/s",
      },
      {
        name: `netkit load --mode stream, 1 conn, ${server} echo server`,
        netkit: bulkLoad[server]!,
        peer: bulkClient[server]!,
        peerName: "bench client",
        unit: "MB/s",
        target: 0.9,
      },
    );
  }
  return rows;
}
