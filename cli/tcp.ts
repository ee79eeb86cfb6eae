// `netkit tcp states|limits`: Linux TCP diagnostics from /proc.

import type { CliContext, Command } from "./_command.ts";
import { dispatch } from "./_command.ts";
import { intFlag, parseCommand, secondsFlag, UsageError } from "./_args.ts";
import { log, out, outJson } from "./_output.ts";
import { formatAddress, type HostPort } from "../address.ts";
import { NetkitError } from "../errors.ts";
import { setTimeout as delay } from "node:timers/promises";
import {
  countStates,
  parseTcpState,
  readTcpSockets,
  TCP_STATES,
  type TcpSocketRecord,
  type TcpStateCounts,
  type TcpStateName,
} from "../tcp/proc/mod.ts";
import {
  counterDeltas,
  type KernelCounters,
  readKernelCounters,
  readListenQueues,
  readSocketOwners,
  readTcpLimits,
  type SocketOwner,
  type TcpLimits,
  type TcpReading,
} from "../tcp/proc/mod.ts";
import {
  LAB_SCENARIOS,
  type LabReport,
  runLab,
  runResetServer,
} from "../tcp/lab/mod.ts";

const HELP = `netkit tcp: TCP diagnostics from /proc (Linux)

Usage: netkit tcp <command> [options]

Commands:
  states   every TCP socket with its state, queues and timer; --watch to follow
  limits   open-file limits, TCP sysctls and counters, each with what to do
  lab      make a TCP failure happen on 127.0.0.1, watch it and explain it

Run 'netkit tcp <command> --help' for its options.`;

const STATES_HELP =
  `Usage: netkit tcp states [--port P] [--state NAME] [--process] [--info] [--watch [SECONDS]] [--json]

Lists every TCP socket from /proc/net/tcp and /proc/net/tcp6: local and
remote address, state, receive and send queue (in ss's order), timer. For a
LISTEN socket recv-Q is the accept queue (connections waiting for accept())
and send-Q the backlog, as 'ss -ltn' shows them: /proc lacks the backlog, so
netkit asks the kernel's sock_diag netlink interface for it (through libc
FFI); the queue is full when it holds backlog+1.

Options:
  --port P            only sockets whose local or remote port is P
  --state NAME        only sockets in this state: ESTABLISHED (or ESTAB), SYN_SENT,
                      SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, CLOSE_WAIT,
                      LAST_ACK, LISTEN, CLOSING (any case, '-' or '_': fin-wait-1)
  --watch [SECONDS]   redraw every SECONDS (default 1) until Ctrl-C, marking
                      sockets whose state changed (*), new (+) and gone (-)
  --process           the pid and command holding each socket (from /proc/*/fd;
                      other users' processes need root)
  --info              rto, cwnd, ssthresh and unanswered retransmits per socket
  --count N           with --watch: stop after N frames
  --json              one JSON object ({sockets, counts}); LISTEN sockets carry
                      acceptQueue and backlog; with --watch one object per line
  -h, --help          show this help

Example: watch a connection close, FIN_WAIT1 → FIN_WAIT2 → TIME_WAIT:
  netkit tcp states --port 8080 --watch`;

const LIMITS_HELP =
  `Usage: netkit tcp limits [--pid PID] [--watch [SECONDS]] [--json]

Shows what limits a TCP server on this host: the open-file limit and
descriptors in use, the kernel's backlog and handshake settings, and the
TCP counters since boot, each with what it means and what to do about it.
Values that cannot be read (e.g. in a container) say why.

Options:
  --pid PID           read the open-file limit and descriptors of this process
                      (default: netkit itself)
  --watch [SECONDS]   every SECONDS (default 1) until Ctrl-C, print the kernel
                      counters that moved in that interval, with a '*' on
                      each (and the descriptors in use)
  --count N           with --watch: stop after N intervals
  --json              print everything as one JSON object; with --watch one
                      {interval, time, deltas, descriptorsInUse} per line
  -h, --help          show this help`;

/** The `tcp` command family. */
export const tcpCommand: Command = {
  name: "tcp",
  summary:
    "TCP diagnostics (Linux): socket states and the limits behind resets",
  run(argv: string[], context: CliContext): Promise<number> {
    return dispatch(
      "tcp",
      argv,
      { states: runStates, limits: runLimits, lab: runLabCommand },
      HELP,
      context,
    );
  },
};

