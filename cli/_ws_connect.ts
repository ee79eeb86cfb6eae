// `netkit ws connect`: a WebSocket client for pipes and terminals, with
// the flags wscat and websocat users type.
//
// Pipe mode (stdin not a terminal): each stdin line is a message, messages
// received go to stdout (as they are for a pipe, escaped on a terminal).
// Interactive mode (stdin a terminal): a `> ` prompt kept and redrawn by
// the line editor (cli/_line_editor.ts), received messages marked `< `
// and escaped, and /commands. Keep-alive and reconnecting are the
// library's (pingIntervalMs, reconnectWebSocket); stdin is read by one
// reader for the whole run, so a line is sent at most once, whichever
// connection carries it.

import { escapeControl } from "../escape.ts";
import {
  connectWebSocket,
  describeCloseCode,
  reconnectWebSocket,
  type WsClient,
  type WsClientOptions,
  type WsClientTlsOptions,
  type WsCloseInfo,
  WsError,
  type WsMessage,
} from "../ws/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import type { CliContext } from "./_command.ts";
import { DEFAULT_TIMEOUTS } from "./_defaults.ts";
import { runInterruptible } from "./_exit.ts";
import {
  jsonHelp,
  OUTPUT_FLAGS,
  readTlsClient,
  TLS_CLIENT_ALIASES,
  TLS_CLIENT_FLAGS,
  tlsClientHelp,
} from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import { type TerminalLines, terminalLines } from "./_line_editor.ts";
import { type LineSource, listLines, stdinLines } from "./_lines.ts";
import { describeError, log, out, outJson } from "./_output.ts";
import {
  type BinaryFormat,
  messageBytes,
  writeStdoutSync,
} from "./_peer_output.ts";
import { formatDuration, unitReader } from "./_units.ts";
import { headerFlags, wsUrlArg } from "./_ws_args.ts";

const SEND_HIGH_WATER = 1024 * 1024;
const PING_COMMAND_WAIT_MS = 10_000;
/** Ctrl-C: how long the server has to answer our Close before we exit. */
const INTERRUPT_CLOSE_WAIT_MS = 1000;

