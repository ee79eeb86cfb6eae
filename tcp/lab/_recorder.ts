// The lab's notebook: kernel snapshots of the experiment's sockets, named by
// role, with the time, the outcomes, the counters that moved and (in the
// lab's own namespace) the packets on the wire between one step and the next.

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
import { delay, errorMessage } from "../../_io.ts";
import { startTrace, type Tracer } from "../trace/trace.ts";
import type { CapturedFrame } from "../trace/capture.ts";
import type { TracePacket } from "../trace/types.ts";
import type {
  LabExplanation,
  LabOptions,
  LabPacket,
  LabQueues,
  LabReport,
  LabScenarioName,
  LabStep,
} from "./types.ts";

/** How often /proc is polled while waiting for the kernel to reach a state. */
const POLL_MS = 10;
/** Headers and a little payload (the lab reads UDP message numbers) are enough. */
const SNAPLEN = 256;
/** Packets held between two steps; past this only notable ones are kept. */
const MAX_PENDING = 20_000;
/** Packets a run keeps in all (`--packets`); past this they are counted, not listed. */
const MAX_KEPT = 20_000;
/** Kinds of notes that make a packet worth listing. */
const NOTABLE = new Set([
  "handshake",
  "retransmission",
  "duplicate-ack",
  "zero-window",
  "window-full",
  "window-probe",
  "window-update",
  "keep-alive",
  "reset",
  "fin",
  "fin-acked",
  "time-wait",
  "lost",
  "malformed",
]);

/** A scenario's notebook. */
export interface Recorder {
  /** Watch the sockets of this listening port. */
  watch(port: number): void;
  /** Name the socket whose local port is `port` (a client), e.g. `client 1`. */
  name(port: number, label: string): void;
  /** Snapshots the watched sockets now and records the step with the packets since the last one. */
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
  /** The counters that moved since the current part started. */
  counters(): Promise<KernelCounters>;
  /**
   * Starts a part of the scenario (a variant): the events, outcomes, facts
   * and counters after this carry `prefix`, it watches and names its own
   * sockets, and the previous part's last packets are closed out in a step
   * of their own.
   */
  section(prefix: string): Promise<void>;
  /** Whether packets are captured. */
  readonly capturing: boolean;
  /** Takes the packets captured so far into the notebook now (before marking them). */
  drainPackets(): void;
  /** Sees every captured packet with its frame (valid only during the call): for payloads. */
  inspect(fn: (packet: LabPacket, frame: CapturedFrame) => void): void;
  /** The packets listed so far, every step's and those not yet in a step. */
  packets(): LabPacket[];
  /**
   * Waits until `count` captured packets match (or, with `key`, packets of
   * `count` different keys, e.g. clients), at most `timeoutMs` (default
   * 5 s), and returns those seen; throws `timeout` naming `what`.
   */
  waitForPackets(
    match: (p: LabPacket) => boolean,
    count: number,
    what: string,
    options?: { timeoutMs?: number; key?: (p: LabPacket) => unknown },
  ): Promise<LabPacket[]>;
  /** Closes the notebook. */
  finish(explanation: LabExplanation): Promise<LabReport>;
}

/**
 * Starts a notebook for `scenario`, reading the counters' starting values;
 * inside the lab's own namespace it also captures packets on loopback.
 */
