import { openRaw, type RawConnection } from "./_raw_connection.ts";
import type { HandshakeProblem } from "./handshake.ts";
import { toWsUrl } from "./url.ts";
import { isProtocolError } from "./frame.ts";
import { describeCloseCode } from "./message.ts";
import { WsProtocol, type WsProtocolEvent } from "./protocol.ts";
import { WsError } from "./errors.ts";
import { errorMessage } from "../_io.ts";
import { escapeControl } from "../escape.ts";

/**
 * One item `verifyServer` checked.
 */
export interface VerifyCheck {
  /**
   * Stable identifier: `connect`, `response`, `http_version`, `status`,
   * `upgrade`, `connection`, `accept`, `protocol`, `extensions`, `echo`,
   * `close_echo` or `tcp_close`.
   */
  name: string;
  /** Whether the server passed. */
  ok: boolean;
  /**
   * One line for people, naming expected and actual values on failure;
   * what the server sent is escaped (`escapeControl`), safe to print.
   */
  message: string;
  /** What RFC 6455 requires, when it is a value. */
  expected?: string;
  /** What the server did, when it is a value. */
  actual?: string;
}

/**
 * The result of {@linkcode verifyServer}.
 */
export interface VerifyReport {
  /** The URL that was verified. */
  url: string;
  /** True only when every check passed. */
  ok: boolean;
  /** The checks in the order they ran. */
  checks: VerifyCheck[];
}

/**
 * Options of {@linkcode verifyServer}.
 */
export interface VerifyServerOptions {
  /**
   * Extra handshake headers. Offered `Sec-WebSocket-Protocol` and
   * `Sec-WebSocket-Extensions` values are what the server may pick from.
   */
  headers?: HeadersInit;
  /** Send a text message and expect it back. Default `true`. */
  echo?: boolean;
  /** Time allowed for each step. Default 5000 ms. */
  timeoutMs?: number;
  /** Extra PEM root certificates for wss://. */
  caCerts?: string[];
}

/** Which checks each handshake problem code fails. */
const PROBLEM_CHECK: Record<HandshakeProblem["code"], string> = {
  bad_http_version: "http_version",
  status_not_101: "status",
  missing_upgrade: "upgrade",
  bad_upgrade: "upgrade",
  missing_connection: "connection",
  bad_connection: "connection",
  missing_accept: "accept",
  accept_mismatch: "accept",
  unexpected_protocol: "protocol",
  unexpected_extension: "extensions",
  bad_extension: "extensions",
  bad_method: "request",
  missing_host: "request",
  missing_key: "request",
  bad_key: "request",
  missing_version: "request",
  bad_version: "request",
};

/**
 * Checks a WebSocket server against RFC 6455 over a raw TCP (or TLS for
 * wss://) connection: sends a handshake with a fresh key and checks the
 * response item by item (status 101, `Upgrade`, `Connection`,
 * `Sec-WebSocket-Accept`, no subprotocol or extension that was not
 * offered); then sends a masked text frame and expects the same text back;
 * then sends Close 1000 and expects the server to answer with a Close and to
 * close TCP. Every step has a timeout, so it never hangs.
 *
 * Never throws for server misbehaviour or unreachable servers: those are
 * failed checks. Throws {@linkcode WsError} `bad_url` for a URL that is
 * not ws:// or wss://.
 *
 * @example
 * ```ts ignore
 * import { verifyServer } from "@netkit/netkit/ws";
 *
 * const report = await verifyServer("ws://127.0.0.1:8080/");
 * for (const check of report.checks) {
 *   console.log(`${check.ok ? "✓" : "✗"} ${check.message}`);
 * }
 * ```
 */
