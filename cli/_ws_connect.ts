// `netkit ws connect`: a WebSocket client for pipes and terminals.
//
// Pipe mode (stdin not a terminal): each stdin line is a message, messages
// received go to stdout as they are. Interactive mode (stdin a terminal): a
// `> ` prompt, received messages marked `< ` and escaped, and /commands.
// Both can keep the session alive (--ping-interval) and survive a server
// restart (--reconnect). Stdin is read by one reader for the whole run, so
// a line is sent at most once, whichever connection carries it.

import { escapeControl } from "../escape.ts";
import {
  connectWebSocket,
  describeCloseCode,
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
import { describeError, log, out, outJson } from "./_output.ts";
import { formatDuration, unitReader } from "./_units.ts";
import { headerFlags, wsUrlArg } from "./_ws_args.ts";

const SEND_HIGH_WATER = 1024 * 1024;
const RECONNECT_BASE_MS = 250;
const CLOSE_WAIT_MS = 5000;
const PING_COMMAND_WAIT_MS = 10_000;

/** `netkit ws connect --help`. */
export const CONNECT_HELP: HelpScreen = {
  usage: ["ws connect URL [options]"],
  about: "A WebSocket client, like wscat and websocat.\n\n" +
    "Pipe mode (stdin not a terminal): each stdin line is sent as a message " +
    "(binary with --binary); messages received go to stdout (text as is, " +
    "binary as hex, or base64 with --base64; --json for one JSON object per " +
    "line). After stdin ends, it waits until as many messages came back as " +
    "were sent, or until --wait passes without a message, then closes with " +
    "1000 and prints the close code and reason on stderr.\n\n" +
    "Interactive mode (stdin a terminal): a '> ' prompt; lines typed are " +
    "sent, messages received are printed as '< message' with control " +
    "characters escaped. Ctrl-D closes like the end of a pipe; Ctrl-C " +
    "exits at once (130).\n\n" +
    "A failed upgrade prints the HTTP status and body start. A close the " +
    "server started is reported as '(server closed first)'. Exit 0 on a " +
    "clean close with 1000, 1001 or 1005 (or the code given to /close); 1 " +
    "otherwise.",
  options: [
    ['-H, --header "K: V"', "extra handshake header (repeatable)"],
    ["-p, --protocol P", "offer subprotocol P (repeatable)"],
    ["-b, --binary", "send each line as a binary message"],
    ["--base64", "print binary messages as base64 (default: hex)"],
    jsonHelp("one JSON object per message and one for the close"),
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
      "close when a ping gets no pong within this (default: the interval)",
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
    "ws connect ws://127.0.0.1:8080/ws",
    "ws connect wss://example.test/ws --ca ca.pem -w 2 < lines.txt",
  ],
};

/** What `client.ping` is expected to be (the engine's client adds it). */
interface Pinger {
  ping(data?: Uint8Array): Promise<number>;
}

function pingOf(client: WsClient): Pinger["ping"] | undefined {
  const candidate = (client as unknown as Partial<Pinger>).ping;
  return typeof candidate === "function" ? candidate.bind(client) : undefined;
}

interface ConnectSettings {
  url: URL;
  headers: Headers;
  protocols?: string[];
  timeoutMs: number;
  waitMs: number;
  json: boolean;
  binaryIn: boolean;
  binaryOut: "hex" | "base64";
  interactive: boolean;
  pingIntervalMs?: number;
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
  // Ctrl-C ends the session at once (130); Ctrl-D or the end of a pipe
  // closes it cleanly.
  return await runInterruptible(async () => {
    const lines = stdinLines();
    const totals = { sent: 0, received: 0 };
    let client = await connectOnce(settings, reach, 0, undefined);
    announce(settings, client, "connected to");
    for (;;) {
      const session = await runSession(client, settings, lines, totals);
      const retry = settings.reconnect && !session.byUs &&
        !(lines.ended && !lines.hasPending());
      if (!retry) return finish(settings, session, totals);
      log(`connection lost: ${describeClose(session)}`);
      client = await connectOnce(settings, reach, 1, describeClose(session));
      announce(settings, client, "reconnected to");
    }
  }, { exitAtOnce: true });
}

function parseConnect(argv: string[]): ConnectSettings | undefined {
  const cmd = "ws connect";
  const { values, positionals } = parseCommand(cmd, argv, {
    header: { type: "string", short: "H", multiple: true },
    protocol: { type: "string", short: "p", multiple: true },
    binary: { type: "boolean", short: "b" },
    base64: { type: "boolean" },
    wait: { type: "string", short: "w" },
    timeout: { type: "string" },
    ...OUTPUT_FLAGS,
    "ping-interval": { type: "string" },
    "ping-timeout": { type: "string" },
    reconnect: { type: "boolean" },
    "reconnect-max-delay": { type: "string" },
    "reconnect-tries": { type: "string" },
    ...TLS_CLIENT_FLAGS,
    proxy: { type: "string" },
    unix: { type: "string" },
    deflate: { type: "boolean" },
  }, {
    min: 1,
    max: 1,
    names: "URL (e.g. ws://127.0.0.1:8080/ws)",
    aliases: TLS_CLIENT_ALIASES,
  });
  if (values.help) return undefined;
  const read = unitReader(cmd);
  const pingIntervalMs = read.duration(
    "ping-interval",
    values["ping-interval"],
    { minMs: 1 },
  );
  const pingTimeoutMs = read.duration("ping-timeout", values["ping-timeout"]) ??
    pingIntervalMs;
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
  const url = wsUrlArg(cmd, positionals[0]!);
  return {
    url,
    reach: reachFlags(cmd, url, values),
    deflate: Boolean(values.deflate),
    headers: headerFlags(cmd, values.header ?? []),
    protocols: values.protocol,
    timeoutMs: read.duration("timeout", values.timeout, { minMs: 1 }) ??
      DEFAULT_TIMEOUTS.wsHandshakeMs,
    waitMs: read.duration("wait", values.wait) ?? DEFAULT_TIMEOUTS.wsWaitMs,
    json: Boolean(values.json),
    binaryIn: Boolean(values.binary),
    binaryOut: values.base64 ? "base64" : "hex",
    interactive: Deno.stdin.isTerminal() && !values.json,
    pingIntervalMs,
    pingTimeoutMs: pingTimeoutMs === 0 ? undefined : pingTimeoutMs,
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
 * A certificate the client does not trust: say which flags fix it (the
 * TLS library's words, e.g. "UnknownIssuer", do not).
 */
function withTlsHint(error: unknown, settings: ConnectSettings): unknown {
  if (
    !(error instanceof WsError) || error.code !== "connect_failed" ||
    settings.reach.insecure || !/certificate/i.test(error.message)
  ) {
    return error;
  }
  return new WsError(
    "connect_failed",
    `${error.message} (to trust this server's certificate: --ca FILE; to skip every check: --insecure)`,
    { cause: error },
  );
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

function announce(
  settings: ConnectSettings,
  client: WsClient,
  what: string,
): void {
  if (settings.json) return;
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
  log(`${what} ${settings.url.href}${proto}${deflate}${hint}`);
}

/**
 * Connects; with --reconnect, retries with exponential back-off and
 * jitter (a random wait between half the current cap and the cap, so
 * clients that lost the same server do not come back in step), saying so
 * on stderr.
 */
async function connectOnce(
  settings: ConnectSettings,
  reach: Pick<WsClientOptions, "tls" | "proxy" | "unixPath">,
  firstAttempt: number,
  why: string | undefined,
): Promise<WsClient> {
  for (let attempt = firstAttempt;; attempt++) {
    if (attempt > 0) {
      const tries = settings.reconnectTries;
      if (tries !== undefined && attempt > tries) {
        throw new WsError(
          "connect_failed",
          `gave up after ${tries} reconnect attempt${
            tries === 1 ? "" : "s"
          }: ${why}`,
        );
      }
      const cap = Math.min(
        settings.reconnectMaxDelayMs,
        RECONNECT_BASE_MS * 2 ** Math.min(attempt - 1, 30),
      );
      const waitMs = Math.round(cap / 2 + Math.random() * cap / 2);
      log(
        `reconnecting in ${(waitMs / 1000).toFixed(1)} s (attempt ${attempt}${
          tries === undefined ? "" : ` of ${tries}`
        })`,
      );
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
    try {
      return await connectWebSocket(settings.url, {
        headers: settings.headers,
        protocols: settings.protocols,
        timeoutMs: settings.timeoutMs,
        deflate: settings.deflate,
        ...reach,
      });
    } catch (error) {
      if (!settings.reconnect) throw withTlsHint(error, settings);
      why = describeError(error);
      log(`cannot connect: ${why}`);
    }
  }
}

interface SessionEnd extends WsCloseInfo {
  /** We closed (stdin ended, /close); false when the server or network did. */
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
  end: SessionEnd,
  totals: { sent: number; received: number },
): number {
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

/** One connection's life: stdin to the server, the server to stdout, pings. */
async function runSession(
  client: WsClient,
  settings: ConnectSettings,
  lines: LineSource,
  totals: { sent: number; received: number },
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
  const prompt = () => {
    if (settings.interactive && open) writeStderr("> ");
  };
  // A dead peer may never finish the closing handshake: after a ping
  // timeout the session ends on its own clock.
  const forced = Promise.withResolvers<WsCloseInfo>();
  let forcedEnd = false;
  const closed = Promise.race([client.closed, forced.promise]);
  const ended = closed.then(() => {
    open = false;
  });

  const reader = (async () => {
    for await (const message of client) {
      received++;
      totals.received++;
      printMessage(message, settings);
      prompt();
      if (lines.ended) armWait();
    }
  })().catch((error) => log(`receive failed: ${describeError(error)}`));

  const commands: CommandContext = {
    client,
    settings,
    send(data) {
      client.send(data);
      sent++;
      totals.sent++;
    },
    close: closeBy,
  };
  const writer = (async () => {
    prompt();
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
        log(describeError(error));
      }
      lines.take();
      prompt();
    }
  })();

  const pinger = startPinger(client, settings, () => void closeDead());
  async function closeDead() {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      client.close(1000, "ping timeout").catch(() => {}),
      // The peer already missed a pong: give its close as long, no longer.
      new Promise((resolve) =>
        timer = setTimeout(
          resolve,
          Math.min(settings.pingTimeoutMs ?? CLOSE_WAIT_MS, CLOSE_WAIT_MS),
        )
      ),
    ]);
    clearTimeout(timer);
    forcedEnd = true;
    forced.resolve({ code: 1006, reason: "ping timeout", wasClean: false });
  }

  const info = await closed;
  if (settings.interactive) writeStderr("\r\x1b[K");
  clearTimeout(quietTimer);
  pinger.stop();
  await writer;
  // The reader ends with the connection; after a forced end it may not.
  if (!forcedEnd) await reader;
  return { ...info, byUs };
}

function startPinger(
  client: WsClient,
  settings: ConnectSettings,
  onDead: () => void,
): { stop(): void } {
  if (settings.pingIntervalMs === undefined) return { stop() {} };
  const ping = pingOf(client);
  if (!ping) {
    log("--ping-interval: this client cannot ping yet; ignored");
    return { stop() {} };
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const round = async () => {
    const timeoutMs = settings.pingTimeoutMs;
    let deadline: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => {
      if (timeoutMs !== undefined) {
        deadline = setTimeout(() => resolve("late"), timeoutMs);
      }
    });
    try {
      const rtt = await Promise.race([ping(), late]);
      if (stopped) return;
      if (rtt === "late") {
        log(`no pong within ${timeoutMs! / 1000} s: closing`);
        onDead();
        return;
      }
      log(`pong in ${rtt.toFixed(1)} ms`);
    } catch {
      return; // Closed meanwhile: the session reports it.
    } finally {
      clearTimeout(deadline);
    }
    if (!stopped) timer = setTimeout(round, settings.pingIntervalMs);
  };
  timer = setTimeout(round, settings.pingIntervalMs);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

interface CommandContext {
  client: WsClient;
  settings: ConnectSettings;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): Promise<WsCloseInfo>;
}

const COMMAND_HELP =
  "/ping [text]  /close [code [reason]]  /binary HEX  //text sends /text  /help";

/** An interactive line: a /command, or a message. */
async function runLine(line: Uint8Array, context: CommandContext) {
  const text = decode(line);
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
      const ping = pingOf(context.client);
      if (!ping) return log("this client cannot ping yet");
      const payload = new TextEncoder().encode(rest);
      if (payload.length > 125) {
        return log(`/ping text is limited to 125 bytes, not ${payload.length}`);
      }
      // A dead peer must not hold the prompt: the ping gives up in time.
      const timeoutMs = context.settings.pingTimeoutMs ?? PING_COMMAND_WAIT_MS;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const rtt = await Promise.race([
        ping(rest === "" ? undefined : payload),
        new Promise<"late">((r) =>
          timer = setTimeout(() => r("late"), timeoutMs)
        ),
      ]).finally(() => clearTimeout(timer));
      return log(
        rtt === "late"
          ? `no pong within ${timeoutMs / 1000} s`
          : `pong in ${rtt.toFixed(1)} ms`,
      );
    }
    case "close": {
      const [, codeText, reason = ""] = /^(\S*)\s*(.*)$/.exec(rest)!;
      const code = codeText === "" ? 1000 : Number(codeText);
      if (!/^\d{4}$/.test(codeText || "1000")) {
        return log(`/close takes a code like 1000 or 4000, not '${codeText}'`);
      }
      try {
        await context.close(code, reason);
      } catch (error) {
        log(`cannot close with ${code}: ${describeError(error)}`);
      }
      return;
    }
    case "binary": {
      const hex = rest.replace(/\s+/g, "");
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) {
        return log("/binary takes hex digits in pairs, e.g. /binary 48 69");
      }
      return context.send(Uint8Array.fromHex(hex));
    }
    case "help":
      return log(COMMAND_HELP);
    default:
      return log(`unknown command /${escapeControl(name!)} (${COMMAND_HELP})`);
  }
}

