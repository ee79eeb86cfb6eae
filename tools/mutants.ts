// `deno task mutants`: breaks one documented behaviour at a time in a
// temporary copy of the repository and checks that the tests notice.
//
// Mutants live in tools/mutants/<area>.json, a list of
//   {"file": "tcp/x.ts", "find": "exact text", "replace": "broken text",
//    "why": "what breaks", "tests": ["tests/tcp/x_test.ts"]}
// `find` must occur exactly once in `file`; `tests` (optional) names the
// test files to run, the whole of tests/ otherwise. A mutant is killed when
// its tests fail (or time out), survived when they pass. Only behaviour
// tests judge: the catalogue's own meta-test (tests/tools/mutants_test.ts,
// which fails whenever a catalogued spot changes) is never run for a
// verdict. With --isolated each run happens in a private network
// namespace (`unshare -n`, loopback up; needs root), so other programs'
// traffic on the machine never decides a verdict. Exit 0 when every
// mutant was killed, 1 when one survived or a catalogue is invalid, 2 on
// a usage error or when the unmutated tests already fail.
//
// Usage: deno task mutants [--area NAME]... [--id AREA#N]... [--list]
//                          [--jobs 1|2] [--timeout SECONDS] [--no-baseline]
//                          [--isolated]

import { parseArgs } from "node:util";

const ROOT = new URL("..", import.meta.url).pathname;
const CATALOGUES = `${ROOT}tools/mutants/`;
/** Two cores are shared by many sessions: never more than two test runs. */
const MAX_JOBS = 2;
const SKIP_COPY = new Set([".git", "dist", "node_modules"]);
/** The catalogue's meta-test: bookkeeping, not behaviour; never a verdict. */
export const META_TEST = "tests/tools/mutants_test.ts";

/** One entry of a catalogue. */
export interface Mutant {
  file: string;
  find: string;
  replace: string;
  why: string;
  tests?: string[];
}

/** A mutant with where it came from. */
export interface Entry extends Mutant {
  area: string;
  id: string;
}

/** The outcome of one mutant. */
export interface Outcome {
  entry: Entry;
  /** `uncompilable`: the mutant does not type-check, so it proves nothing. */
  result: "killed" | "survived" | "timeout" | "uncompilable";
  seconds: number;
  /** The last lines of the test output, for a survivor or timeout. */
  tail: string;
}

/** Reads every catalogue in `dir` (or only those of `areas`). */
export async function loadCatalogues(
  dir: string,
  areas: string[] = [],
): Promise<Entry[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".json")) names.push(e.name);
  }
  names.sort();
  const known = names.map((n) => n.slice(0, -".json".length));
  const unknown = areas.filter((a) => !known.includes(a));
  if (unknown.length > 0) {
    throw new Error(
      `no catalogue for area ${unknown.join(", ")} (have: ${known.join(", ")})`,
    );
  }
  const entries: Entry[] = [];
  for (const area of known) {
    if (areas.length > 0 && !areas.includes(area)) continue;
    const list = JSON.parse(await Deno.readTextFile(`${dir}${area}.json`));
    if (!Array.isArray(list)) throw new Error(`${area}.json: not a list`);
    list.forEach((m: Mutant, i: number) =>
      entries.push({ ...m, area, id: `${area}#${i + 1}` })
    );
  }
  return entries;
}

