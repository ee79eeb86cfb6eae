/**
 * A WebSocket client on the runtime's `WebSocket`, with a promise-based
 * connect that explains failed upgrades ("HTTP 403 Forbidden: …"), an
 * async iterator over messages with a bounded queue, and `closed`.
 *
 * @module
 */

import { WsError } from "./errors.ts";
import { sendRequestHead } from "./_raw_connection.ts";
import { buildClientRequest, generateKey } from "./handshake.ts";
import { closeQuietly, errorMessage } from "../_io.ts";

/**
 * A message as the client yields it: text, or binary as bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { WsMessage } from "@netkit/netkit/ws";
 *
 * const message: WsMessage = new Uint8Array([1, 2]);
 * assert.ok(typeof message !== "string");
 * ```
 */
export type WsMessage = string | Uint8Array;

/**
 * How a connection ended.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { WsCloseInfo } from "@netkit/netkit/ws";
 *
 * const info: WsCloseInfo = { code: 1000, reason: "", wasClean: true };
 * assert.ok(info.wasClean);
 * ```
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
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { WsClientOptions } from "@netkit/netkit/ws";
 *
 * const options: WsClientOptions = {
 *   headers: { Authorization: "Bearer token" },
 *   protocols: ["chat.v2"],
 *   timeoutMs: 3000,
 * };
 * assert.ok(options.protocols?.length === 1);
 * ```
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
}

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
  /** Bytes queued by `send` and not yet written to the network. */
  readonly bufferedAmount: number;
  /** Settles (never rejects) when the connection has closed. */
  readonly closed: Promise<WsCloseInfo>;
  /** Sends a text (string) or binary (bytes) message. Throws a `WsError` once closed. */
  send(data: string | Uint8Array): void;
  /**
   * Starts the closing handshake and resolves when it is done. `code` must
   * be 1000 or 3000–4999 (the runtime's rule). Default 1000.
   */
  close(code?: number, reason?: string): Promise<WsCloseInfo>;
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
const QUEUE_FULL_CODE = 4008;

/**
 * Connects to a WebSocket server and resolves once the connection is open.
 *
 * A failed upgrade rejects with a `WsError` (`handshake_failed`) naming the
 * HTTP status and the start of the body, found by probing the server once
 * more with a raw handshake (the runtime's WebSocket hides both). An
 * unreachable server gives `connect_failed`, a slow one `timeout`, a
 * non-`ws:`/`wss:` URL `bad_url`.
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
 * ```
 */
export async function connectWebSocket(
  url: string | URL,
  options: WsClientOptions = {},
): Promise<WsClient> {
  const target = parseWsUrl(url);
  options.signal?.throwIfAborted();
  const init: { headers?: HeadersInit; protocols?: string[] } = {};
  if (options.headers !== undefined) init.headers = options.headers;
  if (options.protocols !== undefined) init.protocols = options.protocols;
  let socket: WebSocket;
  try {
    socket = new WebSocket(target, init);
  } catch (error) {
    throw new WsError(
      "bad_url",
      `cannot connect to ${target}: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  socket.binaryType = "arraybuffer";
  const client = createClient(
    socket,
    options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED,
  );
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  const opened = Promise.withResolvers<void>();
  let failure = "";
  socket.addEventListener("open", () => opened.resolve(), { once: true });
  socket.addEventListener("error", (event) => {
    failure = (event as ErrorEvent).message ?? "";
  }, { once: true });
  void client.closed.then(() => opened.reject(new Error("closed")));
  const timer = setTimeout(
    () => opened.reject(new Error("timeout")),
    timeoutMs,
  );
  const abort = () => opened.reject(new Error("aborted"));
  options.signal?.addEventListener("abort", abort, { once: true });
  try {
    await opened.promise;
  } catch (why) {
    if (socket.readyState !== WebSocket.CLOSED) socket.close();
    await client.closed;
    if (options.signal?.aborted) throw options.signal.reason;
    if ((why as Error).message === "timeout") {
      throw new WsError(
        "timeout",
        `no WebSocket handshake from ${target} within ${timeoutMs} ms`,
      );
    }
    throw await explainFailure(target, failure, init, timeoutMs);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", abort);
  }
  if (options.signal) {
    const signal = options.signal;
    const onAbort = () => void client.close(1000, "aborted");
    signal.addEventListener("abort", onAbort, { once: true });
    void client.closed.then(() => signal.removeEventListener("abort", onAbort));
  }
  return client;
}

function parseWsUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new WsError(
      "bad_url",
      `not a URL: '${url}' (expected ws://HOST:PORT/PATH)`,
    );
  }
  if (parsed.protocol === "http:") parsed.protocol = "ws:";
  else if (parsed.protocol === "https:") parsed.protocol = "wss:";
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new WsError(
      "bad_url",
      `not a WebSocket URL: '${url}' (expected ws:// or wss://)`,
    );
  }
  if (parsed.hash !== "") parsed.hash = "";
  return parsed;
}

