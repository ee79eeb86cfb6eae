// `netkit relay LISTEN TARGET`: socat's everyday job, with each
// connection's close explained on stderr.

import { escapeControl } from "../escape.ts";
import {
  type Endpoint,
  formatEndpoint,
  parseEndpoint,
  relay,
  RelayError,
  type RelayOptions,
  type RelayReport,
  type RelayServer,
  type RelayStats,
} from "../relay/mod.ts";
import type { NetkitServer } from "../types.ts";
import { formatAddress } from "../address.ts";
import { parseCommand, UsageError } from "./_args.ts";
import type { Command } from "./_command.ts";
import { DEFAULT_LIMITS, DEFAULT_TIMEOUTS } from "./_defaults.ts";
import { serverSignals } from "./_exit.ts";
import {
  jsonHelp,
  ORIGIN_FLAGS,
  originHelp,
  OUTPUT_FLAGS,
  readOrigins,
  readServer,
  readTlsClient,
  readTlsServer,
  serverFlags,
  serverHelp,
  TLS_CLIENT_ALIASES,
  TLS_CLIENT_FLAGS,
  TLS_SERVER_FLAGS,
  tlsClientHelp,
  tlsServerHelp,
} from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import { bindError, log, out, summaryLine } from "./_output.ts";
import { formatDuration, formatSize, unitReader } from "./_units.ts";

/** `netkit relay --help`. */
export const RELAY_HELP: HelpScreen = {
  usage: ["relay LISTEN TARGET [options]"],
  about: "Accepts connections on LISTEN and relays each to its own " +
    "connection to TARGET, both ways, like socat. One line per finished " +
    "connection on stderr: peers, duration, bytes each way, who closed " +
    "first and how (FIN, reset, idle timeout, shutdown, error) and whether " +
    "data kept flowing after a half-close.",
  sections: [{
    title: "Endpoints",
    rows: [
      ["tcp://HOST:PORT", "TCP (listen: port 0 picks a free one)"],
      [
        "tls://HOST:PORT",
        "TLS; listen needs --tls-cert/--tls-key, connect trusts the system " +
        "roots plus --ca",
      ],
      [
        "udp://HOST:PORT",
        "UDP, both sides: one session (own upstream socket) per client " +
        "address, ended by --idle-timeout (default " +
        `${formatDuration(DEFAULT_TIMEOUTS.relayUdpIdleMs)}); over ` +
        "--max-conns a new client evicts the longest-idle session " +
        "(one-way ones first)",
      ],
      [
        "unix:PATH",
        "Unix stream socket (listen creates PATH, removes it at exit)",
      ],
      [
        "exec:COMMAND",
        "target only: COMMAND per connection on stdin/stdout, split into " +
        "words without a shell (quotes work), --shell for sh -c. Each runs " +
        "in its own process group, ended (SIGTERM, SIGKILL 2s later) with " +
        "its connection, or --grace after its client's FIN",
      ],
      [
        "-",
        "stdin and stdout, like socat's -: as LISTEN, relay them to one " +
        "TARGET connection; as TARGET, the first client gets them (others " +
        "are refused) and the relay ends with it, like nc -l",
      ],
      [
        "ws://HOST:PORT/PATH",
        "WebSocket (wss:// with TLS): binary messages carry the bytes (text " +
        "as its UTF-8). LISTEN: a WebSocket server accepting upgrades on " +
        "PATH (default /; wss:// needs --tls-cert/--tls-key), e.g. to expose " +
        "a TCP service to browsers: only pages from the origins " +
        "--allow-origin names get in. TARGET: a WebSocket client. A FIN goes " +
        "on as Close 1000 (best-effort: WebSocket has no half-close), a " +
        "reset as a TCP reset (else Close 1011); close codes are logged",
      ],
    ],
  }],
  options: [
    ...tlsServerHelp("a tls:// or wss:// LISTEN"),
    ...tlsClientHelp({ scope: "tls:// or wss:// TARGET" }),
    [
      "--proxy URL",
      "reach a tcp://, tls://, ws:// or wss:// TARGET through " +
      "http://[U:P@]H:P (CONNECT) or socks5://[U:P@]H:P",
    ],
    ["--shell", "run exec:COMMAND through /bin/sh -c"],
    [
      "--max-programs N",
      "exec: programs running at once; a client beyond is refused (default " +
      `${DEFAULT_LIMITS.relayMaxPrograms})`,
    ],
    originHelp(
      "; a relay serves no page, so no web page can reach the TARGET",
    ),
    ...serverHelp({
      port: 0,
      flags: ["max-conns", "idle-timeout", "grace", "backlog"],
      overMaxConns: "are refused (UDP: sessions, default " +
        `${DEFAULT_LIMITS.relayUdpSessions})`,
    }),
    [
      "--connect-timeout TIME",
      "give the TARGET this long to be ready (connect, proxy, TLS " +
      "handshake), and a tls:// client as long to finish its handshake " +
      `(default ${formatDuration(DEFAULT_TIMEOUTS.relayConnectMs)})`,
    ],
    [
      "--buffer SIZE",
      "each direction's one buffer, 1k to 64M (default " +
      `${formatSize(DEFAULT_LIMITS.relayBuffer)}; connections start at 4k ` +
      "and grow once a read fills it)",
    ],
    [
      "--hexdump [N]",
      `dump the first N bytes (default ${DEFAULT_LIMITS.relayHexdump}) of ` +
      "each direction of each connection to stderr, like socat -x",
    ],
    jsonHelp("per-connection reports as one JSON object per line"),
  ],
  examples: [
    "relay tcp://127.0.0.1:8000 tcp://127.0.0.1:7007",
    "relay tls://0.0.0.0:8443 tcp://:8080 --tls-cert c.pem --tls-key k.pem",
    "relay ws://127.0.0.1:8081/ tcp://127.0.0.1:5432",
    "relay ws://127.0.0.1:8081/ tcp://:5432 --allow-origin https://a.example",
    "relay - tcp://127.0.0.1:7007 < request.bin",
  ],
};

