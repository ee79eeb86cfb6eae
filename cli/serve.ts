// `netkit serve`: every server the toolkit has, on default ports.

import { parseCommand, secondsFlag } from "./_args.ts";
import type { Command } from "./_command.ts";
import {
  out,
  type RunningService,
  runServers,
  selfCommand,
} from "./_output.ts";
import { formatAddress } from "../address.ts";

const HELP = `netkit serve: run every netkit server at once

Usage: netkit serve [--host H] [--dir DIR] [--grace S] [--any-port]

Starts, on 127.0.0.1 unless --host says otherwise:
  echo   TCP and UDP echo on port 7007
  file   file receiver on port 7070, into DIR (default ./received), with a
         fresh token printed on stderr
  ws     WebSocket echo on port 8080 (/ws), with a web page at /
--any-port puts every server on a free port instead (for scripts and tests).
Prints one 'listening <kind> HOST:PORT' line per socket on stdout, then how
to try each on stderr. SIGINT/SIGTERM shut everything down gracefully.`;

export const serveCommand: Command = {
  name: "serve",
  summary: "run every server (echo, file receiver, WebSocket) on default ports",
  async run(argv) {
    const cmd = "serve";
    const { values } = parseCommand(cmd, argv, {
      host: { type: "string" },
      dir: { type: "string" },
      grace: { type: "string" },
      "any-port": { type: "boolean" },
    });
    if (values.help) {
      out(HELP);
      return 0;
    }
    const hostname: string = values.host ?? "127.0.0.1";
    const gracePeriodMs = secondsFlag(cmd, "grace", values.grace) ?? 5000;
    const any = values["any-port"] === true;
    // Loaded after --help: `serve --help` must not load every server.
    const { startEchoServices } = await import("./echo.ts");
    const { startFileService } = await import("./file.ts");
    const { startWsServices, wsServeHint } = await import("./_ws_serve.ts");
    const services: RunningService[] = [];
    const hints: string[] = [];
    try {
      services.push(
        ...await startEchoServices({
          hostname,
          port: any ? 0 : 7007,
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
        port: any ? 0 : undefined,
        hostname,
        dir: values.dir ?? "./received",
        gracePeriodMs,
      });
      services.push(file.service);
      hints.push(`try: ${file.hint}`);
      const ws = startWsServices({
        hostname,
        gracePeriodMs,
        port: any ? 0 : undefined,
      });
      services.push(...ws);
      hints.push(wsServeHint(ws[0]!.server));
    } catch (error) {
      await Promise.all(services.map((s) => s.server.shutdown()));
      throw error;
    }
    return await runServers(services, hints);
  },
};
