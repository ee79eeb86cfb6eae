// An accepted TLS connection whose close() really closes it. The runtime's
// close() on a TLS connection that has not finished its handshake leaves
// the TCP socket open, its fd held, and the client unanswered, until the
// client sends something or goes away: a deadline or an eviction that
// only called close() would log a drop that never happened. The guard
// starts the handshake at accept (so its progress is known) and, while it
// is unfinished, makes close() reset the socket as well.

import { resetTcp } from "../_tcp_reset.ts";

/** What closing a guarded connection did to its socket. */
export type CloseOutcome =
  /** An ordinary close: the handshake had settled. */
  | "closed"
  /** The handshake was unfinished: the socket was reset (RST sent, fd freed). */
  | "reset"
  /** The handshake was unfinished and the runtime cannot reset (no --allow-ffi): the socket stays open until the client leaves. */
  | "left_open";

/** The handshake's state and the real end of a guarded TLS connection. */
export interface TlsGuard {
  /** Where the handshake stands. */
  readonly state: "pending" | "done" | "failed";
  /** Settles with the handshake: true if it succeeded. Never rejects. */
  readonly handshake: Promise<boolean>;
  /** Settles once the socket is really closed (or known to be left open). */
  readonly closed: Promise<CloseOutcome>;
}

/** Guards `conn` (just accepted): see the module comment. */
export function guardTls(conn: Deno.TlsConn): TlsGuard {
  let state: TlsGuard["state"] = "pending";
  const handshake = conn.handshake().then(() => true, () => false);
  void handshake.then((ok) => state = ok ? "done" : "failed");
  const closed = Promise.withResolvers<CloseOutcome>();
  const close = conn.close.bind(conn);
  const local = conn.localAddr;
  const remote = conn.remoteAddr;
  let closing = false;
  Object.defineProperty(conn, "close", {
    configurable: true,
    value() {
      // A second close throws BadResource, as the runtime's does.
      if (closing) return close();
      closing = true;
      const unfinished = state === "pending";
      try {
        close();
      } finally {
        if (!unfinished) closed.resolve("closed");
        else {
          void resetTcp(local, remote).then((sent) =>
            closed.resolve(
              sent ? "reset" : state === "pending" ? "left_open" : "closed",
            )
          );
        }
      }
    },
  });
  return {
    get state() {
      return state;
    },
    handshake,
    closed: closed.promise,
  };
}
