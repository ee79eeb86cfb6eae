// `deno task compile [--target T]... [--output PATH] [--dry-run] [deno compile flags]`:
// builds the netkit binary with the same flags as the installed script.
// Every flag goes to `deno compile` BEFORE the entry point (after it, a flag
// would be baked into the binary as a program argument). Outputs are named
// per target: dist/netkit for this machine, dist/netkit-<target>[.exe].

import {
  ENTRY,
  ROOT,
  RUNTIME_FLAGS,
  shellQuote,
  userPath,
} from "./_cli_flags.ts";

/** Every target `deno compile --target` accepts (Deno 2.9). */
export const TARGETS: readonly string[] = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-pc-windows-msvc",
  "aarch64-pc-windows-msvc",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
];

/** One `deno compile` run: its output file and its arguments. */
export interface CompileJob {
  output: string;
  args: string[];
}

/** What the task was asked: targets, an output path, pass-through flags. */
export interface CompileRequest {
  targets: string[];
  output?: string;
  dryRun: boolean;
  passThrough: string[];
}

/** Splits the task's arguments; throws on an unknown target. */
export function parseCompileArgs(argv: string[]): CompileRequest {
  const request: CompileRequest = {
    targets: [],
    dryRun: false,
    passThrough: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === "--target") {
      const target = value();
      const list = target === "all" ? [...TARGETS] : [target];
      for (const t of list) {
        if (!TARGETS.includes(t)) {
          throw new Error(
            `unknown target '${t}' (one of: ${TARGETS.join(", ")}, all)`,
          );
        }
        request.targets.push(t);
      }
    } else if (flag === "--output" || flag === "-o") {
      request.output = userPath(value());
    } else if (flag === "--dry-run") {
      request.dryRun = true;
    } else {
      request.passThrough.push(arg);
    }
  }
  if (request.output && request.targets.length > 1) {
    throw new Error("--output names one file; give one --target with it");
  }
  return request;
}

/** The `deno compile` runs for a request: flags first, the entry point last. */
export function compileJobs(request: CompileRequest): CompileJob[] {
  const targets: (string | undefined)[] = request.targets.length
    ? request.targets
    : [undefined];
  return targets.map((target) => {
    const output = request.output ?? defaultOutput(target);
    return {
      output,
      args: [
        "compile",
        ...RUNTIME_FLAGS,
        // `load --workers` starts this module as a Worker, which the
        // compiler cannot see from the import graph.
        "--include",
        `${ROOT}cli/_load_worker.ts`,
        ...(target ? ["--target", target] : []),
        ...request.passThrough,
        "--output",
        output,
        ENTRY,
      ],
    };
  });
}

function defaultOutput(target: string | undefined): string {
  if (!target) return `${ROOT}dist/netkit`;
  return `${ROOT}dist/netkit-${target}${
    target.includes("windows") ? ".exe" : ""
  }`;
}

async function run(argv: string[]): Promise<number> {
  let request: CompileRequest;
  try {
    request = parseCompileArgs(argv);
  } catch (error) {
    console.error(`compile: ${(error as Error).message}`);
    return 2;
  }
  const deno = Deno.execPath();
  for (const job of compileJobs(request)) {
    const line = [deno, ...job.args].map(shellQuote).join(" ");
    if (request.dryRun) {
      console.log(line);
      continue;
    }
    const dir = job.output.slice(0, job.output.lastIndexOf("/"));
    const dirExisted = await exists(dir);
    const status = await new Deno.Command(deno, { args: job.args }).spawn()
      .status;
    if (!status.success) {
      await removeEmpty(job.output, dirExisted ? undefined : dir);
      console.error(
        `compile: deno compile failed (exit ${status.code}) for ${job.output}.\n` +
          "It needs the base runtime (denort) for the target, downloaded from " +
          "dl.deno.land; offline, set DENORT_BIN to a local denort of Deno " +
          `${Deno.version.deno} for that target.`,
      );
      return 1;
    }
    console.log(`compiled ${job.output}`);
  }
  return 0;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

// A failed compile may leave an empty file and the dist/ folder it made.
async function removeEmpty(file: string, dir: string | undefined) {
  try {
    if ((await Deno.stat(file)).size === 0) await Deno.remove(file);
  } catch {
    // Nothing was written.
  }
  if (dir) await Deno.remove(dir).catch(() => {}); // only if empty
}

if (import.meta.main) Deno.exit(await run(Deno.args));
