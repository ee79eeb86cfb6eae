// HTTP/1.x message heads, parsed strictly and within limits (not public
// API): the WebSocket handshake (ws/) and the HTTP CONNECT proxy reply
// (tcp/dial.ts) read heads through this one parser. ws/handshake.ts
// re-exports it with WebSocket errors.

import { NetkitError } from "./errors.ts";
import { escapeControl } from "./escape.ts";
import type {
  HttpRequestHead,
  ParsedResponseHead,
  ParseResponseHeadOptions,
} from "./types.ts";

const CR = 0x0d;
const LF = 0x0a;
const HTTP_PREFIX = [0x48, 0x54, 0x54, 0x50, 0x2f]; // "HTTP/"
const STATUS_LINE = /^(HTTP\/\d\.\d) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

const REQUEST_LINE =
  /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) (HTTP\/1\.[01])$/;

/** Parses a response head; `null` while incomplete. Throws `NetkitError` `bad_http` or `head_too_large`. */
export function parseResponseHead(
  bytes: Uint8Array,
  options: ParseResponseHeadOptions = {},
): ParsedResponseHead | null {
  const prefix = Math.min(bytes.length, HTTP_PREFIX.length);
  for (let i = 0; i < prefix; i++) {
    if (bytes[i] !== HTTP_PREFIX[i]) {
      throw new NetkitError(
        "bad_http",
        `not an HTTP response: starts with ${
          quoted(latin1(bytes.subarray(0, Math.min(bytes.length, 32))))
        }`,
      );
    }
  }
  const end = findHeadEnd(bytes, options, "response");
  if (end < 0) return null;
  const text = latin1(bytes.subarray(0, end - 4));
  const [statusLine, ...fieldLines] = text.split("\r\n");
  const status = STATUS_LINE.exec(statusLine!);
  if (!status) {
    throw new NetkitError(
      "bad_http",
      `bad status line: ${quoted(statusLine!)}`,
    );
  }
  const headers = parseFields(fieldLines);
  return {
    head: {
      version: status[1]!,
      status: Number(status[2]),
      reason: status[3] ?? "",
      headers,
    },
    bodyOffset: end,
  };
}

/**
 * A peer's line in quotes with every control escaped: JSON.stringify left
 * C1 controls (bytes 0x80–0x9f read as Latin-1) raw for the terminal.
 */
function quoted(text: string): string {
  return `"${escapeControl(text).replaceAll('"', '\\"')}"`;
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return s;
}

/** Parses a request head; `null` while incomplete. Throws like {@linkcode parseResponseHead}. */
export function parseRequestHead(
  bytes: Uint8Array,
  options: ParseResponseHeadOptions = {},
): { head: HttpRequestHead; bodyOffset: number } | null {
  const end = findHeadEnd(bytes, options, "request");
  if (end < 0) return null;
  const [line, ...fieldLines] = latin1(bytes.subarray(0, end - 4)).split(
    "\r\n",
  );
  const request = REQUEST_LINE.exec(line!);
  if (!request) {
    throw new NetkitError(
      "bad_http",
      `bad request line: ${quoted(line ?? "")}`,
    );
  }
  return {
    head: {
      method: request[1]!,
      target: request[2]!,
      version: request[3]!,
      headers: parseFields(fieldLines),
    },
    bodyOffset: end,
  };
}

/**
 * Index just past the head's empty line, or -1 while incomplete; throws
 * on a bare LF (so LF-only peers fail now, not at the deadline) and past
 * the limits.
 */
function findHeadEnd(
  bytes: Uint8Array,
  options: ParseResponseHeadOptions,
  what: string,
): number {
  const maxHeadBytes = options.maxHeadBytes ?? 16 * 1024;
  const maxHeaders = options.maxHeaders ?? 100;
  const limit = Math.min(bytes.length, maxHeadBytes);
  let lines = 0;
  for (let i = 0; i < limit; i++) {
    if (bytes[i] !== LF) continue;
    if (i === 0 || bytes[i - 1] !== CR) {
      throw new NetkitError("bad_http", `bare LF in the ${what} head`);
    }
    if (i >= 3 && bytes[i - 2] === LF && bytes[i - 3] === CR) return i + 1;
    if (++lines > maxHeaders + 1) {
      throw new NetkitError(
        "head_too_large",
        `${what} head has more than ${maxHeaders} header fields`,
      );
    }
  }
  if (bytes.length >= maxHeadBytes) {
    throw new NetkitError(
      "head_too_large",
      `${what} head is larger than ${maxHeadBytes} bytes`,
    );
  }
  return -1;
}

function parseFields(fieldLines: string[]): Headers {
  const headers = new Headers();
  for (const line of fieldLines) {
    const colon = line.indexOf(":");
    const name = colon < 0 ? "" : line.slice(0, colon);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!FIELD_NAME.test(name) || !FIELD_VALUE.test(value)) {
      throw new NetkitError(
        "bad_http",
        `bad header line: ${quoted(line)}`,
      );
    }
    headers.append(name, value);
  }
  return headers;
}