/** `netkit ws connect --help`. */
export const CONNECT_HELP: HelpScreen = {
  usage: ["ws connect URL [options]", "ws connect -c URL [options]"],
  about: "A WebSocket client, like wscat and websocat (their flags work " +
    "too). A URL without a scheme means ws://.\n\n" +
    "Pipe mode (stdin not a terminal): each stdin line is sent as a message " +
    "(binary with --binary); messages received go to stdout, one per line " +
    "(binary as hex, --base64, or --raw bytes; --json for one JSON object " +
    "per line). Text goes out as it is to a pipe or file and escaped on a " +
    "terminal. After stdin ends, it waits until as many messages came back " +
    "as were sent, or until --wait passes without a message, then closes " +
    "with 1000 and prints the close code and reason on stderr.\n\n" +
    "Interactive mode (stdin a terminal): a '> ' prompt that stays under " +
    "arriving messages with what you typed; messages received print as " +
    "'< message', escaped. Ctrl-D closes like the end of a pipe; Ctrl-C " +
    "sends a Close and exits 130.\n\n" +
    "A failed upgrade prints the HTTP status and the start of the body. A " +
    "close the server started is reported as '(server closed first)'. " +
    "Exit 0 on a clean close with 1000, 1001 or 1005 (or the code given to " +
    "/close); 1 otherwise.",
  options: [
    ["-c, --connect URL", "the URL (wscat's spelling)"],
    ['-H, --header "K: V"', "extra handshake header (repeatable)"],
    ["-o, --origin ORIGIN", "send this Origin header"],
    ["--auth USER:PASS", "HTTP basic authentication header"],
    [
      "-s, --subprotocol P",
      "offer subprotocol P (repeatable; -p, --protocol is the same)",
    ],
    [
      "-x, --execute MSG",
      "send MSG after connecting instead of reading stdin (repeatable)",
    ],
    ["-b, --binary", "send each line as a binary message"],
    ["--hex", "print binary messages as hex (the default)"],
    ["--base64", "print binary messages as base64"],
    [
      "--raw",
      "print what arrives as it is: binary as its bytes (no newline), text " +
      "unescaped even on a terminal",
    ],
    jsonHelp("one JSON object per message and one for the close"),
    [
      "-P, --show-ping-pong",
      "print each ping and pong the server sends (on stderr)",
    ],
    [
      "-w, --wait TIME",
      "after stdin ends, close once no message came for this long " +
      `(default ${formatDuration(DEFAULT_TIMEOUTS.wsWaitMs)})`,
    ],
    [
      "--timeout TIME",
      `the opening handshake's time limit (default ${
        formatDuration(DEFAULT_TIMEOUTS.wsHandshakeMs)
      })`,
    ],
    [
      "--ping-interval TIME",
      "ping this often, print each round trip on stderr",
    ],
    [
      "--ping-timeout TIME",
      "close when a ping gets no pong within this (default: the interval; " +
      "0: never)",
    ],
    [
      "--reconnect",
      "when the server closes or the connection drops, connect again " +
      "(exponential back-off with jitter) and go on with the lines not sent " +
      "yet; a line handed to a connection that then dropped is not sent again",
    ],
    [
      "--reconnect-max-delay TIME",
      "longest wait between attempts (default " +
      `${formatDuration(DEFAULT_TIMEOUTS.wsReconnectMaxDelayMs)})`,
    ],
    [
      "--reconnect-tries N",
      "give up after N failed attempts in a row (default: never)",
    ],
    ...tlsClientHelp({ scope: "wss://" }),
    ["-n, --no-check", "the same as --insecure (wscat's spelling)"],
    [
      "--proxy URL",
      "through http://[USER:PASS@]HOST:PORT (CONNECT) or " +
      "socks5://[USER:PASS@]HOST:PORT",
    ],
    [
      "--unix PATH",
      "connect to this Unix socket; the URL still gives the Host header, the " +
      "path and the TLS name",
    ],
    [
      "--deflate",
      "offer permessage-deflate (RFC 7692); stderr says whether the server " +
      "accepted it",
    ],
  ],
  sections: [{
    title: "Interactive commands",
    rows: [
      ["/ping [text]", "ping the server and print the round trip"],
      ["/close [code [reason]]", "close (default 1000) and exit"],
      ["/binary HEX", "send a binary message, e.g. /binary 48 69"],
      ["//text", "send '/text'"],
      ["/help", "this list"],
    ],
  }],
  examples: [
    "ws connect 127.0.0.1:8080/ws",
    "ws connect -c wss://example.test/ws --ca ca.pem -w 2 < lines.txt",
    "ws connect ws://127.0.0.1:9000/ -x hello --raw | xxd",
  ],
};

interface ConnectSettings {
  url: URL;
  headers: Headers;
  protocols?: string[];
  timeoutMs: number;
  waitMs: number;
  json: boolean;
  binaryIn: boolean;
  binaryOut: BinaryFormat;
  raw: boolean;
  /** `-x`: these messages instead of stdin. */
  execute?: string[];
  showPingPong: boolean;
  interactive: boolean;
  pingIntervalMs?: number;
  /** 0: pings never time out. */
  pingTimeoutMs?: number;
  reconnect: boolean;
  reconnectMaxDelayMs: number;
  reconnectTries?: number;
  deflate: boolean;
  /** How to reach the server (TLS files are read in runConnect). */
  reach: ReachFlags;
}

interface ReachFlags {
  /** The client TLS flags as given (read in runConnect). */
  tls: { ca?: string[]; insecure?: boolean; cert?: string; key?: string };
  insecure: boolean;
  proxy?: string;
  unixPath?: string;
}

/**
 * Where the session's output goes: stdout and stderr lines, kept above
 * the line being typed when there is a line editor.
 */