/** `netkit relay`. */
export const relayCommand: Command = {
  name: "relay",
  summary:
    "relay connections between endpoints (tcp, tls, udp, ws, unix, exec), like socat",
  run,
};

async function run(argv: string[]): Promise<number> {
  const cmd = "relay";
  const { values, positionals } = parseCommand(cmd, hexdumpValue(argv), {
    ...TLS_SERVER_FLAGS,
    ...TLS_CLIENT_FLAGS,
    proxy: { type: "string" },
    shell: { type: "boolean" },
    "max-programs": { type: "string" },
    ...ORIGIN_FLAGS,
    ...serverFlags(["max-conns", "idle-timeout", "grace", "backlog"]),
    "connect-timeout": { type: "string" },
    buffer: { type: "string" },
    hexdump: { type: "boolean" },
    "hexdump-bytes": { type: "string" },
    ...OUTPUT_FLAGS,
  }, {
    max: 2,
    aliases: TLS_CLIENT_ALIASES,
  });
  if (values.help) {
    out(renderHelp(RELAY_HELP));
    return 0;
  }
  if (positionals.length < 2) {
    throw new UsageError(
      positionals.length === 0
        ? "missing LISTEN and TARGET endpoints"
        : `missing TARGET (where to relay what '${
          escapeControl(positionals[0]!)
        }' accepts, e.g. tcp://127.0.0.1:7007 or - for stdin/stdout)`,
      cmd,
    );
  }
  const listen = endpointArg(cmd, positionals[0]!);
  const target = endpointArg(cmd, positionals[1]!);
  if (
    (listen.kind === "tls" || listen.kind === "wss") &&
    values["tls-cert"] === undefined
  ) {
    throw new UsageError(
      `a ${listen.kind}:// LISTEN needs --tls-cert and --tls-key`,
      cmd,
    );
  }
  const tls = await readTlsServer(cmd, values);
  const client = await readTlsClient(cmd, values);
  const read = unitReader(cmd);
  const server = readServer(read, values, { port: 0 });
  const hexdumpBytes = values.hexdump
    ? read.count("hexdump", values["hexdump-bytes"], { min: 1 }) ??
      DEFAULT_LIMITS.relayHexdump
    : 0;
  const json = Boolean(values.json);
  const options: RelayOptions = {
    tls,
    caCerts: client.caCerts,
    insecure: client.insecure,
    proxy: values.proxy,
    clientCert: client.clientCert?.cert,
    clientKey: client.clientCert?.key,
    shell: Boolean(values.shell),
    maxPrograms: read.count("max-programs", values["max-programs"], {
      min: 1,
    }) ?? DEFAULT_LIMITS.relayMaxPrograms,
    allowedOrigins: readOrigins(cmd, values),
    maxConnections: server.maxConnections,
    idleTimeoutMs: server.idleTimeoutMs,
    gracePeriodMs: server.gracePeriodMs,
    connectTimeoutMs: read.duration(
      "connect-timeout",
      values["connect-timeout"],
      { minMs: 1 },
    ) ?? DEFAULT_TIMEOUTS.relayConnectMs,
    backlog: server.backlog,
    bufferBytes: read.size("buffer", values.buffer, {
      min: 1024,
      max: 64 * 1024 * 1024,
    }),
    hexdumpBytes,
    onHexdump: hexdumpBytes > 0 ? log : undefined,
    onConnection: (report) =>
      log(json ? reportJson(report) : reportLine(report)),
    onError: (error) =>
      log(
        `relay: ${
          escapeControl(
            error instanceof Error ? error.message : String(error),
          )
        }`,
      ),
  };
  let relayServer: RelayServer;
  try {
    relayServer = relay(listen, target, options);
  } catch (error) {
    // Endpoints that parse but cannot be paired are a usage mistake.
    if (error instanceof RelayError) throw new UsageError(error.message, cmd);
    if (!("hostname" in listen)) throw error;
    throw bindError(
      error,
      listen.hostname,
      listen.port,
      "choose another port in LISTEN (port 0 picks a free one)",
    );
  }
  return await runRelay(relayServer, listen, target.kind === "stdio");
}

