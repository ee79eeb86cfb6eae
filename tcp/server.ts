/**
 * The one TCP accept loop every netkit TCP server stands on.
 *
 * It owns the listener, the back-off on "too many open files",
 * `maxConnections`, idle timeouts, graceful shutdown and the counters, and
 * hands each connection to a handler. Echo and file receive are handlers.
 *
 * @module
 */

import type { NetkitServer, ServerStats } from "../types.ts";
import { TcpError } from "./errors.ts";
import { closeQuietly, errorMessage, isDisconnect, osMessage } from "../_io.ts";
import { formatAddress } from "../address.ts";
import { serverHandle } from "../_server_handle.ts";
import { setListenerNoDelay } from "./_sockopt.ts";
import { logBudget } from "../_log_budget.ts";
import { type CloseOutcome, guardTls, type TlsGuard } from "./_tls_guard.ts";
import { pickVictim } from "./_eviction.ts";

/** Counters of a TCP server. */
export interface TcpServerStats extends ServerStats {
  /** Times `accept()` failed temporarily (EMFILE, ENFILE, …) and the loop backed off. */
  acceptBackoffs: number;
  /** Connections closed by the idle timeout. */
  idleClosed: number;
  /** Handler failures other than the peer going away. */
  errors: number;
  /** TLS connections reset because their handshake was not done within `handshakeTimeoutMs`. */
  handshakeTimeouts: number;
  /**
   * Unfinished TLS handshakes reset to make room: one over
   * `maxPendingHandshakes`, or no file descriptor left for a newcomer.
   */
  handshakesShed: number;
}

/** TLS settings for {@linkcode serveTcp}: PEM text, not paths. */
export interface TcpTlsOptions {
  /** Certificate chain in PEM format. */
  cert: string;
  /** Private key in PEM format. */
  key: string;
}

/** Options shared by every TCP server. */
export interface TcpServerOptions {
  /** Address to bind. Default `127.0.0.1`: nothing is exposed unless asked. */
  hostname?: string;
  /** Port to bind; 0 picks a free one. Default 0. */
  port?: number;
  /** The listen(2) backlog (Deno's `tcpBacklog`). Default 511. */
  backlog?: number;
  /** Aborting it shuts the server down, like calling `shutdown()`. */
  signal?: AbortSignal;
  /** Connections open at once; further ones are closed at accept and counted as refused. */
  maxConnections?: number;
  /** Milliseconds without any read or write before a connection is closed. 0 disables. */
  idleTimeoutMs?: number;
  /** Milliseconds `shutdown()` lets open connections finish before closing them. Default 5000. */
  gracePeriodMs?: number;
  /** Serve TLS instead of plain TCP. */
  tls?: TcpTlsOptions;
  /**
   * Milliseconds a TLS client has, from accept, to finish its handshake;
   * then its socket is reset (the runtime's close alone would leave it
   * open). A handler's own deadline from accept, shorter or longer, closes
   * it for real as well. Default 10000; 0 disables.
   */
  handshakeTimeoutMs?: number;
  /**
   * TLS handshakes unfinished at once. One more resets an unfinished one:
   * the oldest of the address holding the most, so one address cannot
   * push out the others. They count toward `maxConnections` too.
   * Default 128.
   */
  maxPendingHandshakes?: number;
  /**
   * Accept from this listener (a Unix socket, say) instead of binding one;
   * the server owns and closes it. `hostname`, `port`, `backlog` and `tls`
   * are then ignored, and `addr` is the listener's own address.
   */
  listener?: Deno.Listener<Deno.Conn, Deno.Addr>;
  /** Called with errors the server survives (accept back-offs, handler failures). */
  onError?: (error: unknown) => void;
}

/** What a handler may use besides the connection itself. */
export interface ConnectionContext {
  /** Aborted when the server starts shutting down. */
  readonly signal: AbortSignal;
  /** Records traffic: resets the idle timer and adds to the byte counters. */
  record(bytesIn: number, bytesOut: number): void;
  /**
   * Aborted just before the server itself closes this connection, with
   * reason `"idle_timeout"`, `"shutdown"` (the grace period is over),
   * `"handshake_timeout"` or `"handshake_shed"` (an unfinished TLS
   * handshake: see `handshakeTimeoutMs`, `maxPendingHandshakes`), so a
   * handler can close what it opened alongside it.
   */
  readonly closedByServer?: AbortSignal;
}

/** Serves one connection; the loop closes the connection when it settles. */
export type ConnectionHandler = (
  conn: Deno.Conn,
  context: ConnectionContext,
) => Promise<void>;

