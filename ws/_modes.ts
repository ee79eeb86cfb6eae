// What serveWebSocket does with messages: `echo` sends each back to its
// sender, `broadcast` to every other client, closing with 1008 a client
// that lets more than `maxBuffered` bytes pile up (memory stays bounded
// whatever a client does). Protocol errors are counted and reported here.

import { OPCODE, type ProtocolError } from "./frame.ts";
import type { WsProtocolEvent } from "./protocol.ts";
import { WsDriver } from "./_driver.ts";
import { WsError } from "./errors.ts";
import { escapeControl } from "../escape.ts";
import { formatAddress } from "../address.ts";

/** How the server answers a message. */
export type Mode = "echo" | "broadcast";

/**
 * One upgraded connection, as the modes, pings and shutdown see it: its
 * driver, which also knows the client's address (made when asked: only
 * error reports need it).
 */
export class Peer extends WsDriver {
  readonly #remote: Deno.Addr;

  constructor(
    conn: Deno.Conn,
    protocol: ConstructorParameters<typeof WsDriver>[1],
    options: ConstructorParameters<typeof WsDriver>[2],
  ) {
    super(conn, protocol, options);
    this.#remote = conn.remoteAddr;
  }

  /** The client's `host:port`. */
  get address(): string {
    return formatAddress(this.#remote as Deno.NetAddr);
  }
}

/** The counters the modes keep. */
export interface ModeStats {
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  tooLarge: number;
  slowClientsDropped: number;
}

/** What a mode needs. */
export interface ModeSetup {
  mode: Mode;
  /** The open connections (a peer leaves it when it closes or fails). */
  peers: Set<Peer>;
  /** Bytes a broadcast may leave queued for one client. */
  maxBuffered: number;
  stats: ModeStats;
  /** Reports an error the server survives. */
  fail(error: unknown): void;
}

/**
 * The handler of every read's events for one server: everything one read
 * produced is handled before the driver writes the replies out in one go.
 */
export function messageHandler(
  setup: ModeSetup,
): (peer: Peer, events: WsProtocolEvent[]) => void {
  const { mode, peers, stats } = setup;

  function protocolFailed(peer: Peer, error: ProtocolError) {
    peers.delete(peer);
    if (error.closeCode === 1009) {
      stats.tooLarge++;
      return;
    }
    setup.fail(
      new WsError(
        "protocol_error",
        `client ${peer.address}: ${
          escapeControl(error.reason)
        }; connection dropped`,
      ),
    );
  }

  function broadcast(from: Peer, opcode: number, data: Uint8Array) {
    for (const peer of peers) {
      if (peer === from) continue;
      if (peer.bufferedAmount > setup.maxBuffered) {
        stats.slowClientsDropped++;
        peers.delete(peer);
        peer.startClose(
          1008,
          "too slow: reading messages slower than they arrive",
        );
        continue;
      }
      if (!peer.protocol.sendMessage(opcode, data)) continue;
      stats.messagesOut++;
      stats.bytesOut += data.length;
      void peer.flush();
    }
  }

  return (peer, events) => {
    for (const event of events) {
      if ("kind" in event) {
        protocolFailed(peer, event);
        return;
      }
      let opcode: number;
      let data: Uint8Array;
      if (event.type === "text") {
        opcode = OPCODE.text;
        data = event.bytes!;
      } else if (event.type === "binary") {
        opcode = OPCODE.binary;
        data = event.data;
      } else {
        if (event.type === "close") peers.delete(peer);
        continue;
      }
      stats.messagesIn++;
      stats.bytesIn += data.length;
      if (mode === "broadcast") broadcast(peer, opcode, data);
      else if (peer.protocol.sendMessage(opcode, data)) {
        stats.messagesOut++;
        stats.bytesOut += data.length;
      }
    }
  };
}