/** parseArgs has no optional values: `--hexdump 64` / `--hexdump=64` become `--hexdump --hexdump-bytes 64`. */
function hexdumpValue(argv: string[]): string[] {
  const result: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith("--hexdump=")) {
      result.push("--hexdump", "--hexdump-bytes", a.slice(10));
    } else if (a === "--hexdump" && /^\d+$/.test(argv[i + 1] ?? "")) {
      result.push("--hexdump", "--hexdump-bytes", argv[++i]!);
    } else result.push(a);
  }
  return result;
}

function endpointArg(cmd: string, text: string): Endpoint {
  try {
    return parseEndpoint(text);
  } catch (error) {
    throw new UsageError((error as Error).message, cmd);
  }
}

async function runRelay(
  server: RelayServer,
  listen: Endpoint,
  stdoutIsData: boolean,
): Promise<number> {
  // The rule of every server (cli/_exit.ts): installed before 'listening'.
  using signals = serverSignals(() => void server.shutdown());
  const addr = server.addr;
  const where = addr.transport === "tcp" || addr.transport === "udp"
    ? formatAddress(addr)
    : formatEndpoint(listen);
  const kind = listen.kind === "tls"
    ? "tcp"
    : listen.kind === "wss"
    ? "ws"
    : listen.kind;
  // 'listening tcp HOST:PORT' like every netkit server, so scripts find
  // the port; on stderr when stdout carries the relayed bytes.
  if (listen.kind !== "stdio") {
    (stdoutIsData ? log : out)(`listening ${kind} ${where}`);
  }
  const cut = await Promise.race([
    server.finished.then(() => false),
    signals.cut.then(() => true),
  ]);
  if (cut) log("stopping now: not waiting for the grace period");
  log(summaryLine({
    kind: listen.kind === "udp" ? "udp" : "url" in listen ? "ws" : "tcp",
    name: "relay",
    server: server as unknown as NetkitServer,
    summary: listen.kind === "udp"
      ? (st) => `${(st as RelayStats).sessionsEvicted} sessions evicted`
      : undefined,
  }));
  return 0;
}

/** One log line: `closed #1 CLIENT -> TARGET 12 ms, 5 B to target, 5 B to client, client closed first (FIN), half-close`. */
export function reportLine(r: RelayReport): string {
  const how = r.how === "fin"
    ? "FIN"
    : r.how === "reset"
    ? `reset, passed on as ${r.resetPassedOn ? "reset" : "close (FIN)"}`
    : r.how === "idle_timeout"
    ? "idle timeout"
    : r.how === "shutdown"
    ? "shutdown"
    : `error: ${r.error ?? "unknown"}`;
  const parts = [
    `${Math.round(r.durationMs)} ms`,
    `${r.bytesToTarget} B to target`,
    `${r.bytesToClient} B to client`,
    `${r.closedFirst} closed first (${escapeControl(how)})`,
  ];
  if (r.halfClose) parts.push("half-close");
  if (r.resetBy && r.how !== "reset") {
    parts.push(
      `then ${r.resetBy} reset, passed on as ${
        r.resetPassedOn ? "reset" : "close (FIN)"
      }`,
    );
  }
  if (r.exit) parts.push(`program ${escapeControl(r.exit)}`);
  if (r.close) parts.push(`WebSocket ${escapeControl(r.close)}`);
  return `closed #${r.id} ${escapeControl(r.client)} -> ${
    escapeControl(r.target)
  } ${parts.join(", ")}`;
}

/** The report as one JSON line, peer strings escaped like the text line. */
export function reportJson(r: RelayReport): string {
  return JSON.stringify({
    event: "closed",
    ...r,
    client: escapeControl(r.client),
    target: escapeControl(r.target),
    durationMs: Math.round(r.durationMs * 1000) / 1000,
    ...(r.error === undefined ? {} : { error: escapeControl(r.error) }),
    ...(r.close === undefined ? {} : { close: escapeControl(r.close) }),
  });
}