function printMessage(message: WsMessage, settings: ConnectSettings): void {
  if (settings.interactive) {
    // Clear the prompt line first; the prompt comes back after.
    if (Deno.stderr.isTerminal()) writeStderr("\r\x1b[K");
    if (typeof message === "string") out(`< ${escapeControl(message)}`);
    else {
      out(`< [binary ${message.length} B] ${binaryText(message, settings)}`);
    }
    return;
  }
  if (typeof message === "string") {
    if (settings.json) outJson({ type: "text", data: message });
    else out(message);
    return;
  }
  const data = binaryText(message, settings);
  if (settings.json) {
    outJson({ type: "binary", encoding: settings.binaryOut, data });
  } else out(data);
}

function binaryText(message: Uint8Array, settings: ConnectSettings): string {
  return settings.binaryOut === "base64" ? message.toBase64() : message.toHex();
}

const textDecoder = new TextDecoder();
function decode(line: Uint8Array): string {
  return textDecoder.decode(line);
}

function writeStderr(text: string): void {
  const bytes = new TextEncoder().encode(text);
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
}

/**
 * Stdin as lines (without `\n` or `\r\n`; a last line without newline
 * counts), read by one reader for the whole run: `peek` waits for the next
 * line (null at EOF) without consuming it, `take` consumes it once sent.
 */
