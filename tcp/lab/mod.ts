/**
 * `netkit tcp lab`: make each TCP failure happen on this machine and
 * explain it. As root every scenario runs entirely in a private network
 * namespace of its own (its counters are the experiment's alone, nothing
 * else on the wire), with the packets behind each step captured; otherwise
 * on 127.0.0.1 of the host, saying what it could not do. Every scenario is
 * bounded in time and closes what it opened.
 *
 * @example Run the reset scenario and check what the client saw
 * ```ts
 * import assert from "node:assert/strict";
 * import { runLab } from "@netkit/netkit/tcp/lab";
 *
 * const report = await runLab("reset");
 * assert.equal(report.outcomes["connection reset by peer"], 1);
 * ```
 *
 * @module
 */

import type { LabOptions, LabReport, LabScenarioName } from "./types.ts";
import {
  closeScenario,
  closeWaitScenario,
  timeWaitScenario,
} from "./_close.ts";
import {
  emfileScenario,
  exitServer,
  resetScenario,
} from "./_server_process.ts";
import { udpVsTcpScenario, windowScenario } from "./_flow.ts";
import {
  acceptOverflowScenario,
  handshakeScenario,
  synRetriesScenario,
} from "./_connect.ts";
import { TcpError } from "../errors.ts";
import { assertLinux } from "../../_proc.ts";
import { errorMessage } from "../../_io.ts";
import {
  assertPrivateNamespace,
  namespaceUnavailable,
  runInNamespace,
  type Where,
} from "./_child.ts";

export type * from "./types.ts";
export * from "./diagram.ts";

/** One scenario of the lab. */
export interface LabScenario {
  /** Its name, as `runLab` and `netkit tcp lab` take it. */
  name: LabScenarioName;
  /** One line on what it shows. */
  summary: string;
  /** Whether (part of) it needs root for a private network namespace. */
  namespace: "none" | "partly" | "only";
}

/**
 * The scenarios, in the order a newcomer should run them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LAB_SCENARIOS } from "@netkit/netkit/tcp/lab";
 *
 * assert.ok(LAB_SCENARIOS.some((s) => s.name === "accept-overflow"));
 * ```
 */
export const LAB_SCENARIOS: readonly LabScenario[] = Object.freeze([
  {
    name: "handshake",
    summary:
      "the kernel completes the handshake; accept() only takes what it queued",
    namespace: "partly",
  },
  {
    name: "accept-overflow",
    summary:
      "a listener that does not accept: backlog+1 queue, the next SYNs are dropped",
    namespace: "partly",
  },
  {
    name: "syn-retries",
    summary:
      "lost SYN-ACKs and final ACKs: retransmits, the half-open lifetime",
    namespace: "only",
  },
  {
    name: "close",
    summary: "the four-way close and a half-close, both sides' states",
    namespace: "partly",
  },
  {
    name: "close-wait",
    summary:
      "a server that never closes: CLOSE_WAIT piles up, owned by its pid",
    namespace: "none",
  },
  {
    name: "time-wait",
    summary: "TIME_WAIT lands on the side that closes first; the port range",
    namespace: "none",
  },
  {
    name: "emfile",
    summary: "netkit's echo server at its open-file limit: back-offs, recovery",
    namespace: "none",
  },
  {
    name: "reset",
    summary: "closing with unread data sends RST: 'connection reset by peer'",
    namespace: "none",
  },
  {
    name: "window",
    summary:
      "a receiver stops reading: queues fill, zero window, probes, drain",
    namespace: "none",
  },
  {
    name: "udp-vs-tcp",
    summary: "numbered messages over UDP and TCP, with packet loss as root",
    namespace: "partly",
  },
]);

const RUNNERS: Partial<
  Record<
    LabScenarioName,
    (options: LabOptions, where: Where) => Promise<LabReport>
  >
> = {
  handshake: handshakeScenario,
  "accept-overflow": acceptOverflowScenario,
  "syn-retries": synRetriesScenario,
  close: closeScenario,
  "close-wait": (o) => closeWaitScenario(o),
  "time-wait": (o) => timeWaitScenario(o),
  reset: (o) => resetScenario(o),
  emfile: (o) => emfileScenario(o),
  window: (o) => windowScenario(o),
  "udp-vs-tcp": udpVsTcpScenario,
};

/**
 * Runs one scenario and returns its timeline, outcomes, counter deltas and
 * explanation. As root (with `unshare`, `ip` and `nft`) the whole scenario
 * runs in a private network namespace of its own, in a netkit subprocess,
 * with the packets behind each step; otherwise here, on the host's
 * 127.0.0.1, and `skipped` says what could not run and why. Throws
 * `lab_unknown` for an unknown name, `unsupported_os` off Linux and
 * `timeout` when the kernel never reached a state the scenario waits for.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runLab } from "@netkit/netkit/tcp/lab";
 *
 * const report = await runLab("time-wait");
 * assert.equal(report.outcomes["TIME_WAIT on client"], 1);
 * assert.equal(report.outcomes["TIME_WAIT on server"], 1);
 * ```
 */
export async function runLab(
  name: string,
  options: LabOptions = {},
): Promise<LabReport> {
  assertLinux("the TCP lab");
  const run = RUNNERS[name as LabScenarioName];
  if (!run) {
    throw new TcpError(
      "lab_unknown",
      `unknown lab scenario '${name}' (scenarios: ${
        LAB_SCENARIOS.map((s) => s.name).join(", ")
      })`,
    );
  }
  if (options.insideNamespace) {
    // Before anything: a hand-typed --inside-namespace on the host, or one
    // handed the parent's own namespace, must not touch the host.
    await assertPrivateNamespace();
    return await run(options, { inside: true });
  }
  let why = options.noNamespace
    ? "--no-namespace"
    : await namespaceUnavailable();
  if (why === undefined) {
    try {
      return await runInNamespace(name, options);
    } catch (error) {
      why = errorMessage(error);
    }
  }
  const report = await run(options, { inside: false, why });
  report.skipped.push(`packets: not captured: ${why}`);
  return report;
}

/**
 * The server half of the `reset` scenario, which must run as its own
 * process (netkit runs it as `netkit tcp lab reset --exit-server`): it
 * listens on 127.0.0.1, reports its port, accepts one connection and waits
 * (at most 5 s) until the peer's data is queued. It returns the connection
 * unread and open, so that the process's exit closes it the way a crash
 * does: with a bare RST.
 *
 * @example
 * ```ts ignore
 * import { runResetServer } from "@netkit/netkit/tcp/lab";
 *
 * await runResetServer((port) => console.log(`listening tcp 127.0.0.1:${port}`));
 * Deno.exit(0); // the kernel resets the unread connection
 * ```
 */
export function runResetServer(
  onListening: (port: number) => void,
): Promise<Deno.Conn> {
  return exitServer(onListening);
}
