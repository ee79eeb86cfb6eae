// The per-op floor (issue #26): for TCP and UDP ping-pong with one client,
// what share of a round trip is the kernel's, what is the runtime's
// per-op cost and what is netkit's. Servers, pinned with the client to
// one core (so a round trip is the client's CPU plus the server's):
// a blocking C read/write loop (bench/peers/c_echo.c: the kernel's work
// and nothing else), the bare Deno loop (bench/peers/echo_variants.ts
// tcp-raw-loop / udp-loop1: Deno.listen or listenDatagram, read, write,
// nothing of netkit), netkit's echo server and Node's. Server CPU per
// round trip is split into user and system time (/proc/<pid>/stat):
// kernel = the C server's; runtime = bare Deno − C; netkit = netkit −
// bare Deno. Rows a server cannot pass because of the runtime are known
// from this.

import {
  type BenchContext,
  medians,
  netkitCommand,
  repoPath,
  runRounds,
} from "./_runner.ts";
import type { RunningServer, ServerSpec } from "./_servers.ts";
import type { BenchRow } from "./_table.ts";
import { tcpPingPong } from "./_tcp.ts";
import { udpPingPong } from "./_udp.ts";

const CLOCK_TICKS = 100;

/** User and system CPU seconds of a process so far. */
function userSystem(pid: number): [number, number] {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return [Number(f[11]) / CLOCK_TICKS, Number(f[12]) / CLOCK_TICKS];
  } catch {
    return [NaN, NaN];
  }
}

/** Compiles bench/peers/c_echo.c once; null without a C compiler. */
async function cEcho(): Promise<string | null> {
  const out = `${Deno.makeTempDirSync({ prefix: "netkit-bench-" })}/c_echo`;
  try {
    const { success } = await new Deno.Command("cc", {
      args: ["-O2", "-o", out, repoPath("bench/peers/c_echo.c")],
      stderr: "null",
    }).output();
    return success ? out : null;
  } catch {
    return null;
  }
}

interface FloorResult {
  rps: number;
  userUs: number;
  systemUs: number;
  /** The client's CPU per round trip (the same program for every server). */
  clientUs: number;
}

async function measureFloor(
  server: RunningServer,
  kind: "tcp" | "udp",
  durationMs: number,
): Promise<FloorResult> {
  let before: [number, number] = [NaN, NaN];
  let after: [number, number] = [NaN, NaN];
  // The server's CPU over the measured window only: serverCpu is read at
  // the window's start and end.
  let reads = 0;
  const serverCpu = () => {
    const now = userSystem(server.pid);
    if (reads++ === 0) before = now;
    else after = now;
    return now[0] + now[1];
  };
  const r = kind === "tcp"
    ? await tcpPingPong(server.port, { connections: 1, durationMs, serverCpu })
    : await udpPingPong(server.port, { clients: 1, durationMs, serverCpu });
  // measure() gives the server's CPU per round trip; split it as the
  // user and system time moved over the same window.
  const du = after[0] - before[0];
  const ds = after[1] - before[1];
  return {
    rps: r.rps,
    userUs: r.serverCpuUs * du / (du + ds),
    systemUs: r.serverCpuUs * ds / (du + ds),
    clientUs: r.clientCpu / r.rps * 1e6,
  };
}

function servers(kind: "tcp" | "udp", c: string | null): ServerSpec[] {
  const variants = (v: string) => [
    Deno.execPath(),
    "run",
    "--unstable-net",
    "--allow-all",
    repoPath("bench/peers/echo_variants.ts"),
    v,
  ];
  return [
    {
      name: "netkit",
      transport: kind,
      cmd: netkitCommand([
        "echo",
        "serve",
        `--${kind}`,
        "--port",
        "0",
        "--grace",
        "0",
      ]),
    },
    {
      name: "deno bare",
      transport: kind,
      cmd: variants(kind === "tcp" ? "tcp-raw-loop" : "udp-loop1"),
    },
    {
      name: "node",
      transport: kind,
      cmd: ["node", repoPath(`bench/peers/node_${kind}_echo.mjs`)],
    },
    ...(c ? [{ name: "C", transport: kind, cmd: [c, kind] }] : []),
  ];
}

