/**
 * The HTTP/1.1 load driver: `netkit load http`.
 *
 * Each channel is one connection kept alive (or, without keep-alive, a
 * new connection per request), carrying the same prebuilt request; the
 * responses are read by the I/O-free {@linkcode HttpResponseParser}.
 * Requests in flight per connection are the scheduler's `pipeline`: 1 by
 * default, as browsers and wrk do; more pipelines them (HTTP/1.1 §9.3.2).
 *
 * @module
 */

import { closeQuietly } from "../_io.ts";
import {
  checkLoadOptions,
  checkLoadTarget,
  type LoadChannel,
  type LoadDriver,
  type LoadOptions,
  type LoadResult,
  type LoadSink,
  runLoad,
} from "../load/mod.ts";
import { counterScope, readTransportCounters } from "../tcp/proc/counters.ts";
import { dial, type DialConn, type DialTlsOptions } from "../tcp/dial.ts";
import { HttpError } from "./errors.ts";
import { type HttpResponseInfo, HttpResponseParser } from "./response.ts";

/** Options of {@linkcode loadHttp}. */
export interface HttpLoadOptions extends LoadOptions {
  /** The request method. Default `GET`. */
  method?: string;
  /** Extra request header fields (`Host` is set from the URL unless given). */
  headers?: Record<string, string> | [string, string][];
  /** The request body (sent with its `Content-Length`). */
  body?: string | Uint8Array;
  /**
   * Keep each connection open for the next request. Default true; false
   * sends `Connection: close` and opens a connection per request (its
   * connect time counts in the request's latency).
   */
  keepAlive?: boolean;
  /** TLS settings for `https://` URLs (CAs, `insecure`, client certificate). */
  tls?: DialTlsOptions;
  /** Largest response body. Default 1 GiB. */
  maxBodyBytes?: number;
}

// Reads start small (many connections stay cheap: wrk reads 8 KiB too)
// and grow once when a read fills the buffer (large bodies).
const READ_SIZE = 8 * 1024;
const READ_SIZE_LARGE = 64 * 1024;
const IDEMPOTENT = new Set([
  "GET",
  "HEAD",
  "OPTIONS",
  "TRACE",
  "PUT",
  "DELETE",
]);
const BATCH_BYTES = 64 * 1024;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Drives an HTTP/1.1 server with requests from `connections` connections;
 * see `runLoad` for the closed and open loops. Every complete response is
 * a request answered (its status class counted in `status`); a response
 * that breaks HTTP/1.1 fails its connection with the cause `protocol`.
 * A server that closes a kept-alive connection (`Connection: close`, an
 * idle timeout) is reconnected to, and the requests it left unanswered
 * are sent again.
 *
 * @throws {HttpError} `bad_option` for a URL that is not `http://` or
 * `https://`, or a header HTTP forbids. `LoadError`
 * `remote_target` for a non-loopback host without `allowRemote`,
 * `bad_option` for an impossible option.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadHttp } from "@netkit/netkit/http";
 *
 * let served = 0;
 * await using server = Deno.serve(
 *   { port: 0, onListen() {} },
 *   () => (served++, new Response("ok")),
 * );
 * const result = await loadHttp(`http://127.0.0.1:${server.addr.port}/`, {
 *   connections: 2,
 *   requests: 100,
 *   kernelCounters: false,
 * });
 * assert.equal(result.requests, 100);
 * assert.equal(result.status?.["2xx"], 100);
 * assert.equal(served, 100);
 * ```
 */
export async function loadHttp(
  url: string | URL,
  options: HttpLoadOptions = {},
): Promise<LoadResult> {
  const driver = httpLoadDriver(url, options);
  return await runLoad(driver, {
    counters: { read: readTransportCounters, scope: counterScope() },
    ...options,
    pipeline: options.pipeline ?? 1,
  });
}

/**
 * The {@linkcode LoadDriver} behind {@linkcode loadHttp}, for callers that
 * run it themselves.
 *
 * @throws {HttpError} like {@linkcode loadHttp}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { httpLoadDriver } from "@netkit/netkit/http";
 *
 * const driver = httpLoadDriver("http://127.0.0.1:8080/health");
 * assert.equal(driver.protocol, "http");
 * assert.equal(driver.mode, "GET");
 * ```
 */
