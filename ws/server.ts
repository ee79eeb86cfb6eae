/**
 * A WebSocket server on netkit's own engine: the TCP accept loop
 * (`serveTcp`: TLS, EMFILE back-off, graceful shutdown), a strict HTTP/1.1
 * request-head parser with size, count and time limits, the opening
 * handshake checks, then the protocol core ({@linkcode WsProtocol}) for
 * every connection. It echoes or broadcasts, bounds what it buffers for
 * slow clients, and serves a small web page at `/`.
 *
 * @module
 */

import type { NetkitServer, ServerStats } from "../types.ts";
import { serverHandle } from "../_server_handle.ts";
import {
  acceptKey,
  checkClientHandshake,
  type HttpRequestHead,
  parseRequestHead,
} from "./handshake.ts";
import { renderWsPage, WS_PAGE_CSP } from "./page.ts";
import { WsError } from "./errors.ts";
import { OPCODE, type ProtocolError } from "./frame.ts";
import { WsProtocol, type WsProtocolEvent } from "./protocol.ts";
import { WsDriver } from "./_driver.ts";
import {
  type DeflateOptions,
  type DeflateParams,
  negotiatePerMessageDeflate,
} from "./deflate.ts";
import { chooseProtocol, rejectHandshake } from "./_answers.ts";
import { closeQuietly, writeAll } from "../_io.ts";
import { formatAddress } from "../address.ts";
import { escapeControl } from "../escape.ts";
import {
  type ConnectionContext,
  serveTcp,
  type TcpTlsOptions,
} from "../tcp/server.ts";

/**
 * Counters of a WebSocket server. `bytesIn`/`bytesOut` count message
 * payload bytes (text as UTF-8), not frame headers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveWebSocket } from "@netkit/netkit/ws";
 *
 * await using server = serveWebSocket({ port: 0 });
 * const { messagesIn, slowClientsDropped } = server.stats();
 * assert.ok(messagesIn === 0 && slowClientsDropped === 0);
 * ```
 */
export interface WsServerStats extends ServerStats {
  /** Messages received from clients. */
  messagesIn: number;
  /** Messages sent to clients (a broadcast to 3 peers counts 3). */
  messagesOut: number;
  /** Upgrade requests answered 400, 405 or 426 (malformed handshake). */
  handshakeRejected: number;
  /** Upgrade requests answered 403 because of their `Origin`. */
  originRejected: number;
  /** Clients closed with 1009 for sending a message over `maxMessageSize`. */
  tooLarge: number;
  /** Clients closed with 1008 because they read too slowly (`maxBufferedAmount`). */
  slowClientsDropped: number;
  /** Times the page at `/` was served. */
  pagesServed: number;
  /** Connections closed because their request head did not arrive within `headTimeoutMs`. */
  headTimeouts: number;
  /** Errors reported through `onError` (socket errors, handler failures). */
  errors: number;
  /** TLS connections reset by the accept loop: handshake not done in time (see `serveTcp`). */
  handshakeTimeouts: number;
  /** Unfinished TLS handshakes reset to make room (see `serveTcp`). */
  handshakesShed: number;
}

/**
 * How the server answers a message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { WsServerMode } from "@netkit/netkit/ws";
 *
 * const modes: WsServerMode[] = ["echo", "broadcast"];
 * assert.ok(modes.length === 2);
 * ```
 */
export type WsServerMode = "echo" | "broadcast";

/**
 * Options of {@linkcode serveWebSocket}.
 */
