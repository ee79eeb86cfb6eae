// A raw-TCP WebSocket echo server for the `ws check` tests: conformant by
// default (handshake checked, frames decoded with the ws/ codec, protocol
// errors answered with the right close code), with switches that break it
// in the ways the catalogue must catch.

import { closeQuietly, writeAll } from "../../../_io.ts";
import {
  acceptKey,
  checkClientHandshake,
  encodeClose,
  encodeFrame,
  type Frame,
  FrameDecoder,
  isProtocolError,
  MessageAssembler,
  OPCODE,
} from "../../../ws/mod.ts";

/** How the server misbehaves; all off is a conformant echo server. */
export interface RawEchoOptions {
  /** Accept unmasked client frames (RFC 6455 §5.1 says fail). */
  acceptUnmasked?: boolean;
  /** Echo every close payload verbatim, invalid codes and reasons included. */
  echoCloseVerbatim?: boolean;
  /** Echo text messages without validating UTF-8. */
  acceptInvalidUtf8?: boolean;
  /** Complete the handshake, then never answer (read and discard). */
  silent?: boolean;
}

/** A running raw echo server. */
export interface RawEchoServer {
  /** `ws://127.0.0.1:<port>/`. */
  url: string;
  /** Stops accepting, closes every connection and waits for the handlers. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const encoder = new TextEncoder();
const HEAD_END = new Uint8Array([13, 10, 13, 10]);

/** Starts the server on 127.0.0.1, port 0. */
export function startRawEchoServer(
  options: RawEchoOptions = {},
): RawEchoServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  const accepting = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return;
      }
      conns.add(conn);
      const handler = serve(conn, options)
        .catch(() => {})
        .finally(() => {
          closeQuietly(conn);
          conns.delete(conn);
          handlers.delete(handler);
        });
      handlers.add(handler);
    }
  })();
  const close = async () => {
    closeQuietly(listener);
    await accepting;
    for (const conn of conns) closeQuietly(conn);
    await Promise.all(handlers);
  };
  return {
    url: `ws://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`,
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function serve(conn: Deno.Conn, options: RawEchoOptions): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  let filled = 0;
  let end = -1;
  while (end < 0) {
    if (filled === buf.length) return;
    const n = await conn.read(buf.subarray(filled));
    if (n === null) return;
    filled += n;
    end = indexOf(buf.subarray(0, filled), HEAD_END);
  }
  const request = parseRequest(new TextDecoder().decode(buf.subarray(0, end)));
  const problems = checkClientHandshake(request);
  if (problems.length > 0) {
    const status = Math.max(...problems.map((p) => p.status ?? 400));
    const extra = status === 426 ? "Sec-WebSocket-Version: 13\r\n" : "";
    await writeAll(
      conn,
      encoder.encode(
        `HTTP/1.1 ${status} Refused\r\n${extra}Content-Length: 0\r\n` +
          "Connection: close\r\n\r\n",
      ),
    );
    return;
  }
  const key = request.headers.get("sec-websocket-key")!.trim();
  await writeAll(
    conn,
    encoder.encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
        `Connection: Upgrade\r\nSec-WebSocket-Accept: ${
          acceptKey(key)
        }\r\n\r\n`,
    ),
  );
  if (options.silent) {
    while (await conn.read(buf) !== null) {
      // Never answer.
    }
    return;
  }
  const echo = new Echo(conn, options);
  let chunk = buf.slice(end + 4, filled);
  for (;;) {
    if (!await echo.push(chunk)) return;
    const n = await conn.read(buf);
    if (n === null) return;
    chunk = buf.subarray(0, n);
  }
}

/** The framing side of one connection. */
class Echo {
  readonly #conn: Deno.Conn;
  readonly #options: RawEchoOptions;
  readonly #decoder: FrameDecoder;
  readonly #assembler = new MessageAssembler();
  #textMessage = false;

  constructor(conn: Deno.Conn, options: RawEchoOptions) {
    this.#conn = conn;
    this.#options = options;
    this.#decoder = new FrameDecoder({
      expectMasked: options.acceptUnmasked ? undefined : true,
    });
  }

  /** Handles received bytes; false once the connection is done. */
  async push(bytes: Uint8Array): Promise<boolean> {
    for (const item of this.#decoder.push(bytes)) {
      if (isProtocolError(item)) return await this.#fail(item.closeCode);
      if (!await this.#frame(item)) return false;
    }
    return true;
  }

  async #frame(frame: Frame): Promise<boolean> {
    if (frame.opcode === OPCODE.close && this.#options.echoCloseVerbatim) {
      await this.#send(OPCODE.close, frame.payload);
      return false;
    }
    if (this.#options.acceptInvalidUtf8 && frame.opcode === OPCODE.text) {
      // Assemble text as binary so nothing checks the UTF-8.
      this.#textMessage = true;
      frame = { ...frame, opcode: OPCODE.binary };
    } else if (frame.opcode === OPCODE.binary) {
      this.#textMessage = false;
    }
    for (const event of this.#assembler.push(frame)) {
      if ("kind" in event) return await this.#fail(event.closeCode);
      switch (event.type) {
        case "text":
          await this.#send(OPCODE.text, encoder.encode(event.data));
          break;
        case "binary":
          await this.#send(
            this.#textMessage ? OPCODE.text : OPCODE.binary,
            event.data,
          );
          this.#textMessage = false;
          break;
        case "ping":
          await this.#send(OPCODE.pong, event.payload);
          break;
        case "close":
          await this.#send(
            OPCODE.close,
            encodeClose(event.code ?? undefined, event.reason),
          );
          return false;
      }
    }
    return true;
  }

  async #fail(code: number): Promise<boolean> {
    await this.#send(OPCODE.close, encodeClose(code));
    return false;
  }

  async #send(opcode: number, payload: Uint8Array): Promise<void> {
    await writeAll(this.#conn, encodeFrame({ opcode, payload }));
  }
}

function parseRequest(head: string): Request {
  const [requestLine, ...lines] = head.split("\r\n");
  const [method, target] = requestLine!.split(" ");
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
  }
  return new Request(`http://127.0.0.1${target ?? "/"}`, {
    method: method ?? "GET",
    headers,
  });
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