/** parseArgs has no optional values: turn `--watch 2` and `--watch=2` into `--watch --interval 2`. */
function splitWatch(argv: string[]): string[] {
  const outArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      outArgs.push(...argv.slice(i));
      break;
    }
    if (a.startsWith("--watch=")) {
      outArgs.push("--watch", "--interval", a.slice("--watch=".length));
    } else if (a === "--watch" && /^\d+(\.\d+)?$/.test(argv[i + 1] ?? "")) {
      outArgs.push("--watch", "--interval", argv[++i]!);
    } else {
      outArgs.push(a);
    }
  }
  return outArgs;
}

async function runStates(argv: string[]): Promise<number> {
  const name = "tcp states";
  const { values } = parseCommand(name, splitWatch(argv), {
    port: { type: "string" },
    state: { type: "string" },
    watch: { type: "boolean" },
    interval: { type: "string" },
    count: { type: "string" },
    json: { type: "boolean" },
    process: { type: "boolean" },
    info: { type: "boolean" },
  });
  if (values.help) {
    out(STATES_HELP);
    return 0;
  }
  const port = intFlag(name, "port", values.port, { min: 1, max: 65535 });
  let state: TcpStateName | undefined;
  if (values.state !== undefined) {
    state = parseTcpState(values.state);
    if (!state) {
      throw new UsageError(
        `unknown state '${values.state}' (states: ${
          Object.values(TCP_STATES).join(", ")
        })`,
        name,
      );
    }
  }
  const intervalMs = secondsFlag(name, "watch", values.interval) ?? 1000;
  if (intervalMs < 100) {
    throw new UsageError("--watch takes at least 0.1 seconds", name);
  }
  const count = intFlag(name, "count", values.count, { min: 1 });
  if (!values.watch && (values.interval !== undefined || count !== undefined)) {
    throw new UsageError("--count and a watch interval need --watch", name);
  }
  const filter: Filter = {
    port,
    state,
    process: values.process === true,
    info: values.info === true,
  };
  if (!values.watch) {
    const sockets = await readStates(filter);
    const counts = countStates(sockets);
    if (values.json) outJson({ sockets, counts });
    else out(renderStates(sockets, counts, filter).join("\n"));
    return 0;
  }
  return await watchStates(filter, intervalMs, count, values.json === true);
}

interface Filter {
  port?: number;
  state?: TcpStateName;
  process?: boolean;
  info?: boolean;
}

/** A socket as `tcp states` shows it: the /proc row plus the backlog and owners. */
interface StateRow extends TcpSocketRecord {
  /** LISTEN only: the backlog (ss Send-Q), from sock_diag. */
  backlog?: number;
  /** With --process: the processes holding it. */
  owners?: SocketOwner[];
}

let backlogWarned = false;

async function readStates(filter: Filter): Promise<StateRow[]> {
  const rows: StateRow[] = await readTcpSockets(filter);
  if (rows.some((r) => r.state === "LISTEN")) {
    try {
      const queues = readListenQueues();
      for (const r of rows) {
        const q = r.state === "LISTEN" ? queues.get(r.inode) : undefined;
        if (q) r.backlog = q.backlog;
      }
    } catch (error) {
      if (!backlogWarned) {
        backlogWarned = true;
        log(
          `netkit: LISTEN backlogs unavailable (${
            error instanceof Error ? error.message : String(error)
          }); send-Q shows /proc's 0`,
        );
      }
    }
  }
  if (filter.process) {
    const owners = await readSocketOwners();
    for (const r of rows) {
      const list = r.inode === 0 ? undefined : owners.get(r.inode);
      r.owners = list ?? [];
    }
  }
  return rows;
}

/** How a socket is matched across frames. */
function socketKey(
  s: Pick<TcpSocketRecord, "proto" | "local" | "remote">,
): string {
  return `${s.proto} ${formatAddress(s.local)} ${formatAddress(s.remote)}`;
}

/** One state change between frames; `null` means the socket was not there. */
interface Change {
  proto: "tcp" | "tcp6";
  local: HostPort;
  remote: HostPort;
  from: TcpStateName | null;
  to: TcpStateName | null;
}