export interface WsServerOptions {
  /** Address to bind. Default `127.0.0.1`. */
  hostname?: string;
  /** Port to bind; 0 picks a free one. Default 0. */
  port?: number;
  /**
   * `echo` (default) sends each message back to its sender; `broadcast`
   * sends it to every other connected client (not the sender).
   */
  mode?: WsServerMode;
  /** The path that accepts WebSocket upgrades. Default `/ws`. */
  path?: string;
  /**
   * Subprotocols the server accepts. The first one in the client's
   * `Sec-WebSocket-Protocol` list that is also here is chosen; with no
   * match the handshake succeeds without a protocol (RFC 6455 §4.2.2).
   */
  protocols?: string[];
  /**
   * Largest message in bytes; a client that sends a bigger one is closed
   * with 1009 as soon as a frame header announces more than is left, so
   * a connection never buffers more than this plus one read. Default 16 MiB.
   */
  maxMessageSize?: number;
  /**
   * Milliseconds a client may stay silent (no bytes at all) before it is
   * closed with 1001; halfway through it is pinged, so a live client's
   * pong keeps it open. 0 disables. Default 30 000.
   */
  idleTimeoutMs?: number;
  /**
   * Browser origins allowed to connect (e.g. `https://example.com`). When
   * set, an upgrade carrying any other `Origin` is answered 403. Requests
   * without `Origin` (non-browser clients, which could forge it anyway)
   * are allowed. Include the server's own origin to keep the page working.
   */
  allowedOrigins?: string[];
  /** WebSocket connections open at once; further upgrades get 503. */
  maxConnections?: number;
  /**
   * Bytes the server may have queued for one client before it is deemed
   * too slow and closed with 1008 (counted in `slowClientsDropped`), so
   * memory stays bounded whatever a client does. Default: twice
   * `maxMessageSize` (32 MiB), so a client that pipelines a few maximal
   * messages is not mistaken for a slow one.
   */
  maxBufferedAmount?: number;
  /** Milliseconds `shutdown()` waits for clients to answer the 1001 close. Default 5000. */
  gracePeriodMs?: number;
  /** Aborting it shuts the server down, like calling `shutdown()`. */
  signal?: AbortSignal;
  /** Called with errors the server survives. */
  onError?: (error: unknown) => void;
  /** Serve the web page at `/`. Default true. */
  page?: boolean;
  /** Serve `wss://` (and `https://` for the page) with this PEM certificate and key. */
  tls?: TcpTlsOptions;
  /**
   * Accept permessage-deflate (RFC 7692) when a client offers it: `true`
   * for the defaults (context takeover both ways, 15-bit windows), or
   * {@linkcode DeflateOptions} to ask for `server_no_context_takeover` or
   * limit `client_max_window_bits`. An inflated message counts against
   * `maxMessageSize` (past it, 1009). Default false: no extension.
   */
  deflate?: boolean | DeflateOptions;
  /**
   * Milliseconds a client has to send its whole request head, counted
   * from the connection: trickling bytes does not extend it. Default 10 000.
   */
  headTimeoutMs?: number;
  /** Largest request head in bytes (431 beyond). Default 16 KiB. */
  maxHeadBytes?: number;
  /** Most header fields in a request head (431 beyond). Default 100. */
  maxHeaders?: number;
  /**
   * Takes over each upgraded connection once the 101 is sent, instead of
   * the echo or broadcast (`netkit relay` runs its own pipe on it):
   * `leftover` holds bytes the client sent past its request head, and
   * `context` is the accept loop's. Such a connection counts toward
   * `maxConnections` until the returned promise settles; the server does
   * not ping it, count its messages or send it 1001 at shutdown (the
   * accept loop closes it after `gracePeriodMs`).
   */
  onUpgrade?: (
    conn: Deno.Conn,
    upgrade: { leftover: Uint8Array; context: ConnectionContext },
  ) => Promise<void>;
}

/**
 * A running WebSocket server.
 *
 * @example
 * ```ts
 * import { serveWebSocket, type WsServer } from "@netkit/netkit/ws";
 *
 * const server: WsServer = serveWebSocket({ port: 0 });
 * await server.shutdown();
 * ```
 */
export type WsServer = NetkitServer<WsServerStats>;

const DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024;
const CLOSE_TIMEOUT_MS = 5000;
const LINGER_MS = 1000;
const encoder = new TextEncoder();

