// `netkit tcp states`: every TCP socket from /proc with its state, queues
// and timer, once or as a live view.

import { setTimeout as delay } from "node:timers/promises";
import { formatAddress, type HostPort } from "../address.ts";
import {
  countStates,
  parseTcpState,
  readListenQueues,
  readSocketOwners,
  readTcpSockets,
  type SocketOwner,
  TCP_STATES,
  type TcpSocketRecord,
  type TcpStateCounts,
  type TcpStateName,
} from "../tcp/proc/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import type { CliContext } from "./_command.ts";
import { EXIT, runInterruptible } from "./_exit.ts";
import { jsonHelp, OUTPUT_FLAGS } from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import { log, out, outJson } from "./_output.ts";
import { readWatch, splitWatch, WATCH_FLAGS, watchHelp } from "./_tcp_watch.ts";
import { unitReader } from "./_units.ts";

/** `netkit tcp states --help`. */
export const STATES_HELP: HelpScreen = {
  usage: [
    "tcp states [--port P] [--state NAME] [--process] [--info] " +
    "[--watch [TIME]] [--json]",
  ],
  about: "Lists every TCP socket from /proc/net/tcp and /proc/net/tcp6: " +
    "local and remote address, state, receive and send queue (in ss's " +
    "order), timer. For a LISTEN socket recv-Q is the accept queue " +
    "(connections waiting for accept()) and send-Q the backlog, as 'ss " +
    "-ltn' shows them: /proc lacks the backlog, so netkit asks the " +
    "kernel's sock_diag netlink interface for it (through libc FFI); the " +
    "queue is full when it holds backlog+1.",
  options: [
    ["--port P", "only sockets whose local or remote port is P"],
    [
      "--state NAME",
      "only sockets in this state: ESTABLISHED (or ESTAB), SYN_SENT, " +
      "SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, CLOSE_WAIT, " +
      "LAST_ACK, LISTEN, CLOSING (any case, '-' or '_': fin-wait-1)",
    ],
    [
      "--process",
      "the pid and command holding each socket (from /proc/*/fd; other " +
      "users' processes need root)",
    ],
    ["--info", "rto, cwnd, ssthresh and unanswered retransmits per socket"],
    ...watchHelp(
      "redraw, marking sockets whose state changed (*), new (+) and gone (-)",
      "frames",
    ),
    jsonHelp(
      "one JSON object ({sockets, counts}); LISTEN sockets carry " +
        "acceptQueue and backlog; with --watch one object per line",
    ),
  ],
  examples: [
    "tcp states --port 8080 --watch",
    "tcp states --state listen --process",
  ],
};

/** Runs `netkit tcp states`. */
export async function runStates(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const name = "tcp states";
  const { values } = parseCommand(name, splitWatch(argv), {
    port: { type: "string" },
    state: { type: "string" },
    ...WATCH_FLAGS,
    ...OUTPUT_FLAGS,
    process: { type: "boolean" },
    info: { type: "boolean" },
  });
  if (values.help) {
    out(renderHelp(STATES_HELP));
    return 0;
  }
  const read = unitReader(name);
  const port = read.count("port", values.port, { min: 1, max: 65535 });
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
  const watch = readWatch(name, read, values);
  const filter: Filter = {
    port,
    state,
    process: values.process === true,
    info: values.info === true,
  };
  if (!watch.watch) {
    const sockets = await readStates(filter);
    const counts = countStates(sockets);
    if (values.json) outJson({ sockets, counts });
    else out(renderStates(sockets, counts, filter).join("\n"));
    return 0;
  }
  return await runInterruptible((signal) =>
    watchStates(filter, watch, values.json === true, signal)
  );
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
  watch: { intervalMs: number; count?: number },
  json: boolean,
  signal: AbortSignal,
): Promise<number> {
  const { intervalMs, count } = watch;
  const terminal = Deno.stdout.isTerminal() && !json;
  let previous: Map<string, TcpSocketRecord> | undefined;
  for (let frame = 1; !signal.aborted; frame++) {
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
    await delay(intervalMs, undefined, { signal }).catch(() => {});
  }
  return EXIT.ok;
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
