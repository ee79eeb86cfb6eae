/**
 * What a lab scenario reports: a timeline of kernel snapshots, what the
 * clients experienced, the counters that moved and the explanation.
 *
 * @module
 */

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
  /** The timeline. */
  steps: LabStep[];
  /** What the clients experienced, counted by cause (e.g. `connected`, `reset`, `timeout`). */
  outcomes: Record<string, number>;
  /**
   * Kernel counters (nstat names) that moved during the run. They are the
   * whole network namespace's: other programs' traffic on the host adds to
   * them, the namespace variants' counters are their namespace's alone.
   */
  kernel: Record<string, number>;
  /** Measured values the explanation rests on (backlog, queue lengths, pids, intervals). */
  facts: Record<string, number | string | boolean>;
  /** Parts that did not run, each with why (e.g. not root: no private namespace). */
  skipped: string[];
  /** Why and what to change. */
  explanation: LabExplanation;
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
  /** Skip the private-namespace variants even when root could run them. */
  noNamespace?: boolean;
  /**
   * Run only the part that belongs inside a private network namespace; set
   * by the subprocess the lab starts under `unshare -n`, not by users.
   */
  insideNamespace?: boolean;
}