interface Screen {
  /** A log line on stderr. */
  log(line: string): void;
  /** Bytes for stdout (a message). */
  write(bytes: Uint8Array): void;
  /** The editor, when stdin and stderr are terminals. */
  editor?: TerminalLines;
}

function screenFor(settings: ConnectSettings): Screen {
  const editor = settings.interactive && Deno.stderr.isTerminal()
    ? terminalLines()
    : undefined;
  const around = (write: () => void) => editor ? editor.above(write) : write();
  return {
    log: (line) => around(() => log(line)),
    write: (bytes) => around(() => writeStdoutSync(bytes)),
    editor,
  };
}

/** `netkit ws connect`. */
export async function runConnect(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const settings = parseConnect(argv);
  if (settings === undefined) {
    out(renderHelp(CONNECT_HELP));
    return 0;
  }
  const reach = await reachOptions(settings.reach);
  const screen = screenFor(settings);
  // Ctrl-C sends a Close (the client's signal) and exits 130 once the
  // server answered or a second passed; a second Ctrl-C exits at once.
  // Ctrl-D or the end of a pipe closes cleanly.
  return await runInterruptible(async (signal) => {
    const lines = settings.execute
      ? listLines(settings.execute)
      : screen.editor ?? stdinLines();
    const totals = { sent: 0, received: 0 };
    const options = clientOptions(settings, reach, screen, signal);
    try {
      if (!settings.reconnect) {
        const client = await connectWebSocket(settings.url, options).catch(
          (error) => {
            throw withHints(error, settings);
          },
        );
        announce(settings, screen, client, "connected to");
        const end = await runSession(client, settings, lines, totals, {
          screen,
          signal,
        });
        return finish(settings, screen, end, totals);
      }
      let what = "connected to";
      for await (const client of reconnectWebSocket(settings.url, options)) {
        announce(settings, screen, client, what);
        const end = await runSession(client, settings, lines, totals, {
          screen,
          signal,
        });
        const again = !end.byUs && !signal.aborted &&
          !(lines.ended && !lines.hasPending());
        if (!again) return finish(settings, screen, end, totals);
        screen.log(`connection lost: ${describeClose(end)}`);
        what = "reconnected to";
      }
      return 1; // Not reached: the connections end only by a return or a throw.
    } finally {
      screen.editor?.restore();
    }
  });
}