function diff(
  previous: Map<string, TcpSocketRecord>,
  sockets: TcpSocketRecord[],
): Change[] {
  const changes: Change[] = [];
  const seen = new Set<string>();
  for (const s of sockets) {
    const key = socketKey(s);
    seen.add(key);
    const before = previous.get(key);
    if (before?.state !== s.state) {
      changes.push({
        proto: s.proto,
        local: s.local,
        remote: s.remote,
        from: before?.state ?? null,
        to: s.state,
      });
    }
  }
  for (const [key, s] of previous) {
    if (!seen.has(key)) {
      changes.push({
        proto: s.proto,
        local: s.local,
        remote: s.remote,
        from: s.state,
        to: null,
      });
    }
  }
  return changes;
}

async function watchStates(
  filter: Filter,
  intervalMs: number,
  count: number | undefined,
  json: boolean,
): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const sig of signals) Deno.addSignalListener(sig, onSignal);
  const terminal = Deno.stdout.isTerminal() && !json;
  let previous: Map<string, TcpSocketRecord> | undefined;
  try {
    for (let frame = 1; !stop.signal.aborted; frame++) {
      const sockets = await readStates(filter);
      const counts = countStates(sockets);
      const changes = previous ? diff(previous, sockets) : [];
      const time = new Date();
      if (json) {
        outJson({ frame, time: time.toISOString(), sockets, counts, changes });
      } else {
        const header =
          `netkit tcp states, every ${intervalMs / 1000} s, ${
            time.toTimeString().slice(0, 8)
          }` +
          (terminal ? " (Ctrl-C to stop)" : ` (frame ${frame})`);
        const body = renderStates(sockets, counts, filter, changes, true);
        // Home + clear, then the frame, in one write so the redraw does not flicker.
        out(
          (terminal ? "\x1b[H\x1b[2J" : "") +
            [`=== ${header} ===`, ...body].join("\n"),
        );
      }
      previous = new Map(sockets.map((s) => [socketKey(s), s]));
      if (count !== undefined && frame >= count) break;
      await delay(intervalMs, undefined, { signal: stop.signal }).catch(
        () => {},
      );
    }
  } finally {
    for (const sig of signals) Deno.removeSignalListener(sig, onSignal);
  }
  return 0;
}

function endpoint(addr: HostPort): string {
  const text = formatAddress(addr);
  return addr.port === 0 ? text.slice(0, text.lastIndexOf(":")) + ":*" : text;
}

function timerText(s: StateRow): string {
  if (s.state === "LISTEN") {
    const queued = s.acceptQueue ?? s.rxQueue;
    if (s.backlog === undefined) return `accept queue ${queued}`;
    const full = queued > s.backlog ? ": FULL, new SYNs dropped" : "";
    return `accept queue ${queued} of ${s.backlog + 1}${full}`;
  }
  if (s.timer.kind === "none") return "";
  const secs = (s.timer.remainingMs / 1000) < 10
    ? (s.timer.remainingMs / 1000).toFixed(1)
    : String(Math.round(s.timer.remainingMs / 1000));
  const kind = s.timer.kind.replaceAll("_", " ");
  const retries = s.retransmits > 0 ? ` (${s.retransmits} unanswered)` : "";
  return `${kind} ${secs}s${retries}`;
}

function ownersText(s: StateRow): string {
  return (s.owners ?? []).map((o) => `${o.pid}/${o.command}`).join(",");
}

function infoText(s: StateRow): string {
  if (!s.info) return "";
  const ss = s.info.ssthresh === null ? "-" : String(s.info.ssthresh);
  return `rto ${s.info.rtoMs}ms cwnd ${s.info.cwnd} ssthresh ${ss} retrans ${s.retransmits}`;
}

