// `netkit serve`: every server the toolkit has, on default ports.

import { parseCommand } from "./_args.ts";
import type { Command } from "./_command.ts";
import { DEFAULT_HOST, DEFAULT_PORTS, DEFAULT_SERVE_DIR } from "./_defaults.ts";
import { readServer, serverFlags, serverHelp } from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import { NetkitError } from "../errors.ts";
import {
  bindError,
  out,
  type RunningService,
  runServers,
  selfCommand,
} from "./_output.ts";
import { unitReader } from "./_units.ts";
import { formatAddress } from "../address.ts";

/** `netkit serve --help`. */
export const SERVE_HELP: HelpScreen = {
  usage: ["serve [--host HOST] [--dir DIR] [--grace TIME] [--any-port]"],
  about: `Starts every netkit server at once, on ${DEFAULT_HOST} unless ` +
    "--host says otherwise:\n" +
    `  echo: TCP and UDP echo on port ${DEFAULT_PORTS.echo}\n` +
    `  file: file receiver on port ${DEFAULT_PORTS.file}, into DIR, with a ` +
    "fresh token printed on stderr\n" +
    `  ws: WebSocket echo on port ${DEFAULT_PORTS.ws} (/ws), with a web page ` +
    "at /\n\n" +
    "Prints one 'listening <kind> HOST:PORT' line per socket on stdout, " +
    "then how to try each on stderr. SIGINT/SIGTERM shut everything down " +
    "gracefully.",
  options: [
    ...serverHelp({ port: 0, flags: ["host"] }),
    [
      "--dir DIR",
      `where the file receiver stores (default ${DEFAULT_SERVE_DIR})`,
    ],
    ...serverHelp({ port: 0, flags: ["grace"] }),
    [
      "--any-port",
      "put every server on a free port instead (for scripts and tests)",
    ],
  ],
  examples: ["serve", "serve --any-port --dir /tmp/in"],
};

/** `netkit serve`. */
export const serveCommand: Command = {
  name: "serve",
  summary: "run every server (echo, file receiver, WebSocket) on default ports",
  async run(argv) {
    const cmd = "serve";
    const { values } = parseCommand(cmd, argv, {
      ...serverFlags(["host", "grace"]),
      dir: { type: "string" },
      "any-port": { type: "boolean" },
    });
    if (values.help) {
      out(renderHelp(SERVE_HELP));
      return 0;
    }
    const { hostname, gracePeriodMs } = readServer(unitReader(cmd), values, {
      port: 0,
    });
    const any = values["any-port"] === true;
    // Loaded after --help: `serve --help` must not load every server.
    const { startEchoServices } = await import("./_echo_serve.ts");
    const { startFileService } = await import("./_file_recv.ts");
    const { startWsServices, wsServeHint } = await import("./_ws_serve.ts");
    const services: RunningService[] = [];
    const hints: string[] = [];
    try {
      services.push(
        ...await startEchoServices({
          hostname,
          port: any ? 0 : DEFAULT_PORTS.echo,
          tcp: true,
          udp: true,
          gracePeriodMs,
        }),
      );
      hints.push(
        `try: printf 'hello\\n' | ${selfCommand()} echo connect ${
          formatAddress(services[0]!.server.addr)
        }`,
      );
      const file = await startFileService({
        port: any ? 0 : DEFAULT_PORTS.file,
        hostname,
        dir: values.dir ?? DEFAULT_SERVE_DIR,
        gracePeriodMs,
      });
      services.push(file.service);
      hints.push(`try: ${file.hint}`);
      const ws = startWsServices({
        hostname,
        gracePeriodMs,
        port: any ? 0 : DEFAULT_PORTS.ws,
      });
      services.push(...ws);
      hints.push(wsServeHint(ws[0]!.server));
    } catch (error) {
      await Promise.all(services.map((s) => s.server.shutdown()));
      throw any ? error : inUse(error);
    }
    return await runServers(services, { notes: hints });
  },
};

/** A default port taken: say how to run anyway. */
function inUse(error: unknown): unknown {
  if (!(error instanceof NetkitError) || error.code !== "bind_failed") {
    return error;
  }
  const port = /:(\d+)\b/.exec(error.message)?.[1] ?? "";
  return bindError(
    error,
    "",
    Number(port),
    `'${selfCommand()} serve --any-port' puts every server on a free port`,
  );
}