function parseConnect(argv: string[]): ConnectSettings | undefined {
  const cmd = "ws connect";
  const { values, positionals } = parseCommand(cmd, argv, {
    connect: { type: "string", short: "c" },
    header: { type: "string", short: "H", multiple: true },
    origin: { type: "string", short: "o" },
    auth: { type: "string" },
    protocol: { type: "string", short: "p", multiple: true },
    subprotocol: { type: "string", short: "s", multiple: true },
    execute: { type: "string", short: "x", multiple: true },
    binary: { type: "boolean", short: "b" },
    hex: { type: "boolean" },
    base64: { type: "boolean" },
    raw: { type: "boolean" },
    "show-ping-pong": { type: "boolean", short: "P" },
    wait: { type: "string", short: "w" },
    timeout: { type: "string" },
    ...OUTPUT_FLAGS,
    "ping-interval": { type: "string" },
    "ping-timeout": { type: "string" },
    reconnect: { type: "boolean" },
    "reconnect-max-delay": { type: "string" },
    "reconnect-tries": { type: "string" },
    ...TLS_CLIENT_FLAGS,
    "no-check": { type: "boolean", short: "n" },
    proxy: { type: "string" },
    unix: { type: "string" },
    deflate: { type: "boolean" },
  }, {
    max: 1,
    names: "URL (e.g. ws://127.0.0.1:8080/ws)",
    aliases: TLS_CLIENT_ALIASES,
  });
  if (values.help) return undefined;
  const given = [positionals[0], values.connect].filter((u) => u !== undefined);
  if (given.length === 0) {
    throw new UsageError("missing URL (e.g. ws://127.0.0.1:8080/ws)", cmd);
  }
  if (given.length > 1) {
    throw new UsageError("give the URL once: as an argument or with -c", cmd);
  }
  const read = unitReader(cmd);
  const pingIntervalMs = read.duration(
    "ping-interval",
    values["ping-interval"],
    { minMs: 1 },
  );
  if (values["ping-timeout"] !== undefined && pingIntervalMs === undefined) {
    throw new UsageError("--ping-timeout needs --ping-interval", cmd);
  }
  if (
    !values.reconnect &&
    (values["reconnect-max-delay"] !== undefined ||
      values["reconnect-tries"] !== undefined)
  ) {
    throw new UsageError(
      "--reconnect-max-delay and --reconnect-tries need --reconnect",
      cmd,
    );
  }
  const formats = (["hex", "base64", "raw"] as const).filter((f) => values[f]);
  if (formats.length > 1) {
    throw new UsageError(
      `choose one of ${formats.map((f) => `--${f}`).join(" and ")}`,
      cmd,
    );
  }
  if (values.raw && values.json) {
    throw new UsageError("choose one of --raw and --json", cmd);
  }
  const url = wsUrlArg(cmd, given[0]!);
  if (values["no-check"]) values.insecure = true;
  return {
    url,
    reach: reachFlags(cmd, url, values),
    deflate: Boolean(values.deflate),
    headers: handshakeHeaders(cmd, values),
    protocols: [...values.protocol ?? [], ...values.subprotocol ?? []],
    timeoutMs: read.duration("timeout", values.timeout, { minMs: 1 }) ??
      DEFAULT_TIMEOUTS.wsHandshakeMs,
    waitMs: read.duration("wait", values.wait) ?? DEFAULT_TIMEOUTS.wsWaitMs,
    json: Boolean(values.json),
    binaryIn: Boolean(values.binary),
    binaryOut: formats[0] ?? "hex",
    raw: Boolean(values.raw),
    execute: values.execute,
    showPingPong: Boolean(values["show-ping-pong"]),
    interactive: Deno.stdin.isTerminal() && !values.json &&
      values.execute === undefined,
    pingIntervalMs,
    pingTimeoutMs: read.duration("ping-timeout", values["ping-timeout"]),
    reconnect: Boolean(values.reconnect),
    reconnectMaxDelayMs: read.duration(
      "reconnect-max-delay",
      values["reconnect-max-delay"],
    ) ?? DEFAULT_TIMEOUTS.wsReconnectMaxDelayMs,
    reconnectTries: read.count("reconnect-tries", values["reconnect-tries"], {
      min: 1,
    }),
  };
}

/** -H lines, plus wscat's -o (Origin) and --auth (basic authentication). */
function handshakeHeaders(
  cmd: string,
  values: { header?: string[]; origin?: string; auth?: string },
): Headers {
  const headers = headerFlags(cmd, [
    ...values.header ?? [],
    ...values.origin === undefined ? [] : [`Origin: ${values.origin}`],
  ]);
  if (values.auth !== undefined) {
    if (!values.auth.includes(":")) {
      throw new UsageError(
        `--auth takes USER:PASS, not '${escapeControl(values.auth)}'`,
        cmd,
      );
    }
    const token = new TextEncoder().encode(values.auth).toBase64();
    headers.set("Authorization", `Basic ${token}`);
  }
  return headers;
}

function reachFlags(
  cmd: string,
  url: URL,
  values: {
    ca?: string[];
    insecure?: boolean;
    cert?: string;
    key?: string;
    proxy?: string;
    unix?: string;
  },
): ReachFlags {
  const tlsFlags = [
    values.ca?.length && "--ca",
    values.insecure && "--insecure",
    values.cert !== undefined && "--cert",
    values.key !== undefined && "--key",
  ].filter(Boolean);
  if (tlsFlags.length > 0 && url.protocol !== "wss:") {
    throw new UsageError(`${tlsFlags.join(", ")} need a wss:// URL`, cmd);
  }
  if (values.proxy !== undefined && values.unix !== undefined) {
    throw new UsageError("choose one of --proxy and --unix", cmd);
  }
  const { ca, insecure, cert, key } = values;
  return {
    tls: { ca, insecure, cert, key },
    insecure: Boolean(insecure),
    proxy: values.proxy,
    unixPath: values.unix,
  };
}