/** The floor section: a table per transport and two context rows each. */
export async function floorRows(ctx: BenchContext): Promise<BenchRow[]> {
  const c = await cEcho();
  if (!c) ctx.log("no C compiler (cc): the kernel's share is not measured");
  const durationMs = ctx.quick ? 1000 : 2000;
  const rows: BenchRow[] = [];
  for (const kind of ["tcp", "udp"] as const) {
    const results = await runRounds(
      ctx,
      `${kind} floor (1 core)`,
      servers(kind, c),
      (s) => measureFloor(s, kind, durationMs),
      { pin: true },
    );
    const key = `floor.${kind}`;
    const rps = medians(ctx, `${key}.rps`, results, (r) => r.rps);
    const user = medians(ctx, `${key}.user_us`, results, (r) => r.userUs);
    const sys = medians(ctx, `${key}.system_us`, results, (r) => r.systemUs);
    const client = medians(ctx, `${key}.client_us`, results, (r) => r.clientUs);
    const total = (name: string) => (user[name] ?? NaN) + (sys[name] ?? NaN);
    const rtUs = (name: string) => 1e6 / rps[name]!;
    const names = ["C", "deno bare", "netkit", "node"].filter((n) =>
      results.has(n)
    );
    const kernel = c ? total("C") : NaN;
    const runtime = total("deno bare") - kernel;
    const own = total("netkit") - total("deno bare");
    // Shares of the CPU a round trip costs (client + server): on a busy
    // machine the wall-clock round trip also holds other processes' time.
    const rt = client.netkit! + total("netkit");
    const pct = (v: number) =>
      Number.isFinite(v) ? `${(100 * v / rt).toFixed(0)} %` : "–";
    (ctx.tables ??= []).push({
      title: `${kind.toUpperCase()} ping-pong 64 B, 1 ${
        kind === "tcp" ? "connection" : "client"
      }, client and server on one core: where a round trip goes`,
      header: [
        "server",
        "round trips/s",
        "round trip µs",
        "client CPU µs",
        "server CPU µs (user + system)",
      ],
      rows: names.map((n) => [
        n,
        rps[n]!.toFixed(0),
        rtUs(n).toFixed(1),
        client[n]!.toFixed(1),
        `${total(n).toFixed(1)} (${user[n]!.toFixed(1)} + ${
          sys[n]!.toFixed(1)
        })`,
      ]),
      notes: [
        `netkit's round trip costs ${rt.toFixed(1)} µs of CPU: the client ${
          client.netkit!.toFixed(1)
        } µs (${
          pct(client.netkit!)
        }, the same Deno client for every server); of the server, the kernel ${
          kernel.toFixed(1)
        } µs (${pct(kernel)}, the C server's CPU), the runtime's per-op cost ${
          runtime.toFixed(1)
        } µs (${pct(runtime)}, bare Deno − C), netkit's own ${
          own.toFixed(1)
        } µs (${pct(own)}, netkit − bare Deno).`,
      ],
    });
    rows.push({
      name:
        `${kind.toUpperCase()} ping-pong floor: netkit's own CPU per round trip over the bare Deno loop`,
      netkit: total("netkit"),
      peer: total("deno bare"),
      peerName: "deno bare",
      unit: "µs",
      higherIsBetter: false,
    }, {
      name:
        `${kind.toUpperCase()} ping-pong floor: the bare Deno loop over Node`,
      netkit: total("deno bare"),
      peer: total("node"),
      peerName: "node",
      unit: "µs",
      higherIsBetter: false,
      note:
        "the netkit column is the bare Deno loop here: the runtime's cost against Node's",
    });
  }
  return rows;
}
