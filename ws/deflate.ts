/**
 * permessage-deflate (RFC 7692) without I/O: the `Sec-WebSocket-Extensions`
 * grammar (RFC 6455 §9.1), the server's choice among a client's offers, the
 * client's offer and its check of the server's answer, and a codec per
 * connection that compresses and inflates whole messages with a persistent
 * raw-DEFLATE context (context takeover) and a limit on the inflated size
 * checked while inflating.
 *
 * @module
 */

import { WsError } from "./errors.ts";
import { escapeControl } from "../escape.ts";
import { CorruptData, createRawContext, LimitExceeded } from "./_zlib.ts";

/**
 * One element of a `Sec-WebSocket-Extensions` list: a name and its
 * parameters (`true` for a parameter without a value). Parameters keep
 * their order; a repeated name appears twice.
 */
export interface WsExtension {
  /** The extension token, e.g. `permessage-deflate`. */
  name: string;
  /** `[name, value]` pairs in order; `true` when the parameter has no value. */
  params: [string, string | true][];
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Parses a `Sec-WebSocket-Extensions` value (several header lines joined
 * with `,`, as `Headers.get` does). Quoted values are unquoted; RFC 6455
 * requires them to be tokens once unquoted.
 *
 * @throws {WsError} `bad_http` on anything the grammar does not allow.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseExtensions } from "@netkit/netkit/ws";
 *
 * const offers = parseExtensions(
 *   'permessage-deflate; client_max_window_bits="10", permessage-deflate',
 * );
 * assert.equal(offers.length, 2);
 * assert.deepEqual(offers[0]!.params, [["client_max_window_bits", "10"]]);
 * ```
 */
export function parseExtensions(value: string): WsExtension[] {
  const bad = (why: string) =>
    new WsError(
      "bad_http",
      `bad Sec-WebSocket-Extensions ${
        JSON.stringify(escapeControl(value.slice(0, 200)))
      }: ${why}`,
    );
  const result: WsExtension[] = [];
  let i = 0;
  const skipSpace = () => {
    while (value[i] === " " || value[i] === "\t") i++;
  };
  const token = (what: string): string => {
    const start = i;
    while (i < value.length && TOKEN.test(value[i]!)) i++;
    if (i === start) throw bad(`expected ${what} at offset ${start}`);
    return value.slice(start, i);
  };
  for (;;) {
    skipSpace();
    // Empty list elements (", ,") are allowed by the #rule.
    if (value[i] === ",") {
      i++;
      continue;
    }
    if (i >= value.length) break;
    const extension: WsExtension = {
      name: token("an extension name"),
      params: [],
    };
    skipSpace();
    while (value[i] === ";") {
      i++;
      skipSpace();
      const name = token("a parameter name");
      skipSpace();
      let paramValue: string | true = true;
      if (value[i] === "=") {
        i++;
        skipSpace();
        if (value[i] === '"') paramValue = quoted();
        else paramValue = token("a parameter value");
        skipSpace();
      }
      extension.params.push([name, paramValue]);
    }
    result.push(extension);
    if (i >= value.length) break;
    if (value[i] !== ",") throw bad(`unexpected '${value[i]}' at offset ${i}`);
    i++;
  }
  return result;

  function quoted(): string {
    const start = i++;
    let text = "";
    while (i < value.length && value[i] !== '"') {
      if (value[i] === "\\") i++;
      if (i >= value.length) break;
      text += value[i++];
    }
    if (value[i] !== '"') throw bad(`unterminated quote at offset ${start}`);
    i++;
    if (!TOKEN.test(text)) throw bad(`quoted value '${text}' is not a token`);
    return text;
  }
}

/**
 * Formats extensions for a `Sec-WebSocket-Extensions` header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatExtensions } from "@netkit/netkit/ws";
 *
 * assert.equal(
 *   formatExtensions([{
 *     name: "permessage-deflate",
 *     params: [["server_no_context_takeover", true], ["client_max_window_bits", "12"]],
 *   }]),
 *   "permessage-deflate; server_no_context_takeover; client_max_window_bits=12",
 * );
 * ```
 */
export function formatExtensions(extensions: WsExtension[]): string {
  return extensions.map((e) =>
    [e.name, ...e.params.map(([k, v]) => v === true ? k : `${k}=${v}`)]
      .join("; ")
  ).join(", ");
}

/**
 * What a permessage-deflate negotiation agreed on. "server" and "client"
 * name whose compressor a setting constrains, as in RFC 7692.
 */