/**
 * A failed connect in words that say what to do: an untrusted certificate
 * names --ca and --insecure (the TLS library's "UnknownIssuer" does not);
 * a plain server behind wss:// names ws://.
 */
function withHints(error: unknown, settings: ConnectSettings): unknown {
  if (!(error instanceof WsError) || error.code !== "connect_failed") {
    return error;
  }
  let hint = "";
  if (/did not answer in TLS/.test(error.message)) {
    const plain = new URL(settings.url.href);
    plain.protocol = "ws:";
    hint = ` (for a plain server: ${plain.href})`;
  } else if (
    !settings.reach.insecure && /certificate/i.test(error.message)
  ) {
    hint =
      " (to trust this server's certificate: --ca FILE; to skip every check: --insecure)";
  }
  return hint
    ? new WsError("connect_failed", error.message + hint, { cause: error })
    : error;
}

/** The connect options the reach flags mean, with the PEM files read. */
async function reachOptions(
  reach: ReachFlags,
): Promise<Pick<WsClientOptions, "tls" | "proxy" | "unixPath">> {
  const flags = await readTlsClient("ws connect", reach.tls);
  const tls: WsClientTlsOptions = {};
  if (flags.caCerts) tls.caCerts = flags.caCerts;
  if (flags.insecure) tls.insecure = true;
  if (flags.clientCert) {
    tls.cert = flags.clientCert.cert;
    tls.key = flags.clientCert.key;
  }
  return { tls, proxy: reach.proxy, unixPath: reach.unixPath };
}

/** Everything connectWebSocket and reconnectWebSocket are told. */
function clientOptions(
  settings: ConnectSettings,
  reach: Pick<WsClientOptions, "tls" | "proxy" | "unixPath">,
  screen: Screen,
  signal: AbortSignal,
): WsClientOptions {
  const tries = settings.reconnectTries;
  return {
    ...reach,
    headers: settings.headers,
    protocols: settings.protocols,
    timeoutMs: settings.timeoutMs,
    deflate: settings.deflate,
    // Aborting (Ctrl-C) cancels a connect, or sends Close 1000 "aborted".
    signal,
    pingIntervalMs: settings.pingIntervalMs,
    pingTimeoutMs: settings.pingTimeoutMs,
    onPong: (rtt) => screen.log(`pong in ${rtt.toFixed(1)} ms`),
    onControl: settings.showPingPong
      ? (type, payload) => showControl(settings, screen, type, payload)
      : undefined,
    retry: settings.reconnect
      ? {
        maxDelayMs: settings.reconnectMaxDelayMs,
        tries,
        onRetry({ attempt, delayMs, why }) {
          // `closed`: the connection that was open ended (said already).
          if (!(why instanceof WsError && why.code === "closed")) {
            screen.log(`cannot connect: ${describeError(why)}`);
          }
          screen.log(
            `reconnecting in ${
              (delayMs / 1000).toFixed(1)
            } s (attempt ${attempt}${
              tries === undefined ? "" : ` of ${tries}`
            })`,
          );
        },
      }
      : undefined,
  };
}

/** -P: a ping or pong the server sent, with its payload. */
function showControl(
  settings: ConnectSettings,
  screen: Screen,
  type: "ping" | "pong",
  payload: Uint8Array,
): void {
  if (settings.json) {
    outJson({ type, encoding: "hex", data: payload.toHex() });
    return;
  }
  let shown = "";
  if (payload.length > 0) {
    try {
      const text = new TextDecoder("utf-8", { fatal: true }).decode(payload);
      shown = `: "${escapeControl(text)}"`;
    } catch {
      shown = `: ${payload.toHex()}`;
    }
  }
  screen.log(`received ${type} (${payload.length} B)${shown}`);
}

