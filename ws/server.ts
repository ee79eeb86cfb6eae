/**
 * A WebSocket server on netkit's own engine: the TCP accept loop
 * (`serveTcp`: TLS, EMFILE back-off, graceful shutdown), the HTTP front
 * (a strict request-head parser with size, count and time limits, the
 * page at `/`), the one accept shared with the `Deno.serve` adapter (the
 * handshake checks, the Origin rule, subprotocol and permessage-deflate),
 * then the protocol core ({@linkcode WsProtocol}) for every connection,
 * in echo or broadcast mode, with bounds on what it buffers for slow
 * clients.
 *
 * @module
 */

import type { NetkitServer, ServerStats } from "../types.ts";
import { serverHandle } from "../_server_handle.ts";
import type { HttpRequestHead } from "./handshake.ts";
import { renderWsPage } from "./page.ts";
import { WsProtocol } from "./protocol.ts";
import type { DriverOptions } from "./_driver.ts";
import {
  type DeflateOptions,
  type DeflateParams,
  negotiatePerMessageDeflate,
} from "./deflate.ts";
import {
  type Acceptance,
  acceptUpgrades,
  switchingProtocols,
} from "./_accept.ts";
import { type FrontSetup, httpFront, respond } from "./_http_front.ts";
import { messageHandler, Peer } from "./_modes.ts";
import { writeAll } from "../_io.ts";
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
  /** The path that accepts WebSocket upgrades (`*`: any path). Default `/ws`. */
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
   * Browser origins allowed to connect (e.g. `https://example.com`): an
   * upgrade whose `Origin` is not exactly one of them (as browsers write
   * origins: scheme, host, port unless the default) is answered 403;
   * `https://example.com.evil.net` is not `https://example.com`.
   * Requests without `Origin` (non-browser clients, which could forge it
   * anyway) are allowed. Without it, only the server's own
   * origin (the scheme-less host and port its `Host` header names) gets
   * in, so a page from another site cannot reach it through a visitor's
   * browser; `"*"` lets every origin in.
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
  /**
   * Milliseconds a client has to take the server's Close (after a
   * protocol error, an idle timeout or a slow-client drop, queued behind
   * what was already sent to it) and answer it before the connection is
   * cut. Default 5000.
   */
  closeTimeoutMs?: number;
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

/** What a connection keeps of its handshake. */
interface Upgraded {
  leftover: Uint8Array;
  deflate: DeflateParams | undefined;
}
const CLOSE_TIMEOUT_MS = 5000;
const encoder = new TextEncoder();

