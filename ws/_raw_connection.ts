// The one way netkit's WebSocket clients reach a server: `openTransport`
// (the byte stream: TCP, or TLS for wss://), `sendRequestHead` (the
// opening handshake's HTTP exchange) and `toWsUrl` (the one URL rule).
// `connectWebSocket`, `ws verify` and `ws check` all read through here.
// `openRaw` is the raw client of verify and the tests: it sends exactly
// the bytes it is told to and reports exactly what came back.

import { closeQuietly, disconnectKind, osMessage, writeAll } from "../_io.ts";
import {
  buildClientRequest,
  generateKey,
  type HttpResponseHead,
  parseResponseHead,
} from "./handshake.ts";
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  type FrameInit,
  type ProtocolError,
} from "./frame.ts";
import { WsError } from "./errors.ts";
import type { Transport } from "./_driver.ts";
import { dial, type DialTlsOptions } from "../tcp/dial.ts";
import { TcpError } from "../tcp/errors.ts";
import { NetkitError } from "../errors.ts";

/** What {@linkcode RawConnection.next} yields. */
export type RawEvent =
  | Frame
  | ProtocolError
  | { kind: "eof" }
  | { kind: "timeout" };

/** An open connection after the handshake response (any status). */
export interface RawConnection {
  /** The TCP or TLS connection. */
  conn: Transport;
  /** The server's response head. */
  response: HttpResponseHead;
  /** The `Sec-WebSocket-Key` that was sent. */
  key: string;
  /** Encodes and sends one frame; masked with a random key unless `mask` is given. */
  send(frame: FrameInit): Promise<void>;
  /** Sends bytes as they are. */
  sendRaw(bytes: Uint8Array): Promise<void>;
  /**
   * The next frame from the server (decoded as a client: masked frames are
   * protocol errors), `eof` when the server closed TCP, or `timeout` when
   * nothing complete arrived within `timeoutMs` (the connection stays open).
   */
  next(timeoutMs: number): Promise<RawEvent>;
  /**
   * The next bytes from the server as they are (the handshake's leftover
   * first), for a caller that runs its own protocol core; not to be mixed
   * with `next` on one connection.
   */
  readChunk(
    timeoutMs: number,
  ): Promise<Uint8Array | { kind: "eof" } | { kind: "timeout" }>;
  /** Closes the connection (idempotent). */
  close(): void;
}

/** Options of {@linkcode openRaw}. */
export interface OpenRawOptions {
  /** Extra request headers (replace defaults of the same name). */
  headers?: HeadersInit;
  /** Subprotocols to offer. */
  protocols?: string[];
  /** Time allowed to connect and receive the response head. */
  timeoutMs: number;
  /** Extra PEM root certificates for wss://. */
  caCerts?: string[];
  /** wss:// only: skip every certificate check (chain and name). */
  insecure?: boolean;
  /**
   * Accept RSV1 in the server's frames (an extension such as
   * permessage-deflate was offered); otherwise RSV1 is a protocol error.
   */
  rsv1?: boolean;
}

/**
 * Connects, sends a handshake with a fresh key and reads the response head.
 * Does not require 101: the caller checks with checkServerHandshake.
 */
export async function openRaw(
  url: URL,
  options: OpenRawOptions,
): Promise<RawConnection> {
  const key = generateKey();
  const head = buildClientRequest(url, key, {
    headers: options.headers,
    protocols: options.protocols,
  });
  const { conn, response, leftover } = await sendRequestHead(
    url,
    head,
    options.timeoutMs,
    { caCerts: options.caCerts, insecure: options.insecure },
  );
  return rawConnection(conn, response, key, leftover, options.rsv1 ?? false);
}

/** How {@linkcode openTransport} and {@linkcode sendRequestHead} reach the server. */
export interface SendRequestHeadOptions {
  /** TLS settings for wss:// (ignored for ws://). */
  tls?: DialTlsOptions;
  /** Extra PEM root certificates for wss:// (added to `tls.caCerts`). */
  caCerts?: string[];
  /** wss:// only: skip every certificate check, like `tls.insecure`. */
  insecure?: boolean;
  /** `http://[USER:PASS@]HOST:PORT` or `socks5://…` proxy (see `dial`). */
  proxy?: string;
  /** Connect to this Unix socket; the URL then names the host and path only. */
  unixPath?: string;
}

/**
 * Connects (TLS for wss://), writes `head` verbatim and reads the response
 * head within `timeoutMs`. The connection is closed on every failure.
 */
export async function sendRequestHead(
  url: URL,
  head: string,
  timeoutMs: number,
  options: SendRequestHeadOptions = {},
): Promise<
  { conn: Transport; response: HttpResponseHead; leftover: Uint8Array }
