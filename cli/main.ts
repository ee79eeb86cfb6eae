/**
 * The `netkit` command line: `deno run -A jsr:@netkit/netkit/cli --help`.
 *
 * @example Run it from a script
 * ```ts ignore
 * import { main } from "@netkit/netkit/cli";
 *
 * Deno.exit(await main(["echo", "serve", "--port", "0"]));
 * ```
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import type { CliContext, Command } from "./_command.ts";
import { log, out, reportError } from "./_output.ts";
import { UsageError } from "./_args.ts";
import { echoCommand } from "./echo.ts";
import { fileCommand } from "./file.ts";
import { wsCommand } from "./ws.ts";
import { tcpCommand } from "./tcp.ts";
import { serveCommand } from "./serve.ts";
import { loadCommand } from "./load.ts";

const COMMANDS: Command[] = [
  echoCommand,
  fileCommand,
  wsCommand,
  tcpCommand,
  serveCommand,
  loadCommand,
];

/** The version from deno.json and how this copy runs. */
export function versionText(): string {
  const how = Deno.build.standalone ? "compiled binary" : "deno run";
  return `netkit ${denoJson.version} (${how}; deno ${Deno.version.deno}, ${Deno.build.target})`;
}

function helpText(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    "netkit: TCP, UDP and WebSocket tools for people who run network servers",
    "",
    "Usage: netkit <command> [options]",
    "",
    "Commands:",
    ...lines,
    "",
    "Options:",
    "  -h, --help     show help (also after any command)",
    "  -V, --version  show the version",
    "      --debug    show stack traces on failure",
    "",
    "Run 'netkit <command> --help' for a command's options.",
  ].join("\n");
}

/**
 * Runs the CLI with `args` (without the program name) and resolves to the
 * process exit code: 0 ok, 1 failure, 2 usage.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { main } from "@netkit/netkit/cli";
 *
 * const code = await main(["--version"]);
 * assert.ok(code === 0);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const debug = args.includes("--debug");
  const argv = args.filter((a) => a !== "--debug");
  const context: CliContext = { debug };
  try {
    const [name, ...rest] = argv;
    if (name === undefined) {
      log(helpText());
      return 2;
    }
    if (name === "--help" || name === "-h" || name === "help") {
      out(helpText());
      return 0;
    }
    if (name === "--version" || name === "-V" || name === "version") {
      out(versionText());
      return 0;
    }
    const command = COMMANDS.find((c) =>
      c.name === name || c.aliases?.includes(name)
    );
    if (!command) {
      const hint = name.startsWith("-")
        ? `unknown option '${name}'`
        : `unknown command '${name}'`;
      throw new UsageError(
        `${hint} (commands: ${COMMANDS.map((c) => c.name).join(", ")})`,
      );
    }
    return await command.run(rest, context);
  } catch (error) {
    return reportError(error, debug);
  }
}

if (import.meta.main) {
  // `deno task` runs in the project folder; relative paths (file send/recv)
  // must mean what they meant where the user typed the command.
  const initCwd = Deno.build.standalone ? undefined : Deno.env.get("INIT_CWD");
  if (initCwd) Deno.chdir(initCwd);
  Deno.exit(await main(Deno.args));
}
