/**
 * The shape every netkit server shares with `Deno.serve`'s server.
 *
 * @module
 */

/** Counters every server reports; each server family adds its own. */
export interface ServerStats {
  /** Connections (or peers, for UDP) served since start. */
  served: number;
  /** Connections open right now. */
  active: number;
  /** Connections turned away (over `maxConnections`, bad handshake, …). */
  refused: number;
  /** Bytes received from clients. */
  bytesIn: number;
  /** Bytes sent to clients. */
  bytesOut: number;
}

/**
 * A running server: the same outward shape as the object `Deno.serve`
 * returns, so any mix of netkit servers can be run and stopped alike.
 *
 * @example Stop a server when a block ends
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveEcho } from "@netkit/netkit/tcp";
 *
 * await using server = serveEcho({ port: 0 });
 * assert.ok(server.addr.port > 0);
 * ```
 */
export interface NetkitServer<S extends ServerStats = ServerStats> {
  /** The address the server is bound to (with the real port when 0 was asked). */
  readonly addr: Deno.NetAddr;
  /** Settles when the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  /** A snapshot of the counters. */
  stats(): S;
  /**
   * Stops accepting, lets open connections finish within the grace period,
   * closes the rest, and resolves when everything is closed.
   */
  shutdown(): Promise<void>;
  /** Same as {@linkcode NetkitServer.shutdown}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}
