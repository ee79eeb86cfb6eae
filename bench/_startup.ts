// Start-up: how long `netkit --version` and `netkit ws --help` take, whole
// process, against a hello-world `deno run` in the same run (A B A B …).

import {
  type BenchContext,
  medians,
  netkitCommand,
  repoPath,
} from "./_runner.ts";
import type { BenchRow } from "./_table.ts";

/** What the issue asks of start-up: answer within this, warm cache. */
const TARGET_MS = 40;

async function wallMs(cmd: string[]): Promise<number> {
  const t0 = performance.now();
  const { success, stderr } = await new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  if (!success) {
    throw new Error(`${cmd.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  }
  return ms;
}

/** Rows: netkit --version and netkit ws --help vs hello-world deno run (ms, lower is better). */
export async function startupRows(ctx: BenchContext): Promise<BenchRow[]> {
  const runs = ctx.quick ? 5 : 20;
  const hello = [Deno.execPath(), "run", repoPath("bench/peers/hello.ts")];
  const commands: Record<string, string[]> = {
    "--version": netkitCommand(["--version"]),
    "ws --help": netkitCommand(["ws", "--help"]),
    hello,
  };
  // Warm the module cache first: the figure is a warm start.
  for (const cmd of Object.values(commands)) await wallMs(cmd);
  const results = new Map<string, number[]>(
    Object.keys(commands).map((k) => [k, []]),
  );
  for (let i = 0; i < runs; i++) {
    for (const [name, cmd] of Object.entries(commands)) {
      results.get(name)!.push(await wallMs(cmd));
    }
  }
  const ms = medians(ctx, "startup.ms", results, (v) => v);
  ctx.log(
    `start-up medians of ${runs}: --version ${
      ms["--version"]!.toFixed(1)
    } ms, ` +
      `ws --help ${ms["ws --help"]!.toFixed(1)} ms, hello ${
        ms.hello!.toFixed(1)
      } ms`,
  );
  return ["--version", "ws --help"].map((what) => ({
    name: `start-up: netkit ${what} (whole process, ms)`,
    netkit: ms[what]!,
    peer: ms.hello!,
    peerName: "deno run hello.ts",
    unit: "ms",
    higherIsBetter: false,
    note: `target ≤ ${TARGET_MS} ms: ${
      ms[what]! <= TARGET_MS ? "met" : "missed"
    } (median of ${runs}, warm cache)`,
  }));
}
