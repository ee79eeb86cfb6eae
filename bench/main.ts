// `deno task bench`: netkit against its peers, measured in one run with one
// shared client, every server in its own process on 127.0.0.1.
//
//   deno task bench [--quick] [--only tcp,udp,ws,file] [--rounds N] [--no-pin]
//                   [--out DIR]
//
// Prints a table of netkit/peer ratios and writes DIR/latest.md and
// DIR/latest.json (DIR/partial.* with --quick or --only; default DIR:
// bench/results). See bench/README.md.

import { parseArgs } from "node:util";
import { type BenchContext, repoPath } from "./_runner.ts";
import { stopAllServers } from "./_servers.ts";
import { foreignLoad } from "./_stats.ts";
import {
  type BenchRow,
  markdownTable,
  ratio,
  sweepMarkdown,
  sweepText,
  textTable,
  verdict,
} from "./_table.ts";
import { tcpRows } from "./_tcp.ts";
import { udpRows } from "./_udp.ts";
import { wsRows } from "./_ws.ts";
import { wsClientRows } from "./_ws_client.ts";
import { deflateRows } from "./_deflate.ts";
import { relayRows } from "./_relay.ts";
import { startupRows } from "./_startup.ts";
import { loadRows } from "./_load.ts";
import { idleRows } from "./_idle.ts";
import { wsSizeRows } from "./_ws_sizes.ts";
import { connsRows } from "./_conns.ts";
import { floorRows } from "./_floor.ts";
import { httpRows } from "./_http.ts";

class UsageError extends Error {}

const SECTIONS = [
  "startup",
  "tcp",
  "udp",
  "ws",
  "wsclient",
  "file",
  "deflate",
  "relay",
  "load",
  "idle",
  "sizes",
  "conns",
  "floor",
  "http",
] as const;
type Section = typeof SECTIONS[number];