/** Problems that make a mutant meaningless: missing fields, `find` not exactly once. */
export async function validate(entry: Entry, root: string): Promise<string[]> {
  const problems: string[] = [];
  for (const key of ["file", "find", "why"] as const) {
    if (typeof entry[key] !== "string" || entry[key] === "") {
      problems.push(`'${key}' must be a non-empty string`);
    }
  }
  if (typeof entry.replace !== "string") {
    problems.push("'replace' must be a string (empty deletes 'find')");
  }
  if (problems.length > 0) return problems;
  if (entry.find === entry.replace) problems.push("'replace' equals 'find'");
  let text: string;
  try {
    text = await Deno.readTextFile(`${root}${entry.file}`);
  } catch {
    return [...problems, `no file ${entry.file}`];
  }
  const count = text.split(entry.find).length - 1;
  if (count !== 1) {
    problems.push(`'find' occurs ${count} times in ${entry.file}, not once`);
  }
  for (const t of entry.tests ?? []) {
    try {
      await Deno.stat(`${root}${t}`);
    } catch {
      problems.push(`no test file ${t}`);
    }
  }
  if (entry.tests?.includes(META_TEST)) {
    problems.push(`${META_TEST} judges no behaviour: name behaviour tests`);
  }
  return problems;
}

/** Copies the repository (without .git, dist, node_modules) into a fresh temporary directory. */
export async function copyRepo(from: string): Promise<string> {
  const to = await Deno.makeTempDir({ prefix: "netkit-mutants-" });
  await copyDir(from, `${to}/`);
  return `${to}/`;
}

async function copyDir(from: string, to: string): Promise<void> {
  for await (const e of Deno.readDir(from)) {
    if (SKIP_COPY.has(e.name)) continue;
    if (e.isDirectory) {
      await Deno.mkdir(`${to}${e.name}`);
      await copyDir(`${from}${e.name}/`, `${to}${e.name}/`);
    } else if (e.isFile) {
      await Deno.copyFile(`${from}${e.name}`, `${to}${e.name}`);
    }
  }
}

/** How the tests are run: in this network namespace or a private one. */
export interface RunOptions {
  /** Each run in a private network namespace (`unshare -n`, lo up). */
  isolated?: boolean;
  /** Ends the run early, like its timeout (the tests use it). */
  signal?: AbortSignal;
}

/**
 * The command that runs `tests` in `deno test`: without the meta-test, in
 * a new session (so a timeout kills every process the tests started), and
 * with `isolated` inside a private network namespace with loopback up.
 */
export function testCommand(
  tests: string[],
  options: RunOptions = {},
): { cmd: string; args: string[] } {
  const deno = [
    Deno.execPath(),
    "test",
    // --fail-fast: one failure kills the mutant; the rest would only wait
    // out their own bounds.
    "--fail-fast",
    "--unstable-net",
    "--allow-all",
    `--ignore=${META_TEST}`,
    ...tests,
  ];
  const inner = options.isolated
    ? [
      "unshare",
      "--net",
      "--",
      "/bin/sh",
      "-c",
      'ip link set lo up && exec "$@"',
      "sh",
      ...deno,
    ]
    : deno;
  return { cmd: "setsid", args: inner };
}

/** Runs test files in `root`; `passed` is false on failure or timeout. */
export async function runTests(
  root: string,
  tests: string[],
  timeoutMs: number,
  options: RunOptions = {},
): Promise<
  { passed: boolean; timedOut: boolean; uncompilable: boolean; tail: string }
