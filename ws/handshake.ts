import { createHash } from "node:crypto";
import { WsError, type WsErrorCode } from "./errors.ts";
import { NetkitError } from "../errors.ts";
import { escapeControl } from "../escape.ts";
import {
  parseRequestHead as parseRequest,
  parseResponseHead as parseResponse,
} from "../_http_head.ts";
import type {
  HttpRequestHead,
  HttpResponseHead,
  ParsedResponseHead,
  ParseResponseHeadOptions,
} from "../types.ts";

export type {
  HttpRequestHead,
  HttpResponseHead,
  ParsedResponseHead,
  ParseResponseHeadOptions,
};

/**
 * The GUID RFC 6455 §1.3 appends to `Sec-WebSocket-Key` before hashing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WEBSOCKET_GUID } from "@netkit/netkit/ws";
 *
 * assert.ok(WEBSOCKET_GUID.length === 36);
 * ```
 */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * The `Sec-WebSocket-Accept` value a server must answer to `key`:
 * base64(SHA-1(key + GUID)).
 *
 * @example The RFC 6455 §1.3 sample
 * ```ts
 * import assert from "node:assert/strict";
 * import { acceptKey } from "@netkit/netkit/ws";
 *
 * assert.ok(
 *   acceptKey("dGhlIHNhbXBsZSBub25jZQ==") === "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
 * );
 * ```
 */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
}

/**
 * A fresh `Sec-WebSocket-Key`: 16 random bytes, base64-encoded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateKey } from "@netkit/netkit/ws";
 *
 * assert.ok(generateKey().length === 24);
 * ```
 */
export function generateKey(): string {
  return crypto.getRandomValues(new Uint8Array(16)).toBase64();
}

/**
 * What is wrong with an opening handshake. Client-handshake codes (checked by
 * a server): `bad_method`, `missing_host`, `missing_upgrade`, `bad_upgrade`,
 * `missing_connection`, `bad_connection`, `missing_key`, `bad_key`,
 * `missing_version`, `bad_version`. Server-handshake codes (checked by a
 * client): `bad_http_version`, `status_not_101`, `missing_upgrade`,
 * `bad_upgrade`, `missing_connection`, `bad_connection`, `missing_accept`,
 * `accept_mismatch`, `unexpected_protocol`, `unexpected_extension`,
 * `bad_extension` (an offered extension answered with parameters outside
 * the offer; found by `ClientHandshake.check`).
 */
export type HandshakeProblemCode =
  | "bad_method"
  | "bad_http_version"
  | "missing_host"
  | "status_not_101"
  | "missing_upgrade"
  | "bad_upgrade"
  | "missing_connection"
  | "bad_connection"
  | "missing_key"
  | "bad_key"
  | "missing_version"
  | "bad_version"
  | "missing_accept"
  | "accept_mismatch"
  | "unexpected_protocol"
  | "unexpected_extension"
  | "bad_extension";

/**
 * One thing wrong with an opening handshake.
 */
export interface HandshakeProblem {
  /** Stable identifier of the problem. */
  code: HandshakeProblemCode;
  /** One line a user can act on, naming the header and both values. */
  message: string;
  /** What RFC 6455 requires. */
  expected?: string;
  /** What was received (absent when the header was missing). */
  actual?: string;
  /**
   * For client-handshake problems: the HTTP status a server should answer
   * with (405 bad method, 426 bad version, otherwise 400). A 426 response
   * must carry `Sec-WebSocket-Version: 13`.
   */
  status?: number;
}

/** The comma-separated tokens of a header, trimmed and lower-cased. */
function tokens(value: string | null): string[] {
  if (value === null) return [];
  return value.split(",").map((t) => t.trim().toLowerCase()).filter((t) =>
    t !== ""
  );
}

const KEY_SHAPE = /^[A-Za-z0-9+/]{22}==$/;

/** True when `key` is the base64 encoding of exactly 16 bytes. */
function isValidKey(key: string): boolean {
  if (!KEY_SHAPE.test(key)) return false;
  try {
    return Uint8Array.fromBase64(key, { lastChunkHandling: "strict" })
      .length === 16;
  } catch {
    // Non-zero padding bits: not a canonical encoding.
    return false;
  }
}

