// What `netkit listen` was asked for, shared by cli/listen.ts and the
// module of each kind (its own file, so they import no command module).

import type { BinaryFormat } from "./_peer_output.ts";

/** What to do when the port is taken. */
export const LISTEN_HINT = "choose another PORT (0 picks a free one)";

/** What `netkit listen` was asked for. */
export interface ListenSettings {
  kind: "tcp" | "tls" | "udp" | "ws" | "wss";
  hostname: string;
  port: number;
  keep: boolean;
  raw: boolean;
  binaryIn: boolean;
  binaryOut: BinaryFormat;
  maxConnections?: number;
  idleTimeoutMs?: number;
  gracePeriodMs: number;
  tls?: { cert: string; key: string };
  /** WebSocket: browser origins let in (default: the listener's own). */
  allowedOrigins?: string[];
}
