/**
 * A WebSocket client on netkit's protocol core over Deno.connect or
 * connectTls, with a promise-based connect that explains failed upgrades
 * ("HTTP 403 Forbidden: …"), an async iterator over messages with a
 * bounded queue, `ping()` with the round-trip time, and `closed`.
 *
 * @module
 */

import { WsError } from "./errors.ts";
import { toWsUrl } from "./url.ts";
import { dialWebSocket } from "./dial.ts";
import { WsProtocol, type WsProtocolEvent } from "./protocol.ts";
import { WsDriver } from "./_driver.ts";
import type { ByteStream } from "../types.ts";
import type { DialTlsOptions } from "../tcp/dial.ts";
import type { DeflateOptions, DeflateParams } from "./deflate.ts";
import { withRetry, type WsRetryOptions } from "./retry.ts";

/**
 * A message as the client yields it: text, or binary as bytes.
 */
export type WsMessage = string | Uint8Array;

/**
 * How a connection ended.
 */
export interface WsCloseInfo {
  /** The close code (1005 when the peer sent none, 1006 when the connection dropped). */
  code: number;
  /** The close reason, possibly empty. */
  reason: string;
  /** Whether the closing handshake completed. */
  wasClean: boolean;
}

/**
 * Options of {@linkcode connectWebSocket}.
 */
export interface WsClientOptions {
  /** Extra request headers for the opening handshake (e.g. `Authorization`, `Origin`). */
  headers?: HeadersInit;
  /** Subprotocols to offer, in order of preference. */
  protocols?: string[];
  /** Aborting it cancels a pending connect, or closes an open connection with 1000. */
  signal?: AbortSignal;
  /** Milliseconds the opening handshake may take. Default 10000. */
  timeoutMs?: number;
  /**
   * Bytes of received messages the client keeps for the iterator before
   * it gives up on a consumer that reads slower than the peer sends: it
   * then closes the connection with 4008 "receive queue full" and the
   * iterator throws a {@linkcode WsError} after the queued messages.
   * The runtime's WebSocket cannot pause the peer, so the only bounded
   * choices are to close or to drop messages, and netkit never drops
   * silently. Default 16 MiB.
   */
  maxQueuedBytes?: number;
  /**
   * Largest message accepted from the server, fragments counted as they
   * arrive; a bigger one closes the connection with 1009. Default 64 MiB.
   */
  maxMessageSize?: number;
  /** Extra PEM root certificates for wss:// (e.g. a test CA); same as `tls.caCerts`. */
  caCerts?: string[];
  /**
   * TLS settings for wss://: `caCerts`, `insecure` (skip every certificate
   * check, chain and name, like `curl -k`: encrypted, not authenticated),
   * `cert` + `key` (a client certificate), `serverName`.
   */
  tls?: WsClientTlsOptions;
  /**
   * Reach the server through a proxy: `http://[USER:PASS@]HOST:PORT`
   * (HTTP CONNECT) or `socks5://[USER:PASS@]HOST:PORT`. TLS runs end to
   * end through the tunnel.
   */
  proxy?: string;
  /**
   * Connect to this Unix socket instead of the URL's address; the URL
   * still gives the Host header, the path and (for wss://) the TLS name.
   */
  unixPath?: string;
  /**
   * Offer permessage-deflate (RFC 7692): `true` for the browsers' offer
   * (`client_max_window_bits`), or {@linkcode DeflateOptions} (e.g.
   * `serverNoContextTakeover`). Used when the server accepts; `deflate`
   * on the client then says so. An inflated message counts against
   * `maxMessageSize` while it inflates (past it, 1009). Default false.
   */
  deflate?: boolean | DeflateOptions;
  /**
   * Keep-alive: milliseconds from one answered ping to the next (pings go
   * out on a busy connection too, so every interval yields a round-trip
   * time). Absent or 0: no keep-alive pings.
   */
  pingIntervalMs?: number;
  /**
   * Milliseconds a keep-alive ping may go unanswered: then the peer
   * counts as gone, the client sends Close 1011 "ping timeout" and closes
   * the connection at the latest as long again (at most 5 s) later;
   * `closed` then says 1006 "ping timeout" unless the peer did answer the
   * Close. 0: pings never time out. Default `pingIntervalMs`.
   */
  pingTimeoutMs?: number;
  /** Called with the round-trip time in milliseconds of each keep-alive ping. */
  onPong?: (rttMs: number) => void;
  /**
   * Called with every ping and pong the server sends, as it arrives (the
   * client answers pings by itself; this only shows them, as
   * `wscat --show-ping-pong` does).
   */
  onControl?: (type: "ping" | "pong", payload: Uint8Array) => void;
  /**
   * Try the connect again when it fails (refused, timed out, refused
   * upgrade), with exponential back-off and jitter; see
   * {@linkcode WsRetryOptions}. A `bad_url` or an abort is never retried.
   * Default: one attempt.
   */
  retry?: WsRetryOptions;
}