export interface DeflateParams {
  /** The server resets its compressor after each message. */
  serverNoContextTakeover: boolean;
  /** The client resets its compressor after each message. */
  clientNoContextTakeover: boolean;
  /** Largest LZ77 window (log2) the server's compressor may use, 8–15. */
  serverMaxWindowBits: number;
  /** Largest LZ77 window (log2) the client's compressor may use, 8–15. */
  clientMaxWindowBits: number;
}

/**
 * What one side wants from permessage-deflate, for
 * {@linkcode negotiatePerMessageDeflate} (server) and
 * {@linkcode offerPerMessageDeflate} (client).
 */
export interface DeflateOptions {
  /** Ask that the server's compressor resets after each message. */
  serverNoContextTakeover?: boolean;
  /** Ask that the client's compressor resets after each message. */
  clientNoContextTakeover?: boolean;
  /** Limit the server's window (8–15). */
  serverMaxWindowBits?: number;
  /**
   * Limit the client's window (8–15). A client may pass `true` to offer the
   * parameter without a value (letting the server pick, the default offer).
   */
  clientMaxWindowBits?: number | true;
}

const NAME = "permessage-deflate";

/** Validated parameters of one offer or answer, or why they are invalid. */
interface ParsedParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits?: number;
  /** `true`: present without a value (allowed in offers only). */
  clientMaxWindowBits?: number | true;
}

function parseParams(
  params: [string, string | true][],
): ParsedParams | string {
  const seen = new Set<string>();
  const out: ParsedParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
  };
  for (const [name, value] of params) {
    if (seen.has(name)) return `parameter ${name} appears twice`;
    seen.add(name);
    switch (name) {
      case "server_no_context_takeover":
      case "client_no_context_takeover":
        if (value !== true) return `${name} takes no value`;
        if (name === "server_no_context_takeover") {
          out.serverNoContextTakeover = true;
        } else out.clientNoContextTakeover = true;
        break;
      case "server_max_window_bits":
      case "client_max_window_bits": {
        let bits: number | true = true;
        if (value !== true) {
          // RFC 7692 §7.1.2: 8–15, no leading zeros.
          if (!/^(?:[89]|1[0-5])$/.test(value)) {
            return `${name}=${value} is not 8–15`;
          }
          bits = Number(value);
        } else if (name === "server_max_window_bits") {
          return `${name} needs a value`;
        }
        if (name === "server_max_window_bits") {
          out.serverMaxWindowBits = bits as number;
        } else out.clientMaxWindowBits = bits;
        break;
      }
      default:
        return `unknown parameter ${name}`;
    }
  }
  return out;
}

function checkBits(name: string, bits: number | true | undefined): void {
  if (bits === undefined || bits === true) return;
  if (!Number.isInteger(bits) || bits < 8 || bits > 15) {
    throw new RangeError(`${name} must be 8–15, not ${bits}`);
  }
}

/**
 * The server's side of the negotiation: picks the first
 * `permessage-deflate` offer in the client's `Sec-WebSocket-Extensions` it
 * can accept under `options`, and returns the agreed parameters with the
 * response header value. `null` when there is no acceptable offer (the
 * handshake then goes on without compression).
 *
 * An offer is declined when its parameters are invalid (unknown or
 * repeated names, values out of range) or when `options` limit the
 * client's window and the offer does not allow that (no
 * `client_max_window_bits`). Offers limiting the server's window to 8
 * bits are honoured with Huffman-only compression.
 *
 * @throws {WsError} `bad_http` if the header breaks the RFC 6455 grammar.
 *
 * @example Accept a browser's offer, keeping no server context
 * ```ts
 * import assert from "node:assert/strict";
 * import { negotiatePerMessageDeflate } from "@netkit/netkit/ws";
 *
 * const result = negotiatePerMessageDeflate(
 *   "permessage-deflate; client_max_window_bits",
 *   { serverNoContextTakeover: true, clientMaxWindowBits: 12 },
 * )!;
 * assert.equal(
 *   result.response,
 *   "permessage-deflate; server_no_context_takeover; client_max_window_bits=12",
 * );
 * assert.equal(result.params.clientMaxWindowBits, 12);
 * assert.equal(negotiatePerMessageDeflate("x-other", {}), null);
 * ```
 */
export function negotiatePerMessageDeflate(
  header: string | null,
  options: DeflateOptions = {},
): { params: DeflateParams; response: string } | null {
  checkBits("serverMaxWindowBits", options.serverMaxWindowBits);
  checkBits("clientMaxWindowBits", options.clientMaxWindowBits);
  if (header === null) return null;
  for (const offer of parseExtensions(header)) {
    if (offer.name.toLowerCase() !== NAME) continue;
    const parsed = parseParams(offer.params);
    if (typeof parsed === "string") continue;
    const accepted = acceptOffer(parsed, options);
    if (accepted) return accepted;
  }
  return null;
}

