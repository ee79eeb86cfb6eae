/**
 * A strict, bounded HTTP/1.1 response parser that does no I/O: bytes in,
 * complete responses out (status, body length, whether the server closes
 * the connection after it), whatever way the bytes were split. It reads
 * the status line, the header fields that frame a message
 * (`Content-Length`, `Transfer-Encoding`, `Connection`), fixed-length,
 * chunked and read-until-close bodies, skips interim `1xx` responses, and
 * checks every limit as the bytes arrive: head size and field count,
 * body size, chunk-size lines. Bodies are counted, not kept.
 *
 * The root's head parser (`_http_head.ts`) builds a `Headers` object and
 * strings for one handshake; a load generator reads a response per
 * request, so this one works on the bytes in place and allocates nothing
 * per response.
 *
 * @module
 */

import { HttpError } from "./errors.ts";

/** Limits and context of an {@linkcode HttpResponseParser}. */
export interface HttpResponseParserOptions {
  /** Largest head (status line to the empty line), and largest trailer section. Default 16 KiB. */
  maxHeadBytes?: number;
  /** Most header fields in a head (or trailers). Default 100. */
  maxHeaders?: number;
  /** Largest body. Default 1 GiB. */
  maxBodyBytes?: number;
  /** The requests were `HEAD`: responses carry no body whatever they say. */
  noBody?: boolean;
}

/**
 * A complete response, as {@linkcode HttpResponseParser} reports it. The
 * parser reuses one object: copy what you keep.
 */
export interface HttpResponseInfo {
  /** The three-digit status code. */
  status: number;
  /** The minor version: 1 for `HTTP/1.1`, 0 for `HTTP/1.0`. */
  minor: number;
  /** Body bytes (after removing chunk framing). */
  bodyBytes: number;
  /** True when the server closes the connection after this response. */
  close: boolean;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;

// tchar (RFC 9110 §5.6.2) and field-value octets (VCHAR, SP, HTAB, obs-text).
const TCHAR = new Uint8Array(256);
const VALUE = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  TCHAR[c] = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(String.fromCharCode(c)) ? 1 : 0;
  VALUE[c] = c === HTAB || (c >= 0x20 && c !== 0x7f) ? 1 : 0;
}

// Where the parser is (plain numbers: a switch on them is the hot path).
const HEAD = 0;
const LENGTH = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const CHUNK_END = 4;
const TRAILERS = 5;
const UNTIL_CLOSE = 6;
const CLOSED = 7;

const CONTENT_LENGTH = bytesOf("content-length");
const TRANSFER_ENCODING = bytesOf("transfer-encoding");
const CONNECTION = bytesOf("connection");
const CLOSE = bytesOf("close");
const PREFIX = bytesOf("HTTP/1.");
const KEEP_ALIVE = bytesOf("keep-alive");
const LINE_LIMIT = 4096;

function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/**
 * Parses a stream of HTTP/1.1 responses (pipelined or one by one) without
 * doing I/O. Give it the bytes as they arrive; it calls back once per
 * complete final response. A malformed response throws an
 * {@linkcode HttpError} (`bad_http`, `head_too_large`, `body_too_large`),
 * after which the parser must not be used again.
 *
 * @example Two pipelined responses split mid-body
 * ```ts
 * import assert from "node:assert/strict";
 * import { HttpResponseParser } from "@netkit/netkit/http";
 *
 * const parser = new HttpResponseParser();
 * const seen: string[] = [];
 * const on = (r: { status: number; bodyBytes: number }) => {
 *   seen.push(`${r.status}:${r.bodyBytes}`);
 * };
 * const bytes = new TextEncoder().encode(
 *   "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" +
 *     "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
 * );
 * parser.receive(bytes.subarray(0, 40), on);
 * parser.receive(bytes.subarray(40), on);
 * assert.deepEqual(seen, ["200:5", "404:3"]);
 * ```
 */
