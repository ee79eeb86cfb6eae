// One connection of the receiver, whatever it speaks: its session record,
// its ticket at the pre-auth gate, and why it ended as the user is told.
// The socket loop around the protocol core is in _receive_protocol.ts,
// the classic flow's in _netcat_receive.ts.

import { formatAddress } from "../../address.ts";
import type { ConnectionContext } from "../server.ts";
import type { ReceiveSession, TransferFailure } from "./types.ts";
import type { ReceiverConfig } from "./_receiver_config.ts";
import type { ConnectionIo, Shared } from "./_receive_io.ts";
import { failureOf } from "./_failure.ts";
import { receiveProtocol } from "./_receive_protocol.ts";
import { receiveBasic } from "./_netcat_receive.ts";

/** Runs one session and reports it; never throws. */
export async function serveConnection(
  conn: Deno.Conn,
  outer: ConnectionContext,
  shared: Shared,
): Promise<ReceiveSession> {
  const { config, gate, basic } = shared;
  const started = performance.now();
  const peerAddr = conn.remoteAddr as Deno.NetAddr;
  const session: ReceiveSession = {
    peer: formatAddress(peerAddr),
    ok: false,
    basic,
    authenticated: false,
    files: [],
    bytes: 0,
    durationMs: 0,
  };
  let lastActive = performance.now();
  const context: ConnectionContext = {
    signal: outer.signal,
    record(bytesIn, bytesOut) {
      lastActive = performance.now();
      outer.record(bytesIn, bytesOut);
    },
  };
  const ticket = gate.admit(conn, peerAddr.hostname);
  const io: ConnectionIo = {
    conn,
    context,
    shared,
    session,
    ticket,
    authenticated() {
      session.authenticated = true;
      ticket.authenticated();
    },
    fileDone(file) {
      session.files.push(file);
      if (file.status === "stored") {
        config.stats.filesStored++;
        config.stats.bytesStored += file.bytes;
      } else {
        config.stats.filesFailed++;
      }
      config.onFile?.(file, session.peer);
    },
  };
  let failure: TransferFailure | undefined;
  try {
    failure = await (basic ? receiveBasic(io) : receiveProtocol(io));
  } catch (error) {
    failure = failureOf(error);
  } finally {
    ticket.end();
  }
  if (failure) {
    session.error = sessionFailure(failure, {
      closedBy: ticket.closedBy,
      aborted: context.signal.aborted,
      idle: config.idleTimeoutMs > 0 &&
        performance.now() - lastActive >= config.idleTimeoutMs,
      config,
    });
    if (ticket.closedBy === "deadline") config.stats.authTimeouts++;
  }
  session.ok = !session.error && session.authenticated &&
    session.files.every((f) => f.status === "stored");
  session.durationMs = performance.now() - started;
  return session;
}

// What the user is told: the gate or the accept loop closing the socket
// explains a cut connection better than the cut itself.
function sessionFailure(
  failure: TransferFailure,
  why: {
    closedBy: "deadline" | "evicted" | undefined;
    aborted: boolean;
    idle: boolean;
    config: ReceiverConfig;
  },
): TransferFailure {
  // The gate closed the connection: whatever the read then saw (EOF, a
  // closed resource), that is why the session ended.
  if (why.closedBy === "deadline") {
    return {
      code: "timeout",
      message: "the peer did not authenticate within the deadline",
    };
  }
  if (why.closedBy === "evicted") {
    return {
      code: "connection_closed",
      message:
        "dropped while unauthenticated to make room for a newer connection (--max-pending)",
    };
  }
  if (failure.code !== "connection_closed" && failure.code !== "internal") {
    return failure;
  }
  if (why.aborted) {
    return { code: "shutting_down", message: "the receiver stopped" };
  }
  if (why.idle) {
    return {
      code: "timeout",
      message: `nothing arrived for ${
        why.config.idleTimeoutMs / 1000
      } s (idle timeout)`,
    };
  }
  return failure;
}