function createClient(socket: WebSocket, maxQueued: number): WsClient {
  // The queue is an array with a moving head, compacted now and then, so
  // taking a message is O(1) without Array.shift.
  let queue: WsMessage[] = [];
  let head = 0;
  let queuedBytes = 0;
  let waiter: PromiseWithResolvers<IteratorResult<WsMessage>> | undefined;
  let ended = false;
  let overflow: WsError | undefined;
  const closed = Promise.withResolvers<WsCloseInfo>();

  socket.addEventListener("message", (event: MessageEvent) => {
    if (overflow) return;
    const data = event.data;
    const message: WsMessage = typeof data === "string"
      ? data
      : new Uint8Array(data as ArrayBuffer);
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w.resolve({ value: message, done: false });
      return;
    }
    const size = typeof message === "string"
      ? message.length
      : message.byteLength;
    if (queuedBytes + size > maxQueued) {
      overflow = new WsError(
        "queue_full",
        `receive queue full: more than ${maxQueued} bytes of messages were not read; ` +
          `closed the connection with ${QUEUE_FULL_CODE}`,
      );
      socket.close(QUEUE_FULL_CODE, "receive queue full");
      return;
    }
    queue.push(message);
    queuedBytes += size;
  });
  socket.addEventListener("close", (event: CloseEvent) => {
    ended = true;
    closed.resolve({
      code: event.code,
      reason: event.reason,
      wasClean: event.wasClean,
    });
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      if (overflow) w.reject(overflow);
      else w.resolve({ value: undefined, done: true });
    }
  }, { once: true });

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

  function close(code = 1000, reason = ""): Promise<WsCloseInfo> {
    if (
      socket.readyState === WebSocket.CONNECTING ||
      socket.readyState === WebSocket.OPEN
    ) {
      socket.close(code, reason);
    }
    return closed.promise;
  }

  return {
    get url() {
      return socket.url;
    },
    get protocol() {
      return socket.protocol;
    },
    get bufferedAmount() {
      return socket.bufferedAmount;
    },
    closed: closed.promise,
    send(data: string | Uint8Array) {
      if (socket.readyState !== WebSocket.OPEN) {
        throw new WsError(
          "closed",
          "cannot send: the WebSocket connection is closed",
        );
      }
      socket.send(data as string | Uint8Array<ArrayBuffer>);
    },
    close,
    [Symbol.asyncIterator]: () => iterator,
    async [Symbol.asyncDispose]() {
      await close();
    },
  };
}

/**
 * Turns the runtime's terse "failed to connect" into something a user can
 * act on by repeating the handshake once over a raw connection, which
 * sees the status line and body.
 */
async function explainFailure(
  url: URL,
  runtimeMessage: string,
  init: { headers?: HeadersInit; protocols?: string[] },
  timeoutMs: number,
): Promise<WsError> {
  const detail = runtimeMessage.replace(/^NetworkError: /, "");
  let reply;
  try {
    const head = buildClientRequest(url, generateKey(), init);
    reply = await sendRequestHead(url, head, timeoutMs);
  } catch (error) {
    if (error instanceof WsError) return error;
    return new WsError(
      "connect_failed",
      `cannot connect to ${url.host}: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  const { conn, response, leftover } = reply;
  try {
    if (response.status === 101) {
      return new WsError(
        "handshake_failed",
        `WebSocket handshake with ${url.host} failed: ${
          detail || "unknown reason"
        }`,
      );
    }
    const reason = response.reason ? ` ${response.reason}` : "";
    const body = await readBodyStart(conn, response.headers, leftover);
    return new WsError(
      "handshake_failed",
      `HTTP ${response.status}${reason}${body ? `: ${body}` : ""}`,
    );
  } finally {
    closeQuietly(conn);
  }
}

const BODY_SHOWN = 200;
const BODY_WAIT_MS = 500;

/** Up to 200 bytes of the response body, on one line. */
async function readBodyStart(
  conn: Deno.Conn,
  headers: Headers,
  leftover: Uint8Array,
): Promise<string> {
  const declared = Number(headers.get("content-length") ?? NaN);
  const want = Number.isFinite(declared)
    ? Math.min(declared, BODY_SHOWN)
    : BODY_SHOWN;
  const buf = new Uint8Array(BODY_SHOWN + 64);
  let filled = Math.min(leftover.length, buf.length);
  buf.set(leftover.subarray(0, filled));
  // A short wait: the body is a courtesy, the status is what matters.
  const timer = setTimeout(() => closeQuietly(conn), BODY_WAIT_MS);
  try {
    while (filled < want) {
      const n = await conn.read(buf.subarray(filled));
      if (n === null) break;
      filled += n;
    }
  } catch {
    // Closed by the timer or the peer: show what arrived.
  } finally {
    clearTimeout(timer);
  }
  let text = new TextDecoder().decode(buf.subarray(0, Math.min(filled, want)));
  if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
    text = text.replace(/^[0-9a-fA-F]+\r\n/, "");
  }
  text = text.replace(/\s+/g, " ").trim();
  return filled > want || (Number.isFinite(declared) && declared > want)
    ? `${text}…`
    : text;
}