export class HttpResponseParser {
  readonly #maxHead: number;
  readonly #maxHeaders: number;
  readonly #maxBody: number;
  readonly #noBody: boolean;
  #state = HEAD;
  // The field line #field last checked: name end, value start and end.
  #nameEnd = 0;
  #valueStart = 0;
  #valueEnd = 0;
  // A head or line split across reads, copied until it is whole.
  #pending: Uint8Array = new Uint8Array(256);
  #pendingLength = 0;
  #remaining = 0;
  #trailerBytes = 0;
  #trailerFields = 0;
  #crlf = 0;
  readonly #info: HttpResponseInfo = {
    status: 0,
    minor: 1,
    bodyBytes: 0,
    close: false,
  };

  /** A parser with the given limits. */
  constructor(options: HttpResponseParserOptions = {}) {
    this.#maxHead = options.maxHeadBytes ?? 16 * 1024;
    this.#maxHeaders = options.maxHeaders ?? 100;
    this.#maxBody = options.maxBodyBytes ?? 2 ** 30;
    this.#noBody = options.noBody ?? false;
  }

  /** True between responses: no part of one has arrived. */
  get idle(): boolean {
    return this.#state === HEAD && this.#pendingLength === 0;
  }

  /**
   * Takes the next bytes of the stream and calls `onResponse` for every
   * response they complete, in order.
   */
  receive(
    bytes: Uint8Array,
    onResponse: (response: HttpResponseInfo) => void,
  ): void {
    let i = 0;
    const n = bytes.length;
    while (i < n) {
      switch (this.#state) {
        case HEAD:
          i = this.#head(bytes, i, onResponse);
          break;
        case LENGTH: {
          const take = Math.min(this.#remaining, n - i);
          i += take;
          this.#remaining -= take;
          this.#info.bodyBytes += take;
          if (this.#remaining === 0) this.#done(onResponse);
          break;
        }
        case CHUNK_SIZE: {
          const end = this.#line(bytes, i);
          i = this.#lineStop;
          if (end >= 0) this.#chunkSize(this.#pending, end);
          break;
        }
        case CHUNK_DATA: {
          const take = Math.min(this.#remaining, n - i);
          i += take;
          this.#remaining -= take;
          this.#info.bodyBytes += take;
          if (this.#remaining === 0) {
            this.#state = CHUNK_END;
            this.#crlf = 0;
          }
          break;
        }
        case CHUNK_END:
          if (bytes[i] !== (this.#crlf === 0 ? CR : LF)) {
            throw bad("a chunk's data is not followed by CRLF");
          }
          i++;
          if (++this.#crlf === 2) this.#state = CHUNK_SIZE;
          break;
        case TRAILERS: {
          const end = this.#line(bytes, i);
          i = this.#lineStop;
          if (end >= 0) this.#trailer(this.#pending, end, onResponse);
          break;
        }
        case UNTIL_CLOSE:
          this.#info.bodyBytes += n - i;
          if (this.#info.bodyBytes > this.#maxBody) {
            throw tooLarge(this.#maxBody);
          }
          i = n;
          break;
        case CLOSED:
          throw bad("bytes after a response that closes the connection");
      }
    }
  }

  /**
   * The stream ended. Completes a body that runs until the close (calling
   * `onResponse`); returns false when a response was cut short.
   */
  end(onResponse: (response: HttpResponseInfo) => void): boolean {
    if (this.#state === UNTIL_CLOSE) {
      this.#done(onResponse);
      return true;
    }
    return this.#state === CLOSED || this.idle;
  }

  // The head: parsed in place when it arrived whole, else gathered.
  #head(
    bytes: Uint8Array,
    at: number,
    onResponse: (response: HttpResponseInfo) => void,
  ): number {
    if (this.#pendingLength === 0) {
      // Not HTTP at all (another protocol's greeting): say so now, not
      // at the close or the deadline.
      for (let k = 0; k < PREFIX.length && at + k < bytes.length; k++) {
        if (bytes[at + k] !== PREFIX[k]) {
          throw bad(
            `not an HTTP response: ${quote(bytes, at, bytes.length)}`,
          );
        }
      }
      const end = this.#headEnd(bytes, at, bytes.length);
      if (end >= 0) {
        this.#parseHead(bytes, at, end, onResponse);
        return end;
      }
      this.#gather(bytes.subarray(at));
      return bytes.length;
    }
    const before = this.#pendingLength;
    const room = this.#maxHead - before;
    const part = bytes.subarray(at, at + Math.max(0, room));
    this.#gather(part);
    const end = this.#headEnd(this.#pending, 0, this.#pendingLength);
    if (end < 0) {
      if (this.#pendingLength >= this.#maxHead) {
        throw new HttpError(
          "head_too_large",
          `response head larger than ${this.#maxHead} bytes`,
        );
      }
      return at + part.length;
    }
    this.#pendingLength = 0;
    this.#parseHead(this.#pending, 0, end, onResponse);
    return at + (end - before);
  }

  #gather(part: Uint8Array): void {
    const need = this.#pendingLength + part.length;
    if (need > this.#pending.length) {
      const grown = new Uint8Array(Math.max(need, 2 * this.#pending.length));
      grown.set(this.#pending.subarray(0, this.#pendingLength));
      this.#pending = grown;
    }
    this.#pending.set(part, this.#pendingLength);
    this.#pendingLength = need;
  }

  // Index just past the empty line ending the head, or -1; throws on a
  // bare LF and past the limits.
  #headEnd(buf: Uint8Array, start: number, end: number): number {
    const limit = Math.min(end, start + this.#maxHead);
    let lines = 0;
    for (let j = buf.indexOf(LF, start); j >= 0 && j < limit;) {
      if (j === start || buf[j - 1] !== CR) throw bad("bare LF in the head");
      if (j - start >= 3 && buf[j - 2] === LF && buf[j - 3] === CR) {
        return j + 1;
      }
      if (++lines > this.#maxHeaders + 1) {
        throw new HttpError(
          "head_too_large",
          `response head has more than ${this.#maxHeaders} header fields`,
        );
      }
      j = buf.indexOf(LF, j + 1);
    }
    if (limit - start >= this.#maxHead) {
      throw new HttpError(
        "head_too_large",
        `response head larger than ${this.#maxHead} bytes`,
      );
    }
    return -1;
  }

  #parseHead(
    buf: Uint8Array,
    start: number,
    end: number,
    onResponse: (response: HttpResponseInfo) => void,
  ): void {
    // "HTTP/1.x NNN[ reason]\r\n"
    if (
      buf[start] !== 0x48 || buf[start + 1] !== 0x54 ||
      buf[start + 2] !== 0x54 || buf[start + 3] !== 0x50 ||
      buf[start + 4] !== 0x2f || buf[start + 5] !== 0x31 ||
      buf[start + 6] !== 0x2e ||
      (buf[start + 7] !== 0x30 && buf[start + 7] !== 0x31) ||
      buf[start + 8] !== SP || !digit(buf[start + 9]) ||
      !digit(buf[start + 10]) || !digit(buf[start + 11])
    ) {
      throw bad(`bad status line: ${quote(buf, start, end)}`);
    }
    const minor = buf[start + 7]! - 0x30;
    const status = (buf[start + 9]! - 0x30) * 100 +
      (buf[start + 10]! - 0x30) * 10 + (buf[start + 11]! - 0x30);
    let j = start + 12;
    if (buf[j] === SP) {
      for (j++; buf[j] !== CR; j++) {
        if (!VALUE[buf[j]!]) {
          throw bad(`bad status line: ${quote(buf, start, end)}`);
        }
      }
    }
    if (buf[j] !== CR) throw bad(`bad status line: ${quote(buf, start, end)}`);
    let length = -1;
    let chunked = false;
    let encoded = false;
    let close = false;
    let keepAlive = false;
    // Field lines, each "name: value\r\n", up to the empty line.
    for (let line = j + 2; line < end - 2;) {
      const cr = buf.indexOf(CR, line);
      this.#field(buf, line, cr);
      const nameEnd = this.#nameEnd;
      const valueStart = this.#valueStart;
      const valueEnd = this.#valueEnd;
      if (same(buf, line, nameEnd, CONTENT_LENGTH)) {
        const value = contentLength(buf, valueStart, valueEnd);
        if (length >= 0 && value !== length) {
          throw bad("two different Content-Length values");
        }
        length = value;
      } else if (same(buf, line, nameEnd, TRANSFER_ENCODING)) {
        encoded = true;
        chunked = lastToken(buf, valueStart, valueEnd) === "chunked";
      } else if (same(buf, line, nameEnd, CONNECTION)) {
        if (hasToken(buf, valueStart, valueEnd, CLOSE)) close = true;
        if (hasToken(buf, valueStart, valueEnd, KEEP_ALIVE)) keepAlive = true;
      }
      line = cr + 2;
    }
    if (status < 200) {
      // Interim (100 Continue, 103 Early Hints): the final one follows.
      if (status === 101) throw bad("101 Switching Protocols, not asked for");
      return;
    }
    const info = this.#info;
    info.status = status;
    info.minor = minor;
    info.bodyBytes = 0;
    info.close = close || (minor === 0 && !keepAlive);
    if (this.#noBody || status === 204 || status === 304) {
      this.#done(onResponse);
    } else if (encoded) {
      // RFC 9112 §6.1: both framings at once is how requests are smuggled.
      if (length >= 0) {
        throw bad("both Content-Length and Transfer-Encoding");
      }
      if (chunked) {
        this.#state = CHUNK_SIZE;
      } else {
        info.close = true;
        this.#state = UNTIL_CLOSE;
      }
    } else if (length >= 0) {
      if (length > this.#maxBody) throw tooLarge(this.#maxBody);
      if (length === 0) this.#done(onResponse);
      else {
        this.#remaining = length;
        this.#state = LENGTH;
      }
    } else {
      info.close = true;
      this.#state = UNTIL_CLOSE;
    }
  }

  // One field line [start, cr): checks it and notes where the name ends
  // and the value (without surrounding whitespace) lies.
  #field(buf: Uint8Array, start: number, cr: number): void {
    if (cr < 0 || buf[cr + 1] !== LF) throw bad("bare CR in the head");
    if (buf[start] === SP || buf[start] === HTAB) {
      throw bad("obsolete line folding in the head");
    }
    let k = start;
    while (k < cr && TCHAR[buf[k]!]) k++;
    if (k === start || buf[k] !== 0x3a) {
      throw bad(`bad header line: ${quote(buf, start, cr)}`);
    }
    const nameEnd = k;
    for (k++; k < cr && (buf[k] === SP || buf[k] === HTAB); k++);
    const valueStart = k;
    let valueEnd = valueStart;
    for (; k < cr; k++) {
      const c = buf[k]!;
      if (!VALUE[c]) throw bad(`bad header line: ${quote(buf, start, cr)}`);
      if (c !== SP && c !== HTAB) valueEnd = k + 1;
    }
    this.#nameEnd = nameEnd;
    this.#valueStart = valueStart;
    this.#valueEnd = valueEnd;
  }

  // Gathers one CRLF-terminated line (a chunk size or a trailer) into
  // #pending, bounded by LINE_LIMIT: returns where its CR is once it is
  // whole, else -1; #lineStop is where reading goes on.
  #lineStop = 0;
  #line(bytes: Uint8Array, at: number): number {
    const lf = bytes.indexOf(LF, at);
    const stop = lf < 0 ? bytes.length : lf + 1;
    if (this.#pendingLength + stop - at > LINE_LIMIT) {
      throw bad(`a chunk-size or trailer line longer than ${LINE_LIMIT} bytes`);
    }
    this.#gather(bytes.subarray(at, stop));
    this.#lineStop = stop;
    if (lf < 0) return -1;
    const end = this.#pendingLength;
    this.#pendingLength = 0;
    if (end < 2 || this.#pending[end - 2] !== CR) {
      throw bad("bare LF in chunk framing");
    }
    return end - 2;
  }

  #chunkSize(line: Uint8Array, end: number): void {
    let size = 0;
    let k = 0;
    for (; k < end; k++) {
      const v = hex(line[k]!);
      if (v < 0) break;
      size = size * 16 + v;
      if (size > this.#maxBody) throw tooLarge(this.#maxBody);
    }
    if (k === 0) throw bad(`bad chunk size line: ${quote(line, 0, end)}`);
    // Extensions (";name=value") are allowed and ignored.
    for (; k < end && (line[k] === SP || line[k] === HTAB); k++);
    if (k < end && line[k] !== 0x3b) {
      throw bad(`bad chunk size line: ${quote(line, 0, end)}`);
    }
    for (; k < end; k++) {
      if (!VALUE[line[k]!]) throw bad("bad chunk extension");
    }
    if (size === 0) {
      this.#state = TRAILERS;
      this.#trailerBytes = 0;
      this.#trailerFields = 0;
      return;
    }
    if (this.#info.bodyBytes + size > this.#maxBody) {
      throw tooLarge(this.#maxBody);
    }
    this.#remaining = size;
    this.#state = CHUNK_DATA;
  }

  #trailer(
    line: Uint8Array,
    end: number,
    onResponse: (response: HttpResponseInfo) => void,
  ): void {
    if (end === 0) {
      this.#done(onResponse);
      return;
    }
    this.#trailerBytes += end + 2;
    if (
      this.#trailerBytes > this.#maxHead ||
      ++this.#trailerFields > this.#maxHeaders
    ) {
      throw new HttpError(
        "head_too_large",
        `trailers larger than ${this.#maxHead} bytes or ${this.#maxHeaders} fields`,
      );
    }
    // Checked like a header field (the CRLF is there: #line saw it).
    this.#field(line, 0, end);
  }

  #done(onResponse: (response: HttpResponseInfo) => void): void {
    this.#state = this.#info.close ? CLOSED : HEAD;
    onResponse(this.#info);
  }
}

function bad(message: string): HttpError {
  return new HttpError("bad_http", message);
}

function tooLarge(max: number): HttpError {
  return new HttpError(
    "body_too_large",
    `response body larger than ${max} bytes`,
  );
}

function digit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

// Whether buf[start, end) is `lower`, ignoring ASCII case.
function same(
  buf: Uint8Array,
  start: number,
  end: number,
  lower: Uint8Array,
): boolean {
  if (end - start !== lower.length) return false;
  for (let k = 0; k < lower.length; k++) {
    if ((buf[start + k]! | 0x20) !== lower[k]) return false;
  }
  return true;
}

// Content-Length: digits, or a list of the same digits (RFC 9110 §8.6),
// read in place.
function contentLength(buf: Uint8Array, start: number, end: number): number {
  let value = -1;
  let k = start;
  for (;;) {
    while (k < end && (buf[k] === SP || buf[k] === HTAB)) k++;
    let n = 0;
    const from = k;
    for (; k < end && digit(buf[k]); k++) n = n * 10 + buf[k]! - 0x30;
    if (k === from || k - from > 15) {
      throw bad(`bad Content-Length: ${quote(buf, start, end)}`);
    }
    if (value >= 0 && n !== value) {
      throw bad("two different Content-Length values");
    }
    value = n;
    while (k < end && (buf[k] === SP || buf[k] === HTAB)) k++;
    if (k === end) return value;
    if (buf[k] !== 0x2c) {
      throw bad(`bad Content-Length: ${quote(buf, start, end)}`);
    }
    k++;
  }
}

// Whether a comma-separated list holds `token` (ASCII case ignored).
function hasToken(
  buf: Uint8Array,
  start: number,
  end: number,
  token: Uint8Array,
): boolean {
  let k = start;
  while (k < end) {
    while (k < end && (buf[k] === SP || buf[k] === HTAB || buf[k] === 0x2c)) {
      k++;
    }
    const from = k;
    while (k < end && buf[k] !== 0x2c) k++;
    let to = k;
    while (to > from && (buf[to - 1] === SP || buf[to - 1] === HTAB)) to--;
    if (same(buf, from, to, token)) return true;
  }
  return false;
}

function tokens(buf: Uint8Array, start: number, end: number): string[] {
  let text = "";
  for (let k = start; k < end; k++) text += String.fromCharCode(buf[k]!);
  return text.toLowerCase().split(",").map((t) => t.trim()).filter((t) =>
    t !== ""
  );
}

function lastToken(buf: Uint8Array, start: number, end: number): string {
  return tokens(buf, start, end).at(-1) ?? "";
}

function quote(buf: Uint8Array, start: number, end: number): string {
  let text = "";
  for (let k = start; k < Math.min(end, start + 60); k++) {
    text += String.fromCharCode(buf[k]!);
  }
  return JSON.stringify(text);
}
