// The listen side of a relay: something that accepts clients and hands
// each, as a RelayStream with its PipeContext, to `relayOne`. TCP, TLS and
// Unix sockets all go through the shared accept loop (serveTcp), which
// brings maxConnections, idle timeouts and graceful shutdown; WebSocket
// listen sides through the WebSocket server (on the same loop), which
// does the HTTP upgrade and hands each upgraded socket over.

import { serveTcp } from "../tcp/server.ts";
import { TcpError } from "../tcp/errors.ts";
import { serverHandle } from "../_server_handle.ts";
import { osMessage } from "../_io.ts";
import type { Endpoint, WsEndpoint } from "./endpoint.ts";
import { serveWebSocket } from "../ws/server.ts";
import { wsStream } from "./_ws.ts";
import type { PipeContext } from "./_pipe.ts";
import { connStream, describeAddr, type RelayStream } from "./_stream.ts";
import type { RelayOptions, RelayServer } from "./types.ts";

/** Relays one accepted client; resolves when its connection is over. */
export type RelayOne = (
  client: RelayStream,
  context: PipeContext,
) => Promise<void>;

/** Starts accepting on `from`; each client goes to `relayOne`. */
export function listenStreams(
  from: Exclude<Endpoint, { kind: "exec" | "udp" | "ws" | "wss" | "stdio" }>,
  options: RelayOptions,
  relayOne: RelayOne,
): RelayServer {
  const unixListener = from.kind === "unix" ? listenUnix(from.path) : undefined;
  const server = serveTcp(
    (conn, context) => relayOne(connStream(conn), context),
    {
      hostname: from.kind === "unix" ? undefined : from.hostname,
      port: from.kind === "unix" ? undefined : from.port,
      listener: unixListener,
      backlog: options.backlog,
      tls: from.kind === "tls" ? options.tls : undefined,
      handshakeTimeoutMs: options.connectTimeoutMs,
      maxConnections: options.maxConnections,
      idleTimeoutMs: options.idleTimeoutMs,
      gracePeriodMs: options.gracePeriodMs,
      onError: options.onError,
      signal: options.signal,
    },
  );
  if (unixListener && from.kind === "unix") {
    // Deno leaves the socket file behind; the relay created it, so it removes it.
    void server.finished.then(() => Deno.remove(from.path).catch(() => {}));
  }
  return serverHandle({
    addr: unixListener?.addr ?? server.addr,
    finished: server.finished,
    stats: () => ({ ...server.stats(), sessionsEvicted: 0 }),
    shutdown: server.shutdown,
  });
}

function listenUnix(path: string): Deno.Listener<Deno.Conn, Deno.Addr> {
  try {
    return Deno.listen({ transport: "unix", path });
  } catch (error) {
    throw new TcpError(
      "bind_failed",
      `cannot listen on unix:${path}: ${osMessage(error)}`,
      { cause: error },
    );
  }
}

/**
 * A WebSocket server whose upgraded connections carry the bytes. The
 * WebSocket server refuses upgrades over `maxConnections` with 503; the
 * idle timeout is kept here, per connection, as the accept loop would.
 */
export function listenWebSocket(
  from: WsEndpoint,
  options: RelayOptions,
  relayOne: RelayOne,
): RelayServer {
  const counts = { bytesIn: 0, bytesOut: 0, idleClosed: 0 };
  const idleTimeoutMs = options.idleTimeoutMs ?? 0;
  const server = serveWebSocket({
    hostname: from.hostname,
    port: from.port,
    path: from.path,
    page: false,
    // The one Origin rule's default: a relay serves no page, so in effect
    // no browser origin gets in unless --allow-origin names it.
    allowedOrigins: options.allowedOrigins,
    idleTimeoutMs: 0,
    tls: from.kind === "wss" ? options.tls : undefined,
    maxConnections: options.maxConnections,
    gracePeriodMs: options.gracePeriodMs,
    headTimeoutMs: options.connectTimeoutMs,
    onError: options.onError,
    signal: options.signal,
    onUpgrade(conn, { leftover, context }) {
      const closer = new AbortController();
      const byServer = context.closedByServer;
      const onServer = () => closer.abort(byServer?.reason);
      byServer?.addEventListener("abort", onServer, { once: true });
      let lastActive = performance.now();
      const sweep = idleTimeoutMs > 0
        ? setInterval(() => {
          if (performance.now() - lastActive < idleTimeoutMs) return;
          counts.idleClosed++;
          closer.abort("idle_timeout");
        }, Math.max(5, Math.min(idleTimeoutMs / 4, 1000)))
        : undefined;
      const client = wsStream(
        conn,
        "server",
        leftover,
        describeAddr(conn.remoteAddr),
      );
      return relayOne(client, {
        signal: context.signal,
        closedByServer: closer.signal,
        record(bytesIn, bytesOut) {
          lastActive = performance.now();
          counts.bytesIn += bytesIn;
          counts.bytesOut += bytesOut;
          context.record(bytesIn, bytesOut);
        },
      }).finally(() => {
        clearInterval(sweep);
        byServer?.removeEventListener("abort", onServer);
      });
    },
  });
  return serverHandle({
    addr: server.addr,
    finished: server.finished,
    stats() {
      const s = server.stats();
      return {
        served: s.served,
        active: s.active,
        refused: s.refused,
        bytesIn: counts.bytesIn,
        bytesOut: counts.bytesOut,
        acceptBackoffs: 0,
        idleClosed: counts.idleClosed,
        errors: s.errors,
        handshakeTimeouts: s.handshakeTimeouts,
        handshakesShed: s.handshakesShed,
        sessionsEvicted: 0,
      };
    },
    shutdown: server.shutdown,
  });
}
