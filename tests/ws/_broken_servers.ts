// Raw TCP WebSocket servers that are broken on purpose, for testing clients
// and `ws verify`. Each speaks just enough RFC 6455 (written with the ws/
// codec) to be wrong in exactly one way.

import {
  acceptKey,
  encodeFrame,
  FrameDecoder,
  isProtocolError,
  OPCODE,
} from "../../ws/mod.ts";

/** How a broken server misbehaves. */
export type Breakage =
  /** A correct echo server (the control case). */
  | "none"
  /** 101 with a `Sec-WebSocket-Accept` computed from the wrong key; then echoes. */
  | "wrong_accept"
  /** 101 without `Sec-WebSocket-Accept`; then echoes. */
  | "no_accept"
  /** `200 OK` with a small body, then closes. */
  | "status_200"
  /** 101 without an `Upgrade` header; then echoes. */
  | "no_upgrade"
  /** 101 without a `Connection` header; then echoes. */
  | "no_connection"
  /** 101 choosing a subprotocol nobody offered; then echoes. */
  | "unoffered_protocol"
  /** 101 choosing permessage-deflate nobody offered; then echoes. */
  | "unoffered_extension"
  /** Sends a text frame "hello" in the same write as the 101 response; then echoes. */
  | "greeting"
  /** Handshake fine, but data frames are answered with nothing. */
  | "no_echo"
  /** Handshake fine, but echoes text as binary. */
  | "echo_binary"
  /** Handshake fine, but its frames are masked (servers must not mask). */
  | "masked_frames"
  /** Handshake fine, then reads and answers nothing: no echo, pong or Close. */
  | "mute"
  /** Echoes, but never answers a Close (and keeps TCP open). */
  | "ignore_close"
  /** Echoes and answers Close, but keeps TCP open. */
  | "keep_tcp_open"
  /** Answers Close with 1002 instead of 1000. */
  | "close_1002"
  /** Reads the request and never answers. */
  | "silent"
  /** Answers with bytes that are not HTTP. */
  | "not_http"
  /** Closes TCP right after reading the request. */
  | "hang_up";

/** A running broken server. */
export interface BrokenServer {
  /** The port on 127.0.0.1. */
  port: number;
  /** `ws://127.0.0.1:<port>/`. */
  url: string;
  /** The `Sec-WebSocket-Key` of every request received, in order. */
  keys: string[];
  /** Stops accepting, closes every connection and waits for the handlers. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const encoder = new TextEncoder();

/** Starts a broken server on 127.0.0.1, port 0. */
export function startBrokenServer(breakage: Breakage): BrokenServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  const keys: string[] = [];
  const accepting = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return; // Listener closed.
      }
      conns.add(conn);
      const handler = handle(conn, breakage, keys).finally(() => {
        conns.delete(conn);
        handlers.delete(handler);
      });
      handlers.add(handler);
    }
  })();
  const port = listener.addr.port;
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      listener.close();
      await accepting;
      for (const conn of conns) quietClose(conn);
      await Promise.all([...handlers]);
    })();
  return {
    port,
    url: `ws://127.0.0.1:${port}/`,
    keys,
    close,
    [Symbol.asyncDispose]: close,
  };
}

function quietClose(conn: Deno.Conn) {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

async function write(conn: Deno.Conn, bytes: Uint8Array) {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** Reads the request head; returns the key and bytes that followed it. */
async function readRequest(
  conn: Deno.Conn,
): Promise<{ key: string; rest: Uint8Array } | null> {
  const buf = new Uint8Array(16 * 1024);
  let filled = 0;
  while (filled < buf.length) {
    const n = await conn.read(buf.subarray(filled));
    if (n === null) return null;
    filled += n;
    const text = new TextDecoder("latin1").decode(buf.subarray(0, filled));
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const key = /^sec-websocket-key:[ \t]*(\S+)/im.exec(text)?.[1] ?? "";
      return { key, rest: buf.slice(end + 4, filled) };
    }
  }
  return null;
}

function handshakeResponse(breakage: Breakage, key: string): string {
  if (breakage === "status_200") {
    return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
  }
  if (breakage === "not_http") return "SSH-2.0-OpenSSH_9.6\r\n";
  const lines = ["HTTP/1.1 101 Switching Protocols"];
  if (breakage !== "no_upgrade") lines.push("Upgrade: websocket");
  if (breakage !== "no_connection") lines.push("Connection: Upgrade");
  if (breakage === "wrong_accept") {
    lines.push(`Sec-WebSocket-Accept: ${acceptKey("wrong" + key)}`);
  } else if (breakage !== "no_accept") {
    lines.push(`Sec-WebSocket-Accept: ${acceptKey(key)}`);
  }
  if (breakage === "unoffered_protocol") {
    lines.push("Sec-WebSocket-Protocol: nobody-asked");
  }
  if (breakage === "unoffered_extension") {
    lines.push("Sec-WebSocket-Extensions: permessage-deflate");
  }
  return lines.join("\r\n") + "\r\n\r\n";
}

async function handle(
  conn: Deno.Conn,
  breakage: Breakage,
  keys: string[],
): Promise<void> {
  try {
    const request = await readRequest(conn);
    if (request === null) return;
    keys.push(request.key);
    if (breakage === "hang_up") return;
    if (breakage === "silent") {
      // Wait until the client or close() ends the connection.
      while (await conn.read(new Uint8Array(1024)) !== null) { /* discard */ }
      return;
    }
    const head = encoder.encode(handshakeResponse(breakage, request.key));
    if (breakage === "greeting") {
      const hello = encodeFrame({
        opcode: OPCODE.text,
        payload: encoder.encode("hello"),
      });
      const both = new Uint8Array(head.length + hello.length);
      both.set(head);
      both.set(hello, head.length);
      await write(conn, both);
    } else {
      await write(conn, head);
    }
    if (breakage === "status_200" || breakage === "not_http") return;
    if (breakage === "mute") {
      while (await conn.read(new Uint8Array(1024)) !== null) { /* discard */ }
      return;
    }
    await frameLoop(conn, breakage, request.rest);
  } catch {
    // The client went away or close() closed the connection.
  } finally {
    quietClose(conn);
  }
}

async function frameLoop(
  conn: Deno.Conn,
  breakage: Breakage,
  first: Uint8Array,
): Promise<void> {
  const decoder = new FrameDecoder({ expectMasked: true });
  const mask = breakage === "masked_frames" ? true : undefined;
  const send = (opcode: number, payload: Uint8Array, fin = true) =>
    write(conn, encodeFrame({ opcode, payload, mask, fin }));
  const buf = new Uint8Array(64 * 1024);
  let chunk = first;
  for (;;) {
    for (const frame of decoder.push(chunk)) {
      if (isProtocolError(frame)) return;
      switch (frame.opcode) {
        case OPCODE.text:
        case OPCODE.binary:
        case OPCODE.continuation:
          if (breakage === "no_echo") break;
          await send(
            breakage === "echo_binary" && frame.opcode === OPCODE.text
              ? OPCODE.binary
              : frame.opcode,
            frame.payload,
            frame.fin,
          );
          break;
        case OPCODE.ping:
          await send(OPCODE.pong, frame.payload);
          break;
        case OPCODE.close:
          if (breakage === "ignore_close") break;
          await send(
            OPCODE.close,
            breakage === "close_1002"
              ? new Uint8Array([0x03, 0xea])
              : frame.payload,
          );
          if (breakage === "keep_tcp_open") break;
          return;
      }
    }
    const n = await conn.read(buf);
    if (n === null) return;
    chunk = buf.subarray(0, n);
  }
}
