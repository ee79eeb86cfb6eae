/**
 * What a lab scenario reports: a timeline of kernel snapshots (and, as
 * root, the packets behind each step), what the clients experienced, the
 * counters that moved and the explanation.
 *
 * @module
 */

import type { TracePacket } from "../trace/types.ts";

/** The scenarios `runLab` knows. */
export type LabScenarioName =
  | "handshake"
  | "accept-overflow"
  | "syn-retries"
  | "close"
  | "close-wait"
  | "time-wait"
  | "emfile"
  | "reset"
  | "window"
  | "udp-vs-tcp";

/** One socket's queues at a step: ss's Recv-Q and Send-Q. */
export interface LabQueues {
  /** Unread bytes; on a LISTEN socket, connections waiting for `accept()`. */
  recvQ: number;
  /** Unacknowledged bytes; on a LISTEN socket, the backlog (when sock_diag could be read). */
  sendQ: number;
}

/** A captured packet of a lab run, with the role name of its connection. */
export interface LabPacket extends TracePacket {
  /** The connection's client by its role in the scenario, e.g. `client 3`. */
  role?: string;
}

/** One moment of the timeline. */
export interface LabStep {
  /** Milliseconds since the scenario started. */
  t: number;
  /** What the lab did or saw, in words. */
  event: string;
  /** Each socket of the experiment (by role, e.g. `client 1`, `server for client 1`, `listener`) and its state. */
  states: Record<string, string>;
  /** The same sockets' queues. */
  queues: Record<string, LabQueues>;
  /**
   * The packets on the wire since the previous step (only when the lab ran
   * in its own network namespace as root): the notable ones (handshake,
   * FIN, RST, retransmissions, windows, losses) unless all were asked for.
   */
  packets?: LabPacket[];
  /** How many more packets (plain data and ACKs) the step saw but does not list. */
  packetsOmitted?: number;
}

/** Why it happened and what to change. */
export interface LabExplanation {
  /** The kernel mechanism behind what the client saw. */
  why: string;
  /** What to change in a server, a client or the kernel settings. */
  change: string;
}

/** The result of one scenario. */
export interface LabReport {
  /** The scenario that ran. */
  scenario: LabScenarioName;
  /**
   * Where it ran: `own`, a private network namespace the lab created (as
   * root), where counters and packets are the experiment's alone; `host`,
   * this machine's namespace, shared with every other program.
   */
  namespace: "own" | "host";
  /** The packet capture, when there was one (root, own namespace). */
  capture?: LabCapture;
  /** The timeline. */
  steps: LabStep[];
  /** What the clients experienced, counted by cause (e.g. `connected`, `reset`, `timeout`). */
  outcomes: Record<string, number>;
  /**
   * Kernel counters (nstat names) that moved during the run, those of a
   * variant part under its prefix. In the lab's own namespace they count
   * only the experiment; on the host, every other program's traffic too.
   */
  kernel: Record<string, number>;
  /** Measured values the explanation rests on (backlog, queue lengths, pids, intervals). */
  facts: Record<string, number | string | boolean>;
  /** Parts that did not run, each with why (e.g. not root: no private namespace). */
  skipped: string[];
  /** Why and what to change. */
  explanation: LabExplanation;
}

/** What the lab's packet capture saw. */
export interface LabCapture {
  /** When the run started, ms since the epoch: step times count from here, packet times are epoch times. */
  startMs: number;
  /** Packets captured on loopback during the run. */
  packets: number;
  /** Packets the kernel could not hand to the capture (its ring was full). */
  dropped: number;
  /** Which packets the steps list. */
  kept: "notable" | "all";
}

/** Options for `runLab`. */
export interface LabOptions {
  /** accept-overflow: the listen() backlog. Default 2. */
  backlog?: number;
  /** accept-overflow, emfile: how many clients connect. */
  clients?: number;
  /** emfile: the echo server's open-file limit. Default 40. */
  nofile?: number;
  /**
   * The command that runs netkit's CLI, for the parts that run as a
   * subprocess (the emfile echo server, the namespace variants). Default:
   * this Deno running `cli/main.ts` next to this module.
   */
  netkitCommand?: string[];
  /**
   * Run on the host even as root: no private namespace, no packet capture,
   * the variants that need a namespace skipped.
   */
  noNamespace?: boolean;
  /**
   * Which captured packets each step lists: `notable` (default: handshake,
   * FIN, RST, retransmissions, windows, losses) or `all`.
   */
  packets?: "notable" | "all";
  /**
   * This process is the one the lab started under `unshare -n`: run the
   * whole scenario here, with the capture and the variants. Set by the
   * lab for its subprocess, not by users; refused unless the process is
   * really in a network namespace of its own.
   */
  insideNamespace?: boolean;
}
