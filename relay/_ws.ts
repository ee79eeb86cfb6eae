// A WebSocket connection as a relay stream, on the engine's protocol core.
// The relay drives the core itself instead of using the client or the
// server's driver: both push messages as they arrive, while a relay must
// pull (read the socket only when the other side has taken the last
// bytes), which is what keeps a slow side slowing the other instead of
// growing a queue. Binary messages carry the bytes; a text message is
// passed on as its UTF-8.
//
// WebSocket has no half-close: closeWrite sends Close 1000, and the peer's
// answering Close ends its direction too. So a half-close through a
// WebSocket is best-effort: what the peer had sent before its Close still
// arrives, nothing after it.

import { closeQuietly, delay, writeAll } from "../_io.ts";
import type { DialConn } from "../tcp/dial.ts";
import { WsError } from "../ws/errors.ts";
import { WsProtocol } from "../ws/protocol.ts";
import { type RelayStream, resetConn } from "./_stream.ts";

/** Largest message a relay accepts from a WebSocket peer (else 1009). */
export const MAX_WS_MESSAGE = 16 * 1024 * 1024;
// Small until a read fills it (thousands of idle connections stay cheap),
// then large for bulk traffic, as the engine's driver does.
const SMALL_READ = 4 * 1024;
const BULK_READ = 64 * 1024;
/** Milliseconds a closing Close frame may take to leave before the socket goes. */
const CLOSE_FLUSH_MS = 1000;

/** `conn`, already upgraded (`leftover`: bytes read past the handshake), as a relay stream. */
export function wsStream(
  conn: DialConn,
  role: "client" | "server",
  leftover: Uint8Array,
  peer: string,
): RelayStream {
  const protocol = new WsProtocol({
    role,
    maxMessageSize: MAX_WS_MESSAGE,
    keepTextBytes: true,
  });
  let chunks: Uint8Array[] = [];
  let pending: Uint8Array | undefined = leftover.length > 0
    ? leftover
    : undefined;
  let buf: Uint8Array | undefined;
  let ended = false;
  let eof = false;
  let closed = false;
  let writing: Promise<void> = Promise.resolve();

  // One writer at a time: the read side (pongs, the Close echo) and the
  // write side share the socket.
  function flush(): Promise<void> {
    writing = writing.catch(() => {}).then(async () => {
      let out: Uint8Array[] | null;
      while ((out = protocol.takeOutput()) !== null) {
        for (const chunk of out) await writeAll(conn, chunk);
      }
    });
    return writing;
  }

  function take(p: Uint8Array): number {
    const first = chunks[0]!;
    const n = Math.min(p.length, first.length);
    p.set(first.subarray(0, n));
    if (n < first.length) chunks[0] = first.subarray(n);
    else chunks = chunks.slice(1);
    return n;
  }

  async function receive(): Promise<void> {
    let bytes: Uint8Array;
    if (pending) {
      bytes = pending;
      pending = undefined;
    } else {
      buf ??= new Uint8Array(SMALL_READ);
      const n = await conn.read(buf);
      if (n === null) {
        ended = eof = true;
        return;
      }
      bytes = buf.subarray(0, n);
      if (n === buf.length && n < BULK_READ) buf = new Uint8Array(BULK_READ);
    }
    for (const event of protocol.receive(bytes)) {
      if ("kind" in event) continue;
      if (event.type === "binary" && event.data.length > 0) {
        chunks.push(event.data);
      } else if (event.type === "text" && event.bytes!.length > 0) {
        chunks.push(event.bytes!);
      } else if (event.type === "close") ended = true;
    }
    if (protocol.hasOutput) await flush();
    const failure = protocol.failure;
    if (failure) {
      ended = true;
      throw new WsError(
        "protocol_error",
        `WebSocket protocol error from ${peer}: ${failure.reason} (closed with ${failure.closeCode})`,
      );
    }
  }

  return {
    peer,
    async read(p) {
      while (chunks.length === 0) {
        if (ended) return null;
        await receive();
      }
      return take(p);
    },
    async write(p) {
      if (!protocol.sendBinary(p)) {
        throw new Deno.errors.BrokenPipe(
          `the WebSocket ${peer} has closed (a WebSocket has no half-close)`,
        );
      }
      // The core may hold `p` by reference until it is written.
      await flush();
      return p.length;
    },
    async closeWrite() {
      protocol.close(1000);
      await flush();
    },
    async reset() {
      // An RST where the socket allows one (the peer sees 1006), else the
      // WebSocket's own word for it.
      if (closed) return false;
      closed = true;
      const sent = await resetConn(conn);
      if (sent) return true;
      closed = false;
      await closeWith(1011, "the other side reset the connection");
      return false;
    },
    close: () => closeWith(1001, "relay closing"),
    detail() {
      const failure = protocol.failure;
      if (failure) {
        return `protocol error, sent ${failure.closeCode} "${failure.reason}"`;
      }
      const received = protocol.peerClose;
      if (received) {
        const reason = received.reason ? ` "${received.reason}"` : "";
        return `closed ${received.code ?? 1005}${reason}`;
      }
      return eof ? "dropped TCP without a Close (1006)" : undefined;
    },
  };

  async function closeWith(code: number, reason: string): Promise<void> {
    if (closed) return;
    closed = true;
    if (!protocol.closeSent && !eof) {
      protocol.close(code, reason);
      // A peer that does not read must not hold the close up.
      const done = new AbortController();
      await Promise.race([
        flush().catch(() => {}),
        delay(CLOSE_FLUSH_MS, done.signal),
      ]);
      done.abort();
    }
    closeQuietly(conn);
  }
}
