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
} from "../relay/mod.ts";
import type { NetkitServer } from "../types.ts";
import { formatAddress } from "../address.ts";
import {
  bytesFlag,
  intFlag,
  parseCommand,
  secondsFlag,
  UsageError,
} from "./_args.ts";
import type { Command } from "./_command.ts";
import { bindError, log, out, summaryLine } from "./_output.ts";
import { readCertAndKey, readPemFlag } from "./_tls_files.ts";

const DEFAULT_HEXDUMP_BYTES = 1024;

const HELP = `Usage: netkit relay LISTEN TARGET [options]

Accepts connections on LISTEN and relays each to its own connection to
TARGET, both ways, like socat. One line per finished connection on stderr:
peers, duration, bytes each way, who closed first and how (FIN, reset, idle
timeout, shutdown, error) and whether data kept flowing after a half-close.

Endpoints:
  tcp://HOST:PORT    TCP (listen: port 0 picks a free one)
  tls://HOST:PORT    TLS; listen needs --tls-cert/--tls-key, connect trusts
                     the system roots plus --ca
  udp://HOST:PORT    UDP, both sides: one session (own upstream socket) per
                     client address, ended by --idle-timeout (default 60 s)
  unix:PATH          Unix stream socket (listen creates PATH, removes it at exit)
  exec:COMMAND       target only: COMMAND per connection on stdin/stdout, split
                     into words without a shell (quotes work), --shell for sh -c
  ws://HOST:PORT/PATH  WebSocket (wss:// with TLS): binary messages carry the
                     bytes (text as its UTF-8). LISTEN: a WebSocket server
                     accepting upgrades on PATH (default /; wss:// needs
                     --tls-cert/--tls-key), e.g. to expose a TCP service to
                     browsers. TARGET: a WebSocket client. A FIN goes on as
                     Close 1000 (best-effort: WebSocket has no half-close, the
                     peer's answering Close ends its direction too), a reset
                     as a TCP reset (else Close 1011); close codes are logged

Options:
  --tls-cert FILE    certificate chain (PEM) for a tls:// or wss:// LISTEN
  --tls-key FILE     private key (PEM) for a tls:// or wss:// LISTEN
  --ca FILE          extra trusted CA (PEM) for a tls:// or wss:// TARGET
  --insecure         skip the certificate checks of a tls:// or wss:// TARGET
                     (chain and name, like curl -k): encrypted, not authenticated
  --cert FILE        client certificate (PEM) for a tls:// or wss:// TARGET
  --key FILE         its private key (PEM)
  --proxy URL        reach a tcp://, tls://, ws:// or wss:// TARGET through
                     http://[U:P@]H:P (CONNECT) or socks5://[U:P@]H:P
  --shell            run exec:COMMAND through /bin/sh -c
  --max-conns N      connections (UDP: sessions, default 1024) at once; more
                     are refused
  --idle-timeout S   close connections silent for S seconds
  --grace S          on SIGINT/SIGTERM let connections finish (default 5)
  --connect-timeout S  give the TARGET S seconds to be ready (connect, proxy,
                     TLS handshake), a tls:// client S seconds to finish its
                     handshake (default 10)
  --backlog N        listen(2) backlog (default 511)
  --buffer SIZE      each direction's one buffer, e.g. 64K or 1M (default 256K;
                     connections start at 4K and grow once a read fills it)
  --hexdump [N]      dump the first N bytes (default ${DEFAULT_HEXDUMP_BYTES}) of each direction of
                     each connection to stderr, like socat -x
  --json             per-connection reports as one JSON object per line
  -h, --help         show this help

Examples: put TLS in front of a plain server; expose a TCP service over WebSocket
  netkit relay tls://0.0.0.0:8443 tcp://127.0.0.1:8080 --tls-cert c.pem --tls-key k.pem
  netkit relay ws://127.0.0.1:8081/ tcp://127.0.0.1:5432`;

export const relayCommand: Command = {
  name: "relay",
  summary:
    "relay connections between endpoints (tcp, tls, udp, ws, unix, exec), like socat",
  run,
};

