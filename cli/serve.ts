// `netkit serve`: every server the toolkit has, on default ports.

import { parseCommand } from "./_args.ts";
import type { Command } from "./_command.ts";
import {
  announce,
  log,
  out,
  type RunningService,
  runServers,
} from "./_output.ts";
import { startEchoServices } from "./echo.ts";

const HELP = `netkit serve: run every netkit server at once

Usage: netkit serve [--host H]

Starts, on 127.0.0.1 unless --host says otherwise:
  echo       TCP and UDP echo on port 7007
Prints one 'listening <kind> HOST:PORT' line per socket, then how to try each.
SIGINT/SIGTERM shut everything down gracefully.`;

export const serveCommand: Command = {
  name: "serve",
  summary: "run every server (echo, file receiver, WebSocket) on default ports",
  run(argv) {
    const { values } = parseCommand("serve", argv, {
      host: { type: "string" },
    });
    if (values.help) {
      out(HELP);
      return Promise.resolve(0);
    }
    const hostname: string = values.host ?? "127.0.0.1";
    const services: RunningService[] = [];
    const hints: string[] = [];
    try {
      const echo = startEchoServices({
        hostname,
        port: 7007,
        tcp: true,
        udp: true,
      });
      services.push(...echo);
      hints.push(
        `echo: printf 'hello\\n' | netkit echo connect ${hostname}:7007`,
      );
    } catch (error) {
      for (const s of services) void s.server.shutdown();
      throw error;
    }
    services.forEach(announce);
    for (const hint of hints) log(`try ${hint}`);
    return runServers(services);
  },
};
