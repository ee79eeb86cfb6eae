/**
 * `relay(listen, target)`: socat's everyday job. Every connection accepted
 * on the listen endpoint gets its own connection to the target, bytes are
 * moved both ways with TCP's semantics (half-close, reset, back-pressure),
 * and each finished connection is reported: who closed first and how.
 *
 * @module
 */

import { osMessage } from "../_io.ts";
import { NetkitError } from "../errors.ts";
import { type Endpoint, formatEndpoint, parseEndpoint } from "./endpoint.ts";
import { RelayError } from "./errors.ts";
import type { RelayStream } from "./_stream.ts";
import { pipe } from "./_pipe.ts";
import { connector } from "./_connect.ts";
import { listenStreams, listenWebSocket, type RelayOne } from "./_listen.ts";
import type { RelayOptions, RelayServer, RelayStats, Side } from "./types.ts";
import { stdioStream } from "./_stdio.ts";
import { serverHandle } from "../_server_handle.ts";
import { relayUdp } from "./_udp.ts";

// Bulk relaying costs ~2.1 CPU s/GB with 64 KiB reads, ~1.3 with 256 KiB,
// ~0.9 with 1 MiB (busy 2-core machine): fewer reads per byte. 256 KiB per
// direction is paid only by connections that fill a 4 KiB read.
const DEFAULT_BUFFER_BYTES = 256 * 1024;
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_PROGRAMS = 64;

/**
 * Relays every connection on `listen` to `target`. Endpoints:
 * `tcp://HOST:PORT`, `tls://HOST:PORT` (listen: `options.tls`; connect:
 * system roots plus `options.caCerts`, or `insecure`, a client
 * certificate), `udp://HOST:PORT` (both sides UDP; per-client sessions),
 * `ws://HOST:PORT/PATH` and `wss://…` (listen: a WebSocket server
 * accepting upgrades on PATH; connect: a WebSocket client; binary
 * messages carry the bytes, and as WebSocket has no half-close a FIN goes
 * on as Close 1000, best-effort), `unix:PATH` and, as a target only,
 * `exec:COMMAND`, and `-` (stdin and stdout; one side only: as a
 * target, one client gets them and the relay ends with it). Targets are
 * reached through `dial` (`proxy`,
 * `connectTimeoutMs`).
 *
 * Throws a {@linkcode RelayError} for bad endpoints and a `bind_failed`
 * `TcpError` when the listen side cannot be bound.
 *
 * @example Forward a port to an echo server
 * ```ts
 * import assert from "node:assert/strict";
 * import { relay } from "@netkit/netkit/relay";
 * import { serveEcho } from "@netkit/netkit/tcp";
 *
 * await using echo = serveEcho({ port: 0 });
 * const reports: string[] = [];
 * await using forward = relay("tcp://127.0.0.1:0", `tcp://127.0.0.1:${echo.addr.port}`, {
 *   onConnection: (r) => reports.push(`${r.closedFirst} ${r.how}`),
 * });
 * const port = (forward.addr as Deno.NetAddr).port;
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port });
 * await conn.write(new TextEncoder().encode("hi"));
 * await conn.closeWrite();
 * const buf = new Uint8Array(8);
 * let got = "";
 * for (let n; (n = await conn.read(buf)) !== null;) got += new TextDecoder().decode(buf.subarray(0, n));
 * conn.close();
 * assert.equal(got, "hi");
 * await forward.shutdown();
 * assert.deepEqual(reports, ["client fin"]);
 * ```
 */
export function relay(
  listen: string | Endpoint,
  target: string | Endpoint,
  options: RelayOptions = {},
): RelayServer {
  const from = typeof listen === "string" ? parseEndpoint(listen) : listen;
  const to = typeof target === "string" ? parseEndpoint(target) : target;
  if (from.kind === "udp" || to.kind === "udp") {
    if (from.kind !== "udp" || to.kind !== "udp") {
      throw new RelayError(
        "unsupported_endpoint",
        `UDP relays to UDP only (${formatEndpoint(from)} -> ${
          formatEndpoint(to)
        })`,
      );
    }
    return relayUdp(from, to, options);
  }
  if (from.kind === "exec") {
    throw new RelayError(
      "unsupported_endpoint",
      "exec: is a target, not a listen side",
    );
  }
  if ((from.kind === "tls" || from.kind === "wss") && !options.tls) {
    throw new RelayError(
      "missing_tls",
      `${formatEndpoint(from)} needs a certificate and key`,
    );
  }
  if (from.kind === "stdio") {
    if (to.kind === "stdio") {
      throw new RelayError(
        "unsupported_endpoint",
        "- (stdin/stdout) can be one side only",
      );
    }
    return relayStdio(relayOne(to, options), options);
  }
  if (to.kind === "stdio") return relayToStdio(from, options);
  if ("url" in from) {
    return listenWebSocket(from, options, relayOne(to, options));
  }
  return listenStreams(from, options, relayOne(to, options));
}

/**
 * `-` as TARGET: one client at a time can have stdin and stdout (more are
 * refused), and the relay ends with the first one, as `socat LISTEN -`
 * and `nc -l` do.
 */