/** What a 101 leaves for the engine. */
interface Upgraded {
  leftover: Uint8Array;
  address: string;
  /** permessage-deflate as agreed; absent without it. */
  deflate?: DeflateParams;
}

// An offer that breaks the header grammar is declined, not refused: the
// connection goes on uncompressed, as RFC 7692 §5 allows.
function negotiateDeflate(
  header: string | null,
  options: DeflateOptions,
): { params: DeflateParams; response: string } | null {
  try {
    return negotiatePerMessageDeflate(header, options);
  } catch {
    return null;
  }
}

/** One upgraded connection, as broadcast, idle pings and shutdown see it. */
interface Peer {
  driver: WsDriver;
  address: string;
  lastActive: number;
  /** When the idle ping went out; 0 when none is outstanding. */
  pingedAt: number;
}

/**
 * Starts a WebSocket echo or broadcast server.
 *
 * The request head must arrive within `headTimeoutMs` and fit
 * `maxHeadBytes`/`maxHeaders` (else 431, or the connection is closed).
 * The opening handshake is validated before upgrading: a method other than
 * GET gets 405, a bad key, `Upgrade` or `Connection` header 400, a version
 * other than 13 gets 426 with `Sec-WebSocket-Version: 13`, and a plain GET
 * on the WebSocket path 426 with `Upgrade: websocket`. Other paths get 404
 * (except `/`, the page). Shutdown closes every client with 1001
 * (going away) and waits up to `gracePeriodMs` for them to answer.
 *
 * Bind errors throw synchronously.
 *
 * @example Echo a message
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveWebSocket } from "@netkit/netkit/ws";
 *
 * await using server = serveWebSocket({ port: 0 });
 * const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/ws`);
 * await new Promise((resolve) => ws.onopen = resolve);
 * ws.send("hello");
 * const reply = await new Promise<MessageEvent>((resolve) => ws.onmessage = resolve);
 * assert.ok(reply.data === "hello");
 * ws.close();
 * await new Promise((resolve) => ws.onclose = resolve);
 * ```
 */
