// The endpoint abstraction the relay moves bytes between: a duplex byte
// stream with half-close, an abortive close and a description of its
// peer. A socket, a TLS session and a program on stdin/stdout are all one.

import { formatAddress } from "../address.ts";
import { closeQuietly, osMessage } from "../_io.ts";
import type { DialConn } from "../tcp/dial.ts";
import { RelayError } from "./errors.ts";
import { resetTcp } from "../_tcp_reset.ts";

/** One side of a relayed connection. */
export interface RelayStream {
  /** Who is on the other end, for the report (not yet escaped). */
  readonly peer: string;
  /** Reads into `p`; `null` at end of stream (the peer's FIN). */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`, waiting while the peer is not reading. */
  write(p: Uint8Array): Promise<number>;
  /** Ends the outgoing direction (FIN); reading goes on. */
  closeWrite(): Promise<void>;
  /** Ends abortively: an RST where the transport has one. True if one went out. */
  reset(): Promise<boolean>;
  /** Closes everything (kills and reaps a program). Idempotent. */
  close(): Promise<void>;
  /** How the far end finished, once closed (a program's exit status). */
  detail?(): string | undefined;
  /**
   * Completes the endpoint's own handshake (TLS); the relay calls it on a
   * client before it opens anything toward the target. Its deadline is the
   * accept loop's (`handshakeTimeoutMs`), which resets the socket.
   */
  ready?(): Promise<void>;
}

/** The peer of a socket as the report names it. */
export function describeAddr(addr: Deno.Addr): string {
  const net = netAddr(addr);
  if (net) return formatAddress(net);
  return `unix:${"path" in addr && addr.path ? addr.path : "(unnamed)"}`;
}

/** `addr` if it is a host and port (Deno.startTls's connections name no transport). */
function netAddr(addr: Deno.Addr): Deno.NetAddr | undefined {
  if (addr.transport === "tcp" || addr.transport === "udp") return addr;
  if ("hostname" in addr && "port" in addr) {
    return { transport: "tcp", hostname: addr.hostname, port: addr.port };
  }
  return undefined;
}

/** A socket (TCP, TLS or Unix, accepted or dialed) as a relay stream. */
export function connStream(conn: DialConn, peer?: string): RelayStream {
  // No-delay is already on (serveTcp sets it on accepted connections,
  // tcp/dial.ts on dialed ones): a relay forwards what it has at once,
  // where Nagle would hold a small chunk back while an earlier one is
  // unacknowledged (pipelined requests).
  return {
    peer: peer ?? describeAddr(conn.remoteAddr),
    read: (p) => conn.read(p),
    write: (p) => conn.write(p),
    closeWrite: () => conn.closeWrite(),
    reset: () => resetConn(conn),
    close() {
      closeQuietly(conn);
      return Promise.resolve();
    },
    ...("handshake" in conn
      ? { ready: () => handshake(conn as Deno.TlsConn) }
      : {}),
  };
}

async function handshake(conn: Deno.TlsConn) {
  try {
    await conn.handshake();
  } catch (error) {
    throw new RelayError(
      "tls_handshake",
      `TLS handshake failed: ${osMessage(error)}`,
      { cause: error },
    );
  }
}

/** Resets `conn` where the runtime allows, then closes it; true if an RST went out. */
export async function resetConn(conn: DialConn): Promise<boolean> {
  const local = netAddr(conn.localAddr);
  const remote = netAddr(conn.remoteAddr);
  let sent = false;
  if (local?.transport === "tcp" && remote?.transport === "tcp") {
    sent = await resetTcp(local, remote);
  }
  closeQuietly(conn);
  return sent;
}
