/**
 * The client side of the opening handshake as a core that does no I/O
 * (python-websockets' `ClientProtocol.connect()` and `process_response()`):
 * it builds the request and judges the response. Every netkit tool that
 * opens a WebSocket (the client, `ws verify`, `ws check`, the relay, the
 * load driver) goes through it, by way of the one head exchange in
 * `ws/dial.ts`.
 *
 * @module
 */

import { WsError } from "./errors.ts";
import {
  buildClientRequest,
  checkServerHandshake,
  generateKey,
  type HandshakeProblem,
  type HttpResponseHead,
} from "./handshake.ts";
import {
  acceptPerMessageDeflate,
  type DeflateOptions,
  type DeflateParams,
  offerPerMessageDeflate,
} from "./deflate.ts";
import { toWsUrl } from "./url.ts";
import { escapeControl } from "../escape.ts";

/**
 * What a client offers in its opening handshake.
 */
export interface ClientHandshakeOptions {
  /**
   * Extra request headers (`Origin`, `Authorization`, …); a field named
   * like a default replaces it. `Sec-WebSocket-Protocol` and
   * `Sec-WebSocket-Extensions` given here count as offered.
   */
  headers?: HeadersInit;
  /** Subprotocols to offer, in order of preference. */
  protocols?: string[];
  /**
   * Offer permessage-deflate (RFC 7692): `true` for the browsers' offer,
   * or {@linkcode DeflateOptions}. The server's answer is then checked
   * against the offer and its parameters agreed. Default false.
   */
  deflate?: boolean | DeflateOptions;
  /** The `Sec-WebSocket-Key` to send (recorded exchanges); default a fresh one. */
  key?: string;
}

/**
 * What an accepted handshake agreed on.
 */
export interface AcceptedHandshake {
  /** The server's response head. */
  response: HttpResponseHead;
  /** The subprotocol the server chose, or `""`. */
  protocol: string;
  /** permessage-deflate as agreed, or `null` when not compressing. */
  deflate: DeflateParams | null;
}

/**
 * One client opening handshake (RFC 6455 §4.1): {@linkcode
 * ClientHandshake.request} is the text to send, {@linkcode
 * ClientHandshake.check} lists what is wrong with a response (for reports
 * such as `ws verify`), and {@linkcode ClientHandshake.accept} turns a
 * response into the agreed subprotocol and extension or throws. It never
 * touches a socket, so recorded responses test it byte for byte.
 *
 * The response must be `101` with `Upgrade: websocket`, a `Connection`
 * holding `upgrade`, the `Sec-WebSocket-Accept` of this key, a subprotocol
 * only from those offered, and extensions only from those offered (with
 * permessage-deflate parameters within the offer).
 *
 * @example Build a request, accept a recorded response
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClientHandshake, acceptKey } from "@netkit/netkit/ws";
 *
 * const handshake = new ClientHandshake("ws://127.0.0.1:8080/chat", {
 *   protocols: ["chat.v2"],
 * });
 * assert.ok(handshake.request.startsWith("GET /chat HTTP/1.1\r\n"));
 * const accepted = handshake.accept({
 *   version: "HTTP/1.1",
 *   status: 101,
 *   reason: "Switching Protocols",
 *   headers: new Headers({
 *     upgrade: "websocket",
 *     connection: "Upgrade",
 *     "sec-websocket-accept": acceptKey(handshake.key),
 *     "sec-websocket-protocol": "chat.v2",
 *   }),
 * });
 * assert.equal(accepted.protocol, "chat.v2");
 * ```
 */
export class ClientHandshake {
  /** The URL after netkit's one URL rule (`http://` means `ws://`). */
  readonly url: URL;
  /** The `Sec-WebSocket-Key` sent. */
  readonly key: string;
  /** The request head, request line to the empty line. */
  readonly request: string;
  /** Subprotocols offered. */
  readonly protocols: readonly string[];
  /** Extension names offered, lower-cased. */
  readonly extensions: readonly string[];
  readonly #deflate: DeflateOptions | undefined;