/**
 * Validates a client's opening handshake as a server must (RFC 6455
 * §4.2.1): a `Request`, or a head from {@linkcode parseRequestHead}. An
 * empty array means the request is acceptable. Header token
 * checks are case-insensitive comma lists, so `Connection: keep-alive,
 * Upgrade` passes. Each problem carries the HTTP status to answer with.
 *
 * @example Answer a bad request with the right status
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkClientHandshake } from "@netkit/netkit/ws";
 *
 * const request = new Request("http://127.0.0.1/chat", {
 *   headers: {
 *     host: "127.0.0.1",
 *     upgrade: "websocket",
 *     connection: "Upgrade",
 *     "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
 *     "sec-websocket-version": "8",
 *   },
 * });
 * const problems = checkClientHandshake(request);
 * assert.ok(problems.length === 1);
 * assert.ok(problems[0]!.code === "bad_version");
 * assert.ok(problems[0]!.status === 426);
 * ```
 */
export function checkClientHandshake(
  request: { method: string; headers: Headers },
): HandshakeProblem[] {
  const problems: HandshakeProblem[] = [];
  const h = request.headers;
  if (request.method !== "GET") {
    problems.push({
      code: "bad_method",
      message: `method mismatch: expected GET, got ${request.method}`,
      expected: "GET",
      actual: request.method,
      status: 405,
    });
  }
  if (!h.get("host")) {
    problems.push({
      code: "missing_host",
      message: "Host header missing",
      status: 400,
    });
  }
  const upgrade = h.get("upgrade");
  if (upgrade === null) {
    problems.push(missing("missing_upgrade", "Upgrade", "websocket", 400));
  } else if (!tokens(upgrade).includes("websocket")) {
    problems.push(
      mismatch("bad_upgrade", "Upgrade", "websocket", upgrade, 400),
    );
  }
  const connection = h.get("connection");
  if (connection === null) {
    problems.push(missing("missing_connection", "Connection", "Upgrade", 400));
  } else if (!tokens(connection).includes("upgrade")) {
    problems.push(
      mismatch("bad_connection", "Connection", "Upgrade", connection, 400),
    );
  }
  const key = h.get("sec-websocket-key");
  if (key === null) {
    problems.push(
      missing("missing_key", "Sec-WebSocket-Key", "16 bytes of base64", 400),
    );
  } else if (!isValidKey(key.trim())) {
    problems.push({
      code: "bad_key",
      message: `Sec-WebSocket-Key is not 16 bytes of base64: got "${
        escapeControl(key)
      }"`,
      expected: "16 bytes of base64",
      actual: key,
      status: 400,
    });
  }
  const version = h.get("sec-websocket-version");
  if (version === null) {
    problems.push(
      missing("missing_version", "Sec-WebSocket-Version", "13", 426),
    );
  } else if (version.trim() !== "13") {
    problems.push(
      mismatch("bad_version", "Sec-WebSocket-Version", "13", version, 426),
    );
  }
  return problems;
}

function missing(
  code: HandshakeProblemCode,
  header: string,
  expected: string,
  status?: number,
): HandshakeProblem {
  const problem: HandshakeProblem = {
    code,
    message: `${header} header missing: expected ${expected}`,
    expected,
  };
  if (status !== undefined) problem.status = status;
  return problem;
}

function mismatch(
  code: HandshakeProblemCode,
  header: string,
  expected: string,
  actual: string,
  status?: number,
): HandshakeProblem {
  const problem: HandshakeProblem = {
    code,
    message: `${header} mismatch: expected ${expected}, got ${actual}`,
    expected,
    actual,
  };
  if (status !== undefined) problem.status = status;
  return problem;
}

/**
 * What the client offered, for {@linkcode checkServerHandshake}.
 */
export interface CheckServerHandshakeOptions {
  /** Subprotocols sent in `Sec-WebSocket-Protocol`. */
  protocols?: string[];
  /** Extensions sent in `Sec-WebSocket-Extensions` (names, parameters ignored). */
  extensions?: string[];
}

