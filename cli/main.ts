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
import { log, out, reportError, runMode, startProcess } from "./_output.ts";
import { UsageError } from "./_args.ts";

/** One command: its word, its help line, and how to load it (only when run). */
interface CommandEntry {
  name: string;
  summary: string;
  aliases?: string[];
  load: () => Promise<Command>;
}

// Start-up time is the module graph: each command is imported only when it
// runs. A new command is one line here.
// deno-fmt-ignore
const COMMANDS: CommandEntry[] = [
  { name: "echo", summary: "TCP/UDP echo: serve, connect (like nc), ping with RTT and loss", load: async () => (await import("./echo.ts")).echoCommand },
  { name: "file", aliases: ["file-transfer"], summary: "send and receive files: authenticated, verified, atomic, resumable", load: async () => (await import("./file.ts")).fileCommand },
  { name: "ws", summary: "WebSocket server, client, handshake verifier, RFC 6455 conformance suite", load: async () => (await import("./ws.ts")).wsCommand },
  { name: "tcp", summary: "TCP (Linux): socket states, limits, a lab of failures, packet traces", load: async () => (await import("./tcp.ts")).tcpCommand },
  { name: "serve", summary: "run every server (echo, file receiver, WebSocket) on default ports", load: async () => (await import("./serve.ts")).serveCommand },
  { name: "listen", summary: "wait for a client (TCP, UDP, WebSocket) and connect it to stdin/stdout, like nc -l", load: async () => (await import("./listen.ts")).listenCommand },
  { name: "relay", summary: "relay connections between endpoints (tcp, tls, udp, unix, exec, ws), like socat", load: async () => (await import("./relay.ts")).relayCommand },
  { name: "load", summary: "drive an HTTP, TCP, UDP or WebSocket server hard: rate, MB/s, latency percentiles, errors", load: async () => (await import("./load.ts")).loadCommand },
];

/** The version from deno.json and how this copy runs. */
export function versionText(): string {
  return `netkit ${denoJson.version} (${runMode()}; deno ${Deno.version.deno}, ${Deno.build.target})`;
}

async function helpText(): Promise<string> {
  // Loaded for help only: --version stays a small module graph.
  const { renderHelp } = await import("./_help.ts");
  return renderHelp({
    usage: ["<command> [options]", "help <command> [<subcommand>]"],
    about:
      "TCP, UDP and WebSocket tools for people who run network servers.\n\n" +
      "Run 'netkit <command> --help' (or 'netkit help <command>') for a " +
      "command's options.",
    commands: COMMANDS.map((c) => [c.name, c.summary] as const),
    options: [
      ["-V, --version", "show the version"],
      ["--debug", "show stack traces on failure"],
    ],
    sections: [{
      title: "Exit codes",
      text: "0 ok, 1 failure (nothing succeeded counts as a failure), " +
        "2 usage, 130 interrupted (Ctrl-C; 143 for SIGTERM). A server " +
        "stopped with SIGINT or SIGTERM shuts down gracefully and exits 0.",
    }],
    examples: ["serve", "help echo ping", "echo ping 127.0.0.1:7007 -i 0.2"],
  });
}

/**
 * Runs the CLI with `args` (without the program name) and resolves to the
 * process exit code: 0 ok, 1 failure, 2 usage, 130 interrupted.
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
  let argv = args.filter((a) => a !== "--debug");
  const context: CliContext = { debug };
  try {
    // `netkit help CMD [SUB]` is `netkit CMD [SUB] --help`, word for word.
    if (argv[0] === "help" && argv.length > 1) {
      argv = [...argv.slice(1), "--help"];
    }
    const [name, ...rest] = argv;
    if (name === undefined) {
      log(await helpText());
      return 2;
    }
    if (name === "--help" || name === "-h" || name === "help") {
      out(await helpText());
      return 0;
    }
    if (name === "--version" || name === "-V" || name === "version") {
      out(versionText());
      return 0;
    }
    const entry = COMMANDS.find((c) =>
      c.name === name || c.aliases?.includes(name)
    );
    if (!entry) {
      const hint = name.startsWith("-")
        ? `unknown option '${name}'`
        : `unknown command '${name}'`;
      throw new UsageError(
        `${hint} (commands: ${COMMANDS.map((c) => c.name).join(", ")})`,
      );
    }
    const command = await entry.load();
    return await command.run(rest, context);
  } catch (error) {
    return reportError(error, debug);
  }
}

if (import.meta.main) {
  Deno.exit(await main(startProcess(Deno.args)));
}