> {
  const { cmd, args } = testCommand(tests, options);
  const child = new Deno.Command(cmd, {
    args,
    cwd: root,
    // INIT_CWD: the CLI changes into it (`deno task` sets it), so a CLI
    // started by the tests stays in the copy, not the worktree.
    env: { NO_COLOR: "1", INIT_CWD: root },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  running.add(child.pid);
  let timedOut = false;
  const stop = () => {
    timedOut = true;
    killSession(child.pid);
  };
  const timer = setTimeout(stop, timeoutMs);
  options.signal?.addEventListener("abort", stop, { once: true });
  try {
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout) +
      new TextDecoder().decode(out.stderr);
    const tail = text.trimEnd().split("\n").slice(-15).join("\n");
    const uncompilable = text.includes("Type checking failed");
    return { passed: out.success && !timedOut, timedOut, uncompilable, tail };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", stop);
    // Whatever the tests left running (a server a hung test started).
    killSession(child.pid);
    running.delete(child.pid);
  }
}

/** Sessions of the test runs under way (each its own, so killed apart). */
const running = new Set<number>();

/** SIGKILLs the process group `setsid` made for one test run. */
function killSession(pid: number): void {
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/** Applies `entry` in the copy at `root`, runs its tests, restores the file. */
export async function runMutant(
  entry: Entry,
  root: string,
  timeoutMs: number,
  options: RunOptions = {},
): Promise<Outcome> {
  const path = `${root}${entry.file}`;
  const original = await Deno.readTextFile(path);
  await Deno.writeTextFile(path, original.replace(entry.find, entry.replace));
  const started = performance.now();
  try {
    const r = await runTests(
      root,
      entry.tests ?? ["tests/"],
      timeoutMs,
      options,
    );
    return {
      entry,
      result: r.timedOut
        ? "timeout"
        : r.passed
        ? "survived"
        : r.uncompilable
        ? "uncompilable"
        : "killed",
      seconds: (performance.now() - started) / 1000,
      tail: r.passed || r.timedOut || r.uncompilable ? r.tail : "",
    };
  } finally {
    await Deno.writeTextFile(path, original);
  }
}

/** Runs every entry on `jobs` copies of the repository, one mutant per copy at a time. */
export async function runAll(
  entries: Entry[],
  options: {
    jobs: number;
    timeoutMs: number;
    /** Run the mutants' tests unmutated in the copy first; stop if they fail. */
    baseline?: boolean;
    /** Each test run in a private network namespace. */
    isolated?: boolean;
    onOutcome?: (o: Outcome) => void;
  },
): Promise<Outcome[]> {
  const jobs = Math.max(1, Math.min(options.jobs, MAX_JOBS, entries.length));
  const roots = await Promise.all(
    Array.from({ length: jobs }, () => copyRepo(ROOT)),
  );
  // Interrupted: end the test runs (each in a session of its own, out of
  // the terminal's reach) and remove the copies instead of leaving them
  // in /tmp.
  const interrupted = () => {
    for (const pid of running) killSession(pid);
    for (const r of roots) Deno.removeSync(r, { recursive: true });
    Deno.exit(130);
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const sig of signals) Deno.addSignalListener(sig, interrupted);
  try {
    if (options.baseline ?? true) {
      // In the copy, not the worktree: a copy that lacks a file would
      // otherwise "kill" every mutant.
      const files = [...new Set(entries.flatMap((e) => e.tests ?? ["tests/"]))];
      console.error(`mutants: baseline run of ${files.join(" ")}`);
      // The union of every entry's tests: one mutant's bound per file.
      const baseMs = options.timeoutMs * files.length;
      const base = await runTests(roots[0]!, files, baseMs, {
        isolated: options.isolated,
      });
      if (!base.passed) {
        throw new BaselineError(
          base.timedOut
            ? `(did not finish within ${baseMs / 1000} s)\n${base.tail}`
            : base.tail,
        );
      }
    }
    const outcomes: Outcome[] = new Array(entries.length);
    let next = 0;
    const worker = async (root: string) => {
      while (next < entries.length) {
        const i = next++;
        outcomes[i] = await runMutant(entries[i]!, root, options.timeoutMs, {
          isolated: options.isolated,
        });
        options.onOutcome?.(outcomes[i]!);
      }
    };
    await Promise.all(roots.map(worker));
    return outcomes;
  } finally {
    for (const sig of signals) Deno.removeSignalListener(sig, interrupted);
    await Promise.all(roots.map((r) => Deno.remove(r, { recursive: true })));
  }
}

/** The unmutated tests fail in the copy, so no mutant can be judged. */
export class BaselineError extends Error {
  constructor(tail: string) {
    super(`the unmutated tests fail, so no mutant can be judged:\n${tail}`);
    this.name = "BaselineError";
  }
}

/** The results as a Markdown table. */
export function formatTable(outcomes: Outcome[]): string {
  const rows = outcomes.map((o) =>
    `| ${o.entry.id} | ${o.entry.file} | ${
      o.entry.why.replaceAll("|", "\\|")
    } | ${o.result} | ${o.seconds.toFixed(0)} s |`
  );
  return [
    "| mutant | file | what breaks | result | time |",
    "| --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}

async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        area: { type: "string", multiple: true },
        id: { type: "string", multiple: true },
        list: { type: "boolean" },
        jobs: { type: "string" },
        timeout: { type: "string" },
        "no-baseline": { type: "boolean" },
        isolated: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`mutants: ${(error as Error).message}`);
    return 2;
  }
  if (values.help) {
    console.log(
      `Usage: deno task mutants [--area NAME]... [--id AREA#N]... [--list]
                          [--jobs 1|2] [--timeout SECONDS] [--no-baseline]
                          [--isolated]

Breaks one documented behaviour at a time (tools/mutants/<area>.json) in a
copy of the repository and runs the tests that should notice. Only
behaviour tests judge (never ${META_TEST}).

  --isolated   run each mutant's tests in a private network namespace
               (unshare -n, loopback up; needs root), so other traffic on
               the machine never decides a verdict`,
    );
    return 0;
  }
  const jobs = Number(values.jobs ?? MAX_JOBS);
  const timeoutS = Number(values.timeout ?? 300);
  if (!(jobs >= 1 && jobs <= MAX_JOBS) || !(timeoutS > 0)) {
    console.error(
      `mutants: --jobs takes 1 or ${MAX_JOBS}, --timeout seconds above 0`,
    );
    return 2;
  }
  if (values.isolated && Deno.uid() !== 0) {
    console.error("mutants: --isolated needs root (unshare -n)");
    return 2;
  }
  let entries: Entry[];
  try {
    entries = await loadCatalogues(CATALOGUES, values.area ?? []);
    if (values.id) entries = entries.filter((e) => values.id!.includes(e.id));
  } catch (error) {
    console.error(`mutants: ${(error as Error).message}`);
    return 2;
  }
  let invalid = 0;
  for (const e of entries) {
    const problems = await validate(e, ROOT);
    for (const p of problems) console.error(`mutants: ${e.id}: ${p}`);
    if (problems.length > 0) invalid++;
  }
  if (values.list) {
    for (const e of entries) {
      console.log(
        `${e.id}\t${e.file}\t${e.why}\t${(e.tests ?? ["tests/"]).join(" ")}`,
      );
    }
    return invalid > 0 ? 1 : 0;
  }
  if (invalid > 0) return 1;
  if (entries.length === 0) {
    console.error("mutants: no mutants selected");
    return 2;
  }
  const timeoutMs = timeoutS * 1000;
  let outcomes: Outcome[];
  try {
    outcomes = await runAll(entries, {
      jobs,
      timeoutMs,
      baseline: !values["no-baseline"],
      isolated: values.isolated === true,
      onOutcome: (o) =>
        console.error(
          `mutants: ${o.entry.id} ${o.result} (${
            o.seconds.toFixed(0)
          } s): ${o.entry.why}${o.result === "killed" ? "" : `\n${o.tail}`}`,
        ),
    });
  } catch (error) {
    if (!(error instanceof BaselineError)) throw error;
    console.error(`mutants: ${error.message}`);
    return 2;
  }
  console.log(formatTable(outcomes));
  const count = (r: Outcome["result"]) =>
    outcomes.filter((o) => o.result === r).length;
  // A timeout counts as killed (the tests did not pass) but is named:
  // some wait in the tests lacks a bound.
  const killed = count("killed") + count("timeout");
  const bad = count("survived") + count("uncompilable");
  console.log(
    `\nmutants: ${killed} killed (${count("timeout")} by timeout), ${
      count("survived")
    } survived, ${count("uncompilable")} uncompilable`,
  );
  return bad > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
