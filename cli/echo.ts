// `netkit echo serve | connect | ping`: TCP and UDP echo.

import { formatAddress, type HostPort } from "../address.ts";
import type { PingProbe, PingSummary } from "../ping.ts";
// The library is imported when a subcommand runs, not for `--help`:
// start-up time is the module graph.
import type { TcpServerStats } from "../tcp/mod.ts";
import {
  addressArg,
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
  plural,
  type RunningService,
  runServers,
  writeFully,
  writeStdout,
} from "./_output.ts";

const DEFAULT_PORT = 7007;

const HELP = `netkit echo: TCP and UDP echo server, client and ping

Usage:
  netkit echo serve [--tcp] [--udp] [--host H] [--port P] [--backlog N]
                    [--max-conns N] [--idle-timeout S] [--grace S]
  netkit echo connect HOST:PORT [--udp] [--timeout MS]
  netkit echo ping HOST:PORT [--udp] [--count N] [--size B] [--interval MS]
                   [--timeout MS] [--json]

serve      echo every byte back; both transports on port ${DEFAULT_PORT} unless
           --tcp or --udp picks one. Prints 'listening <tcp|udp> HOST:PORT'.
           --backlog N       listen(2) backlog (default 511)
           --max-conns N     close connections beyond N at once
           --idle-timeout S  close connections silent for S seconds
           --grace S         on SIGINT/SIGTERM, let clients finish (default 5)
connect    like nc: stdin goes to the server, replies to stdout. With a pipe
           it half-closes after stdin EOF and exits once everything came back.
           --udp sends each stdin line as one datagram and waits --timeout
           (default 1000) ms for the last replies.
ping       round-trip times with a ping(8)-style summary (loss, min/avg/max/p99).

Addresses: HOST:PORT, [::1]:PORT, :PORT (127.0.0.1), port 0 = any free port.`;

export const echoCommand: Command = {
  name: "echo",
  summary: "TCP/UDP echo: serve, connect (like nc), ping with RTT and loss",
  run: (argv, context) =>
    dispatch(
      "echo",
      argv,
      { serve: runServe, connect: runConnect, ping: runPing },
      HELP,
      context,
    ),
};

async function runServe(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const cmd = "echo serve";
  const { values } = parseCommand(cmd, argv, {
    tcp: { type: "boolean" },
    udp: { type: "boolean" },
    host: { type: "string" },
    port: { type: "string" },
    backlog: { type: "string" },
    "max-conns": { type: "string" },
    "idle-timeout": { type: "string" },
    grace: { type: "string" },
  });
  if (values.help) return help();
  const hostname: string = values.host ?? "127.0.0.1";
  const port = intFlag(cmd, "port", values.port, { max: 65535 }) ??
    DEFAULT_PORT;
  const both = !values.tcp && !values.udp;
  const services = await startEchoServices({
    hostname,
    port,
    tcp: both || values.tcp,
    udp: both || values.udp,
    backlog: intFlag(cmd, "backlog", values.backlog, { min: 1 }),
    maxConnections: intFlag(cmd, "max-conns", values["max-conns"], { min: 1 }),
    idleTimeoutMs: secondsFlag(cmd, "idle-timeout", values["idle-timeout"]),
    gracePeriodMs: secondsFlag(cmd, "grace", values.grace) ?? 5000,
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

async function runConnect(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const cmd = "echo connect";
  const { values, positionals } = parseCommand(cmd, argv, {
    udp: { type: "boolean" },
    timeout: { type: "string" },
  }, { min: 1, max: 1, names: "HOST:PORT" });
  if (values.help) return help();
  const addr = addressArg(cmd, positionals[0]!, { connect: true });
  const timeout = intFlag(cmd, "timeout", values.timeout) ?? 1000;
  return values.udp
    ? await connectUdp(addr, timeout)
    : await connectTcpStdio(addr);
}

async function connectTcpStdio(addr: HostPort): Promise<number> {
  const { connectTcp } = await import("../tcp/mod.ts");
  const conn = await connectTcp(addr);
  try {
    // stdin → server runs on its own; the command ends when the server
    // closes its side, which an echo server does after our half-close.
    const input = { ended: false };
    void pumpStdin(conn, input);
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      await writeStdout(buf.subarray(0, n));
    }
    if (!input.ended) {
      log(
        `netkit: ${
          formatAddress(addr)
        } closed the connection before stdin ended`,
      );
    }
    return 0;
  } finally {
    conn.close();
  }
}

async function pumpStdin(
  conn: Deno.Conn,
  input: { ended: boolean },
): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      await writeFully(conn, buf.subarray(0, n));
    }
    input.ended = true;
    await conn.closeWrite();
  } catch {
    // The server went away first; the read side reports the end.
  }
}

