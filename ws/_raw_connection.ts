// A raw WebSocket connection for the tools that judge servers (`ws verify`,
// `ws check`) and for tests: opened through the one client edge
// (ws/dial.ts), it sends exactly the bytes it is told to, deliberately
// broken frames included, and hands back exactly the bytes that came.

import { closeQuietly, writeAll } from "../_io.ts";
import type { HttpResponseHead } from "./handshake.ts";
import { encodeFrame, type FrameInit } from "./frame.ts";
import type { DialConn } from "../tcp/dial.ts";
import {
  type HandshakeExchange,
  sendHandshake,
  type SendHandshakeOptions,
} from "./dial.ts";
import {
  ClientHandshake,
  type ClientHandshakeOptions,
} from "./client_handshake.ts";

/** What {@linkcode RawConnection.readChunk} returns when no bytes came. */
export type RawEnd = { kind: "eof"; reset: boolean } | { kind: "timeout" };

/** An open connection after the handshake response (any status). */
export interface RawConnection {
  /** The TCP or TLS connection. */
  conn: DialConn;
  /** The server's response head. */
  response: HttpResponseHead;
  /** The handshake that was sent (its key, what it offered). */
  handshake: ClientHandshake;
  /** Encodes and sends one frame; masked with a random key unless `mask` is given. */
  send(frame: FrameInit): Promise<void>;
  /** Sends bytes as they are. */
  sendRaw(bytes: Uint8Array): Promise<void>;
  /**
   * The next bytes from the server as they are (the handshake's leftover
   * first); `eof` when the server closed TCP (`reset` when by RST) or the
   * connection was closed here, `timeout` when nothing arrived within
   * `timeoutMs`. A read that outlives a timeout is kept for the next call,
   * so the connection stays usable.
   */
  readChunk(timeoutMs: number): Promise<Uint8Array | RawEnd>;
  /** Closes the connection (idempotent); settles once a read in flight has. */
  close(): Promise<void>;
}

/** Options of {@linkcode openRaw}. */
export type OpenRawOptions = ClientHandshakeOptions & SendHandshakeOptions;

/**
 * Connects, sends a handshake with a fresh key and reads the response head.
 * Does not require 101: the caller judges with `handshake.check`.
 */
export async function openRaw(
  url: URL,
  options: OpenRawOptions,
): Promise<RawConnection> {
  const handshake = new ClientHandshake(url, options);
  const exchange = await sendHandshake(url, handshake.request, options);
  return rawConnection(exchange, handshake);
}

type ReadResult = { n: number | null } | { error: unknown };

/** A raw connection over an exchange the caller already made. */
export function rawConnection(
  { conn, response, leftover }: HandshakeExchange,
  handshake: ClientHandshake,
): RawConnection {
  let unread: Uint8Array | null = leftover.length > 0 ? leftover : null;
  const buf = new Uint8Array(64 * 1024);
  let pending: Promise<ReadResult> | null = null;
  let end: RawEnd | null = null;

  const read = (): Promise<ReadResult> =>
    pending ??= conn.read(buf).then((n) => ({ n }), (error) => ({ error }));

  return {
    conn,
    response,
    handshake,
    async send(frame) {
      await writeAll(conn, encodeFrame({ ...frame, mask: frame.mask ?? true }));
    },
    async sendRaw(bytes) {
      await writeAll(conn, bytes);
    },
    async readChunk(timeoutMs) {
      if (unread) {
        const bytes = unread;
        unread = null;
        return bytes;
      }
      if (end) return end;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), Math.max(0, timeoutMs));
      });
      const result = await Promise.race([read(), timeout]);
      clearTimeout(timer);
      if (result === "timeout") return { kind: "timeout" };
      pending = null;
      if ("error" in result || result.n === null) {
        end = {
          kind: "eof",
          reset: "error" in result &&
            result.error instanceof Deno.errors.ConnectionReset,
        };
        return end;
      }
      return buf.slice(0, result.n);
    },
    async close() {
      end ??= { kind: "eof", reset: false };
      closeQuietly(conn);
      if (pending) await pending;
      pending = null;
    },
  };
}