function announce(
  settings: ConnectSettings,
  screen: Screen,
  client: WsClient,
  what: string,
): void {
  if (!settings.json) {
    const proto = client.protocol
      ? ` (protocol ${escapeControl(client.protocol)})`
      : "";
    const hint = settings.interactive && what === "connected to"
      ? "; type lines to send, /help for commands, Ctrl-D to close"
      : "";
    const deflate = !settings.deflate
      ? ""
      : client.deflate
      ? " (permessage-deflate)"
      : " (permessage-deflate not accepted: uncompressed)";
    screen.log(`${what} ${settings.url.href}${proto}${deflate}${hint}`);
  }
  screen.editor?.start();
}

interface SessionEnd extends WsCloseInfo {
  /** We closed (stdin ended, /close, Ctrl-C); false when the server or network did. */
  byUs: boolean;
}

function describeClose(end: SessionEnd): string {
  const reason = end.reason ? `: ${escapeControl(end.reason)}` : "";
  return `closed ${describeCloseCode(end.code)}${reason}${
    end.wasClean ? "" : " (not clean)"
  }${end.byUs ? "" : " (server closed first)"}`;
}

function finish(
  settings: ConnectSettings,
  screen: Screen,
  end: SessionEnd,
  totals: { sent: number; received: number },
): number {
  screen.editor?.restore();
  if (settings.json) {
    outJson({
      type: "close",
      code: end.code,
      reason: end.reason,
      wasClean: end.wasClean,
      ...totals,
    });
  } else {
    log(describeClose(end));
  }
  // A code the user chose with /close is not a failure if it went through.
  const ok = end.byUs || [1000, 1001, 1005].includes(end.code);
  return end.wasClean && ok ? 0 : 1;
}

/** One connection's life: lines to the server, the server to stdout. */
async function runSession(
  client: WsClient,
  settings: ConnectSettings,
  lines: LineSource,
  totals: { sent: number; received: number },
  { screen, signal }: { screen: Screen; signal: AbortSignal },
): Promise<SessionEnd> {
  let sent = 0;
  let received = 0;
  let byUs = false;
  let quietTimer: ReturnType<typeof setTimeout> | undefined;
  let open = true;
  const closeBy = (code = 1000, reason = "") => {
    byUs = true;
    return client.close(code, reason);
  };
  const armWait = () => {
    clearTimeout(quietTimer);
    if (received >= sent) void closeBy().catch(() => {});
    else quietTimer = setTimeout(() => void closeBy(), settings.waitMs);
  };
  // Ctrl-C: the client's signal has sent Close; the server gets a second
  // to answer, then the session ends on its own clock.
  const interrupted = Promise.withResolvers<WsCloseInfo>();
  let interruptTimer: ReturnType<typeof setTimeout> | undefined;
  let forced = false;
  const onAbort = () => {
    byUs = true;
    interruptTimer = setTimeout(() => {
      forced = true;
      interrupted.resolve({ code: 1006, reason: "", wasClean: false });
    }, INTERRUPT_CLOSE_WAIT_MS);
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  const closed = Promise.race([client.closed, interrupted.promise]);
  const ended = closed.then(() => {
    open = false;
  });
  const format = {
    json: settings.json,
    binary: settings.binaryOut,
    raw: settings.raw,
    marks: settings.interactive,
    terminal: Deno.stdout.isTerminal(),
  };

  const reader = (async () => {
    for await (const message of client) {
      received++;
      totals.received++;
      printMessage(message, format, screen);
      if (lines.ended) armWait();
    }
  })().catch((error) => screen.log(`receive failed: ${describeError(error)}`));

  const commands: CommandContext = {
    client,
    settings,
    screen,
    send(data) {
      client.send(data);
      sent++;
      totals.sent++;
    },
    close: closeBy,
  };
  const writer = (async () => {
    for (;;) {
      // A big pipe must not fill memory: wait while 1 MiB is unsent.
      while (client.bufferedAmount > SEND_HIGH_WATER && open) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const line = await Promise.race([
        lines.peek(),
        ended.then(() => false as const),
      ]);
      if (line === false || !open) return;
      if (line === null) {
        armWait();
        return;
      }
      try {
        if (settings.interactive) await runLine(line, commands);
        else commands.send(settings.binaryIn ? line : decode(line));
      } catch (error) {
        // Still unsent: the next connection gets it, if any.
        if (!open || (error instanceof WsError && error.code === "closed")) {
          return;
        }
        screen.log(describeError(error));
      }
      lines.take();
    }
  })();

  const info = await closed;
  clearTimeout(quietTimer);
  clearTimeout(interruptTimer);
  signal.removeEventListener("abort", onAbort);
  await writer;
  // The reader ends with the connection; after a forced end it may not.
  if (!forced) await reader;
  // The keep-alive gave up on the peer (the client closed it).
  if (
    !byUs && info.reason === "ping timeout" && settings.pingIntervalMs &&
    (info.code === 1006 || info.code === 1011)
  ) {
    byUs = true;
    screen.log(
      `no pong within ${
        formatDuration(settings.pingTimeoutMs ?? settings.pingIntervalMs)
      }: closed the connection`,
    );
  }
  return { ...info, byUs };
}

function printMessage(
  message: WsMessage,
  format: Parameters<typeof messageBytes>[1],
  screen: Screen,
): void {
  const bytes = messageBytes(message, format);
  if (bytes) screen.write(bytes);
}

interface CommandContext {
  client: WsClient;
  settings: ConnectSettings;
  screen: Screen;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): Promise<WsCloseInfo>;
}