/**
 * TLS settings of {@linkcode connectWebSocket} (those of `dial` in
 * `@netkit/netkit/tcp`).
 */
export type WsClientTlsOptions = DialTlsOptions;

/**
 * An open WebSocket connection.
 *
 * @example Close and see how it ended
 * ```ts
 * import assert from "node:assert/strict";
 * import { connectWebSocket, serveWebSocket } from "@netkit/netkit/ws";
 *
 * await using server = serveWebSocket({ port: 0 });
 * const client = await connectWebSocket(`ws://127.0.0.1:${server.addr.port}/ws`);
 * const info = await client.close(1000, "done");
 * assert.ok(info.code === 1000);
 * ```
 */
export interface WsClient extends AsyncIterable<WsMessage>, AsyncDisposable {
  /** The URL connected to. */
  readonly url: string;
  /** The subprotocol the server chose, or `""`. */
  readonly protocol: string;
  /** The permessage-deflate parameters agreed, or `null` when not compressing. */
  readonly deflate: DeflateParams | null;
  /** Bytes queued by `send` and not yet written to the network. */
  readonly bufferedAmount: number;
  /** Settles (never rejects) when the connection has closed. */
  readonly closed: Promise<WsCloseInfo>;
  /** Sends a text (string) or binary (bytes) message. Throws a `WsError` once closed. */
  send(data: string | Uint8Array): void;
  /**
   * Starts the closing handshake and resolves when it is done. `code` must
   * be one that may be sent (1000–1003, 1007–1014, 3000–4999; otherwise a
   * `WsError` `bad_close`). Default 1000.
   */
  close(code?: number, reason?: string): Promise<WsCloseInfo>;
  /**
   * Sends a ping (payload ≤ 125 bytes; default 4 bytes that identify it)
   * and resolves with the round-trip time in milliseconds when the
   * matching pong arrives. A pong for a later ping also settles earlier
   * ones (RFC 6455 lets a peer answer only the latest). Rejects with a
   * `WsError` `closed` if the connection closes first.
   */
  ping(data?: Uint8Array): Promise<number>;
  /**
   * Received messages in order, ending when the connection closes. One
   * consumer at a time.
   */
  [Symbol.asyncIterator](): AsyncIterator<WsMessage>;
  /** Closes with 1000 and waits for the close to finish. */
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_QUEUED = 16 * 1024 * 1024;
const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;
const QUEUE_FULL_CODE = 4008;
const CLOSE_TIMEOUT_MS = 5000;

/**
 * Connects to a WebSocket server and resolves once the connection is open.
 *
 * The URL follows netkit's one rule: `ws://`/`wss://`, or `http://`/
 * `https://` meaning the same. A failed upgrade rejects with a `WsError`
 * (`handshake_failed`) naming the HTTP status and the start of the body,
 * or the handshake header that was wrong. An unreachable server gives
 * `connect_failed`, a slow one `timeout`, any other URL `bad_url`.
 *
 * @example Send a message and read the echo
 * ```ts
 * import assert from "node:assert/strict";
 * import { connectWebSocket, serveWebSocket } from "@netkit/netkit/ws";
 *
 * await using server = serveWebSocket({ port: 0 });
 * await using client = await connectWebSocket(
 *   `ws://127.0.0.1:${server.addr.port}/ws`,
 * );
 * client.send("hello");
 * for await (const message of client) {
 *   assert.ok(message === "hello");
 *   break;
 * }
 * assert.ok(await client.ping() >= 0);
 * ```
 */
export function connectWebSocket(
  url: string | URL,
  options: WsClientOptions = {},
): Promise<WsClient> {
  const once = () => connectOnce(url, options);
  return options.retry
    ? withRetry(once, options.retry, options.signal)
    : once();
}

async function connectOnce(
  url: string | URL,
  options: WsClientOptions,
): Promise<WsClient> {
  const signal = options.signal;
  const dialed = await dialWebSocket(url, {
    headers: options.headers,
    protocols: options.protocols,
    deflate: options.deflate,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    signal,
    caCerts: options.caCerts,
    tls: options.tls,
    proxy: options.proxy,
    unixPath: options.unixPath,
  });
  const client = createClient(dialed.conn, dialed.leftover, {
    url: toWsUrl(url).href,
    protocol: dialed.protocol,
    maxQueued: options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED,
    maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE,
    deflate: dialed.deflate,
    pingIntervalMs: options.pingIntervalMs,
    pingTimeoutMs: options.pingTimeoutMs,
    onPong: options.onPong,
    onControl: options.onControl,
  });
  if (signal) {
    const close = () => void client.close(1000, "aborted");
    signal.addEventListener("abort", close, { once: true });
    void client.closed.then(() => signal.removeEventListener("abort", close));
  }
  return client;
}

/** Options of {@linkcode upgradedWebSocket}. */
export interface UpgradedWebSocketOptions {
  /** Bytes that arrived after the handshake head (the first frames). */
  leftover?: Uint8Array;
  /** The subprotocol agreed, or `""`. */
  protocol?: string;
  /** Largest message accepted from the peer (1009 beyond). Default 64 MiB. */
  maxMessageSize?: number;
  /** As in {@linkcode WsClientOptions}. Default 16 MiB. */
  maxQueuedBytes?: number;
}

/**
 * The server's end of a connection that was upgraded already (the `conn`
 * and `leftover` of `serveWebSocket`'s `onUpgrade`), with the client's
 * interface: iterate the messages, `send`, `ping`, `close`, `closed`.
 * Frames from the peer must be masked; frames sent are not (RFC 6455 §5.1).
 *
 * @example A server that greets each client by itself
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   connectWebSocket,
 *   serveWebSocket,
 *   upgradedWebSocket,
 * } from "@netkit/netkit/ws";
 *
 * await using server = serveWebSocket({
 *   port: 0,
 *   async onUpgrade(conn, { leftover }) {
 *     const ws = upgradedWebSocket(conn, { leftover });
 *     ws.send("welcome");
 *     await ws.closed;
 *   },
 * });
 * const client = await connectWebSocket(`ws://127.0.0.1:${server.addr.port}/ws`);
 * for await (const message of client) {
 *   assert.equal(message, "welcome");
 *   break;
 * }
 * await client.close();
 * ```
 */
export function upgradedWebSocket(
  conn: Deno.Conn,
  options: UpgradedWebSocketOptions = {},
): WsClient {
  const local = conn.localAddr;
  const host = "hostname" in local
    ? `${
      local.hostname.includes(":") ? `[${local.hostname}]` : local.hostname
    }:${local.port}`
    : "localhost";
  return createClient(conn, options.leftover ?? new Uint8Array(0), {
    role: "server",
    url: `ws://${host}/`,
    protocol: options.protocol ?? "",
    maxQueued: options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED,
    maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE,
    deflate: null,
  });
}

interface ClientSetup {
  role?: "client" | "server";
  url: string;
  protocol: string;
  maxQueued: number;
  maxMessageSize: number;
  deflate: DeflateParams | null;
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  onPong?: (rttMs: number) => void;
  onControl?: (type: "ping" | "pong", payload: Uint8Array) => void;
}

interface PendingPing {
  payload: Uint8Array;
  started: number;
  settle: PromiseWithResolvers<number>;
}

function createClient(
  conn: ByteStream,
  leftover: Uint8Array,
  setup: ClientSetup,
): WsClient {
  // The queue is an array with a moving head, compacted now and then, so
  // taking a message is O(1) without Array.shift.
  let queue: WsMessage[] = [];
  let head = 0;
  let queuedBytes = 0;
  let waiter: PromiseWithResolvers<IteratorResult<WsMessage>> | undefined;
  let ended = false;
  let overflow: WsError | undefined;
  let flushScheduled = false;
  let pingCounter = 0;
  let pings: PendingPing[] = [];
  const closed = Promise.withResolvers<WsCloseInfo>();
  const role = setup.role ?? "client";
  const protocol = new WsProtocol({
    role,
    maxMessageSize: setup.maxMessageSize,
    deflate: setup.deflate ?? undefined,
  });
  let pingTimedOut = false;
  const pingTimeoutMs = setup.pingTimeoutMs ?? setup.pingIntervalMs ?? 0;
  const driver = new WsDriver(conn, protocol, {
    role,
    closeTimeoutMs: CLOSE_TIMEOUT_MS,
    pingIntervalMs: setup.pingIntervalMs,
    pingTimeoutMs,
    onEvents,
    onTimeout(what) {
      if (what === "ping") {
        sendPing().then((rtt) => setup.onPong?.(rtt), () => {});
        return;
      }
      // The peer missed a pong: give its Close as long, no longer.
      pingTimedOut = true;
      driver.startClose(
        1011,
        "ping timeout",
        Math.min(pingTimeoutMs, CLOSE_TIMEOUT_MS),
      );
    },
  });

  function deliver(message: WsMessage, size: number) {
    if (overflow) return;
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w.resolve({ value: message, done: false });
      return;
    }
    if (queuedBytes + size > setup.maxQueued) {
      overflow = new WsError(
        "queue_full",
        `receive queue full: more than ${setup.maxQueued} bytes of messages were not read; ` +
          `closed the connection with ${QUEUE_FULL_CODE}`,
      );
      driver.startClose(QUEUE_FULL_CODE, "receive queue full");
      return;
    }
    queue.push(message);
    queuedBytes += size;
  }

