/**
 * The one client edge of netkit's WebSocket tools: {@linkcode sendHandshake}
 * dials (through `tcp/dial.ts`: TCP, TLS, proxies, Unix sockets), writes a
 * request head and reads a bounded response head under one deadline,
 * handing back the bytes that came after it; {@linkcode dialWebSocket}
 * adds the opening handshake's rules ({@linkcode ClientHandshake}). The
 * client, `ws verify`, `ws check`, the relay and the load driver all open
 * their connections here, so they share one URL rule, one deadline, one
 * head limit and one error family ({@linkcode WsError}).
 *
 * @module
 */

import { closeQuietly, disconnectKind, osMessage, writeAll } from "../_io.ts";
import { NetkitError } from "../errors.ts";
import { dial, type DialConn, type DialTlsOptions } from "../tcp/dial.ts";
import { TcpError } from "../tcp/errors.ts";
import { WsError } from "./errors.ts";
import { type HttpResponseHead, parseResponseHead } from "./handshake.ts";
import {
  type AcceptedHandshake,
  ClientHandshake,
  type ClientHandshakeOptions,
} from "./client_handshake.ts";
import { toWsUrl } from "./url.ts";

/**
 * How {@linkcode sendHandshake} reaches the server and how long it waits.
 */
export interface SendHandshakeOptions {
  /**
   * TLS settings for wss:// (ignored for ws://): `caCerts`, `insecure`
   * (skip every certificate check), `cert` + `key` (a client
   * certificate), `serverName`.
   */
  tls?: DialTlsOptions;
  /** Extra PEM root certificates for wss://, added to `tls.caCerts`. */
  caCerts?: string[];
  /** wss:// only: skip every certificate check, like `tls.insecure`. */
  insecure?: boolean;
  /** `http://[USER:PASS@]HOST:PORT` or `socks5://…` proxy (see `dial`). */
  proxy?: string;
  /** Connect to this Unix socket; the URL then names the host and path only. */
  unixPath?: string;
  /**
   * Milliseconds for the whole exchange: connect, TLS, writing the request
   * and receiving the whole response head (a trickling server does not
   * extend it). 0 waits forever. Default 10 000.
   */
  timeoutMs?: number;
  /** Aborting it ends the exchange, which then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Largest response head in bytes. Default 16 KiB. */
  maxHeadBytes?: number;
  /** Most header fields in the response head. Default 100. */
  maxHeaders?: number;
}

/**
 * What {@linkcode sendHandshake} got back: the open connection, the
 * response head (whatever its status) and the bytes read past it.
 */
