// The listen side of a relay: something that accepts clients and hands
// each, as a RelayStream with its PipeContext, to `relayOne`. TCP, TLS and
// Unix sockets all go through the shared accept loop (serveTcp), which
// brings maxConnections, idle timeouts and graceful shutdown. A new kind
// (a WebSocket server) is one more case here.

import { serveTcp, TcpError } from "../tcp/mod.ts";
import { osMessage } from "../_io.ts";
import type { Endpoint } from "./endpoint.ts";
import type { PipeContext } from "./_pipe.ts";
import { connStream, type RelayStream } from "./_stream.ts";
import type { RelayOptions, RelayServer } from "./types.ts";

/** Relays one accepted client; resolves when its connection is over. */
export type RelayOne = (
  client: RelayStream,
  context: PipeContext,
) => Promise<void>;

/** Starts accepting on `from`; each client goes to `relayOne`. */
export function listenStreams(
  from: Exclude<Endpoint, { kind: "exec" | "udp" }>,
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
  return {
    addr: unixListener?.addr ?? server.addr,
    finished: server.finished,
    stats: server.stats,
    shutdown: server.shutdown,
    [Symbol.asyncDispose]: server.shutdown,
  };
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