/**
 * Validates a server's handshake response as a client must (RFC 6455
 * §4.1): HTTP/1.1 status 101, `Upgrade: websocket`, `Connection: upgrade`,
 * the right `Sec-WebSocket-Accept`, and a subprotocol or extension only if
 * the client offered it. An empty array means the response is acceptable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { acceptKey, checkServerHandshake } from "@netkit/netkit/ws";
 *
 * const key = "dGhlIHNhbXBsZSBub25jZQ==";
 * const problems = checkServerHandshake({
 *   version: "HTTP/1.1",
 *   status: 101,
 *   reason: "Switching Protocols",
 *   headers: new Headers({
 *     upgrade: "websocket",
 *     connection: "Upgrade",
 *     "sec-websocket-accept": acceptKey(key),
 *   }),
 * }, key);
 * assert.ok(problems.length === 0);
 * ```
 */
export function checkServerHandshake(
  response: HttpResponseHead,
  sentKey: string,
  options: CheckServerHandshakeOptions = {},
): HandshakeProblem[] {
  const problems: HandshakeProblem[] = [];
  const h = response.headers;
  if (response.version !== "HTTP/1.1") {
    problems.push({
      code: "bad_http_version",
      message:
        `HTTP version mismatch: expected HTTP/1.1, got ${response.version}`,
      expected: "HTTP/1.1",
      actual: response.version,
    });
  }
  if (response.status !== 101) {
    const actual = `${response.status} ${response.reason}`.trim();
    problems.push({
      code: "status_not_101",
      message:
        `status mismatch: expected 101 Switching Protocols, got ${actual}`,
      expected: "101",
      actual,
    });
  }
  const upgrade = h.get("upgrade");
  if (upgrade === null) {
    problems.push(missing("missing_upgrade", "Upgrade", "websocket"));
  } else if (upgrade.trim().toLowerCase() !== "websocket") {
    problems.push(mismatch("bad_upgrade", "Upgrade", "websocket", upgrade));
  }
  const connection = h.get("connection");
  if (connection === null) {
    problems.push(missing("missing_connection", "Connection", "Upgrade"));
  } else if (!tokens(connection).includes("upgrade")) {
    problems.push(
      mismatch("bad_connection", "Connection", "Upgrade", connection),
    );
  }
  const expectedAccept = acceptKey(sentKey);
  const accept = h.get("sec-websocket-accept");
  if (accept === null) {
    problems.push(
      missing("missing_accept", "Sec-WebSocket-Accept", expectedAccept),
    );
  } else if (accept.trim() !== expectedAccept) {
    problems.push(
      mismatch(
        "accept_mismatch",
        "Sec-WebSocket-Accept",
        expectedAccept,
        accept,
      ),
    );
  }
  const protocol = h.get("sec-websocket-protocol");
  if (protocol !== null) {
    const offered = options.protocols ?? [];
    if (!offered.includes(protocol.trim())) {
      problems.push({
        code: "unexpected_protocol",
        message: `Sec-WebSocket-Protocol not offered: expected ${
          offered.length ? `one of ${offered.join(", ")}` : "none"
        }, got ${protocol}`,
        expected: offered.join(", "),
        actual: protocol,
      });
    }
  }
  const extensions = h.get("sec-websocket-extensions");
  if (extensions !== null) {
    const offered = new Set(
      (options.extensions ?? []).map((e) => extensionName(e)),
    );
    const unexpected = extensions.split(",").map(extensionName).filter((e) =>
      e !== "" && !offered.has(e)
    );
    if (unexpected.length > 0) {
      problems.push({
        code: "unexpected_extension",
        message: `Sec-WebSocket-Extensions not offered: expected ${
          offered.size ? `only ${[...offered].join(", ")}` : "none"
        }, got ${extensions}`,
        expected: [...offered].join(", "),
        actual: extensions,
      });
    }
  }
  return problems;
}

function extensionName(extension: string): string {
  return extension.split(";")[0]!.trim().toLowerCase();
}

/**
 * Options of {@linkcode buildClientRequest}; `method` and `version` exist so
 * conformance tests can send deliberately wrong handshakes.
 */
export interface BuildClientRequestOptions {
  /** Extra header fields; a field named like a default replaces it. */
  headers?: HeadersInit;
  /** Subprotocols for `Sec-WebSocket-Protocol`, in order of preference. */
  protocols?: string[];
  /** The request method. Default `GET`. */
  method?: string;
  /** The `Sec-WebSocket-Version` value. Default `13`. */
  version?: string;
}