function acceptOffer(
  offer: ParsedParams,
  options: DeflateOptions,
): { params: DeflateParams; response: string } | null {
  const wantedClientBits = options.clientMaxWindowBits === true
    ? undefined
    : options.clientMaxWindowBits;
  let clientBits = 15;
  if (typeof offer.clientMaxWindowBits === "number") {
    clientBits = offer.clientMaxWindowBits;
  }
  if (wantedClientBits !== undefined && wantedClientBits < clientBits) {
    // We may only ask for a smaller client window if the client said it
    // can take one (§7.1.2.2).
    if (offer.clientMaxWindowBits === undefined) return null;
    clientBits = wantedClientBits;
  }
  const serverBits = Math.min(
    offer.serverMaxWindowBits ?? 15,
    options.serverMaxWindowBits ?? 15,
  );
  const params: DeflateParams = {
    serverNoContextTakeover: offer.serverNoContextTakeover ||
      Boolean(options.serverNoContextTakeover),
    clientNoContextTakeover: Boolean(options.clientNoContextTakeover),
    serverMaxWindowBits: serverBits,
    clientMaxWindowBits: clientBits,
  };
  const response: [string, string | true][] = [];
  if (params.serverNoContextTakeover) {
    response.push(["server_no_context_takeover", true]);
  }
  if (params.clientNoContextTakeover) {
    response.push(["client_no_context_takeover", true]);
  }
  if (serverBits < 15 || offer.serverMaxWindowBits !== undefined) {
    response.push(["server_max_window_bits", String(serverBits)]);
  }
  if (
    wantedClientBits !== undefined && offer.clientMaxWindowBits !== undefined
  ) {
    response.push(["client_max_window_bits", String(clientBits)]);
  }
  return {
    params,
    response: formatExtensions([{ name: NAME, params: response }]),
  };
}

/**
 * The client's offer, for its `Sec-WebSocket-Extensions` request header.
 * By default `permessage-deflate; client_max_window_bits` (what browsers
 * send: any server window, and the server may shrink the client's).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { offerPerMessageDeflate } from "@netkit/netkit/ws";
 *
 * assert.equal(offerPerMessageDeflate(), "permessage-deflate; client_max_window_bits");
 * assert.equal(
 *   offerPerMessageDeflate({ serverNoContextTakeover: true, clientMaxWindowBits: 10 }),
 *   "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
 * );
 * ```
 */
export function offerPerMessageDeflate(options: DeflateOptions = {}): string {
  checkBits("serverMaxWindowBits", options.serverMaxWindowBits);
  checkBits("clientMaxWindowBits", options.clientMaxWindowBits);
  const params: [string, string | true][] = [];
  if (options.serverNoContextTakeover) {
    params.push(["server_no_context_takeover", true]);
  }
  if (options.clientNoContextTakeover) {
    params.push(["client_no_context_takeover", true]);
  }
  if (options.serverMaxWindowBits !== undefined) {
    params.push([
      "server_max_window_bits",
      String(options.serverMaxWindowBits),
    ]);
  }
  const clientBits = options.clientMaxWindowBits ?? true;
  params.push([
    "client_max_window_bits",
    clientBits === true ? true : String(clientBits),
  ]);
  return formatExtensions([{ name: NAME, params }]);
}

/**
 * The client's check of the server's `Sec-WebSocket-Extensions` answer to
 * an offer made with {@linkcode offerPerMessageDeflate} and the same
 * `options`. Returns the agreed parameters, or `null` when the server
 * declined (no header, or no extension at all).
 *
 * @throws {WsError} `handshake_failed` when the answer names an extension
 * that was not offered, accepts more than one, has invalid or unoffered
 * parameters, widens a window the offer limited, or drops
 * `server_no_context_takeover` that was asked for (RFC 7692 §5, §7.1):
 * the client must then fail the connection.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { acceptPerMessageDeflate, WsError } from "@netkit/netkit/ws";
 *
 * const params = acceptPerMessageDeflate(
 *   "permessage-deflate; server_no_context_takeover; client_max_window_bits=9",
 * )!;
 * assert.ok(params.serverNoContextTakeover);
 * assert.equal(params.clientMaxWindowBits, 9);
 * assert.equal(acceptPerMessageDeflate(null), null);
 * assert.throws(
 *   () => acceptPerMessageDeflate("permessage-deflate; x=1"),
 *   (e) => e instanceof WsError && e.code === "handshake_failed",
 * );
 * ```
 */