export function serveWebSocket(options: WsServerOptions = {}): WsServer {
  const path = options.path ?? "/ws";
  const mode = options.mode ?? "echo";
  const maxMessage = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE;
  const deflateOptions = options.deflate === true
    ? {}
    : options.deflate || undefined;
  // Window sizes out of range throw here, before anything is bound.
  negotiatePerMessageDeflate(null, deflateOptions);
  const maxBuffered = options.maxBufferedAmount ?? 2 * maxMessage;
  const accepted = options.protocols ?? [];
  const headTimeoutMs = options.headTimeoutMs ?? 10_000;
  const gracePeriodMs = options.gracePeriodMs ?? 5000;
  const origins = options.allowedOrigins
    ? new Set(options.allowedOrigins.map((o) => o.toLowerCase()))
    : undefined;
  const reportError = options.onError ?? (() => {});
  const stats: WsServerStats = {
    served: 0,
    active: 0,
    refused: 0,
    bytesIn: 0,
    bytesOut: 0,
    messagesIn: 0,
    messagesOut: 0,
    handshakeRejected: 0,
    originRejected: 0,
    tooLarge: 0,
    slowClientsDropped: 0,
    pagesServed: 0,
    headTimeouts: 0,
    errors: 0,
    handshakeTimeouts: 0,
    handshakesShed: 0,
  };
  const peers = new Set<Peer>();
  let handedOver = 0;
  let stopping = false;
  const pageHtml = options.page === false
    ? undefined
    : renderWsPage({ path, mode });

  function fail(error: unknown) {
    stats.errors++;
    reportError(error);
  }

  function dropSlow(peer: Peer) {
    stats.slowClientsDropped++;
    peers.delete(peer);
    peer.driver.startClose(
      1008,
      "too slow: reading messages slower than they arrive",
    );
  }

  function protocolFailed(peer: Peer, error: ProtocolError) {
    peers.delete(peer);
    if (error.closeCode === 1009) {
      stats.tooLarge++;
      return;
    }
    fail(
      new WsError(
        "protocol_error",
        `client ${peer.address}: ${
          escapeControl(error.reason)
        }; connection dropped`,
      ),
    );
  }

  // Everything one read produced, handled before the driver writes the
  // replies out in one go.
  function onEvents(peer: Peer, events: WsProtocolEvent[]) {
    const protocol = peer.driver.protocol;
    for (const event of events) {
      if ("kind" in event) {
        protocolFailed(peer, event);
        return;
      }
      let opcode: number;
      let data: Uint8Array;
      if (event.type === "text") {
        opcode = OPCODE.text;
        data = event.bytes!;
      } else if (event.type === "binary") {
        opcode = OPCODE.binary;
        data = event.data;
      } else {
        if (event.type === "close") peers.delete(peer);
        continue;
      }
      stats.messagesIn++;
      stats.bytesIn += data.length;
      if (mode === "echo") {
        if (protocol.sendMessage(opcode, data)) {
          stats.messagesOut++;
          stats.bytesOut += data.length;
        }
      } else {
        broadcast(peer, opcode, data);
      }
    }
  }

  function broadcast(from: Peer, opcode: number, data: Uint8Array) {
    for (const peer of peers) {
      if (peer === from) continue;
      if (peer.driver.bufferedAmount > maxBuffered) {
        dropSlow(peer);
        continue;
      }
      if (!peer.driver.protocol.sendMessage(opcode, data)) continue;
      stats.messagesOut++;
      stats.bytesOut += data.length;
      void peer.driver.flush();
    }
  }

  async function handle(conn: Deno.Conn, context: ConnectionContext) {
    // The handshake's objects (head, headers, strings) die with
    // negotiate's frame; only the engine's state lives on per connection.
    const upgraded = await negotiate(conn, context);
    if (upgraded && options.onUpgrade) {
      await handOver(conn, context, upgraded.leftover);
    } else if (upgraded) {
      await serveUpgraded(conn, context, upgraded);
    }
  }

  async function handOver(
    conn: Deno.Conn,
    context: ConnectionContext,
    leftover: Uint8Array,
  ) {
    handedOver++;
    stats.served++;
    stats.active++;
    try {
      await options.onUpgrade!(conn, { leftover, context });
    } finally {
      handedOver--;
      stats.active--;
    }
  }

  // Reads the head and answers it: an HTTP response, or a 101 and what
  // the engine needs (null: nothing more to do on this connection).
  async function negotiate(
    conn: Deno.Conn,
    context: ConnectionContext,
  ): Promise<Upgraded | null> {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const request = await readHead(conn, context.signal);
    if (request === null) return null;
    if ("status" in request) {
      stats.refused++;
      stats.handshakeRejected++;
      await respond(conn, request.status, request.message + "\n");
      return null;
    }
    const { head, leftover } = request;
    const pathname = pathOf(head.target);
    if (pathname === path) {
      return await upgrade(conn, head, leftover, remote);
    }
    if (pageHtml !== undefined && pathname === "/") {
      if (head.method !== "GET" && head.method !== "HEAD") {
        await respond(conn, 405, "method not allowed\n", {
          allow: "GET, HEAD",
        });
        return null;
      }
      stats.pagesServed++;
      await respond(conn, 200, pageHtml, {
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": WS_PAGE_CSP,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
      }, head.method === "HEAD");
      return null;
    }
    await respond(conn, 404, `not found: the WebSocket endpoint is ${path}\n`);
    return null;
  }

  // The head, an HTTP error to answer, or null when the connection went
  // away or the deadline passed (the whole head, however it trickles in).
  async function readHead(
    conn: Deno.Conn,
    signal: AbortSignal,
  ): Promise<
    | { head: HttpRequestHead; leftover: Uint8Array }
    | { status: number; message: string }
    | null
  > {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      stats.headTimeouts++;
      closeQuietly(conn);
    }, headTimeoutMs);
    const onAbort = () => closeQuietly(conn);
    signal.addEventListener("abort", onAbort, { once: true });
    const limits = {
      maxHeadBytes: options.maxHeadBytes,
      maxHeaders: options.maxHeaders,
    };
    let buf = new Uint8Array(1024);
    let filled = 0;
    try {
      for (;;) {
        if (filled === buf.length) {
          const grown = new Uint8Array(buf.length * 2);
          grown.set(buf);
          buf = grown;
        }
        const n = await conn.read(buf.subarray(filled));
        if (n === null) return null;
        filled += n;
        const parsed = parseRequestHead(buf.subarray(0, filled), limits);
        if (parsed) {
          return {
            head: parsed.head,
            leftover: buf.slice(parsed.bodyOffset, filled),
          };
        }
      }
    } catch (error) {
      if (expired || signal.aborted || !(error instanceof WsError)) return null;
      return error.code === "head_too_large"
        ? { status: 431, message: escapeControl(error.message) }
        : { status: 400, message: escapeControl(error.message) };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }

  async function upgrade(
    conn: Deno.Conn,
    head: HttpRequestHead,
    leftover: Uint8Array,
    remote: Deno.NetAddr,
  ): Promise<Upgraded | null> {
    if (stopping) {
      stats.refused++;
      return await refuse(conn, 503, "server is shutting down\n");
    }
    const h = head.headers;
    if (head.method === "GET" && !h.has("upgrade")) {
      stats.refused++;
      stats.handshakeRejected++;
      return await refuse(
        conn,
        426,
        `this is a WebSocket endpoint: connect with a WebSocket client${
          pageHtml ? " or open / in a browser" : ""
        }\n`,
        { upgrade: "websocket", connection: "Upgrade" },
      );
    }
    const problems = checkClientHandshake(head);
    if (problems.length > 0) {
      stats.refused++;
      stats.handshakeRejected++;
      const { status, body, headers } = rejectHandshake(problems);
      return await refuse(conn, status, body, headers);
    }
    const origin = h.get("origin");
    if (origins && origin !== null && !origins.has(origin.toLowerCase())) {
      stats.refused++;
      stats.originRejected++;
      return await refuse(
        conn,
        403,
        `origin ${escapeControl(origin)} is not allowed\n`,
      );
    }
    if (
      options.maxConnections !== undefined &&
      peers.size + handedOver >= options.maxConnections
    ) {
      stats.refused++;
      return await refuse(
        conn,
        503,
        "too many connections, try again later\n",
        {
          "retry-after": "1",
        },
      );
    }
    const protocol = chooseProtocol(h.get("sec-websocket-protocol"), accepted);
    const lines = [
      "HTTP/1.1 101 Switching Protocols",
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Accept: ${acceptKey(h.get("sec-websocket-key")!.trim())}`,
    ];
    if (protocol !== undefined) {
      lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
    }
    const deflate = deflateOptions &&
      negotiateDeflate(h.get("sec-websocket-extensions"), deflateOptions);
    if (deflate) lines.push(`Sec-WebSocket-Extensions: ${deflate.response}`);
    await writeAll(conn, encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
    return {
      leftover,
      address: formatAddress(remote),
      deflate: deflate?.params,
    };
  }

  async function serveUpgraded(
    conn: Deno.Conn,
    context: ConnectionContext,
    { leftover, address, deflate }: Upgraded,
  ) {
    const peer: Peer = {
      driver: undefined as unknown as WsDriver,
      address,
      lastActive: performance.now(),
      pingedAt: 0,
    };
    peer.driver = new WsDriver(
      conn,
      new WsProtocol({
        role: "server",
        maxMessageSize: maxMessage,
        keepTextBytes: true,
        deflate,
      }),
      {
        role: "server",
        closeTimeoutMs: CLOSE_TIMEOUT_MS,
        onEvents: (events) => onEvents(peer, events),
        onRead() {
          peer.lastActive = performance.now();
          peer.pingedAt = 0;
        },
      },
    );
    const onAbort = () => {
      peers.delete(peer);
      peer.driver.startClose(1001, "server shutting down", gracePeriodMs);
    };
    context.signal.addEventListener("abort", onAbort, { once: true });
    peers.add(peer);
    stats.served++;
    stats.active++;
    try {
      await peer.driver.run(leftover);
    } finally {
      peers.delete(peer);
      stats.active--;
      context.signal.removeEventListener("abort", onAbort);
    }
  }

  async function refuse(
    conn: Deno.Conn,
    status: number,
    body: string,
    headers: Record<string, string> = {},
  ): Promise<null> {
    await respond(conn, status, body, headers);
    return null;
  }

  async function respond(
    conn: Deno.Conn,
    status: number,
    body: string,
    headers: Record<string, string> = {},
    headOnly = false,
  ) {
    const bytes = encoder.encode(body);
    const fields: Record<string, string> = {
      "content-type": "text/plain; charset=utf-8",
      ...headers,
      "content-length": String(bytes.length),
      connection: "close",
    };
    if (status === 426 && !fields.upgrade) fields.upgrade = "websocket";
    const lines = [`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ""}`];
    for (const [name, value] of Object.entries(fields)) {
      lines.push(`${name}: ${value}`);
    }
    const headBytes = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
    await writeAll(
      conn,
      headOnly ? headBytes : new Uint8Array([...headBytes, ...bytes]),
    );
    // Half-close and read until the client hangs up (briefly), so unread
    // request bytes do not turn the close into a reset that eats the answer.
    await conn.closeWrite().catch(() => {});
    const timer = setTimeout(() => closeQuietly(conn), LINGER_MS);
    try {
      const sink = new Uint8Array(4096);
      while ((await conn.read(sink)) !== null) { /* discard */ }
    } catch {
      // Closed by the timer or reset by the client: either way, done.
    } finally {
      clearTimeout(timer);
    }
  }

  const tcp = serveTcp(handle, {
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    tls: options.tls,
    gracePeriodMs,
    onError: fail,
  });
  // After serveTcp, which throws on bind errors: no timer to leak then.
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  // One timer for all clients: ping those silent for half the timeout,
  // close with 1001 those silent for all of it.
  const sweep = idleTimeoutMs > 0
    ? setInterval(() => {
      const now = performance.now();
      for (const peer of peers) {
        const silent = now - peer.lastActive;
        if (silent >= idleTimeoutMs) {
          peers.delete(peer);
          peer.driver.startClose(1001, "no response to ping");
        } else if (silent >= idleTimeoutMs / 2 && peer.pingedAt === 0) {
          peer.pingedAt = now;
          if (peer.driver.protocol.sendPing()) void peer.driver.flush();
        }
      }
    }, Math.max(5, Math.min(idleTimeoutMs / 8, 1000)))
    : undefined;

  const finished = tcp.finished.finally(() => clearInterval(sweep));

  function shutdown(): Promise<void> {
    stopping = true;
    void tcp.shutdown();
    return finished;
  }

  options.signal?.addEventListener("abort", () => void shutdown(), {
    once: true,
  });
  if (options.signal?.aborted) void shutdown();

  return serverHandle({
    addr: tcp.addr,
    finished,
    stats: () => {
      const { handshakeTimeouts, handshakesShed } = tcp.stats();
      return { ...stats, handshakeTimeouts, handshakesShed };
    },
    shutdown,
  });
}

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  426: "Upgrade Required",
  431: "Request Header Fields Too Large",
  503: "Service Unavailable",
};

/** The path of a request target (origin or absolute form), or "" if neither. */
function pathOf(target: string): string {
  if (target.startsWith("/")) {
    const q = target.indexOf("?");
    return q < 0 ? target : target.slice(0, q);
  }
  try {
    return new URL(target).pathname;
  } catch {
    return "";
  }
}