function renderStates(
  sockets: StateRow[],
  counts: TcpStateCounts,
  filter: Filter,
  changes: Change[] = [],
  marks = false,
): string[] {
  const byKey = new Map<string, Change>();
  for (const c of changes) byKey.set(socketKey(c), c);
  const rows: string[][] = [];
  for (const s of sockets) {
    const change = byKey.get(socketKey(s));
    const mark = !change ? " " : change.from === null ? "+" : "*";
    const stateText = change?.from ? `${change.from} → ${s.state}` : s.state;
    rows.push([
      mark,
      s.proto,
      endpoint(s.local),
      endpoint(s.remote),
      stateText,
      String(s.rxQueue),
      String(s.state === "LISTEN" ? s.backlog ?? s.txQueue : s.txQueue),
      timerText(s),
      ...(filter.process ? [ownersText(s)] : []),
      ...(filter.info ? [infoText(s)] : []),
    ]);
  }
  for (const c of changes) {
    if (c.to !== null) continue;
    rows.push([
      "-",
      c.proto,
      endpoint(c.local),
      endpoint(c.remote),
      `${c.from} → gone`,
      "",
      "",
      "",
      ...(filter.process ? [""] : []),
      ...(filter.info ? [""] : []),
    ]);
  }
  const header = [
    "",
    "proto",
    "local",
    "remote",
    "state",
    "recv-Q",
    "send-Q",
    "timer",
    ...(filter.process ? ["process"] : []),
    ...(filter.info ? ["info"] : []),
  ];
  const lines: string[] = [];
  if (rows.length > 0) {
    const table = [header, ...rows];
    const widths = header.map((_, i) =>
      Math.max(...table.map((r) => [...r[i]!].length))
    );
    const right = new Set([5, 6]);
    for (const r of table) {
      const cells = r.map((cell, i) => {
        const pad = widths[i]! - [...cell].length;
        return right.has(i) ? " ".repeat(pad) + cell : cell + " ".repeat(pad);
      });
      const line = (marks ? cells : cells.slice(1)).join("  ").trimEnd();
      lines.push(line);
    }
  }
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([st, n]) => `${st} ${n}`);
  if (lines.length) lines.push("");
  lines.push(
    `${sockets.length} socket${sockets.length === 1 ? "" : "s"}${
      describeFilter(filter)
    }` +
      (parts.length ? `: ${parts.join(", ")}` : ""),
  );
  return lines;
}

function describeFilter(filter: Filter): string {
  const words: string[] = [];
  if (filter.state) words.push(`in ${filter.state}`);
  if (filter.port !== undefined) words.push(`on port ${filter.port}`);
  return words.length ? " " + words.join(" ") : "";
}

async function runLimits(argv: string[]): Promise<number> {
  const name = "tcp limits";
  const { values } = parseCommand(name, splitWatch(argv), {
    pid: { type: "string" },
    json: { type: "boolean" },
    watch: { type: "boolean" },
    interval: { type: "string" },
    count: { type: "string" },
  });
  if (values.help) {
    out(LIMITS_HELP);
    return 0;
  }
  const pid = intFlag(name, "pid", values.pid, { min: 1 });
  if (pid !== undefined) {
    try {
      await Deno.stat(`/proc/${pid}`);
    } catch {
      throw new NetkitError(
        "proc_unavailable",
        `no process with pid ${pid} (nothing at /proc/${pid})`,
      );
    }
  }
  const intervalMs = secondsFlag(name, "watch", values.interval) ?? 1000;
  if (intervalMs < 100) {
    throw new UsageError("--watch takes at least 0.1 seconds", name);
  }
  const count = intFlag(name, "count", values.count, { min: 1 });
  if (!values.watch && (values.interval !== undefined || count !== undefined)) {
    throw new UsageError("--count and a watch interval need --watch", name);
  }
  if (values.watch) {
    return await watchCounters(pid, intervalMs, count, values.json === true);
  }
  const limits = await readTcpLimits({ pid });
  if (values.json) outJson(limits);
  else out(renderLimits(limits, pid === undefined).join("\n"));
  return 0;
}

async function watchCounters(
  pid: number | undefined,
  intervalMs: number,
  count: number | undefined,
  json: boolean,
): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const sig of signals) Deno.addSignalListener(sig, onSignal);
  let before: KernelCounters = await readKernelCounters();
  try {
    if (!json) {
      out(
        `netkit tcp limits --watch: counters that moved every ${
          intervalMs / 1000
        } s (* = non-zero)${count === undefined ? ", Ctrl-C to stop" : ""}`,
      );
    }
    for (let n = 1; !stop.signal.aborted; n++) {
      await delay(intervalMs, undefined, { signal: stop.signal }).catch(
        () => {},
      );
      if (stop.signal.aborted) break;
      const now = await readKernelCounters();
      const deltas = counterDeltas(before, now);
      before = now;
      const limits = await readTcpLimits({ pid });
      const fds = limits.process.descriptorsInUse;
      const inUse = fds.available ? fds.value : null;
      // The counters 'tcp limits' explains are always listed; others only when they moved.
      const tracked = [
        ...Object.keys(limits.tcpExt).map((k) => `TcpExt${k}`),
        ...Object.keys(limits.tcp).map((k) => `Tcp${k}`),
      ];
      const time = new Date();
      if (json) {
        outJson({
          interval: n,
          time: time.toISOString(),
          deltas,
          descriptorsInUse: inUse,
        });
      } else {
        const others = Object.keys(deltas).filter((k) => !tracked.includes(k));
        const names = [...tracked, ...others];
        const width = Math.max(0, ...names.map((k) => k.length));
        const moved = Object.keys(deltas).length;
        const lines = [
          `--- ${
            time.toTimeString().slice(0, 8)
          }  interval ${n}: ${moved} counter${
            moved === 1 ? "" : "s"
          } moved; descriptors in use ${inUse ?? "n/a"}`,
          ...names.map((k) => {
            const d = deltas[k] ?? 0;
            return `${d !== 0 ? "*" : " "} ${k.padEnd(width)}  ${
              d > 0 ? "+" : ""
            }${d}`;
          }),
        ];
        out(lines.join("\n"));
      }
      if (count !== undefined && n >= count) break;
    }
  } finally {
    for (const sig of signals) Deno.removeSignalListener(sig, onSignal);
  }
  return 0;
}

