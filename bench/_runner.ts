// Rounds, pinning, timeouts and the server commands every section shares.

import {
  pinServers,
  type RunningServer,
  type ServerSpec,
  withServer,
} from "./_servers.ts";
import type { PingPongResult } from "./_measure.ts";
import { median } from "./_stats.ts";
import type { BenchRow, SweepTable } from "./_table.ts";

/** What every section is given. */
export interface BenchContext {
  /** Rounds per server; each round measures every server once, interleaved. */
  rounds: number;
  /** Smaller sizes and shorter windows. */
  quick: boolean;
  /** Pin the sequential ping-pong rows (client and server) to one core. */
  pin: boolean;
  /** Progress lines (stderr). */
  log(line: string): void;
  /** Raw per-round figures, kept in the JSON output. */
  raw: Record<string, Record<string, number[]>>;
  /** Measurements repeated because the server stopped echoing, by "label/server". */
  stalls: Record<string, number>;
  /** Peers that are not installed, with how to install them: their rows are dropped. */
  missing?: Record<string, string>;
  /** Sweep tables the sections made, printed and written after the rows. */
  tables?: SweepTable[];
}

const INSTALL_HINTS: Record<string, string> = {
  iperf3: "apt-get install iperf3",
  socat: "apt-get install socat",
  node: "install Node.js (apt-get install nodejs)",
  "/usr/bin/python3": "apt-get install python3 python3-websockets",
  nc: "apt-get install netcat-openbsd",
  taskset: "apt-get install util-linux",
  wrk: "apt-get install wrk",
  wrk2: "not in Debian: build it from github.com/giltene/wrk2",
};

/**
 * True (and noted in `ctx.missing` under `name`) when `program` is not
 * installed: a missing peer drops only its own rows, never the section.
 */
export function peerMissing(
  ctx: BenchContext,
  program: string,
  name = program,
): boolean {
  if (installed(program)) return false;
  ctx.missing ??= {};
  ctx.missing[name] = `${program} is not installed (${
    INSTALL_HINTS[program] ?? `install ${program}`
  })`;
  return true;
}

function installed(program: string): boolean {
  const dirs = program.includes("/")
    ? [""]
    : (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":").map((d) => d + "/");
  return dirs.some((dir) => {
    try {
      return Deno.statSync(dir + program).isFile;
    } catch {
      return false;
    }
  });
}

const ROOT = new URL("../", import.meta.url).pathname;

/** Absolute path of a file in the repository. */
export function repoPath(path: string): string {
  return ROOT + path;
}

/**
 * The command that runs netkit's CLI: `$NETKIT_BIN` (a compiled binary) when
 * set, else `deno run` with the permissions of `deno task netkit`.
 */
export function netkitCommand(args: string[]): string[] {
  const bin = Deno.env.get("NETKIT_BIN");
  if (bin) return [bin, ...args];
  return [
    Deno.execPath(),
    "run",
    "--unstable-net",
    "--allow-all",
    repoPath("cli/main.ts"),
    ...args,
  ];
}

/**
 * Measures every server `ctx.rounds` times, interleaved (netkit, node,
 * socat, netkit, …, starting one further each round so no server always
 * goes first). Each measurement gets a fresh server process.
 */
export async function runRounds<T>(
  ctx: BenchContext,
  label: string,
  servers: ServerSpec[],
  fn: (server: RunningServer) => Promise<T>,
  options: { pin?: boolean; rounds?: number; timeoutMs?: number } = {},
): Promise<Map<string, T[]>> {
  servers = servers.filter((s) => !peerMissing(ctx, s.cmd[0]!, s.name));
  const results = new Map<string, T[]>(servers.map((s) => [s.name, []]));
  const rounds = options.rounds ?? ctx.rounds;
  const pinned = options.pin === true && ctx.pin;
  if (pinned) await pinAll("0");
  try {
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < servers.length; i++) {
        const spec = servers[(i + r) % servers.length]!;
        const what = `${label} against ${spec.name}`;
        let result: T | undefined;
        for (let attempt = 1; result === undefined; attempt++) {
          try {
            result = await withServer(
              spec,
              (server) => withTimeout(fn(server), options.timeoutMs ?? 120_000),
            );
          } catch (error) {
            const message = error instanceof Error
              ? error.message
              : String(error);
            // A stalled server is a finding to report, and the run is repeated.
            if (
              error instanceof Error && error.name === "StallError" &&
              attempt < 3
            ) {
              ctx.log(`${what}: ${message}; repeating with a fresh server`);
              ctx.stalls[`${label}/${spec.name}`] =
                (ctx.stalls[`${label}/${spec.name}`] ?? 0) + 1;
              continue;
            }
            throw new Error(`${what}: ${message}`, { cause: error });
          }
        }
        results.get(spec.name)!.push(result);
        ctx.log(
          `${label} · round ${r + 1}/${rounds} · ${spec.name}: ${
            describe(result)
          }`,
        );
      }
    }
  } finally {
    if (pinned) await pinAll(undefined);
  }
  return results;
}