export function httpLoadDriver(
  url: string | URL,
  options: HttpLoadOptions = {},
): LoadDriver {
  const target = parseUrl(url);
  checkLoadTarget(target.hostname, options);
  checkLoadOptions(options);
  const keepAlive = options.keepAlive ?? true;
  if (!keepAlive && (options.pipeline ?? 1) > 1) {
    throw new HttpError(
      "bad_option",
      "pipelining needs keep-alive: a connection that closes after each response carries one request",
    );
  }
  const method = options.method ?? "GET";
  const request = buildRequest(target, method, options, keepAlive);
  const secure = target.protocol === "https:";
  const port = Number(target.port || (secure ? 443 : 80));
  const hostname = target.hostname.replace(/^\[|\]$/g, "");
  const timeoutMs = options.timeoutMs ?? 2000;
  const connect = (signal?: AbortSignal) =>
    dial({ hostname, port }, {
      tls: secure ? { alpnProtocols: ["http/1.1"], ...options.tls } : undefined,
      timeoutMs,
      signal,
    });
  return {
    protocol: "http",
    target: target.href,
    mode: method,
    requests: true,
    direction: "received",
    async open(sink, signal) {
      const conn = await connect(signal);
      return httpChannel(conn, {
        request,
        connect,
        sink,
        idempotent: IDEMPOTENT.has(method),
        pipeline: options.pipeline ?? 1,
        parser: () =>
          new HttpResponseParser({
            noBody: method === "HEAD",
            maxBodyBytes: options.maxBodyBytes,
          }),
      });
    },
  };
}

function parseUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new HttpError(
      "bad_option",
      `not a URL: ${JSON.stringify(String(url))}`,
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new HttpError(
      "bad_option",
      `netkit load http takes an http:// or https:// URL, not ${parsed.protocol}//`,
    );
  }
  if (parsed.username || parsed.password) {
    throw new HttpError(
      "bad_option",
      "credentials in the URL are not sent: pass an Authorization header",
    );
  }
  return parsed;
}

/** The request's bytes, built once: head, then body. */
function buildRequest(
  url: URL,
  method: string,
  options: HttpLoadOptions,
  keepAlive: boolean,
): Uint8Array {
  if (!TOKEN.test(method)) {
    throw new HttpError(
      "bad_option",
      `not an HTTP method: ${JSON.stringify(method)}`,
    );
  }
  const fields = Array.isArray(options.headers)
    ? options.headers
    : Object.entries(options.headers ?? {});
  const lower = new Set(fields.map(([name]) => name.toLowerCase()));
  for (const [name, value] of fields) {
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) {
      throw new HttpError(
        "bad_option",
        `not a header HTTP allows: ${JSON.stringify(`${name}: ${value}`)}`,
      );
    }
    if (
      ["content-length", "transfer-encoding", "connection"].includes(
        name.toLowerCase(),
      )
    ) {
      throw new HttpError(
        "bad_option",
        `${name} is set by netkit from the body and --no-keepalive`,
      );
    }
  }
  const body = typeof options.body === "string"
    ? new TextEncoder().encode(options.body)
    : options.body ?? new Uint8Array(0);
  const lines = [`${method} ${url.pathname}${url.search} HTTP/1.1`];
  if (!lower.has("host")) lines.push(`Host: ${url.host}`);
  for (const [name, value] of fields) lines.push(`${name}: ${value}`);
  if (body.length > 0 || ["POST", "PUT", "PATCH"].includes(method)) {
    lines.push(`Content-Length: ${body.length}`);
  }
  if (!keepAlive) lines.push("Connection: close");
  const head = new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n");
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

interface ChannelSetup {
  request: Uint8Array;
  connect: (signal?: AbortSignal) => Promise<DialConn>;
  sink: LoadSink;
  parser: () => HttpResponseParser;
  /** The method may be sent twice (RFC 9110 §9.2.2). */
  idempotent: boolean;
  /** Requests in flight at most (the scheduler's pipeline). */
  pipeline: number;
}