function renderLimits(limits: TcpLimits, self: boolean): string[] {
  const sections: [string, TcpReading<unknown>[]][] = [
    [
      `Process ${limits.pid}${
        self ? " (this netkit; use --pid for a server)" : ""
      }`,
      Object.values(limits.process),
    ],
    ["Kernel settings (sysctl)", Object.values(limits.sysctl)],
    [
      "Counters since boot: TcpExt (/proc/net/netstat)",
      Object.values(limits.tcpExt),
    ],
    ["Counters since boot: Tcp (/proc/net/snmp)", Object.values(limits.tcp)],
  ];
  const all = sections.flatMap(([, items]) => items);
  const valueText = (r: TcpReading<unknown>) =>
    r.available ? `${r.value}${r.unit ? " " + r.unit : ""}` : "n/a";
  const nameWidth = Math.max(...all.map((r) => r.name.length));
  const valueWidth = Math.max(...all.map((r) => valueText(r).length));
  const indent = " ".repeat(2 + nameWidth + 2 + valueWidth + 2);
  const lines: string[] = [];
  for (const [title, items] of sections) {
    if (lines.length) lines.push("");
    lines.push(title);
    for (const r of items) {
      lines.push(
        `  ${r.name.padEnd(nameWidth)}  ${
          valueText(r).padStart(valueWidth)
        }  ${r.meaning}`,
      );
      lines.push(
        `${indent}→ ${r.available ? r.hint : `unavailable: ${r.reason}`}`,
      );
    }
  }
  return lines;
}

function labHelp(): string {
  const width = Math.max(...LAB_SCENARIOS.map((s) => s.name.length));
  const rows = LAB_SCENARIOS.map((s) =>
    `  ${s.name.padEnd(width)}  ${s.summary}${
      s.namespace === "only"
        ? " [root]"
        : s.namespace === "partly"
        ? " [+root]"
        : ""
    }`
  );
  return `Usage: netkit tcp lab <scenario> [options]

Runs a short, self-cleaning experiment on 127.0.0.1 and prints its
timeline: what the client did and saw, both sides' socket states and queues
at that moment, the kernel counters that moved, then why and what to change.
Parts marked [root] or [+root] need a private network namespace (unshare -n,
nftables) and run only as root; otherwise the report says what was skipped
and why.

Scenarios:
${rows.join("\n")}

Options:
  --backlog N    accept-overflow: the listen() backlog (default 2)
  --clients M    accept-overflow: clients (default backlog+4); close-wait, emfile
  --nofile N     emfile: the echo server's open-file limit (default 40)
  --no-namespace skip the root-only namespace variants
  --json         one JSON object {scenario, steps, outcomes, kernel, facts, skipped, explanation}
  -h, --help     show this help`;
}