async function connectUdp(addr: HostPort, timeout: number): Promise<number> {
  const { connectUdp: connectUdpClient, explainNoReply } = await import(
    "../udp/mod.ts"
  );
  await using client = connectUdpClient(addr);
  const enc = new TextEncoder();
  const send = async (line: string) => {
    const reply = await client.request(enc.encode(line), {
      timeoutMs: timeout,
    });
    if (reply === null) {
      throw await explainNoReply(
        addr,
        `no reply from ${formatAddress(addr)} within ${timeout} ms`,
      );
    }
    await writeStdout(reply);
  };
  let pending = "";
  for await (
    const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())
  ) {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf("\n")) !== -1) {
      await send(pending.slice(0, nl + 1));
      pending = pending.slice(nl + 1);
    }
  }
  if (pending) await send(pending);
  return 0;
}

async function runPing(argv: string[], _context: CliContext): Promise<number> {
  const cmd = "echo ping";
  const { values, positionals } = parseCommand(cmd, argv, {
    udp: { type: "boolean" },
    count: { type: "string", short: "c" },
    size: { type: "string", short: "s" },
    interval: { type: "string", short: "i" },
    timeout: { type: "string", short: "W" },
    json: { type: "boolean" },
  }, { min: 1, max: 1, names: "HOST:PORT" });
  if (values.help) return help();
  const addr = addressArg(cmd, positionals[0]!, { connect: true });
  const options = {
    count: intFlag(cmd, "count", values.count, { min: 1 }) ?? 5,
    size:
      intFlag(cmd, "size", values.size, { min: 8, max: 16 * 1024 * 1024 }) ??
        64,
    intervalMs: intFlag(cmd, "interval", values.interval) ?? 1000,
    timeoutMs: intFlag(cmd, "timeout", values.timeout, { min: 1 }) ?? 2000,
  };
  const transport = values.udp ? "udp" : "tcp";
  const { checkUdpPayloadSize, pingUdp } = await import("../udp/mod.ts");
  const { pingTcp } = await import("../tcp/mod.ts");
  if (values.udp) {
    try {
      checkUdpPayloadSize(options.size, addr.hostname);
    } catch (error) {
      throw new UsageError(describe(error), cmd);
    }
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  const target = formatAddress(addr);
  if (!values.json) out(`PING ${target} (${transport}) ${options.size} bytes`);
  const onProbe = (p: PingProbe) => {
    if (values.json) outJson({ type: "probe", ...p });
    else out(probeLine(p, target));
  };
  try {
    const run = { ...options, signal: stop.signal, onProbe };
    const result = values.udp
      ? await pingUdp(addr, run)
      : await pingTcp(addr, run);
    const { probes: _, ...summary } = result;
    if (values.json) {
      outJson({ type: "summary", target, transport, ...summary });
    } else summaryLines(target, summary).forEach((l) => out(l));
    return summary.received === summary.sent ? 0 : 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

function probeLine(p: PingProbe, target: string): string {
  return p.rttMs === null
    ? `no reply from ${target}: seq=${p.seq}`
    : `${p.bytes} bytes from ${target}: seq=${p.seq} time=${
      p.rttMs.toFixed(3)
    } ms`;
}

function summaryLines(target: string, s: PingSummary): string[] {
  const lines = [
    `--- ${target} echo ping statistics ---`,
    `${plural(s.sent, "probe")} sent, ${s.received} received, ${
      fmt(s.lossPercent, 1)
    }% loss`,
  ];
  if (s.minMs !== null) {
    lines.push(
      `rtt min/avg/max/p99 = ${fmt(s.minMs)}/${fmt(s.avgMs)}/${fmt(s.maxMs)}/${
        fmt(s.p99Ms)
      } ms`,
    );
  }
  return lines;
}

function fmt(n: number | null, digits = 3): string {
  return n === null ? "-" : n.toFixed(digits);
}

function help(): Promise<number> {
  out(HELP);
  return Promise.resolve(0);
}