function relayToStdio(
  from: Exclude<Endpoint, { kind: "stdio" | "exec" | "udp" }>,
  options: RelayOptions,
): RelayServer {
  const once = { ...options, maxConnections: 1 };
  const one = relayOne({ kind: "stdio" }, once);
  // Called only for an accepted client, so after `server` is set.
  const relayThenEnd: RelayOne = async (client, context) => {
    try {
      await one(client, context);
    } finally {
      void server.shutdown();
    }
  };
  const server: RelayServer = "url" in from
    ? listenWebSocket(from, once, relayThenEnd)
    : listenStreams(from, once, relayThenEnd);
  return server;
}

/**
 * `-` as LISTEN: stdin and stdout are the one client, relayed to one
 * connection to the target; the relay ends when that connection does.
 * Its `addr` is a Unix address with the path `-` (there is no socket).
 */
function relayStdio(one: RelayOne, options: RelayOptions): RelayServer {
  const stop = new AbortController();
  const stats: RelayStats = {
    served: 0,
    active: 1,
    refused: 0,
    bytesIn: 0,
    bytesOut: 0,
    acceptBackoffs: 0,
    idleClosed: 0,
    errors: 0,
    handshakeTimeouts: 0,
    handshakesShed: 0,
    sessionsEvicted: 0,
  };
  const finished = one(stdioStream(), {
    signal: stop.signal,
    closedByServer: stop.signal,
    record(bytesIn, bytesOut) {
      stats.bytesIn += bytesIn;
      stats.bytesOut += bytesOut;
    },
  }).catch(() => {
    stats.errors++;
  }).finally(() => {
    stats.active = 0;
    stats.served = 1;
  });
  return serverHandle({
    addr: { transport: "unix", path: "-" } as Deno.UnixAddr,
    finished,
    stats: () => ({ ...stats }),
    shutdown() {
      stop.abort("shutdown");
      return finished;
    },
    signal: options.signal,
  });
}

/**
 * What happens to each accepted client, whatever the listen side: a fresh
 * target connection, the pipe, one report.
 */
function relayOne(to: Endpoint, options: RelayOptions): RelayOne {
  const connect = connector(to, options);
  const maxPrograms = to.kind === "exec"
    ? options.maxPrograms ?? DEFAULT_MAX_PROGRAMS
    : Infinity;
  let programs = 0;
  let ids = 0;
  return async (client, context) => {
    const id = ++ids;
    const started = performance.now();
    const failed = async (side: Side | "relay", error: string) => {
      await client.close();
      options.onConnection?.({
        id,
        client: client.peer,
        target: formatEndpoint(to),
        durationMs: performance.now() - started,
        bytesToTarget: 0,
        bytesToClient: 0,
        closedFirst: side,
        how: "error",
        halfClose: false,
        error,
      });
    };
    try {
      await client.ready?.();
    } catch (error) {
      // The accept loop reset it: say why, not "connection reset".
      const why = context.closedByServer?.reason;
      return failed(
        "client",
        why === "handshake_timeout"
          ? `TLS handshake timed out after ${
            options.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS
          } ms`
          : why === "handshake_shed"
          ? "TLS handshake unfinished: reset to make room for a newcomer"
          : osMessage(error),
      );
    }
    if (programs >= maxPrograms) {
      return failed(
        "relay",
        `refused: ${maxPrograms} programs are running (the limit)`,
      );
    }
    let far: RelayStream;
    const program = to.kind === "exec";
    if (program) programs++;
    try {
      far = await connect();
    } catch (error) {
      if (program) programs--;
      // The dialer's errors already say what failed and where.
      const verb = to.kind === "exec" ? "cannot start" : "cannot connect";
      return failed(
        "target",
        error instanceof NetkitError
          ? osMessage(error)
          : `${verb}: ${osMessage(error)}`,
      );
    }
    const outcome = await pipe(client, far, context, {
      id,
      bufferBytes: options.bufferBytes ?? DEFAULT_BUFFER_BYTES,
      hexdumpBytes: options.hexdumpBytes ?? 0,
      onHexdump: options.onHexdump,
    }).finally(() => {
      if (program) programs--;
    });
    const exit = to.kind === "exec" ? far.detail?.() : undefined;
    const close = wsCloses(client, to.kind === "exec" ? undefined : far);
    options.onConnection?.({
      id,
      client: client.peer,
      target: far.peer,
      durationMs: performance.now() - started,
      ...outcome,
      ...(exit === undefined ? {} : { exit }),
      ...(close === undefined ? {} : { close }),
    });
  };
}

/** How the WebSocket sides closed, for the report (undefined if none is one). */
function wsCloses(
  client: RelayStream,
  target: RelayStream | undefined,
): string | undefined {
  const parts: string[] = [];
  const fromClient = client.detail?.();
  if (fromClient) parts.push(`client ${fromClient}`);
  const fromTarget = target?.detail?.();
  if (fromTarget) parts.push(`target ${fromTarget}`);
  return parts.length > 0 ? parts.join(", ") : undefined;
}