export function acceptPerMessageDeflate(
  header: string | null,
  options: DeflateOptions = {},
): DeflateParams | null {
  if (header === null) return null;
  const fail = (why: string) =>
    new WsError(
      "handshake_failed",
      `the server's Sec-WebSocket-Extensions is not acceptable: ${why}`,
    );
  let extensions: WsExtension[];
  try {
    extensions = parseExtensions(header);
  } catch (error) {
    throw fail((error as Error).message);
  }
  if (extensions.length === 0) return null;
  if (extensions.length > 1) throw fail("more than one extension accepted");
  const [answer] = extensions;
  if (answer!.name.toLowerCase() !== NAME) {
    throw fail(`${escapeControl(answer!.name)} was not offered`);
  }
  const parsed = parseParams(answer!.params);
  if (typeof parsed === "string") throw fail(escapeControl(parsed));
  const offeredClientBits = options.clientMaxWindowBits ?? true;
  if (parsed.clientMaxWindowBits === true) {
    throw fail("client_max_window_bits needs a value in a response");
  }
  if (
    typeof offeredClientBits === "number" &&
    (parsed.clientMaxWindowBits ?? 15) > offeredClientBits
  ) {
    // The server may not widen our window (we offered a limit).
    if (parsed.clientMaxWindowBits !== undefined) {
      throw fail(
        `client_max_window_bits=${parsed.clientMaxWindowBits} is above the offered ${offeredClientBits}`,
      );
    }
  }
  if (
    options.serverMaxWindowBits !== undefined &&
    (parsed.serverMaxWindowBits ?? 15) > options.serverMaxWindowBits
  ) {
    throw fail(
      `server_max_window_bits=${
        parsed.serverMaxWindowBits ?? 15
      } is above the offered ${options.serverMaxWindowBits}`,
    );
  }
  if (options.serverNoContextTakeover && !parsed.serverNoContextTakeover) {
    throw fail("server_no_context_takeover was asked for and not granted");
  }
  return {
    serverNoContextTakeover: parsed.serverNoContextTakeover,
    clientNoContextTakeover: parsed.clientNoContextTakeover ||
      Boolean(options.clientNoContextTakeover),
    serverMaxWindowBits: parsed.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: typeof parsed.clientMaxWindowBits === "number"
      ? parsed.clientMaxWindowBits
      : typeof offeredClientBits === "number"
      ? offeredClientBits
      : 15,
  };
}

/**
 * Options of {@linkcode createPerMessageDeflate}.
 */
export interface PerMessageDeflateOptions {
  /**
   * Largest message `decompress` produces; inflation stops as soon as it
   * would pass it and throws `WsError` `message_too_large` (close with
   * 1009). Default 16 MiB.
   */
  maxInflatedSize?: number;
}

/**
 * The compressor and decompressor of one connection.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createPerMessageDeflate, type PerMessageDeflate } from "@netkit/netkit/ws";
 *
 * const params = {
 *   serverNoContextTakeover: false,
 *   clientNoContextTakeover: false,
 *   serverMaxWindowBits: 15,
 *   clientMaxWindowBits: 15,
 * };
 * using codec: PerMessageDeflate = createPerMessageDeflate(params, "client");
 * assert.equal(typeof codec.sync, "boolean");
 * ```
 */