  /**
   * Prepares the handshake for `url`.
   *
   * @param url A `ws://` or `wss://` URL (`http://`, `https://` map to them).
   * @param options What to offer.
   * @throws {WsError} `bad_url` for any other URL.
   */
  constructor(url: string | URL, options: ClientHandshakeOptions = {}) {
    this.url = toWsUrl(url);
    this.key = options.key ?? generateKey();
    this.#deflate = options.deflate === true
      ? {}
      : options.deflate || undefined;
    const headers = new Headers(options.headers);
    if (this.#deflate && !headers.has("sec-websocket-extensions")) {
      headers.set(
        "sec-websocket-extensions",
        offerPerMessageDeflate(this.#deflate),
      );
    }
    this.protocols = headers.has("sec-websocket-protocol")
      ? list(headers.get("sec-websocket-protocol"))
      : [...options.protocols ?? []];
    this.extensions = list(headers.get("sec-websocket-extensions")).map((e) =>
      e.split(";")[0]!.trim().toLowerCase()
    );
    this.request = buildClientRequest(this.url, this.key, {
      headers,
      protocols: options.protocols,
    });
  }

  /**
   * Everything wrong with `response` (empty when it is acceptable): the
   * RFC 6455 §4.1 checks, then, when permessage-deflate was offered and
   * answered, its parameters (`bad_extension`).
   */
  check(response: HttpResponseHead): HandshakeProblem[] {
    const problems = checkServerHandshake(response, this.key, {
      protocols: [...this.protocols],
      extensions: [...this.extensions],
    });
    if (problems.length > 0 || !this.#deflate) return problems;
    try {
      acceptPerMessageDeflate(
        response.headers.get("sec-websocket-extensions"),
        this.#deflate,
      );
    } catch (error) {
      problems.push({
        code: "bad_extension",
        message: (error as Error).message,
        actual: response.headers.get("sec-websocket-extensions") ?? undefined,
      });
    }
    return problems;
  }

  /**
   * Accepts `response` and returns what it agreed on.
   *
   * @param response The server's response head.
   * @param body The start of the response body, shown when the status is
   * not 101 (the server's own explanation, e.g. "origin not allowed").
   * @throws {WsError} `handshake_failed`: `HTTP 403 Forbidden: <body>` for
   * a status other than 101, otherwise every problem found, with the
   * server's words escaped.
   */
  accept(response: HttpResponseHead, body = ""): AcceptedHandshake {
    if (response.status !== 101) {
      const reason = response.reason ? ` ${response.reason}` : "";
      const shown = describeBody(response, body);
      throw new WsError(
        "handshake_failed",
        escapeControl(
          `HTTP ${response.status}${reason}${shown ? `: ${shown}` : ""}`,
        ),
      );
    }
    const problems = this.check(response);
    if (problems.length > 0) {
      throw new WsError(
        "handshake_failed",
        `WebSocket handshake with ${this.url.host} failed: ${
          escapeControl(problems.map((p) => p.message).join("; "))
        }`,
      );
    }
    const deflate = this.#deflate
      ? acceptPerMessageDeflate(
        response.headers.get("sec-websocket-extensions"),
        this.#deflate,
      )
      : null;
    return {
      response,
      protocol: response.headers.get("sec-websocket-protocol")?.trim() ?? "",
      deflate,
    };
  }
}

/**
 * A refusal's body as a person wants it: the text itself, but a web page
 * (HTML) as one short line with its title, since 200 characters of markup
 * say less than "a web page, not a WebSocket endpoint".
 */
function describeBody(response: HttpResponseHead, body: string): string {
  const type = response.headers.get("content-type") ?? "";
  if (!/html/i.test(type) && !/^\s*<(?:!doctype|html)/i.test(body)) {
    return body;
  }
  const title = /<title[^>]*>([^<]*)/i.exec(body)?.[1]?.trim();
  const page = title ? `a web page ("${title}")` : "a web page";
  return response.status < 300
    ? `${page}, not a WebSocket upgrade (is the path right?)`
    : page;
}

function list(value: string | null): string[] {
  if (value === null) return [];
  return value.split(",").map((v) => v.trim()).filter((v) => v !== "");
}
