/**
 * The relay's public types: options, the per-connection report, the server.
 *
 * @module
 */

import type { NetkitServer } from "../types.ts";
import type { TcpServerStats } from "../tcp/server.ts";

/** Which side of a relayed connection: the listen side's client or the target. */
export type Side = "client" | "target";

/**
 * How a relayed connection ended first: `fin` (an orderly close, passed on
 * as a half-close), `reset` (an RST), `idle_timeout`, `shutdown` (the relay
 * stopped), `error` (a failed connect, a TLS handshake, a broken pipe, …).
 */
export type EndHow = "fin" | "reset" | "idle_timeout" | "shutdown" | "error";

/** How one relayed connection (or UDP session) went. */
export interface RelayReport {
  /** Connection number, from 1, in accept order. */
  id: number;
  /** The client on the listen side (address or `unix:PATH`), not escaped. */
  client: string;
  /** The target side: its address, socket path or `exec:PROGRAM[pid]`, not escaped. */
  target: string;
  /** Milliseconds from accept to the last close. */
  durationMs: number;
  /** Bytes the client sent that reached the target. */
  bytesToTarget: number;
  /** Bytes the target sent that reached the client. */
  bytesToClient: number;
  /** Who ended the connection first: a side, or the relay itself. */
  closedFirst: Side | "relay";
  /**
   * How: `fin` (an orderly close, passed on as a half-close), `reset` (an
   * RST, or a program that could not be written to), `idle_timeout`,
   * `shutdown` (the relay stopped), `error` (see `error`).
   */
  how: EndHow;
  /** Bytes kept flowing the other way after the first FIN. */
  halfClose: boolean;
  /** The side that reset the connection, if one did (first, or after the other's FIN). */
  resetBy?: Side;
  /** With `resetBy`: true if the RST was passed on, false if the runtime could only close (FIN). */
  resetPassedOn?: boolean;
  /** What failed, for `error` (a refused target, a TLS handshake, …). */
  error?: string;
  /** For an `exec:` target: how the program ended (`exit 0`, `killed by signal SIGTERM`). */
  exit?: string;
  /**
   * For WebSocket sides: how each one's closing went, e.g. `target closed
   * 1000 "bye"`, `client dropped TCP without a Close (1006)` (the reason
   * is the peer's text, not escaped).
   */
  close?: string;
}

/** Options of {@linkcode relay}. */
export interface RelayOptions {
  /**
   * Connections at once; more are refused. Default unlimited (but see
   * `maxPrograms`). UDP: client sessions at once, default 1024; a new
   * client beyond evicts the longest-idle session, taking first those that
   * never had a two-way exchange (two datagrams from their client and a
   * reply), so a flood of one-datagram sources (spoofable) neither locks a
   * new client out nor ends an established one first. Evictions are
   * reported through `onError` (`session_evicted`, rate-limited), not
   * `onConnection`.
   */
  maxConnections?: number;
  /** Milliseconds without traffic before a connection is closed. TCP default 0 (never), UDP default 60000. */
  idleTimeoutMs?: number;
  /**
   * Milliseconds `shutdown()` lets connections finish; also how long an
   * `exec:` program may run on after its client's FIN (its stdin at EOF)
   * before it is ended (SIGTERM to its process group, SIGKILL 2 s later).
   * Default 5000.
   */
  gracePeriodMs?: number;
  /** The listen(2) backlog. Default 511. */
  backlog?: number;
  /** Certificate and key (PEM text) for a `tls://` listen side. */
  tls?: { cert: string; key: string };
  /** Extra trusted CA certificates (PEM text) for a `tls://` or `wss://` target. */
  caCerts?: string[];
  /**
   * Skip every certificate check (chain and name) of a `tls://` or
   * `wss://` target, like `curl -k`: encrypted, not authenticated.
   */
  insecure?: boolean;
  /** Client certificate (PEM text) for a `tls://` or `wss://` target that asks for one; with `clientKey`. */
  clientCert?: string;
  /** Private key (PEM text) of `clientCert`. */
  clientKey?: string;
  /**
   * Reach `tcp://`, `tls://`, `ws://` and `wss://` targets through a proxy:
   * `http://[USER:PASS@]HOST:PORT` (CONNECT) or `socks5://…` (see `dial`).
   */
  proxy?: string;
  /**
   * Browser origins allowed to open a `ws://` or `wss://` listen side
   * (e.g. `https://app.example`), checked by the WebSocket server's own
   * Origin rule, with its default: only the listener's own origin, and as
   * a relay serves no page, no web page can reach the service behind it
   * (an upgrade carrying any other `Origin` is answered 403); clients that
   * send no `Origin` (not browsers) are allowed; `"*"` lets every origin in.
   */
  allowedOrigins?: string[];
  /** Run an `exec:` target through `/bin/sh -c` instead of splitting it into argv. */
  shell?: boolean;
  /**
   * Programs of an `exec:` target running at once (one per connection); a
   * client beyond is refused (closed and reported). Default 64;
   * `maxConnections` applies as well.
   */
  maxPrograms?: number;
  /**
   * Bytes each direction reads at once: its one buffer, 4 KiB until a read
   * fills it. Default 262144.
   */
  bufferBytes?: number;
  /** Dump the first this many bytes of each direction of each connection. Default 0. */
  hexdumpBytes?: number;
  /** Receives the dumps (`socat -x` style text). */
  onHexdump?: (text: string) => void;
  /** Called once per finished connection or session. */
  onConnection?: (report: RelayReport) => void;
  /** Called with errors the relay survives. */
  onError?: (error: unknown) => void;
  /**
   * Milliseconds a target gets to be ready for each connection (connect,
   * proxy, TLS and WebSocket handshakes, whatever the kind), and a
   * `tls://` client to finish its handshake (the target is connected only
   * after it). Default 10000.
   */
  connectTimeoutMs?: number;
  /** Aborting it shuts the relay down, like `shutdown()`. */
  signal?: AbortSignal;
}

/** Counters of a relay: the accept loop's (UDP: sessions stand for connections). */
export interface RelayStats extends TcpServerStats {
  /** UDP: sessions ended to make room for a new client (the table was full). */
  sessionsEvicted: number;
}

/** A running relay: Deno.serve's shape; `addr` is a Unix address for `unix:`. */
export interface RelayServer extends Omit<NetkitServer<RelayStats>, "addr"> {
  /** The listen side's address (with the real port when 0 was asked). */
  readonly addr: Deno.Addr;
}