export async function startRecorder(
  scenario: LabScenarioName,
  options: LabOptions = {},
): Promise<Recorder> {
  const start = performance.now();
  let before = await readKernelCounters();
  // The watched (listening) ports: also how the capture tells a server end.
  const ports = new Set<number>();
  const names = new Map<number, string>();
  const steps: LabStep[] = [];
  const outcomes: Record<string, number> = {};
  const facts: Record<string, number | string | boolean> = {};
  const skipped: string[] = [];
  const kernel: KernelCounters = {};
  const keepAll = options.packets === "all";
  let prefix = "";
  let diagBroken = false;

  // The capture: a pump reads the ring in the background so it never
  // fills; step() reads once more so each step has every packet before it.
  let tracer: Tracer | undefined;
  if (options.insideNamespace) {
    try {
      tracer = startTrace({
        interface: "lo",
        snaplen: SNAPLEN,
        serverPorts: ports,
      });
    } catch (error) {
      skipped.push(`packets: not captured: ${errorMessage(error)}`);
    }
  }
  let pending: LabPacket[] = [];
  let omittedEarly = 0;
  let kept = 0;
  let inspector: ((p: LabPacket, f: CapturedFrame) => void) | undefined;
  let pumping = tracer !== undefined;

  const notable = (p: TracePacket) => p.notes.some((n) => NOTABLE.has(n.kind));

  function take(p: TracePacket, frame: CapturedFrame): void {
    const packet: LabPacket = { ...p };
    inspector?.(packet, frame);
    if (pending.length >= MAX_PENDING && !notable(packet)) {
      omittedEarly++;
      return;
    }
    pending.push(packet);
  }

  function roleOf(p: TracePacket): string | undefined {
    if (p.client === undefined) return undefined;
    const port = Number(p.client.slice(p.client.lastIndexOf(":") + 1));
    return names.get(port) ?? `:${port}`;
  }

  function drainPackets(): void {
    if (!tracer) return;
    try {
      while (tracer.poll(take) > 0) {
        // Until the ring is empty.
      }
    } catch (error) {
      skipped.push(`packets: the capture stopped: ${errorMessage(error)}`);
      pumping = false;
    }
  }

  const pump = (async () => {
    while (pumping && tracer) {
      drainPackets();
      // Let the scenario run between batches; wait off-thread when idle.
      if (!(await tracer.wait(50))) continue;
      await delay(0);
    }
  })();

  /** The packets a step lists, and how many it leaves out. */
  function packetsForStep(): { packets: LabPacket[]; omitted: number } {
    drainPackets();
    const all = pending;
    pending = [];
    const shown = keepAll ? all : all.filter(notable);
    const room = Math.max(0, MAX_KEPT - kept);
    const listed = shown.slice(0, room);
    // Roles now: a client is often named only once the kernel shows it.
    for (const p of listed) {
      const role = roleOf(p);
      if (role !== undefined) p.role = role;
    }
    kept += listed.length;
    const omitted = all.length - listed.length + omittedEarly;
    omittedEarly = 0;
    return { packets: listed, omitted };
  }

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

  async function step(event: string): Promise<TcpSocketRecord[]> {
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
    const record: LabStep = {
      t: elapsed(start),
      event: `${prefix}${event}`,
      states,
      queues,
    };
    if (tracer) {
      const { packets, omitted } = packetsForStep();
      record.packets = packets;
      if (omitted > 0) record.packetsOmitted = omitted;
    }
    steps.push(record);
    return now;
  }

  /** The packets left since the last step (the part's sockets closing) get a step of their own. */
  async function closeOut(): Promise<void> {
    drainPackets();
    if (pending.length > 0) await step("the lab closes what it opened");
  }

  async function endSection(): Promise<void> {
    const now = await readKernelCounters();
    for (
      const [name, v] of Object.entries(
        transportOnly(counterDeltas(before, now)),
      )
    ) {
      kernel[`${prefix}${name}`] = v;
    }
    before = now;
  }

  return {
    watch: (port) => void ports.add(port),
    name: (port, text) => void names.set(port, text),
    sockets,
    label,
    step,
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
      const key = `${prefix}${cause}`;
      outcomes[key] = (outcomes[key] ?? 0) + count;
    },
    fact: (name, value) => void (facts[`${prefix}${name}`] = value),
    skip: (why) => void skipped.push(why),
    async counters() {
      return counterDeltas(before, await readKernelCounters());
    },
    async section(next) {
      await closeOut();
      await endSection();
      prefix = next;
      // A new part watches its own sockets under its own names.
      ports.clear();
      names.clear();
    },
    get capturing() {
      return tracer !== undefined && pumping;
    },
    drainPackets,
    inspect: (fn) => void (inspector = fn),
    packets: () => [...steps.flatMap((s) => s.packets ?? []), ...pending],
    async waitForPackets(match, count, what, options = {}) {
      const timeoutMs = options.timeoutMs ?? 5000;
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        drainPackets();
        const seen = [...steps.flatMap((s) => s.packets ?? []), ...pending]
          .filter(match);
        const found = options.key
          ? new Set(seen.map(options.key)).size
          : seen.length;
        if (found >= count) return seen;
        if (performance.now() > deadline) {
          throw new TcpError(
            "timeout",
            `lab ${scenario}: the wire did not show ${what} within ${timeoutMs} ms`,
          );
        }
        await delay(POLL_MS);
      }
    },
    async finish(explanation) {
      await closeOut();
      await endSection();
      pumping = false;
      await pump;
      let capture: LabReport["capture"];
      if (tracer) {
        const stats = tracer.stats();
        await tracer.close();
        capture = {
          startMs: performance.timeOrigin + start,
          packets: stats.packets,
          dropped: stats.dropped,
          kept: keepAll ? "all" : "notable",
        };
      }
      return {
        scenario,
        namespace: options.insideNamespace ? "own" : "host",
        ...(capture ? { capture } : {}),
        steps,
        outcomes,
        kernel,
        facts,
        skipped,
        explanation,
      };
    },
  };
}

function elapsed(start: number): number {
  return Math.round((performance.now() - start) * 10) / 10;
}

/** The TCP and UDP counters: IP-level ones only repeat them. */
function transportOnly(counters: KernelCounters): KernelCounters {
  return Object.fromEntries(
    Object.entries(counters).filter(([name]) => /^(Tcp|Udp)/.test(name)),
  );
}
