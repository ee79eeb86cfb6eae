// `netkit ws serve`, and the WebSocket services `netkit serve` starts.

import { formatAddress } from "../address.ts";
import {
  serveWebSocket,
  type WsServer,
  type WsServerMode,
  type WsServerStats,
} from "../ws/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import type { CliContext } from "./_command.ts";
import {
  DEFAULT_GRACE_MS,
  DEFAULT_LIMITS,
  DEFAULT_PORTS,
  DEFAULT_TIMEOUTS,
} from "./_defaults.ts";
import {
  ORIGIN_FLAGS,
  originHelp,
  readOrigins,
  readServer,
  readTlsServer,
  serverFlags,
  serverHelp,
  TLS_SERVER_FLAGS,
  tlsServerHelp,
} from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import {
  bindError,
  log,
  out,
  plural,
  type RunningService,
  runServers,
  selfCommand,
} from "./_output.ts";
import { formatDuration, formatSize, unitReader } from "./_units.ts";

const PORT = DEFAULT_PORTS.ws;

/** `netkit ws serve --help`. */
export const SERVE_HELP: HelpScreen = {
  usage: ["ws serve [--mode echo|broadcast] [--path /ws] [options]"],
  about: "A WebSocket server on netkit's own engine: it echoes each message " +
    "back (default), or with --mode broadcast sends it to every other " +
    "client. Upgrades at --path; a page to try it in a browser at /. " +
    "Prints 'listening ws HOST:PORT' on stdout once ready.",
  options: [
    ...serverHelp({ port: PORT, flags: ["host", "port"] }),
    ["--mode MODE", "echo (default) or broadcast"],
    ["--path PATH", "the path that accepts upgrades (default /ws)"],
    [
      "--protocol P",
      "accept subprotocol P (repeatable; the client's first match wins)",
    ],
    originHelp(" (its page)"),
    [
      "--max-message SIZE",
      "close clients sending more with 1009 (default " +
      `${formatSize(DEFAULT_LIMITS.wsMaxMessage)})`,
    ],
    [
      "--max-buffered SIZE",
      "close clients that let more than this queue up unread with 1008 " +
      "(default: twice --max-message)",
    ],
    ...serverHelp({
      port: PORT,
      flags: ["max-conns", "idle-timeout", "grace"],
      overMaxConns: "get 503",
      idle: "ping after half of it silent, close with 1001 after all of it " +
        `(default ${formatDuration(DEFAULT_TIMEOUTS.wsIdleMs)}; 0 disables)`,
      grace: "on SIGINT/SIGTERM close clients with 1001 and wait this long " +
        `(default ${formatDuration(DEFAULT_GRACE_MS)}); a second Ctrl-C ` +
        "stops waiting",
    }),
    ...tlsServerHelp("serve wss:// (and the page over https://)"),
    ["--no-page", "do not serve the page at /"],
    [
      "--deflate",
      "accept permessage-deflate (RFC 7692) from clients that offer it; " +
      "inflated messages count against --max-message",
    ],
  ],
  examples: [
    "ws serve",
    "ws serve --port 0 --mode broadcast --allow-origin https://example.com",
  ],
};

