// `netkit ws serve | connect | verify | check`: WebSocket server, client
// (like wscat/websocat), handshake verifier and conformance suite.

import { headerFlags, wsUrlArg } from "./_ws_args.ts";
import { formatAddress } from "../address.ts";
import {
  connectWebSocket,
  type WsCloseInfo,
  type WsMessage,
} from "../ws/mod.ts";
import { describeCloseCode } from "../ws/mod.ts";
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
  outJson,
  type RunningService,
  runServers,
  selfCommand,
} from "./_output.ts";
import { runWsVerify } from "./_ws_verify.ts";
import { runWsCheck } from "./_ws_check.ts";

const DEFAULT_PORT = 8080;
const SEND_HIGH_WATER = 1024 * 1024;

const HELP =
  `netkit ws: WebSocket server, client, handshake verifier, conformance suite

Usage:
  netkit ws serve [--host H] [--port ${DEFAULT_PORT}] [--mode echo|broadcast] [--path /ws]
                  [--protocol P]... [--allow-origin O]... [--max-message BYTES]
                  [--max-buffered BYTES] [--max-conns N] [--idle-timeout S]
                  [--grace S] [--no-page]
  netkit ws connect URL [--header "K: V"]... [--protocol P]... [--binary]
                    [--base64] [--wait MS] [--timeout MS] [--json]
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
         --no-page           do not serve the page at /
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

function runServe(argv: string[], _context: CliContext): Promise<number> {
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
    "no-page": { type: "boolean" },
  });
  if (values.help) return help();
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
  });
  const service: RunningService = {
    kind: "ws",
    name: mode,
    server,
    summary: wsSummary,
  };
  const base = browsable(server.addr);
  return runServers([service], [
    values["no-page"]
      ? `WebSocket ${mode} at ws://${base}${path}`
      : `WebSocket ${mode} at ws://${base}${path}; open http://${base}/ in a browser to try it`,
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

// --- connect --------------------------------------------------------------

async function runConnect(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const cmd = "ws connect";
  const { values, positionals } = parseCommand(cmd, argv, {
    header: { type: "string", short: "H", multiple: true },
    protocol: { type: "string", short: "p", multiple: true },
    binary: { type: "boolean", short: "b" },
    base64: { type: "boolean" },
    wait: { type: "string", short: "w" },
    timeout: { type: "string" },
    json: { type: "boolean" },
  }, { min: 1, max: 1, names: "URL (e.g. ws://127.0.0.1:8080/ws)" });
  if (values.help) return help();
  const url = wsUrlArg(cmd, positionals[0]!);
  const headers = headerFlags(cmd, values.header ?? []);
  const waitMs = intFlag(cmd, "wait", values.wait) ?? 1000;
  const timeoutMs = intFlag(cmd, "timeout", values.timeout, { min: 1 }) ??
    10_000;
  const json = Boolean(values.json);
  const binaryOut = values.base64 ? "base64" : "hex";

  const client = await connectWebSocket(url, {
    headers,
    protocols: values.protocol,
    timeoutMs,
  });
  if (!json) {
    const proto = client.protocol ? ` (protocol ${client.protocol})` : "";
    const hint = Deno.stdin.isTerminal()
      ? "; type lines to send, Ctrl-D to close"
      : "";
    log(`connected to ${url.href}${proto}${hint}`);
  }

  let sent = 0;
  let received = 0;
  let stdinDone = false;
  let quietTimer: ReturnType<typeof setTimeout> | undefined;
  const finish = () => void client.close(1000);
  const armWait = () => {
    clearTimeout(quietTimer);
    if (received >= sent) finish();
    else quietTimer = setTimeout(finish, waitMs);
  };

  const reader = (async () => {
    for await (const message of client) {
      received++;
      printMessage(message, json, binaryOut);
      if (stdinDone) armWait();
    }
  })();

  const decoder = new TextDecoder();
  const stdin = readStdinLines(
    (line) => {
      try {
        client.send(values.binary ? line : decoder.decode(line));
        sent++;
      } catch {
        // Closed by the server: the reader reports how.
      }
    },
    client.closed,
    () => client.bufferedAmount,
  );
  void stdin.then(() => {
    stdinDone = true;
    armWait();
  });

  let info: WsCloseInfo;
  try {
    await reader;
  } finally {
    clearTimeout(quietTimer);
    info = await client.close();
  }
  if (json) {
    outJson({ type: "close", ...info, sent, received });
  } else {
    const reason = info.reason ? `: ${info.reason}` : "";
    log(
      `closed ${describeCloseCode(info.code)}${reason}${
        info.wasClean ? "" : " (not clean)"
      }${stdinDone ? "" : "; the server closed first, before stdin ended"}`,
    );
  }
  return info.wasClean && [1000, 1001, 1005].includes(info.code) ? 0 : 1;
}

function printMessage(
  message: WsMessage,
  json: boolean,
  binary: "hex" | "base64",
) {
  if (typeof message === "string") {
    if (json) outJson({ type: "text", data: message });
    else out(message);
    return;
  }
  const data = binary === "base64" ? message.toBase64() : message.toHex();
  if (json) outJson({ type: "binary", encoding: binary, data });
  else out(data);
}

/**
 * Calls `onLine` with each stdin line (without `\n` or `\r\n`) as bytes,
 * until EOF or until `stop` settles. A last line without newline counts.
 * Pauses while `buffered()` is over the high-water mark.
 */
async function readStdinLines(
  onLine: (line: Uint8Array) => void,
  stop: Promise<unknown>,
  buffered: () => number,
): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  let pending = new Uint8Array(0);
  let stopped = false;
  void stop.then(() => {
    stopped = true;
  });
  for (;;) {
    let n: number | null;
    try {
      n = await Promise.race([Deno.stdin.read(buf), stop.then(() => null)]);
    } catch {
      n = null;
    }
    if (n === null || stopped) break;
    let chunk = buf.subarray(0, n);
    if (pending.length > 0) {
      const joined = new Uint8Array(pending.length + n);
      joined.set(pending);
      joined.set(chunk, pending.length);
      chunk = joined;
    }
    let start = 0;
    for (
      let i = chunk.indexOf(0x0a);
      i !== -1;
      i = chunk.indexOf(0x0a, start)
    ) {
      const end = i > start && chunk[i - 1] === 0x0d ? i - 1 : i;
      onLine(chunk.slice(start, end));
      start = i + 1;
    }
    pending = chunk.slice(start);
    // The runtime's WebSocket has no drain event: stop reading stdin while
    // more than 1 MiB waits to be sent, so a big pipe cannot fill memory.
    while (buffered() > SEND_HIGH_WATER && !stopped) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  if (pending.length > 0 && !stopped) onLine(pending);
}
