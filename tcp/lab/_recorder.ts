// The lab's notebook: kernel snapshots of the experiment's sockets, named by
// role, with the time, the outcomes and the counters that moved.

import {
  counterDeltas,
  type KernelCounters,
  type ListenQueue,
  readKernelCounters,
  readListenQueues,
  readTcpSockets,
  type TcpSocketRecord,
} from "../proc/mod.ts";
import { TcpError } from "../errors.ts";
import { delay } from "../../_io.ts";
import type {
  LabExplanation,
  LabQueues,
  LabReport,
  LabScenarioName,
  LabStep,
} from "./types.ts";

/** How often /proc is polled while waiting for the kernel to reach a state. */
const POLL_MS = 10;

/** A scenario's notebook. */
export interface Recorder {
  /** Watch the sockets of this listening port. */
  watch(port: number): void;
  /** Name the socket whose local port is `port` (a client), e.g. `client 1`. */
  name(port: number, label: string): void;
  /** Snapshots the watched sockets now and records the step. */
  step(event: string): Promise<TcpSocketRecord[]>;
  /** Polls until `done` holds for the watched sockets; throws `timeout` naming `what`. */
  waitFor(
    done: (sockets: TcpSocketRecord[]) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<TcpSocketRecord[]>;
  /** Reads the watched sockets once. */
  sockets(): Promise<TcpSocketRecord[]>;
  /** Counts one outcome. */
  outcome(cause: string, count?: number): void;
  /** A measured value. */
  fact(name: string, value: number | string | boolean): void;
  /** A part that did not run and why. */
  skip(why: string): void;
  /** The role name of a socket. */
  label(s: TcpSocketRecord): string;
  /** The counters that moved since the start. */
  counters(): Promise<KernelCounters>;
  /** Closes the notebook. */
  finish(explanation: LabExplanation): Promise<LabReport>;
  /** Appends another report's steps (shifted to this timeline) and outcomes, prefixing its events. */
  merge(other: LabReport, prefix: string): void;
}

/** Starts a notebook for `scenario`, reading the counters' starting values. */
export async function startRecorder(
  scenario: LabScenarioName,
): Promise<Recorder> {
  const start = performance.now();
  const before = await readKernelCounters();
  const ports = new Set<number>();
  const names = new Map<number, string>();
  const steps: LabStep[] = [];
  const outcomes: Record<string, number> = {};
  const facts: Record<string, number | string | boolean> = {};
  const skipped: string[] = [];
  const extraKernel: KernelCounters = {};
  let diagBroken = false;

  const sockets = async () =>
    (await readTcpSockets()).filter((s) =>
      ports.has(s.local.port) || ports.has(s.remote.port)
    );

  function label(s: TcpSocketRecord): string {
    if (s.state === "LISTEN") return `listener :${s.local.port}`;
    const own = names.get(s.local.port);
    if (own !== undefined && !ports.has(s.local.port)) return own;
    if (ports.has(s.local.port)) {
      const peer = names.get(s.remote.port) ?? `:${s.remote.port}`;
      return `server for ${peer}`;
    }
    return `:${s.local.port}→:${s.remote.port}`;
  }

  function listenQueues(): Map<number, ListenQueue> | undefined {
    if (diagBroken) return undefined;
    try {
      return readListenQueues();
    } catch {
      diagBroken = true;
      return undefined;
    }
  }

  return {
    watch: (port) => void ports.add(port),
    name: (port, text) => void names.set(port, text),
    sockets,
    label,
    async step(event) {
      const now = await sockets();
      const diag = now.some((s) => s.state === "LISTEN")
        ? listenQueues()
        : undefined;
      const states: Record<string, string> = {};
      const queues: Record<string, LabQueues> = {};
      // Listener first, then by role name: clients, then the server's ends.
      const ordered = [...now].sort((a, b) =>
        Number(b.state === "LISTEN") - Number(a.state === "LISTEN") ||
        label(a).localeCompare(label(b), "en", { numeric: true })
      );
      for (const s of ordered) {
        let key = label(s);
        for (let n = 2; key in states; n++) key = `${label(s)} #${n}`;
        states[key] = s.state;
        queues[key] = {
          recvQ: s.rxQueue,
          sendQ: s.state === "LISTEN"
            ? diag?.get(s.inode)?.backlog ?? s.txQueue
            : s.txQueue,
        };
      }
      steps.push({ t: elapsed(start), event, states, queues });
      return now;
    },
    async waitFor(done, what, timeoutMs = 5000) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const now = await sockets();
        if (done(now)) return now;
        if (performance.now() > deadline) {
          throw new TcpError(
            "timeout",
            `lab ${scenario}: the kernel did not show ${what} within ${timeoutMs} ms`,
          );
        }
        await delay(POLL_MS);
      }
    },
    outcome(cause, count = 1) {
      outcomes[cause] = (outcomes[cause] ?? 0) + count;
    },
    fact: (name, value) => void (facts[name] = value),
    skip: (why) => void skipped.push(why),
    async counters() {
      return counterDeltas(before, await readKernelCounters());
    },
    merge(other, prefix) {
      const offset = elapsed(start);
      for (const s of other.steps) {
        steps.push({
          ...s,
          t: round(offset + s.t),
          event: `${prefix}${s.event}`,
        });
      }
      for (const [cause, n] of Object.entries(other.outcomes)) {
        outcomes[`${prefix}${cause}`] = (outcomes[`${prefix}${cause}`] ?? 0) +
          n;
      }
      for (const [name, v] of Object.entries(other.facts)) {
        facts[`${prefix}${name}`] = v;
      }
      for (const [name, v] of Object.entries(other.kernel)) {
        extraKernel[`${prefix}${name}`] = v;
      }
      skipped.push(...other.skipped);
    },
    async finish(explanation) {
      const kernel = {
        ...transportOnly(counterDeltas(before, await readKernelCounters())),
        ...extraKernel,
      };
      return { scenario, steps, outcomes, kernel, facts, skipped, explanation };
    },
  };
}

function elapsed(start: number): number {
  return round(performance.now() - start);
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** The TCP and UDP counters: IP-level ones only repeat them. */
function transportOnly(counters: KernelCounters): KernelCounters {
  return Object.fromEntries(
    Object.entries(counters).filter(([name]) => /^(Tcp|Udp)/.test(name)),
  );
}
