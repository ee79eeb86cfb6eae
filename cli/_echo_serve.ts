// `netkit echo serve`, and the echo services `netkit serve` starts.

import type { TcpServerStats } from "../tcp/mod.ts";
import { parseCommand } from "./_args.ts";
import type { CliContext } from "./_command.ts";
import { DEFAULT_PORTS } from "./_defaults.ts";
import { readServer, SERVER_FLAGS, serverHelp } from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import {
  bindError,
  log,
  out,
  type RunningService,
  runServers,
} from "./_output.ts";
import { unitReader } from "./_units.ts";

const PORT = DEFAULT_PORTS.echo;

/** `netkit echo serve --help`. */
export const SERVE_HELP: HelpScreen = {
  usage: ["echo serve [--tcp] [--udp] [options]"],
  about: `Echoes every byte back, over TCP and UDP on one port (${PORT}) ` +
    "unless --tcp or --udp picks one. Prints 'listening tcp HOST:PORT' " +
    "(and 'listening udp HOST:PORT') on stdout once ready. A client's " +
    "half-close is honoured: everything it sent comes back, then the " +
    "server closes. On SIGINT/SIGTERM it stops accepting, lets clients " +
    "finish within --grace and prints a summary on stderr.",
  options: [
    ["--tcp", "serve TCP only"],
    ["--udp", "serve UDP only"],
    ...serverHelp({
      port: PORT,
      flags: ["host", "port", "backlog", "max-conns", "idle-timeout", "grace"],
      overMaxConns: "are closed at once (counted as refused)",
    }),
  ],
  examples: [
    "echo serve",
    "echo serve --port 0 --tcp --max-conns 1000 --idle-timeout 30s",
  ],
};

/** Runs `netkit echo serve`. */
export async function runServe(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const cmd = "echo serve";
  const { values } = parseCommand(cmd, argv, {
    tcp: { type: "boolean" },
    udp: { type: "boolean" },
    ...SERVER_FLAGS,
  });
  if (values.help) {
    out(renderHelp(SERVE_HELP));
    return 0;
  }
  const server = readServer(unitReader(cmd), values, { port: PORT });
  const both = !values.tcp && !values.udp;
  const services = await startEchoServices({
    ...server,
    tcp: both || values.tcp,
    udp: both || values.udp,
  });
  return await runServers(services);
}

/** Options of {@linkcode startEchoServices}. */
export interface EchoServiceOptions {
  hostname: string;
  port: number;
  tcp?: boolean;
  udp?: boolean;
  backlog?: number;
  maxConnections?: number;
  idleTimeoutMs?: number;
  gracePeriodMs?: number;
}

/**
 * Starts the TCP and/or UDP echo servers for `echo serve` and `serve`.
 * With port 0 and both transports, UDP takes the port TCP got, so one
 * number serves both.
 */
export async function startEchoServices(
  options: EchoServiceOptions,
): Promise<RunningService[]> {
  const { serveEcho } = await import("../tcp/mod.ts");
  const { serveUdpEcho } = await import("../udp/mod.ts");
  const services: RunningService[] = [];
  const { hostname } = options;
  let port = options.port;
  try {
    if (options.tcp) {
      const server = serveEcho({
        hostname,
        port,
        backlog: options.backlog,
        maxConnections: options.maxConnections,
        idleTimeoutMs: options.idleTimeoutMs,
        gracePeriodMs: options.gracePeriodMs,
        onError: (error) => log(`echo/tcp: ${describe(error)}`),
      });
      port = server.addr.port;
      services.push({ kind: "tcp", name: "echo", server, summary: tcpSummary });
    }
    if (options.udp) {
      const server = serveUdpEcho({ hostname, port });
      services.push({ kind: "udp", name: "echo", server });
    }
  } catch (error) {
    for (const s of services) void s.server.shutdown();
    throw bindError(error, hostname, port);
  }
  return services;
}

function tcpSummary(stats: object): string {
  const s = stats as TcpServerStats;
  return `${s.idleClosed} idle closed`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
