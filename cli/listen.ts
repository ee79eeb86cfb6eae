// `netkit listen`: nc -l and wscat -l. Waits for a client (TCP, TLS, UDP
// or WebSocket), prints what it sends on stdout and sends it what arrives
// on stdin. One client, then the command ends (like nc -l); --keep takes
// every client, each for as long as it stays (like nc -k). Each kind
// runs in its own module, loaded when it runs.

import { addressArg, parseCommand, UsageError } from "./_args.ts";
import type { Command } from "./_command.ts";
import { DEFAULT_HOST } from "./_defaults.ts";
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
import { out } from "./_output.ts";
import { unitReader } from "./_units.ts";
import type { ListenSettings } from "./_listen_settings.ts";

/** `netkit listen --help`. */
export const LISTEN_HELP: HelpScreen = {
  usage: ["listen [tcp://|tls://|udp://|ws://|wss://][HOST:]PORT [options]"],
  about: "Waits for a client and connects it to this terminal or pipe, " +
    "like nc -l (TCP, UDP) and wscat -l (WebSocket): what the client " +
    "sends goes to stdout, what arrives on stdin goes to the client. " +
    `HOST defaults to ${DEFAULT_HOST}; a bare PORT means TCP.\n\n` +
    "Bytes go to stdout as they are when stdout is a pipe or a file; on a " +
    "terminal, control characters and escape sequences a client sends are " +
    "shown escaped (--raw: as they are). 'listening KIND HOST:PORT' and " +
    "who connects or leaves go to stderr.\n\n" +
    "Without --keep the first client is the only one: the command ends when " +
    "it leaves (TCP, WebSocket) and others are turned away. The end of " +
    "stdin is passed on: a FIN (TCP), a Close 1000 (WebSocket). UDP " +
    "answers the first sender (--keep: the latest sender) and runs until " +
    "Ctrl-C. WebSocket upgrades are taken on any path; each stdin line is " +
    "one message. Ctrl-C stops listening and exits 0.",
  options: [
    ["-k, --keep", "take every client, not just the first (nc -k)"],
    ["-u, --udp", "UDP: a bare PORT or HOST:PORT means udp://"],
    [
      "--raw",
      "write what clients send as it is even on a terminal (WebSocket: " +
      "binary messages as their bytes)",
    ],
    ["-b, --binary", "WebSocket: send each stdin line as a binary message"],
    ["--base64", "WebSocket: print binary messages as base64 (default hex)"],
    originHelp(" (WebSocket)"),
    ...serverHelp({
      port: 0,
      flags: ["host", "max-conns", "idle-timeout", "grace"],
    }).filter(([flag]) => flag !== "--host HOST"),
    ...tlsServerHelp("tls:// and wss://: serve TLS"),
  ],
  examples: [
    "listen 9000",
    "listen -k 9000 > all.log",
    "listen -u 5353",
    "listen ws://127.0.0.1:8080/",
  ],
};

/** `netkit listen`. */
export const listenCommand: Command = {
  name: "listen",
  summary: "wait for one client (or --keep: many) and connect it to stdio",
  async run(argv) {
    const settings = await parseListen(argv);
    if (settings === undefined) {
      out(renderHelp(LISTEN_HELP));
      return 0;
    }
    if (settings.kind === "udp") {
      return await (await import("./_listen_udp.ts")).listenUdp(settings);
    }
    if (settings.kind === "ws" || settings.kind === "wss") {
      return await (await import("./_listen_ws.ts")).listenWs(settings);
    }
    return await (await import("./_listen_tcp.ts")).listenTcp(settings);
  },
};

async function parseListen(
  argv: string[],
): Promise<ListenSettings | undefined> {
  const cmd = "listen";
  const { values, positionals } = parseCommand(cmd, argv, {
    keep: { type: "boolean", short: "k" },
    udp: { type: "boolean", short: "u" },
    raw: { type: "boolean" },
    binary: { type: "boolean", short: "b" },
    base64: { type: "boolean" },
    // nc users type -l out of habit: accepted, it changes nothing.
    listen: { type: "boolean", short: "l" },
    ...serverFlags(["host", "port", "max-conns", "idle-timeout", "grace"]),
    ...TLS_SERVER_FLAGS,
    ...ORIGIN_FLAGS,
  }, { max: 1 });
  if (values.help) return undefined;
  const where = listenAddress(cmd, positionals[0], values);
  const read = unitReader(cmd);
  const server = readServer(read, values, { port: 0 });
  const tls = await readTlsServer(cmd, values);
  if ((where.kind === "tls" || where.kind === "wss") && !tls) {
    throw new UsageError(
      `a ${where.kind}:// listener needs --tls-cert and --tls-key`,
      cmd,
    );
  }
  if (tls && where.kind !== "tls" && where.kind !== "wss") {
    throw new UsageError(
      "--tls-cert and --tls-key serve tls:// or wss://",
      cmd,
    );
  }
  const allowedOrigins = readOrigins(cmd, values);
  if (allowedOrigins && where.kind !== "ws" && where.kind !== "wss") {
    throw new UsageError("--allow-origin is for ws:// and wss://", cmd);
  }
  if (values.raw && values.base64) {
    throw new UsageError("choose one of --raw and --base64", cmd);
  }
  return {
    ...where,
    keep: Boolean(values.keep),
    raw: Boolean(values.raw),
    binaryIn: Boolean(values.binary),
    binaryOut: values.raw ? "raw" : values.base64 ? "base64" : "hex",
    maxConnections: server.maxConnections,
    idleTimeoutMs: server.idleTimeoutMs,
    gracePeriodMs: server.gracePeriodMs,
    tls,
    allowedOrigins,
  };
}

/** The address argument (or --host/--port) and its kind. */
function listenAddress(
  cmd: string,
  text: string | undefined,
  values: { udp?: boolean; host?: string; port?: string },
): Pick<ListenSettings, "kind" | "hostname" | "port"> {
  const defaultKind = values.udp ? "udp" : "tcp";
  if (text === undefined) {
    if (values.port === undefined) {
      throw new UsageError("missing PORT (e.g. listen 9000)", cmd);
    }
    const port = unitReader(cmd).count("port", values.port, { max: 65535 })!;
    return { kind: defaultKind, hostname: values.host ?? DEFAULT_HOST, port };
  }
  if (values.port !== undefined || values.host !== undefined) {
    throw new UsageError(
      "give the address once: as an argument or with --host/--port",
      cmd,
    );
  }
  const scheme = /^(tcp|tls|udp|ws|wss):\/\/(.*)$/i.exec(text);
  const kind =
    (scheme?.[1]?.toLowerCase() ?? defaultKind) as ListenSettings["kind"];
  if (scheme && values.udp && kind !== "udp") {
    throw new UsageError(`--udp with a ${kind}:// address`, cmd);
  }
  // A WebSocket listener takes any path: only the host and port count.
  const rest = (scheme?.[2] ?? text).replace(/\/.*$/, "");
  const address = addressArg(
    cmd,
    /^\d+$/.test(rest) ? `${DEFAULT_HOST}:${rest}` : rest,
  );
  return { kind, hostname: address.hostname, port: address.port };
}
