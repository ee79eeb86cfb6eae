// `deno task install [--root DIR] [--name NAME] [--dry-run]`: puts a
// `netkit` command on the PATH with `deno install --global`, running the
// checkout's cli/main.ts with the same flags as the compiled binary. No
// runtime download (unlike `deno compile`).

import { parseArgs } from "node:util";
import { ENTRY, RUNTIME_FLAGS, shellQuote, userPath } from "./_cli_flags.ts";

const USAGE = "usage: deno task install [--root DIR] [--name NAME] [--dry-run]";

/** The `deno install` arguments for an install into `binDir`. */
export function installArgs(
  options: { root?: string; name: string; binDir: string },
): string[] {
  return [
    "install",
    "--global",
    "--force",
    "--no-config",
    "--name",
    options.name,
    ...(options.root ? ["--root", options.root] : []),
    ...RUNTIME_FLAGS,
    ENTRY,
    // Baked into the script: `netkit --version` says "installed script",
    // and the command lines netkit prints name this script.
    "--",
    `--installed=${options.binDir}/${options.name}`,
  ];
}

/** Where `deno install --global` puts scripts for `root` (Deno's own rule). */
export function binDirFor(root: string | undefined): string {
  const base = root ?? Deno.env.get("DENO_INSTALL_ROOT") ??
    `${Deno.env.get("HOME") ?? "."}/.deno`;
  return `${base.replace(/\/$/, "")}/bin`;
}

async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        root: { type: "string" },
        name: { type: "string" },
        "dry-run": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    console.error(`install: ${(error as Error).message.split("\n")[0]}`);
    console.error(USAGE);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const root = values.root === undefined ? undefined : userPath(values.root);
  const name = values.name ?? "netkit";
  const binDir = binDirFor(root);
  const deno = Deno.execPath();
  const argv = installArgs({ root, name, binDir });
  if (values["dry-run"]) {
    console.log([deno, ...argv].map(shellQuote).join(" "));
    return 0;
  }
  const result = await new Deno.Command(deno, {
    args: argv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    const dec = new TextDecoder();
    console.error(dec.decode(result.stdout) + dec.decode(result.stderr));
    console.error(`install: deno install failed (exit ${result.code})`);
    return 1;
  }
  const script = `${binDir}/${name}`;
  await pinDeno(script, deno);
  console.log(`installed ${script}`);
  console.log(`  runs: deno run ${RUNTIME_FLAGS.join(" ")} ${ENTRY}`);
  const path = (Deno.env.get("PATH") ?? "").split(":");
  if (!path.includes(binDir)) {
    console.log(`${binDir} is not on your PATH; add it (e.g. in ~/.profile):`);
    console.log(`  export PATH="${binDir}:$PATH"`);
  }
  return 0;
}

// The script Deno writes runs `deno` from the PATH; where Deno came from
// npx it is not there, so the script names the runtime that installed it.
async function pinDeno(script: string, deno: string): Promise<void> {
  const text = await Deno.readTextFile(script);
  await Deno.writeTextFile(
    script,
    text.replace(/^exec deno /m, `exec ${shellQuote(deno)} `),
  );
}

if (import.meta.main) Deno.exit(await run(Deno.args));