> {
  const deadline = Date.now() + timeoutMs;
  const conn = await openTransport(url, { ...options, timeoutMs });
  try {
    await withDeadline(
      writeAll(conn, new TextEncoder().encode(head)),
      deadline,
      conn,
      `sending the handshake to ${url.host}`,
    );
    const buf = new Uint8Array(64 * 1024);
    let filled = 0;
    for (;;) {
      const n = await withDeadline(
        conn.read(buf.subarray(filled)),
        deadline,
        conn,
        `waiting ${timeoutMs} ms for a handshake response from ${url.host}`,
      );
      if (n === null) {
        throw new WsError(
          "bad_http",
          filled === 0
            ? "server closed the connection without a handshake response"
            : `server closed the connection after ${filled} bytes of an incomplete response head`,
        );
      }
      filled += n;
      // parseResponseHead throws head_too_large long before buf is full.
      const parsed = parseResponseHead(buf.subarray(0, filled));
      if (parsed) {
        return {
          conn,
          response: parsed.head,
          leftover: buf.slice(parsed.bodyOffset, filled),
        };
      }
    }
  } catch (error) {
    closeQuietly(conn);
    if (error instanceof WsError) throw error;
    throw new WsError(
      "connect_failed",
      `connection to ${url.host} failed: ${describeConnectError(error)}`,
      { cause: error },
    );
  }
}

/**
 * The byte stream to a ws:// or wss:// URL's host, connected (and for
 * wss:// TLS-handshaken) within `timeoutMs`: the one place a WebSocket
 * client dials, through `tcp/dial.ts` (proxies, Unix sockets, client
 * certificates). Dial failures become `WsError`s: `timeout`, or
 * `connect_failed` with dial's explanation.
 */
export async function openTransport(
  url: URL,
  options: SendRequestHeadOptions & { timeoutMs: number },
): Promise<Transport> {
  const timeoutMs = options.timeoutMs;
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new WsError(
      "bad_url",
      `not a WebSocket URL (ws:// or wss://): ${url.href}`,
    );
  }
  const secure = url.protocol === "wss:";
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port ? Number(url.port) : secure ? 443 : 80;
  try {
    return await dial({ hostname, port }, {
      tls: secure ? transportTls(options) : undefined,
      proxy: options.proxy,
      unixPath: options.unixPath,
      timeoutMs,
    });
  } catch (error) {
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
function transportTls(options: SendRequestHeadOptions): DialTlsOptions {
  const tls = { ...options.tls };
  if (options.caCerts) {
    tls.caCerts = [...(tls.caCerts ?? []), ...options.caCerts];
  }
  if (options.insecure) tls.insecure = true;
  return tls;
}

/**
 * Awaits `promise` until `deadline`; past it, closes `conn` (which settles
 * the pending operation) and throws a timeout.
 */
async function withDeadline<T>(
  promise: Promise<T>,
  deadline: number,
  conn: Transport,
  what: string,
): Promise<T> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    closeQuietly(conn);
  }, Math.max(0, deadline - Date.now()));
  try {
    return await promise;
  } catch (error) {
    if (timedOut) {
      throw new WsError("timeout", `timed out ${what}`, {
        cause: error,
      });
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function describeConnectError(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) {
    return "connection refused";
  }
  if (disconnectKind(error) === "reset") return "connection reset";
  return osMessage(error);
}

type ReadResult = { n: number | null } | { error: unknown };

function rawConnection(
  conn: Transport,
  response: HttpResponseHead,
  key: string,
  leftover: Uint8Array,
  rsv1: boolean,
): RawConnection {
  const decoder = new FrameDecoder({
    expectMasked: false,
    allowedRsv: rsv1 ? 4 : 0,
  });
  let unread: Uint8Array | null = leftover.length > 0 ? leftover : null;
  // Decoded lazily: a readChunk caller takes the leftover bytes raw.
  const queue: Array<Frame | ProtocolError> = [];
  const buf = new Uint8Array(64 * 1024);
  // A read that outlived a timed-out next() is kept for the following call.
  let pending: Promise<ReadResult> | null = null;
  let eof = false;
  let closed = false;

  const read = (): Promise<ReadResult> =>
    pending ??= conn.read(buf).then((n) => ({ n }), (error) => ({ error }));

  return {
    conn,
    response,
    key,
    async send(frame) {
      await writeAll(conn, encodeFrame({ ...frame, mask: frame.mask ?? true }));
    },
    async sendRaw(bytes) {
      await writeAll(conn, bytes);
    },
    async readChunk(timeoutMs) {
      if (unread) {
        const bytes = unread;
        unread = null;
        return bytes;
      }
      if (eof || closed) return { kind: "eof" };
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), timeoutMs);
      });
      const result = await Promise.race([read(), timeout]);
      clearTimeout(timer);
      if (result === "timeout") return { kind: "timeout" };
      pending = null;
      if ("error" in result || result.n === null) {
        eof = true;
        return { kind: "eof" };
      }
      return buf.slice(0, result.n);
    },
    async next(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      if (unread) {
        queue.push(...decoder.push(unread));
        unread = null;
      }
      for (;;) {
        const queued = queue.shift();
        if (queued) return queued;
        if (eof || closed) return { kind: "eof" };
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<"timeout">((resolve) => {
          timer = setTimeout(
            () => resolve("timeout"),
            Math.max(0, deadline - Date.now()),
          );
        });
        const result = await Promise.race([read(), timeout]);
        clearTimeout(timer);
        if (result === "timeout") return { kind: "timeout" };
        pending = null;
        if ("error" in result || result.n === null) {
          eof = true;
          continue;
        }
        queue.push(...decoder.push(buf.subarray(0, result.n)));
      }
    },
    close() {
      closed = true;
      closeQuietly(conn);
    },
  };
}

export { toWsUrl } from "./url.ts";