/** A running TCP server. */
export type TcpServer = NetkitServer<TcpServerStats>;

const BACKOFF_START_MS = 5;
const BACKOFF_MAX_MS = 1000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_PENDING_HANDSHAKES = 128;
// Handshake resets get a log line each, up to this many per interval;
// past it, one summary line per interval.
const LOG_BURST = 10;
const LOG_INTERVAL_MS = 10_000;

interface Tracked {
  conn: Deno.Conn;
  lastActive: number;
  expired: boolean;
  // Made when a handler first asks for `closedByServer` (most never do:
  // an AbortController and its signal cost ~0.3 KB per connection).
  closer?: AbortController;
  closedBy?: string;
  /** Only for TLS: the handshake's state and the socket's real close. */
  guard?: TlsGuard;
  acceptedAt: number;
  host: string;
}

/** Aborts the connection's `closedByServer` (now, or when it is made). */
function closeByServer(t: Tracked, reason: string): void {
  t.closedBy ??= reason;
  t.closer?.abort(reason);
  closeQuietly(t.conn);
}

/**
 * Starts a TCP (or TLS) server that runs `handler` for every connection.
 *
 * Binding errors (port in use, permission) throw synchronously; everything
 * after that is survived and reported through `onError` and `stats()`.
 *
 * Accepted TCP connections have no-delay set (`TCP_NODELAY`, as Go's
 * default is): a small write leaves at once instead of waiting for the
 * peer's ACK. TLS connections get it from their listener when FFI is
 * allowed (`--allow-ffi`; Deno has no setter for them). A handler that
 * wants Nagle's algorithm calls `conn.setNoDelay(false)`.
 *
 * @example A server that greets and hangs up
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveTcp } from "@netkit/netkit/tcp";
 *
 * await using server = serveTcp(async (conn) => {
 *   await conn.write(new TextEncoder().encode("hi\n"));
 * }, { port: 0 });
 * assert.ok(server.addr.port > 0);
 * ```
 */