const HELP =
  `deno task bench [options]: netkit vs its peers, end to end on 127.0.0.1

  --quick          smaller sizes, shorter windows, 1 round (a smoke run)
  --only LIST      sections to run, comma-separated: ${SECTIONS.join(",")}
  --rounds N       rounds per server, interleaved; medians are reported
                   (default 5, --quick 1)
  --no-pin         do not pin the sequential ping-pong rows to one core
  --out DIR        where results go (default bench/results): latest.md and
                   latest.json for a full run, partial.md and partial.json
                   with --quick or --only (git-ignored)`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      rounds: { type: "string" },
      "no-pin": { type: "boolean", default: false },
      out: { type: "string", default: repoPath("bench/results") },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const only = parseOnly(values.only);
  const rounds = values.rounds ? Number(values.rounds) : values.quick ? 1 : 5;
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new UsageError("--rounds takes a positive integer");
  }
  const ctx: BenchContext = {
    rounds,
    quick: values.quick,
    pin: !values["no-pin"],
    log: (line) => console.error(`  ${line}`),
    raw: {},
    stalls: {},
    missing: {},
  };
  const started = performance.now();
  const rows: BenchRow[] = [];
  const skipped: string[] = [];
  let failed = 0;
  const load: Record<string, number> = {};
  for (const section of only) {
    console.error(`${section}:`);
    const otherLoad = foreignLoad();
    let result: BenchRow[] | string;
    try {
      result = await runSection(section, ctx);
    } catch (error) {
      // One broken section must not cost the others' figures.
      failed++;
      result = `FAILED: ${error instanceof Error ? error.message : error}`;
      await stopAllServers();
    }
    load[section] = Math.round(otherLoad() * 100) / 100;
    console.error(
      `  other processes used ${load[section]!.toFixed(2)} cores meanwhile`,
    );
    if (typeof result === "string") {
      skipped.push(`${section}: ${result}`);
      console.error(`  skipped: ${result}`);
    } else {
      rows.push(...withoutMissingPeers(result, ctx, skipped));
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const env = await environment();
  console.log(textTable(rows));
  for (const table of ctx.tables ?? []) console.log(`\n${sweepText(table)}`);
  for (const s of skipped) console.log(`skipped ${s}`);
  // Smoke runs and single sections must not replace the full results.
  const base = values.quick || values.only ? "partial" : "latest";
  await writeResults(`${values.out}/${base}`, {
    rows,
    skipped,
    seconds,
    env,
    ctx,
    load,
  });
  console.log(
    `\n${rows.filter((r) => verdict(r) === "PASS").length} PASS, ${
      rows.filter((r) => verdict(r) === "MISS").length
    } MISS in ${
      seconds.toFixed(0)
    } s; written to ${values.out}/${base}.md and ${base}.json`,
  );
  return failed > 0 ? 1 : 0;
}

async function runSection(
  section: Section,
  ctx: BenchContext,
): Promise<BenchRow[] | string> {
  switch (section) {
    case "tcp":
      return await tcpRows(ctx);
    case "udp":
      return await udpRows(ctx);
    case "ws":
      return await wsRows(ctx);
    case "wsclient":
      return await wsClientRows(ctx);
    case "file":
      return await fileRows(ctx);
    case "deflate":
      return await deflateRows(ctx);
    case "relay":
      return await relayRows(ctx);
    case "startup":
      return await startupRows(ctx);
    case "load":
      return await loadRows(ctx);
    case "idle":
      return await idleRows(ctx);
    case "sizes":
      return await wsSizeRows(ctx);
    case "conns":
      return await connsRows(ctx);
    case "floor":
      return await floorRows(ctx);
    case "http":
      return await httpRows(ctx);
  }
}

/**
 * Drops the rows of peers that are not installed (their figures are
 * missing) and notes once per peer which and how to install it.
 */
function withoutMissingPeers(
  rows: BenchRow[],
  ctx: BenchContext,
  skipped: string[],
): BenchRow[] {
  const missing = ctx.missing ?? {};
  for (const [name, why] of Object.entries(missing)) {
    const note = `rows against ${name}: ${why}`;
    if (skipped.includes(note)) continue;
    skipped.push(note);
    console.error(`  skipped ${note}`);
  }
  return rows.filter((row) =>
    !(row.peerName in missing) && Number.isFinite(row.peer) &&
    Number.isFinite(row.netkit)
  );
}

/** bench/file_bench.ts is written separately; main works without it. */
async function fileRows(ctx: BenchContext): Promise<BenchRow[] | string> {
  const path = repoPath("bench/file_bench.ts");
  try {
    await Deno.stat(path);
  } catch {
    return "bench/file_bench.ts does not exist yet";
  }
  // A computed specifier: `deno check` must not require the file.
  const module = await import(new URL(`file://${path}`).href) as {
    benchFile?: (
      options: { sizeBytes: number; rounds?: number },
    ) => Promise<BenchRow[]>;
  };
  if (typeof module.benchFile !== "function") {
    return "bench/file_bench.ts exports no benchFile()";
  }
  const rows = await module.benchFile({
    sizeBytes: ctx.quick ? 256 * 1024 ** 2 : 1024 ** 3,
    rounds: ctx.rounds,
  });
  for (const row of rows) {
    ctx.log(
      `${row.name}: netkit ${row.netkit} ${row.unit}, ${row.peerName} ${row.peer}`,
    );
  }
  return rows;
}

function parseOnly(value: string | undefined): Section[] {
  if (value === undefined) return [...SECTIONS];
  const names = value.split(",").map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    if (!(SECTIONS as readonly string[]).includes(name)) {
      throw new UsageError(
        `--only: unknown section '${name}' (known: ${SECTIONS.join(", ")})`,
      );
    }
  }
  return SECTIONS.filter((s) => names.includes(s));
}

async function environment(): Promise<Record<string, string>> {
  const version = async (cmd: string, args: string[]) => {
    try {
      const { stdout, stderr } = await new Deno.Command(cmd, {
        args,
        stdout: "piped",
        stderr: "piped",
      }).output();
      return (new TextDecoder().decode(stdout) +
        new TextDecoder().decode(stderr)).split("\n")[0]!.trim();
    } catch {
      return "not installed";
    }
  };
  return {
    date: new Date().toISOString(),
    cpus: String(navigator.hardwareConcurrency),
    cpuModel:
      Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)
        ?.[1] ?? "?",
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    node: await version("node", ["--version"]),
    socat: await version("sh", [
      "-c",
      "socat -V | sed -n 's/^socat version //p'",
    ]),
    iperf3: await version("iperf3", ["--version"]),
    python: await version("/usr/bin/python3", [
      "-c",
      "import sys, websockets; print(sys.version.split()[0], 'websockets', websockets.__version__)",
    ]),
    nodeWs: await version("node", [
      "-p",
      `require(${
        JSON.stringify(repoPath("bench/node_modules/ws/package.json"))
      }).version`,
    ]),
  };
}

