/**
 * A WebSocket server on `Deno.serve` + `Deno.upgradeWebSocket` that checks
 * the opening handshake itself (Deno's own check is lax), echoes or
 * broadcasts, bounds what it buffers for slow clients, and serves a small
 * web page at `/` to try it from a browser.
 *
 * @module
 */

import type { NetkitServer, ServerStats } from "../types.ts";
import { checkClientHandshake, type HandshakeProblem } from "./handshake.ts";
import { renderWsPage, WS_PAGE_CSP } from "./page.ts";
import { WsError } from "./errors.ts";
import { errorMessage } from "../_io.ts";
import { formatAddress } from "../address.ts";

/**
 * Counters of a WebSocket server. `bytesIn`/`bytesOut` count message
 * payloads, text in UTF-16 code units (bytes for ASCII), so the hot path
 * never re-encodes a string to count it.
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
  /** Errors reported through `onError` (socket errors, handler failures). */
  errors: number;
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
 *
 * @example A chat-style relay that only browsers from one site may use
 * ```ts
 * import assert from "node:assert/strict";
 * import type { WsServerOptions } from "@netkit/netkit/ws";
 *
 * const options: WsServerOptions = {
 *   mode: "broadcast",
 *   allowedOrigins: ["https://chat.example"],
 *   maxMessageSize: 64 * 1024,
 * };
 * assert.ok(options.mode === "broadcast");
 * ```
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
   * with 1009. Default 16 MiB. Deno's own frame limit (64 MiB) applies on
   * top: beyond it the runtime drops the connection without a close frame.
   */
  maxMessageSize?: number;
  /**
   * Milliseconds without a message before the client is pinged; with no
   * reply within as long again it is closed with 1001. 0 disables. Default
   * 30 000.
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
const WS_OPEN = 1;
const DISCONNECT = /eof|reset|broken pipe|connection closed/i;

/**
 * Starts a WebSocket echo or broadcast server.
 *
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
  const maxBuffered = options.maxBufferedAmount ?? 2 * maxMessage;
  const accepted = options.protocols ?? [];
  const origins = options.allowedOrigins
    ? new Set(options.allowedOrigins.map((o) => o.toLowerCase()))
    : undefined;
  const reportError = options.onError ?? (() => {});
  const serveOptions: { protocol?: string; idleTimeout?: number } = {};
  if (options.idleTimeoutMs !== undefined) {
    // Deno's upgradeWebSocket counts whole seconds.
    serveOptions.idleTimeout = Math.ceil(options.idleTimeoutMs / 1000);
  }
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
    errors: 0,
  };
  // Every upgraded socket until its close event; `peers` only the open ones
  // (the broadcast targets).
  const sockets = new Set<WebSocket>();
  const peers = new Set<WebSocket>();
  let stopping = false;
  let allClosed: PromiseWithResolvers<void> | undefined;
  const pageHtml = options.page === false
    ? undefined
    : renderWsPage({ path, mode });

  function fail(error: unknown) {
    stats.errors++;
    reportError(error);
  }

  function forget(socket: WebSocket) {
    peers.delete(socket);
    // The close event can fire twice (idle timeout); count it once.
    if (!sockets.delete(socket)) return;
    stats.active = sockets.size;
    if (sockets.size === 0) allClosed?.resolve();
  }

  function dropSlow(socket: WebSocket) {
    stats.slowClientsDropped++;
    peers.delete(socket);
    socket.close(1008, "too slow: reading messages slower than they arrive");
  }

  function tooLarge(socket: WebSocket, size: number) {
    stats.tooLarge++;
    peers.delete(socket);
    socket.close(
      1009,
      `message of ${size} bytes is over the ${maxMessage} byte limit`,
    );
  }

  // The per-message paths do counters and one bufferedAmount check, and
  // send `event.data` as received: nothing is copied or re-encoded.
  // Counts a message in; -1 when it was over the limit (the socket is closed).
  function intake(socket: WebSocket, data: string | ArrayBuffer): number {
    const size = typeof data === "string" ? data.length : data.byteLength;
    stats.messagesIn++;
    stats.bytesIn += size;
    if (size > maxMessage / 3 && byteLength(data) > maxMessage) {
      tooLarge(socket, byteLength(data));
      return -1;
    }
    return size;
  }

  function echo(this: WebSocket, event: MessageEvent) {
    const data = event.data as string | ArrayBuffer;
    const size = intake(this, data);
    if (size < 0) return;
    if (this.bufferedAmount > maxBuffered) return dropSlow(this);
    this.send(data);
    stats.messagesOut++;
    stats.bytesOut += size;
  }

  function broadcast(this: WebSocket, event: MessageEvent) {
    const data = event.data as string | ArrayBuffer;
    const size = intake(this, data);
    if (size < 0) return;
    for (const peer of peers) {
      if (peer === this) continue;
      if (peer.readyState !== WS_OPEN) continue;
      if (peer.bufferedAmount > maxBuffered) {
        dropSlow(peer);
        continue;
      }
      peer.send(data);
      stats.messagesOut++;
      stats.bytesOut += size;
    }
  }

  function upgrade(request: Request, peer: Deno.NetAddr): Response {
    if (stopping) {
      stats.refused++;
      return text(503, "server is shutting down\n");
    }
    if (request.method === "GET" && !request.headers.has("upgrade")) {
      stats.refused++;
      stats.handshakeRejected++;
      return text(
        426,
        `this is a WebSocket endpoint: connect with a WebSocket client${
          pageHtml ? " or open / in a browser" : ""
        }\n`,
        { upgrade: "websocket", connection: "Upgrade" },
      );
    }
    const problems = checkClientHandshake(request);
    if (problems.length > 0) {
      stats.refused++;
      stats.handshakeRejected++;
      return rejectHandshake(problems);
    }
    const origin = request.headers.get("origin");
    if (origins && origin !== null && !origins.has(origin.toLowerCase())) {
      stats.refused++;
      stats.originRejected++;
      return text(403, `origin ${origin} is not allowed\n`);
    }
    if (
      options.maxConnections !== undefined &&
      sockets.size >= options.maxConnections
    ) {
      stats.refused++;
      return text(503, "too many connections, try again later\n", {
        "retry-after": "1",
      });
    }
    const protocol = chooseProtocol(
      request.headers.get("sec-websocket-protocol"),
      accepted,
    );
    let socket: WebSocket;
    let response: Response;
    try {
      ({ socket, response } = Deno.upgradeWebSocket(
        request,
        protocol === undefined ? serveOptions : { ...serveOptions, protocol },
      ));
    } catch (error) {
      // checkClientHandshake should have caught it; answer like it would.
      stats.refused++;
      stats.handshakeRejected++;
      return text(400, `bad WebSocket handshake: ${errorMessage(error)}\n`);
    }
    sockets.add(socket);
    stats.served++;
    stats.active = sockets.size;
    socket.onopen = () => {
      if (stopping) socket.close(1001, "server shutting down");
      else peers.add(socket);
    };
    socket.onmessage = mode === "broadcast" ? broadcast : echo;
    socket.onerror = (event) => {
      const message = (event as ErrorEvent).message || "WebSocket error";
      // A client that vanishes without a close frame is not our error.
      if (DISCONNECT.test(message)) return;
      fail(
        new WsError(
          "protocol_error",
          `client ${formatAddress(peer)}: ${message}; connection dropped`,
        ),
      );
    };
    socket.onclose = () => forget(socket);
    return response;
  }

  function handle(
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Response {
    const url = new URL(request.url);
    if (url.pathname === path) return upgrade(request, info.remoteAddr);
    if (pageHtml !== undefined && url.pathname === "/") {
      if (request.method !== "GET" && request.method !== "HEAD") {
        return text(405, "method not allowed\n", { allow: "GET, HEAD" });
      }
      stats.pagesServed++;
      return new Response(request.method === "HEAD" ? null : pageHtml, {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": WS_PAGE_CSP,
          "x-content-type-options": "nosniff",
          "referrer-policy": "no-referrer",
          "cache-control": "no-store",
        },
      });
    }
    return text(404, `not found: the WebSocket endpoint is ${path}\n`);
  }

  const http = Deno.serve({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    onListen() {},
    onError(error) {
      fail(error);
      return text(500, "internal error\n");
    },
  }, handle);

  let shutdownPromise: Promise<void> | undefined;
  function shutdown(): Promise<void> {
    shutdownPromise ??= (async () => {
      stopping = true;
      if (sockets.size > 0) {
        allClosed = Promise.withResolvers<void>();
        for (const socket of sockets) {
          if (socket.readyState === WS_OPEN) {
            socket.close(1001, "server shutting down");
          }
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          allClosed.promise,
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, options.gracePeriodMs ?? 5000);
          }),
        ]);
        clearTimeout(timer);
      }
      // Closes whatever is left (Deno sends 1001 to any remaining socket).
      await http.shutdown();
    })();
    return shutdownPromise.then(() => http.finished);
  }

  options.signal?.addEventListener("abort", () => void shutdown(), {
    once: true,
  });
  if (options.signal?.aborted) void shutdown();

  return {
    addr: http.addr,
    finished: http.finished,
    stats: () => ({ ...stats }),
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

function text(
  status: number,
  body: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

// 405 first (wrong method), then 400 (malformed), then 426 (version).
function rejectHandshake(problems: HandshakeProblem[]): Response {
  const statuses = problems.map((p) => p.status ?? 400);
  const status = statuses.includes(405)
    ? 405
    : statuses.includes(400)
    ? 400
    : Math.max(...statuses);
  const headers: Record<string, string> = {};
  if (status === 405) headers.allow = "GET";
  if (status === 426) headers["sec-websocket-version"] = "13";
  const lines = problems.map((p) => `- ${p.message}`).join("\n");
  return text(status, `bad WebSocket handshake:\n${lines}\n`, headers);
}

/** The first protocol the client offers that the server accepts. */
function chooseProtocol(
  offered: string | null,
  accepted: string[],
): string | undefined {
  if (offered === null || accepted.length === 0) return undefined;
  for (const candidate of offered.split(",")) {
    const name = candidate.trim();
    if (accepted.includes(name)) return name;
  }
  return undefined;
}

/** UTF-8 length of a string without encoding it; bytes of a buffer. */
function byteLength(data: string | ArrayBuffer): number {
  if (typeof data !== "string") return data.byteLength;
  let bytes = 0;
  for (let i = 0; i < data.length; i++) {
    const c = data.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < data.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