export interface HandshakeExchange {
  /** The TCP, TLS or Unix connection, open. */
  conn: DialConn;
  /** The server's response head. */
  response: HttpResponseHead;
  /** Bytes received after the head (the first frames, or a body). */
  leftover: Uint8Array;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_HEAD = 16 * 1024;

/**
 * Connects to `url`'s server, writes `request` as it is and reads the
 * response head, all within `timeoutMs`. Any status is returned: judging
 * it is the caller's (see {@linkcode ClientHandshake}), so tools can send
 * deliberately wrong requests. The connection is closed on every failure.
 *
 * @throws {WsError} `bad_url`; `timeout` (no connection, or no complete
 * head, within `timeoutMs`); `connect_failed` (refused, TLS failed, reset
 * before the head); `bad_http` (not an HTTP response, or closed before
 * the head ended); `head_too_large` (past `maxHeadBytes`/`maxHeaders`, as
 * soon as the bytes show it). Aborting `signal` rejects with its reason.
 *
 * @example A deliberately wrong request, answered 426
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   buildClientRequest,
 *   generateKey,
 *   sendHandshake,
 *   serveWebSocket,
 * } from "@netkit/netkit/ws";
 *
 * await using server = serveWebSocket({ port: 0 });
 * const url = new URL(`ws://127.0.0.1:${server.addr.port}/ws`);
 * const request = buildClientRequest(url, generateKey(), { version: "8" });
 * const { conn, response } = await sendHandshake(url, request);
 * conn.close();
 * assert.equal(response.status, 426);
 * assert.equal(response.headers.get("sec-websocket-version"), "13");
 * ```
 */
export async function sendHandshake(
  url: string | URL,
  request: string | Uint8Array,
  options: SendHandshakeOptions = {},
): Promise<HandshakeExchange> {
  const target = toWsUrl(url);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const started = performance.now();
  const conn = await openTransport(target, options, timeoutMs);
  const left = timeoutMs > 0
    ? Math.max(1, timeoutMs - (performance.now() - started))
    : 0;
  // One deadline for the whole head, however it trickles in: past it (or
  // on abort) the connection is closed, which settles the pending I/O.
  let why: "timeout" | "aborted" | undefined;
  const stop = (reason: "timeout" | "aborted") => {
    why ??= reason;
    closeQuietly(conn);
  };
  const timer = left > 0 ? setTimeout(() => stop("timeout"), left) : undefined;
  const onAbort = () => stop("aborted");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const bytes = typeof request === "string"
      ? new TextEncoder().encode(request)
      : request;
    await writeAll(conn, bytes);
    return await readHead(conn, options);
  } catch (error) {
    closeQuietly(conn);
    if (why === "aborted") throw options.signal!.reason;
    if (why === "timeout") {
      throw new WsError(
        "timeout",
        `timed out waiting ${timeoutMs} ms for a handshake response from ${target.host}`,
        { cause: error },
      );
    }
    if (error instanceof WsError) throw error;
    throw new WsError(
      "connect_failed",
      `connection to ${target.host} failed: ${describeConnectError(error)}`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/** Reads until the head is complete; the buffer is the head limit. */
async function readHead(
  conn: DialConn,
  options: SendHandshakeOptions,
): Promise<HandshakeExchange> {
  const limits = {
    maxHeadBytes: options.maxHeadBytes ?? DEFAULT_MAX_HEAD,
    maxHeaders: options.maxHeaders,
  };
  // parseResponseHead throws head_too_large once a full buffer holds no
  // complete head, so nothing past the limit is ever read.
  const buf = new Uint8Array(limits.maxHeadBytes);
  let filled = 0;
  for (;;) {
    const n = await conn.read(buf.subarray(filled));
    if (n === null) {
      throw new WsError(
        "bad_http",
        filled === 0
          ? "server closed the connection without a handshake response"
          : `server closed the connection after ${filled} byte${
            filled === 1 ? "" : "s"
          } of an incomplete response head`,
      );
    }
    filled += n;
    const parsed = parseResponseHead(buf.subarray(0, filled), limits);
    if (parsed) {
      return {
        conn,
        response: parsed.head,
        leftover: buf.slice(parsed.bodyOffset, filled),
      };
    }
  }
}

/**
 * The byte stream to a ws:// or wss:// URL's host, through `tcp/dial.ts`:
 * dial failures become `WsError`s (`timeout`, or `connect_failed` with
 * dial's explanation); an abort rejects with the signal's reason.
 */
async function openTransport(
  url: URL,
  options: SendHandshakeOptions,
  timeoutMs: number,
): Promise<DialConn> {
  const secure = url.protocol === "wss:";
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port ? Number(url.port) : secure ? 443 : 80;
  try {
    return await dial({ hostname, port }, {
      tls: secure ? transportTls(options) : undefined,
      proxy: options.proxy,
      unixPath: options.unixPath,
      timeoutMs,
      signal: options.signal,
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    if (error instanceof TcpError && error.code === "timeout") {
      throw new WsError(
        "timeout",
        `no connection to ${url.host} within ${timeoutMs} ms`,
        { cause: error },
      );
    }
    throw new WsError(
      "connect_failed",
      error instanceof NetkitError
        ? error.message
        : `cannot connect to ${url.host}: ${describeConnectError(error)}`,
      { cause: error },
    );
  }
}

// `caCerts`/`insecure` at the top level are the older spelling of `tls`.
function transportTls(options: SendHandshakeOptions): DialTlsOptions {
  const tls = { ...options.tls };
  if (options.caCerts) {
    tls.caCerts = [...(tls.caCerts ?? []), ...options.caCerts];
  }
  if (options.insecure) tls.insecure = true;
  return tls;
}

function describeConnectError(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) {
    return "connection refused";
  }
  if (disconnectKind(error) === "reset") return "connection reset";
  return osMessage(error);
}

/**
 * Options of {@linkcode dialWebSocket}: what to offer
 * ({@linkcode ClientHandshakeOptions}) and how to reach the server
 * ({@linkcode SendHandshakeOptions}).
 */
export interface DialWebSocketOptions
  extends ClientHandshakeOptions, SendHandshakeOptions {}

/**
 * An upgraded connection from {@linkcode dialWebSocket}: frames start in
 * `leftover`, then on `conn`.
 */
export interface DialedWebSocket extends AcceptedHandshake {
  /** The connection, upgraded. */
  conn: DialConn;
  /** Bytes the server sent right after its 101 (the first frames). */
  leftover: Uint8Array;
}

const BODY_SHOWN = 200;
const BODY_WAIT_MS = 500;

/**
 * Opens a WebSocket connection and returns it upgraded, as bytes: the
 * byte stream, what the handshake agreed on and the first bytes after
 * the 101. The client, the relay and the load driver run their frames on
 * it; `connectWebSocket` is the one to use for messages.
 *
 * @throws {WsError} everything {@linkcode sendHandshake} throws, and
 * `handshake_failed`: `HTTP 403 Forbidden: <start of the body>` for a
 * refused upgrade, or the headers that break RFC 6455 §4.1.
 *
 * @example The raw upgrade under a message client
 * ```ts
 * import assert from "node:assert/strict";
 * import { dialWebSocket, serveWebSocket } from "@netkit/netkit/ws";
 *
 * await using server = serveWebSocket({ port: 0, protocols: ["v1"] });
 * const ws = await dialWebSocket(`http://127.0.0.1:${server.addr.port}/ws`, {
 *   protocols: ["v1"],
 * });
 * assert.equal(ws.protocol, "v1");
 * assert.equal(ws.response.status, 101);
 * ws.conn.close();
 * ```
 */
export async function dialWebSocket(
  url: string | URL,
  options: DialWebSocketOptions = {},
): Promise<DialedWebSocket> {
  const handshake = new ClientHandshake(url, options);
  const { conn, response, leftover } = await sendHandshake(
    handshake.url,
    handshake.request,
    options,
  );
  try {
    const body = response.status === 101
      ? ""
      : await readBodyStart(conn, response.headers, leftover);
    return { ...handshake.accept(response, body), conn, leftover };
  } catch (error) {
    closeQuietly(conn);
    throw error;
  }
}

/** Up to 200 bytes of a refusal's body, on one line. */
async function readBodyStart(
  conn: DialConn,
  headers: Headers,
  leftover: Uint8Array,
): Promise<string> {
  const declared = Number(headers.get("content-length") ?? NaN);
  const want = Number.isFinite(declared)
    ? Math.min(declared, BODY_SHOWN)
    : BODY_SHOWN;
  const buf = new Uint8Array(BODY_SHOWN + 64);
  let filled = Math.min(leftover.length, buf.length);
  buf.set(leftover.subarray(0, filled));
  // A short wait: the body is a courtesy, the status is what matters.
  const timer = setTimeout(() => closeQuietly(conn), BODY_WAIT_MS);
  try {
    while (filled < want) {
      const n = await conn.read(buf.subarray(filled));
      if (n === null) break;
      filled += n;
    }
  } catch {
    // Closed by the timer or the peer: show what arrived.
  } finally {
    clearTimeout(timer);
  }
  let text = new TextDecoder().decode(buf.subarray(0, Math.min(filled, want)));
  if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
    text = text.replace(/^[0-9a-fA-F]+\r\n/, "");
  }
  text = text.replace(/\s+/g, " ").trim();
  return filled > want || (Number.isFinite(declared) && declared > want)
    ? `${text}…`
    : text;
}
