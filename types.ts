/**
 * The shapes every family shares: a server (the shape of `Deno.serve`'s
 * server), a connected byte stream (the part of `Deno.Conn` the protocols
 * use) and an HTTP/1.1 head as netkit's one head parser reads it.
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

/**
 * The head of an HTTP/1.1 response as the response head parser found it.
 */
export interface HttpResponseHead {
  /** The protocol version from the status line, e.g. `HTTP/1.1`. */
  version: string;
  /** The three-digit status code. */
  status: number;
  /** The reason phrase (may be empty). */
  reason: string;
  /** The header fields; repeated fields are joined with `, `. */
  headers: Headers;
}

/**
 * Limits for the response head parser.
 */
export interface ParseResponseHeadOptions {
  /** Largest head, status line to the empty line inclusive. Default 16 KiB. */
  maxHeadBytes?: number;
  /** Most header fields. Default 100. */
  maxHeaders?: number;
}

/**
 * What the response head parser returns once the head is complete.
 */
export interface ParsedResponseHead {
  /** The parsed status line and headers. */
  head: HttpResponseHead;
  /** Index of the first byte after the head's empty line. */
  bodyOffset: number;
}

/**
 * The head of an HTTP/1.x request as the request head parser found it.
 */
export interface HttpRequestHead {
  /** The method token, e.g. `GET`. */
  method: string;
  /** The request target as sent, e.g. `/ws?room=1`. */
  target: string;
  /** `HTTP/1.1` or `HTTP/1.0`. */
  version: string;
  /** The header fields; repeated fields are joined with `, `. */
  headers: Headers;
}

/**
 * A connected byte stream: the part of `Deno.Conn` netkit's protocols run
 * over (the WebSocket driver, the file transfer, proxy tunnels). A
 * `Deno.Conn`, a `Deno.TlsConn` or anything of the same shape is one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ByteStream } from "@netkit/netkit";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const stream: ByteStream = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using _peer = await listener.accept();
 * assert.equal(await stream.write(new Uint8Array([1])), 1);
 * stream.close();
 * ```
 */
export interface ByteStream {
  /** Reads into `p`; `null` at the end of the stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`; resolves to how many bytes were written. */
  write(p: Uint8Array): Promise<number>;
  /** Ends the outgoing direction (a FIN); reading goes on. */
  closeWrite(): Promise<void>;
  /** Closes both directions. */
  close(): void;
}

/** A {@linkcode ByteStream} that knows both ends' addresses, as a dialed connection does. */
export interface ByteConn extends ByteStream {
  /** This end's address. */
  readonly localAddr: Deno.Addr;
  /** The peer's address. */
  readonly remoteAddr: Deno.Addr;
}