/** Runs `netkit ws serve`. */
export async function runServe(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const cmd = "ws serve";
  const { values } = parseCommand(cmd, argv, {
    ...serverFlags(["host", "port", "max-conns", "idle-timeout", "grace"]),
    mode: { type: "string" },
    path: { type: "string" },
    protocol: { type: "string", multiple: true },
    ...ORIGIN_FLAGS,
    "max-message": { type: "string" },
    "max-buffered": { type: "string" },
    ...TLS_SERVER_FLAGS,
    "no-page": { type: "boolean" },
    deflate: { type: "boolean" },
  });
  if (values.help) {
    out(renderHelp(SERVE_HELP));
    return 0;
  }
  const tls = await readTlsServer(cmd, values);
  const mode = values.mode ?? "echo";
  if (mode !== "echo" && mode !== "broadcast") {
    throw new UsageError(`--mode takes echo or broadcast, not '${mode}'`, cmd);
  }
  const path: string = values.path ?? "/ws";
  if (!path.startsWith("/") || path === "/") {
    throw new UsageError(
      `--path takes a path like /ws (not / itself), not '${path}'`,
      cmd,
    );
  }
  const allowedOrigins = readOrigins(cmd, values);
  const read = unitReader(cmd);
  const { backlog: _, ...server } = readServer(read, values, { port: PORT });
  const ws = startWsServer({
    ...server,
    idleTimeoutMs: server.idleTimeoutMs ?? DEFAULT_TIMEOUTS.wsIdleMs,
    mode,
    path,
    protocols: values.protocol,
    allowedOrigins,
    maxMessageSize: read.size("max-message", values["max-message"], {
      min: 1,
    }) ?? DEFAULT_LIMITS.wsMaxMessage,
    maxBufferedAmount: read.size("max-buffered", values["max-buffered"], {
      min: 1,
    }),
    page: !values["no-page"],
    tls,
    deflate: Boolean(values.deflate),
  });
  const service: RunningService = {
    kind: "ws",
    name: mode,
    server: ws,
    summary: wsSummary,
  };
  const base = browsable(ws.addr);
  const [scheme, http] = tls ? ["wss", "https"] : ["ws", "http"];
  return await runServers([service], {
    notes: [
      values["no-page"]
        ? `WebSocket ${mode} at ${scheme}://${base}${path}`
        : `WebSocket ${mode} at ${scheme}://${base}${path}; open ${http}://${base}/ in a browser to try it`,
    ],
  });
}

interface StartOptions {
  hostname: string;
  port: number;
  mode?: WsServerMode;
  path?: string;
  protocols?: string[];
  allowedOrigins?: string[];
  maxMessageSize?: number;
  maxBufferedAmount?: number;
  maxConnections?: number;
  idleTimeoutMs?: number;
  gracePeriodMs?: number;
  page?: boolean;
  tls?: { cert: string; key: string };
  deflate?: boolean;
}

function startWsServer(options: StartOptions): WsServer {
  try {
    return serveWebSocket({
      ...options,
      onError: (error) =>
        log(`ws: ${error instanceof Error ? error.message : error}`),
    });
  } catch (error) {
    throw bindError(error, options.hostname, options.port);
  }
}

function wsSummary(stats: object): string {
  const s = stats as WsServerStats;
  return `${plural(s.messagesIn, "message")} in, ${s.messagesOut} out, ${
    plural(s.handshakeRejected, "bad handshake")
  }, ` +
    `${plural(s.originRejected, "bad origin")}, ${
      plural(s.slowClientsDropped, "slow client")
    } dropped, ` +
    `${s.tooLarge} too large`;
}

/** A host:port a browser can open: wildcard binds become loopback. */
function browsable(addr: Deno.NetAddr): string {
  const hostname = addr.hostname === "0.0.0.0"
    ? "127.0.0.1"
    : addr.hostname === "::"
    ? "::1"
    : addr.hostname;
  return formatAddress({ hostname, port: addr.port });
}

/** Options of {@linkcode startWsServices}. */
export interface WsServiceOptions {
  /** Address to bind. */
  hostname: string;
  /** Port to bind. Default 8080. */
  port?: number;
  /** Milliseconds to let clients close on shutdown. Default 5000. */
  gracePeriodMs?: number;
}

/**
 * Starts the WebSocket echo server (with the page at `/`) for `netkit serve`.
 * Bind errors are thrown as "cannot listen on …".
 */
export function startWsServices(options: WsServiceOptions): RunningService[] {
  const server = startWsServer({
    hostname: options.hostname,
    port: options.port ?? PORT,
    gracePeriodMs: options.gracePeriodMs ?? DEFAULT_GRACE_MS,
  });
  return [{ kind: "ws", name: "echo", server, summary: wsSummary }];
}

/** One line telling how to try the server `startWsServices` started. */
export function wsServeHint(
  server: RunningService["server"],
): string {
  const base = browsable(server.addr);
  return `try: ${selfCommand()} ws connect ws://${base}/ws  or open http://${base}/`;
}

// --- connect: cli/_ws_connect.ts -------------------------------------------