const COMMAND_HELP =
  "/ping [text]  /close [code [reason]]  /binary HEX  //text sends /text  /help";

/** An interactive line: a /command, or a message. */
async function runLine(line: Uint8Array, context: CommandContext) {
  const text = decode(line);
  const say = context.screen.log;
  if (!text.startsWith("/") || text.startsWith("//")) {
    const message = text.startsWith("//") ? text.slice(1) : text;
    context.send(
      context.settings.binaryIn ? new TextEncoder().encode(message) : message,
    );
    return;
  }
  const [, name, rest = ""] = /^\/(\S*)\s*(.*)$/.exec(text)!;
  switch (name) {
    case "ping": {
      const payload = new TextEncoder().encode(rest);
      if (payload.length > 125) {
        return say(`/ping text is limited to 125 bytes, not ${payload.length}`);
      }
      // A dead peer must not hold the prompt: the ping gives up in time.
      const timeoutMs = context.settings.pingTimeoutMs ||
        PING_COMMAND_WAIT_MS;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const rtt = await Promise.race([
        context.client.ping(rest === "" ? undefined : payload),
        new Promise<"late">((r) =>
          timer = setTimeout(() => r("late"), timeoutMs)
        ),
      ]).finally(() => clearTimeout(timer));
      return say(
        rtt === "late"
          ? `no pong within ${formatDuration(timeoutMs)}`
          : `pong in ${rtt.toFixed(1)} ms`,
      );
    }
    case "close": {
      const [, codeText, reason = ""] = /^(\S*)\s*(.*)$/.exec(rest)!;
      const code = codeText === "" ? 1000 : Number(codeText);
      if (!/^\d{4}$/.test(codeText || "1000")) {
        return say(
          `/close takes a code like 1000 or 4000, not '${
            escapeControl(codeText!)
          }'`,
        );
      }
      try {
        await context.close(code, reason);
      } catch (error) {
        say(`cannot close with ${code}: ${describeError(error)}`);
      }
      return;
    }
    case "binary": {
      const hex = rest.replace(/\s+/g, "");
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) {
        return say("/binary takes hex digits in pairs, e.g. /binary 48 69");
      }
      return context.send(Uint8Array.fromHex(hex));
    }
    case "help":
      return say(COMMAND_HELP);
    default:
      return say(`unknown command /${escapeControl(name!)} (${COMMAND_HELP})`);
  }
}

const textDecoder = new TextDecoder();
function decode(line: Uint8Array): string {
  return textDecoder.decode(line);
}