/** Medians per server of one numeric field, recorded in `ctx.raw` under `key`. */
export function medians<T>(
  ctx: BenchContext,
  key: string,
  results: Map<string, T[]>,
  pick: (t: T) => number,
): Record<string, number> {
  const out: Record<string, number> = {};
  ctx.raw[key] = {};
  for (const [name, list] of results) {
    const values = list.map(pick);
    ctx.raw[key][name] = values.map((v) => Math.round(v * 100) / 100);
    out[name] = median(values);
  }
  return out;
}

function describe(result: unknown): string {
  if (typeof result !== "object" || result === null) return String(result);
  return Object.entries(result)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) =>
      `${k} ${(v as number).toFixed(v as number >= 100 ? 0 : 2)}`
    )
    .join(", ");
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no result after ${ms / 1000} s`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

let originalAffinity: string | undefined;

/**
 * Pins this process (all its threads: the client) and every server started
 * from now on to `cpu`; `undefined` restores the affinity we started with.
 */
export async function pinAll(cpu: string | undefined): Promise<void> {
  await pinClient(cpu);
  pinServers(cpu);
}

/** Pins this process (all its threads) to `cpus`; `undefined` restores it. */
export async function pinClient(cpus: string | undefined): Promise<void> {
  originalAffinity ??= await affinity();
  await taskset(cpus ?? originalAffinity);
}

async function affinity(): Promise<string> {
  const text = await taskset(undefined);
  return text.trim().split(":").pop()!.trim();
}

async function taskset(cpus: string | undefined): Promise<string> {
  const args = cpus === undefined
    ? ["-c", "-p", String(Deno.pid)]
    : ["-a", "-c", "-p", cpus, String(Deno.pid)];
  const { success, stdout, stderr } = await new Deno.Command("taskset", {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`taskset: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout);
}

/** One ping-pong configuration of a section. */
export interface PingPongRun {
  /** Row name, e.g. "TCP ping-pong 64 B, 100 conns (1 core)". */
  name: string;
  /** Key prefix in `ctx.raw`. */
  key: string;
  /** The lowest acceptable netkit/node ratio; undefined makes it context. */
  target?: number;
}

/**
 * Rows of one ping-pong run: rate against every peer (the target applies
 * to node), and for target rows p50, p99 and server CPU per round trip
 * against node.
 */
export function pingPongRows(
  ctx: BenchContext,
  run: PingPongRun,
  results: Map<string, PingPongResult[]>,
): BenchRow[] {
  const rps = medians(ctx, `${run.key}.rps`, results, (r) => r.rps);
  const p50 = medians(ctx, `${run.key}.p50_us`, results, (r) => r.p50Us);
  const p99 = medians(ctx, `${run.key}.p99_us`, results, (r) => r.p99Us);
  const cpu = medians(
    ctx,
    `${run.key}.server_cpu_us`,
    results,
    (r) => r.serverCpuUs,
  );
  medians(ctx, `${run.key}.client_cpu`, results, (r) => r.clientCpu);
  const rows: BenchRow[] = [];
  for (const peerName of Object.keys(rps)) {
    if (peerName === "netkit") continue;
    rows.push({
      name: run.name,
      netkit: rps.netkit!,
      peer: rps[peerName]!,
      peerName,
      unit: "rt/s",
      target: peerName === "node" ? run.target : undefined,
    });
  }
  if (run.target === undefined) return rows;
  const vsNode = (what: string, figures: Record<string, number>) => ({
    name: `${run.name}, ${what}`,
    netkit: figures.netkit!,
    peer: figures.node!,
    peerName: "node",
    unit: "µs",
    higherIsBetter: false,
  });
  rows.push(
    vsNode("p50", p50),
    vsNode("p99", p99),
    vsNode("server CPU per round trip", cpu),
  );
  return rows;
}
