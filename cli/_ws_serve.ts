// `netkit ws serve`, and the WebSocket services `netkit serve` starts.

import { formatAddress } from "../address.ts";
import {
  serveWebSocket,
  type WsServer,
  type WsServerMode,
  type WsServerStats,
} from "../ws/mod.ts";
import {
  bytesFlag,
  intFlag,
  parseCommand,
  secondsFlag,
  UsageError,
} from "./_args.ts";
import type { CliContext } from "./_command.ts";
import {
  bindError,
  log,
  out,
  type RunningService,
  runServers,
  selfCommand,
} from "./_output.ts";

import { WS_DEFAULT_PORT as DEFAULT_PORT, WS_HELP } from "./_ws_help.ts";
import { readCertAndKey } from "./_tls_files.ts";

function help(): Promise<number> {
  out(WS_HELP);
  return Promise.resolve(0);
}

export async function runServe(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const cmd = "ws serve";
  const { values } = parseCommand(cmd, argv, {
    host: { type: "string" },
    port: { type: "string" },
    mode: { type: "string" },
    path: { type: "string" },
    protocol: { type: "string", multiple: true },
    "allow-origin": { type: "string", multiple: true },
    "max-message": { type: "string" },
    "max-buffered": { type: "string" },
    "max-conns": { type: "string" },
    "idle-timeout": { type: "string" },
    grace: { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "no-page": { type: "boolean" },
    deflate: { type: "boolean" },
  });
  if (values.help) return help();
  const tls = await readCertAndKey(
    cmd,
    ["tls-cert", "tls-key"],
    values["tls-cert"],
    values["tls-key"],
  );
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
  for (const origin of values["allow-origin"] ?? []) {
    if (!/^[a-z][a-z0-9+.-]*:\/\/[^/]+$/i.test(origin) && origin !== "null") {
      throw new UsageError(
        `--allow-origin takes an origin like https://example.com:8443 (no path), not '${origin}'`,
        cmd,
      );
    }
  }
  const hostname: string = values.host ?? "127.0.0.1";
  const port = intFlag(cmd, "port", values.port, { max: 65535 }) ??
    DEFAULT_PORT;
  const server = startWsServer({
    hostname,
    port,
    mode,
    path,
    protocols: values.protocol,
    allowedOrigins: values["allow-origin"],
    maxMessageSize: bytesFlag(cmd, "max-message", values["max-message"]),
    maxBufferedAmount: bytesFlag(cmd, "max-buffered", values["max-buffered"]),
    maxConnections: intFlag(cmd, "max-conns", values["max-conns"], { min: 1 }),
    idleTimeoutMs: secondsFlag(cmd, "idle-timeout", values["idle-timeout"]),
    gracePeriodMs: secondsFlag(cmd, "grace", values.grace) ?? 5000,
    page: !values["no-page"],
    tls,
    deflate: Boolean(values.deflate),
  });
  const service: RunningService = {
    kind: "ws",
    name: mode,
    server,
    summary: wsSummary,
  };
  const base = browsable(server.addr);
  const [ws, http] = tls ? ["wss", "https"] : ["ws", "http"];
  return await runServers([service], [
    values["no-page"]
      ? `WebSocket ${mode} at ${ws}://${base}${path}`
      : `WebSocket ${mode} at ${ws}://${base}${path}; open ${http}://${base}/ in a browser to try it`,
  ]);
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
  return `${s.messagesIn} messages in, ${s.messagesOut} out, ${s.handshakeRejected} bad handshakes, ` +
    `${s.originRejected} bad origins, ${s.slowClientsDropped} slow clients dropped, ` +
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
    port: options.port ?? DEFAULT_PORT,
    gracePeriodMs: options.gracePeriodMs ?? 5000,
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
