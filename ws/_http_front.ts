// The HTTP front of serveWebSocket: the request head read under one
// deadline and the size limits, and every answer that is not an upgrade
// (the page at `/`, 404, 405, 400/431 for a bad head), each written with
// a half-close so unread request bytes do not turn the close into a reset
// that eats the answer.

import { closeQuietly, writeAll } from "../_io.ts";
import { type HttpRequestHead, parseRequestHead } from "./handshake.ts";
import { WsError } from "./errors.ts";
import { WS_PAGE_CSP } from "./page.ts";

/** What the front needs to know, and the counters it keeps. */
export interface FrontSetup {
  /** The path that accepts WebSocket upgrades. */
  path: string;
  /** The page served at `/`, if any. */
  pageHtml?: string;
  headTimeoutMs: number;
  maxHeadBytes?: number;
  maxHeaders?: number;
  stats: {
    refused: number;
    handshakeRejected: number;
    pagesServed: number;
    headTimeouts: number;
  };
}

/** An upgrade request on the WebSocket path, and what followed its head. */
export interface UpgradeRequest {
  head: HttpRequestHead;
  leftover: Uint8Array;
}

const LINGER_MS = 1000;
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/**
 * Reads the request head and answers it unless it asks for the WebSocket
 * path; returns that request, or null when there is nothing more to do
 * on this connection (answered, gone, or past the deadline).
 */
export async function httpFront(
  conn: Deno.Conn,
  signal: AbortSignal,
  setup: FrontSetup,
): Promise<UpgradeRequest | null> {
  const request = await readHead(conn, signal, setup);
  if (request === null) return null;
  if ("status" in request) {
    setup.stats.refused++;
    setup.stats.handshakeRejected++;
    await respond(conn, request.status, request.message + "\n");
    return null;
  }
  const { head } = request;
  const pathname = pathOf(head.target);
  if (pathname === setup.path || setup.path === "*") return request;
  if (setup.pageHtml !== undefined && pathname === "/") {
    if (head.method !== "GET" && head.method !== "HEAD") {
      await respond(conn, 405, "method not allowed\n", { allow: "GET, HEAD" });
      return null;
    }
    setup.stats.pagesServed++;
    await respond(conn, 200, setup.pageHtml, {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": WS_PAGE_CSP,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-store",
    }, head.method === "HEAD");
    return null;
  }
  await respond(
    conn,
    404,
    `not found: the WebSocket endpoint is ${setup.path}\n`,
  );
  return null;
}

// The head, an HTTP error to answer, or null when the connection went
// away or the deadline passed (the whole head, however it trickles in).
async function readHead(
  conn: Deno.Conn,
  signal: AbortSignal,
  setup: FrontSetup,
): Promise<UpgradeRequest | { status: number; message: string } | null> {
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    setup.stats.headTimeouts++;
    closeQuietly(conn);
  }, setup.headTimeoutMs);
  const onAbort = () => closeQuietly(conn);
  signal.addEventListener("abort", onAbort, { once: true });
  const limits = {
    maxHeadBytes: setup.maxHeadBytes,
    maxHeaders: setup.maxHeaders,
  };
  let buf = new Uint8Array(1024);
  let filled = 0;
  try {
    for (;;) {
      if (filled === buf.length) {
        const grown = new Uint8Array(buf.length * 2);
        grown.set(buf);
        buf = grown;
      }
      const n = await conn.read(buf.subarray(filled));
      if (n === null) return null;
      filled += n;
      const parsed = parseRequestHead(buf.subarray(0, filled), limits);
      if (parsed) {
        return {
          head: parsed.head,
          // Almost always nothing: a client waits for the 101.
          leftover: filled > parsed.bodyOffset
            ? buf.slice(parsed.bodyOffset, filled)
            : EMPTY,
        };
      }
    }
  } catch (error) {
    if (expired || signal.aborted || !(error instanceof WsError)) return null;
    // The head parser escapes the peer's bytes where it quotes them; a
    // second escape would double every backslash in the answer.
    return error.code === "head_too_large"
      ? { status: 431, message: error.message }
      : { status: 400, message: error.message };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * Writes an HTTP answer with `Connection: close`, half-closes, and reads
 * until the client hangs up (at most a second).
 */
export async function respond(
  conn: Deno.Conn,
  status: number,
  body: string,
  headers: Record<string, string> = {},
  headOnly = false,
): Promise<void> {
  const bytes = encoder.encode(body);
  const fields: Record<string, string> = {
    "content-type": "text/plain; charset=utf-8",
    ...headers,
    "content-length": String(bytes.length),
    connection: "close",
  };
  if (status === 426 && !fields.upgrade) fields.upgrade = "websocket";
  const lines = [`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ""}`];
  for (const [name, value] of Object.entries(fields)) {
    lines.push(`${name}: ${value}`);
  }
  const headBytes = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  await writeAll(
    conn,
    headOnly ? headBytes : new Uint8Array([...headBytes, ...bytes]),
  );
  await conn.closeWrite().catch(() => {});
  const timer = setTimeout(() => closeQuietly(conn), LINGER_MS);
  try {
    const sink = new Uint8Array(4096);
    while ((await conn.read(sink)) !== null) { /* discard */ }
  } catch {
    // Closed by the timer or reset by the client: either way, done.
  } finally {
    clearTimeout(timer);
  }
}

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  426: "Upgrade Required",
  431: "Request Header Fields Too Large",
  503: "Service Unavailable",
};

/** The path of a request target (origin or absolute form), or "" if neither. */
function pathOf(target: string): string {
  if (target.startsWith("/")) {
    const q = target.indexOf("?");
    return q < 0 ? target : target.slice(0, q);
  }
  try {
    return new URL(target).pathname;
  } catch {
    return "";
  }
}