/**
 * Starts a WebSocket echo or broadcast server.
 *
 * The request head must arrive within `headTimeoutMs` and fit
 * `maxHeadBytes`/`maxHeaders` (else 431, or the connection is closed).
 * The opening handshake is validated before upgrading: a method other than
 * GET gets 405, a bad key, `Upgrade` or `Connection` header 400, a version
 * other than 13 gets 426 with `Sec-WebSocket-Version: 13`, and a plain GET
 * on the WebSocket path 426 with `Upgrade: websocket`, an `Origin` not in
 * `allowedOrigins` (by default: not the server's own) 403. Other paths get 404
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
  const gracePeriodMs = options.gracePeriodMs ?? 5000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
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
  const front: FrontSetup = {
    path,
    pageHtml,
    headTimeoutMs: options.headTimeoutMs ?? 10_000,
    maxHeadBytes: options.maxHeadBytes,
    maxHeaders: options.maxHeaders,
    stats,
  };
  const decide = acceptUpgrades({
    protocols: options.protocols,
    allowedOrigins: options.allowedOrigins,
    deflate: deflateOptions,
    hint: pageHtml ? " or open / in a browser" : "",
  });
  const fail = (error: unknown) => {
    stats.errors++;
    reportError(error);
  };
  const onEvents = messageHandler({
    mode,
    peers,
    maxBuffered: options.maxBufferedAmount ?? 2 * maxMessage,
    stats,
    fail,
  });

  // One options object for every connection's driver: the callbacks are
  // told which driver (its Peer) calls.
  const driverOptions: DriverOptions = {
    role: "server",
    closeTimeoutMs: options.closeTimeoutMs ?? CLOSE_TIMEOUT_MS,
    // A client silent for half the idle timeout is pinged; silent for
    // the rest of it, it is closed. The sweep below keeps the time.
    pingIntervalMs: idleTimeoutMs / 2,
    pingTimeoutMs: idleTimeoutMs / 2,
    keepAlive: "idle",
    swept: true,
    onEvents: (events, driver) => onEvents(driver as Peer, events),
    onTimeout(what, driver) {
      if (what === "ping") {
        if (driver.protocol.sendPing()) void driver.flush();
        return;
      }
      peers.delete(driver as Peer);
      driver.startClose(1001, "no response to ping");
    },
  };

  // No-delay is on (serveTcp sets it, on TLS connections through the
  // listener): with Nagle, a reply that follows a partial segment waits
  // for the client's delayed ACK (the 40 ms of 16–32 KiB messages).
  // What an idle connection holds is kept small: this one frame (no
  // nested async call waits while the connection lasts), the peer (the
  // driver and its protocol), and the driver's pending read.
  async function handle(conn: Deno.Conn, context: ConnectionContext) {
    const upgraded = await accept(conn, context);
    if (!upgraded) return;
    if (options.onUpgrade) return handOver(conn, context, upgraded.leftover);
    const peer = new Peer(
      conn,
      new WsProtocol({
        role: "server",
        maxMessageSize: maxMessage,
        keepTextBytes: true,
        deflate: upgraded.deflate,
      }),
      driverOptions,
    );
    // Shutdown closes every peer from one loop, not through a listener
    // per connection on the server's signal.
    if (context.signal.aborted) {
      peer.startClose(1001, "server shutting down", gracePeriodMs);
    } else peers.add(peer);
    stats.served++;
    stats.active++;
    try {
      await peer.run(upgraded.leftover);
    } finally {
      peers.delete(peer);
      stats.active--;
    }
  }

  // The head's objects (headers, strings: about 1 KB) live only in this
  // frame, which ends at the upgrade: a suspended async function keeps
  // every local it has, so `handle` must never hold them while the
  // connection lasts.
  async function accept(
    conn: Deno.Conn,
    context: ConnectionContext,
  ): Promise<Upgraded | null> {
    const request = await httpFront(conn, context.signal, front);
    const accepted = request && await upgrade(conn, request.head);
    if (!accepted) return null;
    return { leftover: request.leftover, deflate: accepted.deflate?.params };
  }

  // The 101, or the answer that refuses the upgrade (then null).
  async function upgrade(
    conn: Deno.Conn,
    head: HttpRequestHead,
  ): Promise<Acceptance | null> {
    if (stopping) {
      stats.refused++;
      await respond(conn, 503, "server is shutting down\n");
      return null;
    }
    const decision = decide(head);
    if (!decision.ok) {
      stats.refused++;
      if (decision.why === "origin") stats.originRejected++;
      else stats.handshakeRejected++;
      await respond(conn, decision.status, decision.body, decision.headers);
      return null;
    }
    if (
      options.maxConnections !== undefined &&
      peers.size + handedOver >= options.maxConnections
    ) {
      stats.refused++;
      await respond(conn, 503, "too many connections, try again later\n", {
        "retry-after": "1",
      });
      return null;
    }
    await writeAll(conn, encoder.encode(switchingProtocols(decision)));
    return decision;
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

  const tcp = serveTcp(handle, {
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    tls: options.tls,
    gracePeriodMs,
    onError: fail,
  });
  // After serveTcp, which throws on bind errors: no timer to leak then.
  // One timer tells every client's timers the time.
  const sweep = idleTimeoutMs > 0
    ? setInterval(() => {
      const now = performance.now();
      for (const peer of peers) peer.tick(now);
    }, Math.max(5, Math.min(idleTimeoutMs / 8, 1000)))
    : undefined;

  const finished = tcp.finished.finally(() => clearInterval(sweep));

  function shutdown(): Promise<void> {
    if (!stopping) {
      stopping = true;
      void tcp.shutdown();
      for (const peer of [...peers]) {
        peers.delete(peer);
        peer.startClose(1001, "server shutting down", gracePeriodMs);
      }
    }
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