function httpChannel(first: DialConn, setup: ChannelSetup): LoadChannel {
  const { request, connect, sink } = setup;
  const size = request.length;
  // Never more in one write than can be in flight on the connection.
  const batch = Math.max(
    1,
    Math.min(setup.pipeline, Math.floor(BATCH_BYTES / size)),
  );
  const out = new Uint8Array(batch * size);
  for (let i = 0; i < batch; i++) out.set(request, i * size);
  let buf = new Uint8Array(READ_SIZE);
  let closed = false;
  // The connection in use (undefined between one closing and the next
  // opening), and what it owes: requests written and not yet answered.
  let conn: DialConn | undefined;
  let unanswered = 0;
  // Requests the scheduler asked for that are not written yet.
  let queued = 0;
  let writing = false;
  let connecting = false;

  const fail = (error: unknown) => {
    if (closed) return;
    closed = true;
    if (conn) closeQuietly(conn);
    sink.failed(error);
  };

  // Promise callbacks, not an async loop: one promise per write is the
  // whole cost of a request on the way out.
  const pump = (): void => {
    if (closed || writing || queued === 0) return;
    if (!conn) {
      reconnect();
      return;
    }
    writing = true;
    const n = Math.min(queued, batch);
    queued -= n;
    unanswered += n;
    writeFrom(conn, out.subarray(0, n * size));
  };
  const writeFrom = (c: DialConn, bytes: Uint8Array): void => {
    c.write(bytes).then((written) => {
      if (c !== conn) {
        writing = false;
        pump();
        return;
      }
      if (written < bytes.length) return writeFrom(c, bytes.subarray(written));
      sink.sent(bytes.length);
      writing = false;
      pump();
    }, (error) => {
      writing = false;
      // A write to a connection the server closed after its last answer
      // fails; the reader notices the close and resends.
      if (c === conn) fail(error);
      else pump();
    });
  };

  // The server closed (or will close) the connection: what it left
  // unanswered goes out again on a new one.
  const retire = (c: DialConn) => {
    if (c !== conn) return;
    conn = undefined;
    closeQuietly(c);
    queued += unanswered;
    unanswered = 0;
    pump();
  };
  const reconnect = () => {
    if (connecting || closed) return;
    connecting = true;
    connect().then((c) => {
      connecting = false;
      if (closed) {
        closeQuietly(c);
        return;
      }
      sink.connected();
      use(c);
      pump();
    }, (error) => {
      connecting = false;
      fail(error);
    });
  };

  const use = (c: DialConn) => {
    conn = c;
    const parser = setup.parser();
    let retiring = false;
    let answered = 0;
    const onResponse = (r: HttpResponseInfo) => {
      if (closed) return;
      unanswered--;
      answered++;
      if (r.close) {
        // Nothing more comes on this connection: retired before the
        // scheduler, told of the reply, sends the next request.
        retiring = true;
        retire(c);
      }
      sink.status(r.status);
      sink.reply(true);
    };
    (async () => {
      try {
        for (;;) {
          const n = await c.read(buf);
          if (closed || c !== conn) return;
          if (n === null) {
            const clean = parser.end(onResponse);
            if (retiring || closed || c !== conn) return;
            // Closed between responses: a kept-alive connection the
            // server let go (idle, or as our request crossed its close).
            // What it owed goes out again, as browsers do, if sending it
            // twice is harmless and this connection ever answered (a
            // server that never does must not be hammered in a loop).
            if (
              clean &&
              (unanswered === 0 || (answered > 0 && setup.idempotent))
            ) retire(c);
            else {
              throw new Deno.errors.UnexpectedEof(
                "the server closed the connection with requests unanswered",
              );
            }
            return;
          }
          sink.received(n);
          const full = n === buf.length;
          parser.receive(buf.subarray(0, n), onResponse);
          if (full && buf.length < READ_SIZE_LARGE) {
            buf = new Uint8Array(READ_SIZE_LARGE);
          }
          if (retiring) return;
        }
      } catch (error) {
        if (c === conn || !retiring) fail(error);
      }
    })();
  };

  use(first);
  return {
    send(count) {
      queued += count;
      pump();
    },
    close() {
      closed = true;
      if (conn) closeQuietly(conn);
    },
  };
}