export function serveTcp(
  handler: ConnectionHandler,
  options: TcpServerOptions = {},
): TcpServer {
  const listener = options.listener ?? listen(options);
  const stats: TcpServerStats = {
    served: 0,
    active: 0,
    refused: 0,
    bytesIn: 0,
    bytesOut: 0,
    acceptBackoffs: 0,
    idleClosed: 0,
    errors: 0,
    handshakeTimeouts: 0,
    handshakesShed: 0,
  };
  const onError = options.onError ?? (() => {});
  const open = new Set<Tracked>();
  // Refused at accept, closing for real (a TLS reset takes a moment).
  const settling = new Set<Promise<unknown>>();
  const closing = new AbortController();
  const finished = Promise.withResolvers<void>();
  let backoffTimer: ReturnType<typeof setTimeout> | undefined;
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  let acceptDone = false;
  const handshakes = watchHandshakes(options, stats, onError);

  const idleSweep = startIdleSweep(options.idleTimeoutMs ?? 0, open, (t) => {
    stats.idleClosed++;
    closeByServer(t, "idle_timeout");
  });

  function maybeFinish() {
    if (!acceptDone || open.size > 0 || settling.size > 0) return;
    clearTimeout(graceTimer);
    clearInterval(idleSweep);
    handshakes.close();
    finished.resolve();
  }

  // Closes a connection that is not served; a TLS one is reset if its
  // handshake is unfinished, and the server finishes only after that.
  function turnAway(conn: Deno.Conn, guard: TlsGuard | undefined) {
    stats.refused++;
    closeQuietly(conn);
    if (!guard) return;
    const done = guard.closed.finally(() => {
      settling.delete(done);
      maybeFinish();
    });
    settling.add(done);
  }

  function serve(conn: Deno.Conn, guard: TlsGuard | undefined) {
    // No-delay on every connection (Go's default): what a handler writes
    // leaves at once; with Nagle a reply after a partial segment waits
    // for the peer's delayed ACK (40 ms). TLS connections have it from
    // the listener (see listen()).
    if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    const tracked: Tracked = {
      conn,
      lastActive: performance.now(),
      expired: false,
      guard,
      acceptedAt: performance.now(),
      host: hostOf(conn.remoteAddr),
    };
    open.add(tracked);
    stats.served++;
    stats.active = open.size;
    handshakes.add(tracked);
    const context: ConnectionContext = {
      signal: closing.signal,
      record(bytesIn, bytesOut) {
        tracked.lastActive = performance.now();
        stats.bytesIn += bytesIn;
        stats.bytesOut += bytesOut;
      },
      get closedByServer() {
        if (!tracked.closer) {
          tracked.closer = new AbortController();
          if (tracked.closedBy) tracked.closer.abort(tracked.closedBy);
        }
        return tracked.closer.signal;
      },
    };
    void run(tracked, context);
  }

  // An async function rather than a promise chain: one frame per
  // connection instead of three promises and two closures.
  async function run(tracked: Tracked, context: ConnectionContext) {
    const { conn, guard } = tracked;
    try {
      await handler(conn, context);
    } catch (error) {
      // A handshake that failed is the client's doing, not the handler's.
      if (!isDisconnect(error) && guard?.state !== "failed") {
        stats.errors++;
        onError(error);
      }
    } finally {
      closeQuietly(conn);
      await guard?.closed;
      open.delete(tracked);
      stats.active = open.size;
      maybeFinish();
    }
  }

  async function acceptLoop() {
    let delay = 0;
    while (!closing.signal.aborted) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
        delay = 0;
      } catch (error) {
        if (
          closing.signal.aborted || error instanceof Deno.errors.BadResource
        ) {
          break;
        }
        // Go's net/http answer to EMFILE: wait 5 ms, doubling to 1 s, retry.
        // Deno's own `for await` would end the loop for good here.
        stats.acceptBackoffs++;
        if (delay === 0) {
          onError(
            new TcpError(
              "accept_backoff",
              `accept failed: ${errorMessage(error)}; backing off`,
              {
                cause: error,
              },
            ),
          );
        }
        // Unfinished TLS handshakes hold fds newcomers could use: shed
        // some (a quarter, reset together) and take the newcomers at once.
        if (await handshakes.shed() === "reset") continue;
        delay = delay === 0
          ? BACKOFF_START_MS
          : Math.min(delay * 2, BACKOFF_MAX_MS);
        await new Promise<void>((resolve) => {
          backoffTimer = setTimeout(resolve, delay);
          closing.signal.addEventListener("abort", () => {
            clearTimeout(backoffTimer);
            resolve();
          }, { once: true });
        });
        continue;
      }
      // Started at once, so the deadline and the real close know where
      // the handshake stands (see _tls_guard.ts).
      const guard = "handshake" in conn
        ? guardTls(conn as Deno.TlsConn)
        : undefined;
      // The listener closes asynchronously: a connection the kernel had
      // already queued when shutdown() began is turned away, not served.
      if (closing.signal.aborted) {
        turnAway(conn, guard);
        break;
      }
      if (
        options.maxConnections !== undefined &&
        open.size >= options.maxConnections
      ) {
        turnAway(conn, guard);
        continue;
      }
      serve(conn, guard);
    }
    acceptDone = true;
    maybeFinish();
  }

  function shutdown(): Promise<void> {
    if (!closing.signal.aborted) {
      closing.abort();
      closeQuietly(listener);
      const grace = options.gracePeriodMs ?? 5000;
      graceTimer = setTimeout(() => {
        for (const t of open) {
          closeByServer(t, "shutdown");
        }
      }, grace);
      maybeFinish();
    }
    return finished.promise;
  }

  void acceptLoop();
  return serverHandle({
    // A Unix listener's address is a Deno.UnixAddr; TCP callers read ports.
    addr: listener.addr as Deno.NetAddr,
    finished: finished.promise,
    stats: () => ({ ...stats }),
    shutdown,
    signal: options.signal,
  });
}

interface HandshakeWatch {
  /** Watches a just-accepted connection's TLS handshake (if it has one). */
  add(t: Tracked): void;
  /**
   * Resets a quarter of the unfinished handshakes (at least one) to free
   * their fds: "reset" if that freed any, undefined if none was pending.
   */
  shed(): Promise<CloseOutcome | undefined>;
  /** Stops the deadline timer and reports what is still counted. */
  close(): void;
}