interface LineSource {
  peek(): Promise<Uint8Array | null>;
  take(): void;
  /** EOF seen and every line taken. */
  readonly ended: boolean;
  /** A line was read and not yet taken. */
  hasPending(): boolean;
}

function stdinLines(): LineSource {
  const buf = new Uint8Array(64 * 1024);
  let rest = new Uint8Array(0);
  const ready: Uint8Array[] = [];
  let eof = false;
  let reading: Promise<void> | undefined;
  const fill = async () => {
    let n: number | null;
    try {
      n = await Deno.stdin.read(buf);
    } catch {
      n = null;
    }
    if (n === null) {
      eof = true;
      if (rest.length > 0) ready.push(rest);
      rest = new Uint8Array(0);
      return;
    }
    let chunk = buf.subarray(0, n);
    if (rest.length > 0) {
      const joined = new Uint8Array(rest.length + n);
      joined.set(rest);
      joined.set(chunk, rest.length);
      chunk = joined;
    }
    let start = 0;
    for (
      let i = chunk.indexOf(0x0a);
      i !== -1;
      i = chunk.indexOf(0x0a, start)
    ) {
      const end = i > start && chunk[i - 1] === 0x0d ? i - 1 : i;
      ready.push(chunk.slice(start, end));
      start = i + 1;
    }
    rest = chunk.slice(start);
  };
  return {
    async peek() {
      while (ready.length === 0 && !eof) {
        reading ??= fill().finally(() => reading = undefined);
        await reading;
      }
      return ready[0] ?? null;
    },
    take() {
      ready.shift();
    },
    get ended() {
      return eof && ready.length === 0;
    },
    hasPending() {
      return ready.length > 0;
    },
  };
}
