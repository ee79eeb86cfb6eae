// What every session of one receiver shares: its folder, limits, the
// paths being written right now, the counters and the callbacks.

import type { FileProgress } from "./types.ts";
import type {
  ExistingPolicy,
  FileReceiverStats,
  ReceivedFile,
} from "./types.ts";
import type { TcpServerStats } from "../server.ts";
import type { KeySchedule } from "./_key_schedule.ts";

/** Configuration shared by every session of one receiver. */
export interface ReceiverConfig {
  root: string;
  /** Where sessions get their keys: the token's or the code's schedule. */
  keys: KeySchedule;
  existing: ExistingPolicy;
  maxSize: number;
  maxFiles: number;
  idleTimeoutMs: number;
  locks: Set<string>;
  stats: Omit<FileReceiverStats, keyof TcpServerStats>;
  onProgress?: (progress: FileProgress) => void;
  onFile?: (file: ReceivedFile, peer: string) => void;
  /**
   * Called when a session authenticates: false when a `once` receiver
   * already serves another one (this one is then refused `busy`).
   */
  claim(): boolean;
}
