// `netkit ws serve | connect | verify | check`: WebSocket server, client
// (like wscat/websocat), handshake verifier and conformance suite.

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
import { type CliContext, type Command, dispatch } from "./_command.ts";
import {
  bindError,
  log,
  out,
  type RunningService,
  runServers,
  selfCommand,
} from "./_output.ts";
import { runWsVerify } from "./_ws_verify.ts";
import { runWsCheck } from "./_ws_check.ts";
import { runConnect } from "./_ws_connect.ts";

const DEFAULT_PORT = 8080;

const HELP =
  `netkit ws: WebSocket server, client, handshake verifier, conformance suite

Usage:
  netkit ws serve [--host H] [--port ${DEFAULT_PORT}] [--mode echo|broadcast] [--path /ws]
                  [--protocol P]... [--allow-origin O]... [--max-message BYTES]
                  [--max-buffered BYTES] [--max-conns N] [--idle-timeout S]
                  [--grace S] [--tls-cert F --tls-key F] [--no-page] [--deflate]
  netkit ws connect URL [--header "K: V"]... [--protocol P]... [--binary]
                    [--base64] [--wait MS] [--timeout MS] [--json] [--deflate]
                    (more: netkit ws connect --help)
  netkit ws verify ...   check a server's handshake and framing (see --help)
  netkit ws check ...    RFC 6455 conformance suite (see --help)

serve    echo each message back (default), or with --mode broadcast send it to
         every other client. Upgrades at --path (default /ws); a page to try it
         in a browser at /. Prints 'listening ws HOST:PORT'.
         --protocol P        accept subprotocol P (repeatable; the client's
                             first match wins)
         --allow-origin O    only browsers from origin O (repeatable); others
                             get 403
         --max-message B     close clients sending more with 1009 (default 16M)
         --max-buffered B    close clients that let more than B bytes queue
                             up unread with 1008 (default: twice
                             --max-message)
         --max-conns N       answer 503 beyond N connections
         --idle-timeout S    ping after S/2 silent seconds, close with 1001
                             after S (default 30, 0 disables)
         --grace S           on SIGINT/SIGTERM close clients with 1001 and
                             wait up to S seconds (default 5)
         --tls-cert F        serve wss:// (and the page over https://) with
                             this PEM certificate; needs --tls-key F
         --no-page           do not serve the page at /
         --deflate           accept permessage-deflate (RFC 7692) from
                             clients that offer it; inflated messages count
                             against --max-message
connect  like wscat: each stdin line is sent as a message (binary with
         --binary); messages received go to stdout (text as is, binary as hex,
         or base64 with --base64; --json for one JSON object per line).
         After stdin ends, waits until as many messages came back as were
         sent, or until --wait MS (default 1000) pass without a message, then
         closes with 1000 and prints the close code and reason on stderr.
         A failed upgrade prints the HTTP status and body start.
         --header "K: V"     extra handshake header (repeatable)
         --protocol P        offer subprotocol P (repeatable)
         --timeout MS        handshake timeout (default 10000)
         --ping-interval S, --ping-timeout S, --reconnect, and interactive
         mode (stdin a terminal: prompt, /ping, /close, /binary): see
         netkit ws connect --help
         Exit 0 on a clean close with 1000, 1001 or 1005; 1 otherwise.`;

/** `netkit ws`. */
export const wsCommand: Command = {
  name: "ws",
  summary:
    "WebSocket: serve (echo/broadcast + page), connect (like wscat), verify, check",
  run: (argv, context) =>
    dispatch(
      "ws",
      argv,
      {
        serve: runServe,
        connect: runConnect,
        verify: runWsVerify,
        check: runWsCheck,
      },
      HELP,
      context,
    ),
};

function help(): Promise<number> {
  out(HELP);
  return Promise.resolve(0);
}

async function runServe(
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
  const tls = await readTls(cmd, values["tls-cert"], values["tls-key"]);
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

async function readTls(
  cmd: string,
  certPath: string | undefined,
  keyPath: string | undefined,
): Promise<{ cert: string; key: string } | undefined> {
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) {
    throw new UsageError("--tls-cert and --tls-key go together", cmd);
  }
  const read = async (path: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      throw new UsageError(
        `cannot read '${path}': ${
          error instanceof Error ? error.message : String(error)
        }`,
        cmd,
      );
    }
  };
  return { cert: await read(certPath), key: await read(keyPath) };
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