export async function verifyServer(
  url: string | URL,
  options: VerifyServerOptions = {},
): Promise<VerifyReport> {
  const target = toWsUrl(url);
  const timeoutMs = options.timeoutMs ?? 5000;
  const checks: VerifyCheck[] = [];
  // Messages quote the server's status line, headers, echo and close
  // reason: escaped here, once, for every check.
  const report = (): VerifyReport => ({
    url: target.href,
    ok: checks.every((c) => c.ok),
    checks: checks.map((c) => ({
      ...c,
      message: escapeControl(c.message),
      ...(c.expected === undefined
        ? {}
        : { expected: escapeControl(c.expected) }),
      ...(c.actual === undefined ? {} : { actual: escapeControl(c.actual) }),
    })),
  });

  let raw: RawConnection;
  try {
    raw = await openRaw(target, {
      headers: options.headers,
      timeoutMs,
      caCerts: options.caCerts,
    });
  } catch (error) {
    const code = error instanceof WsError ? error.code : "";
    checks.push({
      name: code === "connect_failed" || code === "bad_url"
        ? "connect"
        : "response",
      ok: false,
      message: errorMessage(error),
    });
    return report();
  }
  try {
    checks.push(...handshakeChecks(raw));
    if (raw.response.status !== 101) return report();
    const peer: Peer = {
      raw,
      protocol: new WsProtocol({ role: "client" }),
      events: [],
    };
    if (options.echo ?? true) {
      const { check, failed } = await echoCheck(peer, timeoutMs);
      checks.push(check);
      // A dead or failed connection cannot do a close handshake.
      if (failed) return report();
    }
    checks.push(...await closeChecks(peer, timeoutMs));
    return report();
  } finally {
    await raw.close();
  }
}

function handshakeChecks(raw: RawConnection): VerifyCheck[] {
  const { response, handshake } = raw;
  const problems = handshake.check(response);
  const byCheck = new Map<string, HandshakeProblem[]>();
  for (const problem of problems) {
    const name = PROBLEM_CHECK[problem.code];
    byCheck.set(name, [...byCheck.get(name) ?? [], problem]);
  }
  const h = response.headers;
  const passed: Array<[string, string]> = [
    ["http_version", ""],
    ["status", `status ${response.status} ${response.reason}`.trim()],
    ["upgrade", `Upgrade: ${h.get("upgrade")}`],
    ["connection", `Connection: ${h.get("connection")}`],
    ["accept", "Sec-WebSocket-Accept matches the key"],
    [
      "protocol",
      h.has("sec-websocket-protocol")
        ? `Sec-WebSocket-Protocol: ${h.get("sec-websocket-protocol")} (offered)`
        : "no subprotocol the client did not offer",
    ],
    [
      "extensions",
      h.has("sec-websocket-extensions")
        ? `Sec-WebSocket-Extensions: ${
          h.get("sec-websocket-extensions")
        } (offered)`
        : "no extension the client did not offer",
    ],
  ];
  const checks: VerifyCheck[] = [];
  for (const [name, message] of passed) {
    const found = byCheck.get(name);
    if (!found) {
      // The HTTP version only gets a line of its own when it is wrong.
      if (name !== "http_version") checks.push({ name, ok: true, message });
      continue;
    }
    for (const problem of found) {
      const check: VerifyCheck = { name, ok: false, message: problem.message };
      if (problem.expected !== undefined) check.expected = problem.expected;
      if (problem.actual !== undefined) check.actual = problem.actual;
      checks.push(check);
    }
  }
  return checks;
}

/** Runs the connection after the handshake through the protocol core. */
interface Peer {
  raw: RawConnection;
  protocol: WsProtocol;
  /** Events received but not yet consumed. */
  events: WsProtocolEvent[];
}

/** Writes whatever the core queued (pongs, our Close); errors show up on read. */
async function flush(peer: Peer): Promise<void> {
  for (const chunk of peer.protocol.takeOutput() ?? []) {
    await peer.raw.sendRaw(chunk).catch(() => {});
  }
}

/**
 * The next message-level event (the core answers pings on the way),
 * turning EOF, timeouts and protocol errors into a description.
 */
async function nextEvent(
  peer: Peer,
  timeoutMs: number,
): Promise<
  | { type: "text"; data: string }
  | { type: "binary"; data: Uint8Array }
  | { type: "close"; code: number | null; reason: string }
  | { type: "end"; what: "eof" | "timeout" | "invalid"; detail: string }
> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const event = peer.events.shift();
    if (event !== undefined) {
      if (isProtocolError(event)) {
        return {
          type: "end",
          what: "invalid",
          detail: `invalid frame from the server: ${event.reason}`,
        };
      }
      if (
        event.type === "text" || event.type === "binary" ||
        event.type === "close"
      ) {
        return event;
      }
      continue;
    }
    const chunk = await peer.raw.readChunk(Math.max(0, deadline - Date.now()));
    if ("kind" in chunk) {
      return chunk.kind === "eof"
        ? { type: "end", what: "eof", detail: "server closed TCP" }
        : {
          type: "end",
          what: "timeout",
          detail: `nothing within ${timeoutMs} ms`,
        };
    }
    peer.events.push(...peer.protocol.receive(chunk));
    await flush(peer);
  }
}

async function echoCheck(
  peer: Peer,
  timeoutMs: number,
): Promise<{ check: VerifyCheck; failed: boolean }> {
  const text = `netkit verify ünïcödé ${
    crypto.getRandomValues(new Uint8Array(6)).toHex()
  }`;
  peer.protocol.sendText(text);
  try {
    for (const chunk of peer.protocol.takeOutput() ?? []) {
      await peer.raw.sendRaw(chunk);
    }
  } catch (error) {
    const message = `echo: cannot send a text frame: ${errorMessage(error)}`;
    return { check: { name: "echo", ok: false, message }, failed: true };
  }
  const event = await nextEvent(peer, timeoutMs);
  // Quoted as is: report() escapes what the server sent.
  const expected = `"${text}"`;
  if (event.type === "text" && event.data === text) {
    const message = `echo: text ${expected} came back`;
    return { check: { name: "echo", ok: true, message }, failed: false };
  }
  let actual: string;
  if (event.type === "text") actual = `text "${event.data}"`;
  else if (event.type === "binary") {
    actual = `binary (${event.data.length} byte${
      event.data.length === 1 ? "" : "s"
    })`;
  } else if (event.type === "close") {
    actual = `close ${describeCloseCode(event.code)}${
      event.reason ? ` "${event.reason}"` : ""
    }`;
  } else actual = event.detail;
  return {
    check: {
      name: "echo",
      ok: false,
      message: `echo mismatch: expected text ${expected}, got ${actual}`,
      expected: `text ${expected}`,
      actual,
    },
    failed: event.type === "close" ||
      (event.type === "end" && event.what !== "timeout"),
  };
}

async function closeChecks(
  peer: Peer,
  timeoutMs: number,
): Promise<VerifyCheck[]> {
  peer.protocol.close(1000, "netkit verify");
  try {
    for (const chunk of peer.protocol.takeOutput() ?? []) {
      await peer.raw.sendRaw(chunk);
    }
  } catch (error) {
    return [{
      name: "close_echo",
      ok: false,
      message: `close: cannot send a close frame: ${errorMessage(error)}`,
    }];
  }
  // Data the server sent before seeing our Close may still arrive: skip it.
  let event;
  do {
    event = await nextEvent(peer, timeoutMs);
  } while (event.type === "text" || event.type === "binary");
  const expected = describeCloseCode(1000);
  if (event.type !== "close") {
    return [{
      name: "close_echo",
      ok: false,
      message: `close mismatch: expected a close frame (${expected}), got ${
        event.what === "eof" ? "TCP closed without one" : event.detail
      }`,
      expected,
      actual: event.what,
    }];
  }
  const actual = describeCloseCode(event.code);
  const checks: VerifyCheck[] = [];
  if (event.code === 1000 || event.code === null) {
    checks.push({
      name: "close_echo",
      ok: true,
      message: `close: server answered with ${actual}`,
    });
  } else {
    checks.push({
      name: "close_echo",
      ok: false,
      message: `close code mismatch: expected ${expected}, got ${actual}`,
      expected,
      actual,
    });
  }
  const after = await peer.raw.readChunk(timeoutMs);
  if ("kind" in after && after.kind === "eof") {
    checks.push({
      name: "tcp_close",
      ok: true,
      message: "server closed TCP after the close handshake",
    });
  } else {
    checks.push({
      name: "tcp_close",
      ok: false,
      message: "kind" in after && after.kind === "timeout"
        ? `server did not close TCP within ${timeoutMs} ms after the close handshake`
        : "server sent more frames after the close handshake",
    });
  }
  return checks;
}