/**
 * The raw text of a client's opening handshake (request line, headers and
 * the empty line), ready to write to a TCP connection.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildClientRequest } from "@netkit/netkit/ws";
 *
 * const head = buildClientRequest(
 *   new URL("ws://127.0.0.1:8080/chat?room=1"),
 *   "dGhlIHNhbXBsZSBub25jZQ==",
 * );
 * assert.ok(head.startsWith("GET /chat?room=1 HTTP/1.1\r\n"));
 * assert.ok(head.includes("\r\nHost: 127.0.0.1:8080\r\n"));
 * assert.ok(head.endsWith("\r\n\r\n"));
 * ```
 */
export function buildClientRequest(
  url: URL,
  key: string,
  options: BuildClientRequestOptions = {},
): string {
  const fields = new Map<string, [string, string]>();
  const set = (name: string, value: string) =>
    fields.set(name.toLowerCase(), [name, value]);
  set("Host", url.host);
  set("Upgrade", "websocket");
  set("Connection", "Upgrade");
  set("Sec-WebSocket-Key", key);
  set("Sec-WebSocket-Version", options.version ?? "13");
  if (options.protocols?.length) {
    set("Sec-WebSocket-Protocol", options.protocols.join(", "));
  }
  // Headers rejects CR/LF in values, so user input cannot inject lines.
  for (const [name, value] of new Headers(options.headers)) set(name, value);
  const target = (url.pathname || "/") + url.search;
  const lines = [`${options.method ?? "GET"} ${target} HTTP/1.1`];
  for (const [name, value] of fields.values()) lines.push(`${name}: ${value}`);
  return lines.join("\r\n") + "\r\n\r\n";
}

/**
 * Parses an HTTP/1.1 response head strictly: CRLF line endings, a valid
 * status line, token header names with no space before the colon, no
 * obsolete line folding. Returns `null` while the head is incomplete, so
 * callers can read more and call again with the grown buffer.
 *
 * Limits are checked on the raw bytes before anything is decoded or
 * allocated.
 *
 * @throws {WsError} `head_too_large` past `maxHeadBytes` or `maxHeaders`;
 * `bad_http` on bytes that cannot be an HTTP/1.1 response head.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseResponseHead } from "@netkit/netkit/ws";
 *
 * const head = new TextEncoder().encode(
 *   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
 * );
 * // The head, then the first bytes of a frame in the same read.
 * const bytes = new Uint8Array([...head, 0x81, 0x00]);
 * const parsed = parseResponseHead(bytes)!;
 * assert.equal(parsed.head.status, 101);
 * assert.equal(parsed.head.headers.get("upgrade"), "websocket");
 * assert.equal(bytes[parsed.bodyOffset], 0x81);
 * assert.equal(parseResponseHead(bytes.subarray(0, 20)), null);
 * ```
 */
export function parseResponseHead(
  bytes: Uint8Array,
  options: ParseResponseHeadOptions = {},
): ParsedResponseHead | null {
  return asWsError(() => parseResponse(bytes, options));
}

/**
 * Parses an HTTP/1.x request head strictly (the server side of
 * {@linkcode parseResponseHead}, same rules and limits): CRLF endings, a
 * request line `METHOD TARGET HTTP/1.x`, token header names, no folding.
 * Returns `null` while the head is incomplete.
 *
 * @throws {WsError} `head_too_large` past `maxHeadBytes` or `maxHeaders`;
 * `bad_http` on bytes that cannot be an HTTP/1.x request head.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRequestHead } from "@netkit/netkit/ws";
 *
 * const bytes = new TextEncoder().encode("GET /ws HTTP/1.1\r\nHost: a\r\n\r\n");
 * const parsed = parseRequestHead(bytes)!;
 * assert.equal(parsed.head.target, "/ws");
 * assert.equal(parsed.bodyOffset, bytes.length);
 * assert.equal(parseRequestHead(bytes.subarray(0, 10)), null);
 * ```
 */
export function parseRequestHead(
  bytes: Uint8Array,
  options: ParseResponseHeadOptions = {},
): { head: HttpRequestHead; bodyOffset: number } | null {
  return asWsError(() => parseRequest(bytes, options));
}

// The head parser is shared with tcp/dial.ts; here its errors are WsErrors.
function asWsError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof NetkitError && !(error instanceof WsError)) {
      throw new WsError(error.code as WsErrorCode, error.message);
    }
    throw error;
  }
}