export interface PerMessageDeflate extends Disposable {
  /**
   * True when `compress` and `decompress` return bytes directly (the
   * runtime exposes zlib's synchronous handle, as Deno 2.9 does); false
   * when they return promises. Lets a driver skip an `await` per message.
   */
  readonly sync: boolean;
  /**
   * Compresses one whole message into the payload of a frame with RSV1 set
   * (the trailing `00 00 ff ff` removed, RFC 7692 §7.2.1). The caller may
   * split the payload into fragments; only the first carries RSV1.
   */
  compress(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /**
   * Inflates the payload of one whole compressed message (its fragments
   * joined). Throws `WsError` `message_too_large` past
   * `maxInflatedSize` and `protocol_error` on data that is not DEFLATE;
   * after either, the connection must be failed (the context is reset).
   */
  decompress(payload: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /** Frees both zlib contexts. */
  close(): void;
}

const TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
const EMPTY_BLOCK = new Uint8Array([0x00]);
const DEFAULT_MAX_INFLATED = 16 * 1024 * 1024;
// The compressor's window: negotiated bits are a ceiling, and a smaller
// window makes streams every inflater reads. 12 bits (python websockets'
// default) against 15, measured in one process on a busy 2-core machine,
// JSON-like text with context takeover: 1 MiB in 24-26 ms against 57-66
// ms per message; distinct 8 and 16 KiB messages in 0.2-0.5 ms against
// 0.45-1.07 ms; 22.5-23 % of the size against 21.6-22.1 %. The one loss:
// a message identical to the one before (and within 32 KiB) becomes a
// single back reference with 15 bits, 0.01 ms and 1 % of its size (issue
// #26).
const COMPRESS_WINDOW_BITS = 12;

/**
 * Creates the codec for one connection after a negotiation, as `role`
 * ("client" or "server"): it compresses with its own side's window and
 * context rule and inflates what the peer sends (with a 15-bit window,
 * which reads any smaller one).
 *
 * @example RFC 7692 §7.2.3.2: "Hello" twice with context takeover
 * ```ts
 * import assert from "node:assert/strict";
 * import { createPerMessageDeflate } from "@netkit/netkit/ws";
 *
 * const params = {
 *   serverNoContextTakeover: false,
 *   clientNoContextTakeover: false,
 *   serverMaxWindowBits: 15,
 *   clientMaxWindowBits: 15,
 * };
 * using server = createPerMessageDeflate(params, "server");
 * using client = createPerMessageDeflate(params, "client");
 * const hello = new TextEncoder().encode("Hello");
 * const first = await server.compress(hello);
 * assert.equal(first.toHex(), "f248cdc9c90700");
 * const second = await server.compress(hello);
 * assert.equal(second.toHex(), "f200110000");
 * assert.equal(new TextDecoder().decode(await client.decompress(first)), "Hello");
 * assert.equal(new TextDecoder().decode(await client.decompress(second)), "Hello");
 * ```
 */
export function createPerMessageDeflate(
  params: DeflateParams,
  role: "client" | "server",
  options: PerMessageDeflateOptions = {},
): PerMessageDeflate {
  const maxInflated = options.maxInflatedSize ?? DEFAULT_MAX_INFLATED;
  const server = role === "server";
  const ownBits = server
    ? params.serverMaxWindowBits
    : params.clientMaxWindowBits;
  const ownReset = server
    ? params.serverNoContextTakeover
    : params.clientNoContextTakeover;
  const peerReset = server
    ? params.clientNoContextTakeover
    : params.serverNoContextTakeover;
  const deflater = createRawContext({
    mode: "deflate",
    windowBits: Math.min(ownBits, COMPRESS_WINDOW_BITS),
  });
  const inflater = createRawContext({
    mode: "inflate",
    windowBits: 15,
  });

  const finishCompress = (out: Uint8Array): Uint8Array => {
    if (ownReset) deflater.reset();
    const end = out.length - 4;
    const hasTail = end >= 0 && out[end] === 0 && out[end + 1] === 0 &&
      out[end + 2] === 0xff && out[end + 3] === 0xff;
    const payload = hasTail ? out.subarray(0, end) : out;
    // Nothing new to flush (an empty message after others) still needs one
    // empty stored block so that the receiver's appended tail parses.
    return payload.length === 0 ? EMPTY_BLOCK.slice() : payload;
  };
  const finishDecompress = (out: Uint8Array): Uint8Array => {
    if (peerReset) inflater.reset();
    return out;
  };
  const inflateError = (error: unknown): never => {
    if (error instanceof LimitExceeded) {
      throw new WsError(
        "message_too_large",
        `a compressed message inflates to more than ${maxInflated} bytes`,
      );
    }
    if (error instanceof CorruptData) {
      throw new WsError(
        "protocol_error",
        `invalid compressed data: ${error.message}`,
      );
    }
    throw error;
  };

  return {
    sync: deflater.sync && inflater.sync,
    compress(message) {
      const out = deflater.run([message], Number.MAX_SAFE_INTEGER);
      return out instanceof Uint8Array
        ? finishCompress(out)
        : out.then(finishCompress);
    },
    decompress(payload) {
      // Some peers send an empty message as an empty payload with RSV1.
      if (payload.length === 0) return new Uint8Array(0);
      let out: Uint8Array | Promise<Uint8Array>;
      try {
        out = inflater.run([payload, TAIL], maxInflated);
      } catch (error) {
        return inflateError(error);
      }
      return out instanceof Uint8Array
        ? finishDecompress(out)
        : out.then(finishDecompress, inflateError);
    },
    close() {
      deflater.close();
      inflater.close();
    },
    [Symbol.dispose]() {
      this.close();
    },
  };
}