async function run(argv: string[]): Promise<number> {
  const cmd = "relay";
  const { values, positionals } = parseCommand(cmd, hexdumpValue(argv), {
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    ca: { type: "string" },
    insecure: { type: "boolean" },
    proxy: { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
    shell: { type: "boolean" },
    "max-conns": { type: "string" },
    "idle-timeout": { type: "string" },
    grace: { type: "string" },
    "connect-timeout": { type: "string" },
    backlog: { type: "string" },
    buffer: { type: "string" },
    hexdump: { type: "boolean" },
    "hexdump-bytes": { type: "string" },
    json: { type: "boolean" },
  }, { min: 2, max: 2, names: "LISTEN and TARGET endpoints" });
  if (values.help) {
    out(HELP);
    return 0;
  }
  const listen = endpointArg(cmd, positionals[0]!);
  const target = endpointArg(cmd, positionals[1]!);
  if ((values.cert === undefined) !== (values.key === undefined)) {
    throw new UsageError("--cert and --key go together", cmd);
  }
  if (
    (values["tls-cert"] === undefined) !== (values["tls-key"] === undefined)
  ) {
    throw new UsageError("--tls-cert and --tls-key go together", cmd);
  }
  if (
    (listen.kind === "tls" || listen.kind === "wss") &&
    values["tls-cert"] === undefined
  ) {
    throw new UsageError(
      `a ${listen.kind}:// LISTEN needs --tls-cert and --tls-key`,
      cmd,
    );
  }
  const tls = await readCertAndKey(
    cmd,
    ["tls-cert", "tls-key"],
    values["tls-cert"],
    values["tls-key"],
  );
  const ca = await readPemFlag(values.ca);
  const caCerts = ca === undefined ? undefined : [ca];
  const hexdumpBytes = values.hexdump
    ? intFlag(cmd, "hexdump", values["hexdump-bytes"], { min: 1 }) ??
      DEFAULT_HEXDUMP_BYTES
    : 0;
  const json = Boolean(values.json);
  const options: RelayOptions = {
    tls,
    caCerts,
    insecure: Boolean(values.insecure),
    proxy: values.proxy,
    clientCert: await readPemFlag(values.cert),
    clientKey: await readPemFlag(values.key),
    shell: Boolean(values.shell),
    maxConnections: intFlag(cmd, "max-conns", values["max-conns"], {
      min: 1,
    }),
    idleTimeoutMs: secondsFlag(cmd, "idle-timeout", values["idle-timeout"]),
    gracePeriodMs: secondsFlag(cmd, "grace", values.grace) ?? 5000,
    connectTimeoutMs: secondsFlag(
      cmd,
      "connect-timeout",
      values["connect-timeout"],
    ),
    backlog: intFlag(cmd, "backlog", values.backlog, { min: 1 }),
    bufferBytes: bufferArg(cmd, values.buffer),
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
  let server: RelayServer;
  try {
    server = relay(listen, target, options);
  } catch (error) {
    // Endpoints that parse but cannot be paired are a usage mistake.
    if (error instanceof RelayError) throw new UsageError(error.message, cmd);
    if (listen.kind === "unix" || listen.kind === "exec") throw error;
    throw bindError(error, listen.hostname, listen.port);
  }
  return await runRelay(server, listen);
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

function bufferArg(cmd: string, text: string | undefined): number | undefined {
  const bytes = bytesFlag(cmd, "buffer", text);
  if (bytes !== undefined && (bytes < 1024 || bytes > 64 * 1024 * 1024)) {
    throw new UsageError("--buffer takes 1K to 64M", cmd);
  }
  return bytes;
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
): Promise<number> {
  const stop = () => void server.shutdown();
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  for (const sig of signals) Deno.addSignalListener(sig, stop);
  try {
    const addr = server.addr;
    const where = addr.transport === "tcp" || addr.transport === "udp"
      ? formatAddress(addr)
      : formatEndpoint(listen);
    const kind = listen.kind === "tls"
      ? "tcp"
      : listen.kind === "wss"
      ? "ws"
      : listen.kind;
    // 'listening tcp HOST:PORT' like every netkit server, so scripts find the port.
    out(`listening ${kind} ${where}`);
    await server.finished;
  } finally {
    for (const sig of signals) Deno.removeSignalListener(sig, stop);
  }
  log(summaryLine({
    kind: listen.kind === "udp" ? "udp" : "url" in listen ? "ws" : "tcp",
    name: "relay",
    server: server as unknown as NetkitServer,
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