interface Results {
  rows: BenchRow[];
  skipped: string[];
  seconds: number;
  env: Record<string, string>;
  ctx: BenchContext;
  /** CPU cores used by processes outside the benchmark, per section. */
  load: Record<string, number>;
}

/** Writes `<base>.md` and `<base>.json`. */
async function writeResults(base: string, r: Results): Promise<void> {
  await Deno.mkdir(base.slice(0, base.lastIndexOf("/")), { recursive: true });
  const how = [
    `${r.ctx.rounds} round(s) per server, interleaved; figures are medians.`,
    r.ctx.pin
      ? "Rows marked (1 core): client and server pinned to CPU 0 with taskset; the others unpinned."
      : "Nothing pinned (--no-pin).",
    r.ctx.quick
      ? "--quick: smaller sizes and shorter windows; not comparable with full runs."
      : "",
  ].filter(Boolean).join(" ");
  const notes = r.rows.filter((row) => row.note).map((row) =>
    `- ${row.name} vs ${row.peerName}: ${row.note}`
  );
  const md = [
    `# netkit benchmarks (${
      base.endsWith("partial") ? "partial run" : "full run"
    })`,
    "",
    `Run ${r.env.date} by \`deno task bench${
      Deno.args.length ? " " + Deno.args.join(" ") : ""
    }\` in ${
      r.seconds.toFixed(0)
    } s. ${how} MB = 10^6 bytes; rt/s = round trips per second.`,
    "",
    markdownTable(r.rows),
    "",
    ...(r.ctx.tables ?? []).flatMap((t) => [sweepMarkdown(t), ""]),
    ...(notes.length ? ["Notes:", ...notes, ""] : []),
    ...(r.skipped.length
      ? ["Skipped:", ...r.skipped.map((s) => `- ${s}`), ""]
      : []),
    `Other processes on the machine used, in cores (of ${r.env.cpus}), during each section: ${
      Object.entries(r.load).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ")
    }. Above ~0.2 the figures are disturbed; compare ratios, not absolute values.`,
    "",
    "Environment: " +
    Object.entries(r.env).filter(([k]) => k !== "date").map(([k, v]) =>
      `${k} ${v}`
    ).join("; "),
    "",
    "Per-round figures are in latest.json (`raw`). What each row measures: bench/README.md.",
    "",
  ].join("\n");
  const json = {
    ...r.env,
    args: Deno.args,
    rounds: r.ctx.rounds,
    quick: r.ctx.quick,
    pinned: r.ctx.pin,
    seconds: Math.round(r.seconds),
    rows: r.rows.map((row) => ({
      ...row,
      ratio: Math.round(ratio(row) * 1000) / 1000,
      result: verdict(row),
    })),
    skipped: r.skipped,
    tables: r.ctx.tables ?? [],
    raw: r.ctx.raw,
    stalls: r.ctx.stalls,
    otherLoadCores: r.load,
  };
  await writeAtomic(`${base}.md`, md);
  await writeAtomic(`${base}.json`, JSON.stringify(json, null, 2) + "\n");
}

async function writeAtomic(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(`${path}.tmp`, text);
  await Deno.rename(`${path}.tmp`, path);
}

// Every server goes on every path: normal end, error, Ctrl-C.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    console.error(`\n${signal}: stopping servers`);
    void stopAllServers().finally(() => Deno.exit(130));
  });
}
let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(`bench: ${error instanceof Error ? error.message : error}`);
  if (
    error instanceof UsageError ||
    (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
  ) {
    console.error("see: deno task bench --help");
    code = 2;
  }
} finally {
  await stopAllServers();
}
Deno.exit(code);