async function runLabCommand(argv: string[]): Promise<number> {
  const name = "tcp lab";
  const { values, positionals } = parseCommand(name, argv, {
    backlog: { type: "string" },
    clients: { type: "string" },
    nofile: { type: "string" },
    json: { type: "boolean" },
    "no-namespace": { type: "boolean" },
    "inside-namespace": { type: "boolean" },
    "exit-server": { type: "boolean" },
  }, { max: 1, names: "scenario" });
  if (values["exit-server"]) {
    // The reset scenario's server: main() exits with the connection unread,
    // and the kernel resets it.
    await runResetServer((port) => out(`listening tcp 127.0.0.1:${port}`));
    // The lab records the unread request, then ends this process with
    // SIGTERM (or it gives up after 10 s); exiting resets the connection.
    await new Promise<void>((resolve) => {
      Deno.addSignalListener("SIGTERM", resolve);
      setTimeout(resolve, 10_000);
    });
    return 0;
  }
  const scenario = positionals[0];
  if (values.help || scenario === undefined) {
    out(labHelp());
    return 0;
  }
  if (!LAB_SCENARIOS.some((s) => s.name === scenario)) {
    throw new UsageError(
      `unknown scenario '${scenario}' (scenarios: ${
        LAB_SCENARIOS.map((s) => s.name).join(", ")
      })`,
      name,
    );
  }
  const report = await runLab(scenario, {
    backlog: intFlag(name, "backlog", values.backlog, { max: 64 }),
    clients: intFlag(name, "clients", values.clients, { min: 1, max: 200 }),
    nofile: intFlag(name, "nofile", values.nofile, { min: 8, max: 4096 }),
    noNamespace: values["no-namespace"] === true,
    insideNamespace: values["inside-namespace"] === true,
  });
  if (values.json) outJson(report);
  else out(renderLab(report).join("\n"));
  return 0;
}

function seconds(ms: number): string {
  return `+${(ms / 1000).toFixed(3)}s`;
}

/**
 * One row per socket, except that numbered sockets of one role in the same
 * state with the same queues share a row: `client 4-40  ESTABLISHED …`.
 */
function groupSockets(
  step: LabReport["steps"][number],
): [string, string, string][] {
  const groups: {
    head: string;
    tail: string;
    numbers: number[];
    state: string;
    queues: string;
  }[] = [];
  for (const [key, state] of Object.entries(step.states)) {
    const q = step.queues[key];
    const queues = `recv-Q ${q?.recvQ ?? "?"}  send-Q ${q?.sendQ ?? "?"}`;
    const m = /^(.*?)(\d+)(\D*)$/.exec(key);
    const [head, n, tail] = m && !key.startsWith("listener")
      ? [m[1]!, Number(m[2]), m[3]!]
      : [key, NaN, ""];
    const last = groups.at(-1);
    if (
      last && !Number.isNaN(n) && last.head === head && last.tail === tail &&
      last.state === state && last.queues === queues
    ) {
      last.numbers.push(n);
    } else {
      groups.push({
        head,
        tail,
        numbers: Number.isNaN(n) ? [] : [n],
        state,
        queues,
      });
    }
  }
  return groups.map((g): [string, string, string] => [
    g.numbers.length === 0 ? g.head : `${g.head}${ranges(g.numbers)}${g.tail}`,
    g.state,
    g.queues,
  ]);
}

/** [1,2,3,5] → "1-3,5". */
function ranges(numbers: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < numbers.length;) {
    let j = i;
    while (j + 1 < numbers.length && numbers[j + 1] === numbers[j]! + 1) j++;
    parts.push(i === j ? `${numbers[i]}` : `${numbers[i]}-${numbers[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

function renderLab(report: LabReport): string[] {
  const lines = [`netkit tcp lab ${report.scenario}`, ""];
  for (const step of report.steps) {
    lines.push(`${seconds(step.t).padStart(9)}  ${step.event}`);
    const rows = groupSockets(step);
    const width = Math.max(0, ...rows.map((r) => r[0].length));
    const stateWidth = Math.max(0, ...rows.map((r) => r[1].length));
    for (const [name, state, queues] of rows) {
      lines.push(
        `${" ".repeat(11)}${name.padEnd(width)}  ${
          state.padEnd(stateWidth)
        }  ${queues}`,
      );
    }
  }
  const section = (title: string, entries: [string, unknown][]) => {
    if (entries.length === 0) return;
    lines.push("", title);
    const width = Math.max(...entries.map(([k]) => k.length));
    for (const [k, v] of entries) lines.push(`  ${k.padEnd(width)}  ${v}`);
  };
  section(
    "What the clients saw:",
    Object.entries(report.outcomes).map(([k, v]) => [k, v]),
  );
  section(
    "Kernel counters that moved (whole namespace):",
    Object.entries(report.kernel).map(([k, v]) => [k, v > 0 ? `+${v}` : v]),
  );
  section("Measured:", Object.entries(report.facts));
  if (report.skipped.length) {
    lines.push("", "Skipped:");
    for (const s of report.skipped) lines.push(`  - ${s}`);
  }
  lines.push("", `Why: ${report.explanation.why}`);
  lines.push("", `What to change: ${report.explanation.change}`);
  return lines;
}
