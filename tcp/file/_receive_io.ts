// What the receiver's connection loops get: the receiver's shared parts
// and one connection's socket, session record and callbacks.

import type { ConnectionContext } from "../server.ts";
import type { ReceivedFile, ReceiveSession } from "./types.ts";
import type { ReceiverConfig } from "./_receiver_config.ts";
import type { PreAuthGate, Ticket } from "./_pre_auth.ts";
import type { CodeBudget } from "./_code_budget.ts";

/** What every connection of one receiver shares. */
export interface Shared {
  config: ReceiverConfig;
  gate: PreAuthGate;
  /** In code mode: the wrong attempts the code has left. */
  code?: CodeBudget;
  basic: boolean;
  tls: boolean;
  gracePeriodMs: number;
}

/** What a connection's loop gets. */
export interface ConnectionIo {
  conn: Deno.Conn;
  /** Counts traffic for the accept loop (its idle timer, its counters). */
  context: ConnectionContext;
  shared: Shared;
  session: ReceiveSession;
  /** This connection's standing at the pre-auth gate. */
  ticket: Ticket;
  /** The sender authenticated (in basic mode: its name was taken). */
  authenticated(): void;
  /** An entry's outcome: into the session, the counters and `onFile`. */
  fileDone(file: ReceivedFile): void;
}