  function onEvents(events: WsProtocolEvent[]) {
    for (const event of events) {
      if ("kind" in event) continue;
      switch (event.type) {
        case "text":
          deliver(event.data, event.data.length);
          break;
        case "binary":
          deliver(event.data, event.data.length);
          break;
        case "ping":
          setup.onControl?.("ping", event.payload);
          break;
        case "pong":
          settlePings(event.payload);
          setup.onControl?.("pong", event.payload);
          break;
      }
    }
  }

  function settlePings(payload: Uint8Array) {
    const at = pings.findIndex((p) => sameBytes(p.payload, payload));
    if (at < 0) return;
    const now = performance.now();
    for (const p of pings.slice(0, at + 1)) p.settle.resolve(now - p.started);
    pings = pings.slice(at + 1);
  }

  function flushSoon() {
    // Sends made in one tick leave in one write.
    if (flushScheduled) return;
    flushScheduled = true;
    queueMicrotask(() => {
      flushScheduled = false;
      void driver.flush();
    });
  }

  void driver.run(leftover).catch(() => {}).finally(() => {
    ended = true;
    const peer = protocol.peerClose;
    const failure = protocol.failure;
    closed.resolve({
      code: failure ? failure.closeCode : peer ? peer.code ?? 1005 : 1006,
      reason: failure
        ? failure.reason
        : peer
        ? peer.reason
        : pingTimedOut
        ? "ping timeout"
        : "",
      wasClean: protocol.closeSent && protocol.closeReceived && !failure,
    });
    const gone = new WsError("closed", "the WebSocket connection closed");
    for (const p of pings) p.settle.reject(gone);
    pings = [];
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      if (overflow) w.reject(overflow);
      else w.resolve({ value: undefined, done: true });
    }
  });

  function take(): WsMessage | undefined {
    if (head >= queue.length) return undefined;
    const message = queue[head]!;
    queue[head++] = "";
    queuedBytes -= typeof message === "string"
      ? message.length
      : message.byteLength;
    if (head === queue.length) {
      queue = [];
      head = 0;
    } else if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
    return message;
  }

  const iterator: AsyncIterator<WsMessage> = {
    next(): Promise<IteratorResult<WsMessage>> {
      const message = take();
      if (message !== undefined) {
        return Promise.resolve({ value: message, done: false });
      }
      if (ended) {
        return overflow
          ? Promise.reject(overflow)
          : Promise.resolve({ value: undefined, done: true });
      }
      if (waiter) {
        return Promise.reject(
          new TypeError(
            "a WsClient has one reader: await each next() before the next",
          ),
        );
      }
      waiter = Promise.withResolvers();
      return waiter.promise;
    },
    return(): Promise<IteratorResult<WsMessage>> {
      // Leaving a for-await loop keeps the connection open (so one can
      // read a reply, send more, and iterate again); close() ends it.
      return Promise.resolve({ value: undefined, done: true });
    },
  };

  function sendPing(data?: Uint8Array): Promise<number> {
    const payload = data ??
      new Uint8Array(new Uint32Array([++pingCounter]).buffer);
    const settle = Promise.withResolvers<number>();
    if (!protocol.sendPing(payload)) {
      settle.reject(
        new WsError("closed", "the WebSocket connection is closing"),
      );
      return settle.promise;
    }
    pings.push({ payload, started: performance.now(), settle });
    flushSoon();
    return settle.promise;
  }

  function close(code = 1000, reason = ""): Promise<WsCloseInfo> {
    if (!ended && !protocol.closeSent) driver.startClose(code, reason);
    return closed.promise;
  }

  function assertOpen(what: string) {
    if (ended || protocol.closeSent || protocol.state !== "open") {
      throw new WsError(
        "closed",
        `cannot ${what}: the WebSocket connection is closed`,
      );
    }
  }

  return {
    url: setup.url,
    protocol: setup.protocol,
    deflate: setup.deflate,
    get bufferedAmount() {
      return driver.bufferedAmount;
    },
    closed: closed.promise,
    send(data: string | Uint8Array) {
      assertOpen("send");
      if (typeof data === "string") protocol.sendText(data);
      else protocol.sendBinary(data);
      flushSoon();
    },
    ping(data?: Uint8Array): Promise<number> {
      assertOpen("ping");
      return sendPing(data);
    },
    close,
    [Symbol.asyncIterator]: () => iterator,
    async [Symbol.asyncDispose]() {
      await close();
    },
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