// Unfinished TLS handshakes: in accept order, which is deadline order, so
// one timer for the oldest serves them all and the ones expiring together
// are reset together (one pass over the fds, see _tcp_reset.ts).
function watchHandshakes(
  options: TcpServerOptions,
  stats: TcpServerStats,
  onError: (error: unknown) => void,
): HandshakeWatch {
  const timeoutMs = options.handshakeTimeoutMs ??
    DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const max = options.maxPendingHandshakes ?? DEFAULT_MAX_PENDING_HANDSHAKES;
  const pending = new Set<Tracked>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let leftOpenSaid = false;
  const budget = logBudget({
    burst: LOG_BURST,
    intervalMs: LOG_INTERVAL_MS,
    onSummary(counts, periodMs) {
      for (const [what, n] of counts) {
        onError(
          new TcpError(
            "handshake_timeout",
            `${n} more TLS connections ${what} in the last ${
              Math.round(periodMs / 1000)
            } s`,
          ),
        );
      }
    },
  });

  function end(t: Tracked, why: "timeout" | "shed"): Promise<CloseOutcome> {
    pending.delete(t);
    if (why === "timeout") stats.handshakeTimeouts++;
    else stats.handshakesShed++;
    closeByServer(
      t,
      why === "timeout" ? "handshake_timeout" : "handshake_shed",
    );
    const closed = t.guard!.closed;
    void closed.then((outcome) => report(t, why, outcome));
    return closed;
  }

  // The line says what happened to the socket, not what was intended.
  function report(t: Tracked, why: "timeout" | "shed", outcome: CloseOutcome) {
    const what = outcome === "left_open"
      ? "left open"
      : outcome === "reset"
      ? "reset"
      : "closed";
    const cause = why === "timeout"
      ? `handshake not finished within ${timeoutMs / 1000} s`
      : "handshake unfinished, making room for a newcomer";
    if (outcome === "left_open" && !leftOpenSaid) {
      leftOpenSaid = true;
      onError(
        new TcpError(
          "handshake_timeout",
          "cannot reset unfinished TLS handshakes here (it needs Linux and --allow-ffi): their sockets stay open until the client leaves",
        ),
      );
    }
    if (!budget.allow(`${what} (${cause})`)) return;
    onError(
      new TcpError(
        "handshake_timeout",
        `TLS connection from ${
          formatPeer(t.conn.remoteAddr)
        } ${what}: ${cause}`,
      ),
    );
  }

  function arm() {
    if (timer !== undefined || !(timeoutMs > 0)) return;
    const first: Tracked | undefined = pending.values().next().value;
    if (!first) return;
    const wait = first.acceptedAt + timeoutMs - performance.now();
    timer = setTimeout(() => {
      timer = undefined;
      const now = performance.now();
      for (const t of pending) {
        if (now - t.acceptedAt < timeoutMs) break;
        end(t, "timeout");
      }
      arm();
    }, Math.max(0, wait));
  }

  return {
    add(t) {
      if (!t.guard) return;
      pending.add(t);
      void t.guard.handshake.then(() => pending.delete(t));
      if (pending.size > max) end(pickVictim(pending)!, "shed");
      arm();
    },
    async shed() {
      const closing: Promise<CloseOutcome>[] = [];
      for (let n = Math.ceil(pending.size / 4); n > 0; n--) {
        closing.push(end(pickVictim(pending)!, "shed"));
      }
      const outcomes = await Promise.all(closing);
      return outcomes.includes("reset") ? "reset" : outcomes[0];
    },
    close() {
      clearTimeout(timer);
      timer = undefined;
      budget.close();
    },
  };
}

function hostOf(addr: Deno.Addr): string {
  return "hostname" in addr ? addr.hostname : "unix";
}

function formatPeer(addr: Deno.Addr): string {
  return "hostname" in addr && "port" in addr
    ? formatAddress({ hostname: addr.hostname, port: addr.port })
    : "a local socket";
}

function listen(
  options: TcpServerOptions,
): Deno.Listener<Deno.Conn, Deno.NetAddr> {
  const base = {
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    tcpBacklog: options.backlog,
  };
  try {
    if (options.tls) {
      const listener = Deno.listenTls({
        ...base,
        cert: options.tls.cert,
        key: options.tls.key,
      });
      // Deno's TLS connections have no setNoDelay: set on the listener,
      // the kernel copies it to each accepted one (needs FFI; without it
      // TLS connections keep Nagle).
      setListenerNoDelay(listener.addr);
      return listener;
    }
    return Deno.listen({ ...base, transport: "tcp" });
  } catch (error) {
    throw new TcpError(
      "bind_failed",
      `cannot listen on ${
        formatAddress({ hostname: base.hostname, port: base.port })
      }: ${osMessage(error)}`,
      { cause: error },
    );
  }
}

function startIdleSweep(
  idleTimeoutMs: number,
  open: Set<Tracked>,
  expire: (t: Tracked) => void,
): ReturnType<typeof setInterval> | undefined {
  if (!(idleTimeoutMs > 0)) return undefined;
  // One timer for all connections instead of a timer reset on every read.
  const every = Math.max(5, Math.min(idleTimeoutMs / 4, 1000));
  return setInterval(() => {
    const now = performance.now();
    for (const t of open) {
      if (!t.expired && now - t.lastActive >= idleTimeoutMs) {
        t.expired = true;
        expire(t);
      }
    }
  }, every);
}
