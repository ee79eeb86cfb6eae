// `netkit tcp states`: every TCP socket from /proc with its state, queues
// and timer (and UDP and Unix sockets on request), once or as a live view.

import { setTimeout as delay } from "node:timers/promises";
import { formatAddress, type HostPort } from "../address.ts";
import { escapeControl } from "../escape.ts";
import {
  compareSockets,
  countStates,
  parseTcpState,
  readListenQueues,
  readSocketOwners,
  readTcpSockets,
  readUdpSockets,
  readUnixSockets,
  type SocketFilter,
  type SocketOwner,
  TCP_STATES,
  type TcpSocketRecord,
  type TcpStateName,
  type UdpSocketRecord,
  type UnixSocketRecord,
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
    "tcp states [--tcp] [--udp] [--unix] [--port P] [--sport P] " +
    "[--dport P] [--state NAME[,NAME]]... [--process] [--info] " +
    "[--watch [TIME]] [--json]",
  ],
  about: "Lists every TCP socket from /proc/net/tcp and /proc/net/tcp6: " +
    "local and remote address, state, receive and send queue (in ss's " +
    "order), timer; with --udp and --unix also UDP sockets " +
    "(/proc/net/udp{,6}) and Unix sockets (/proc/net/unix). Rows are " +
    "sorted by state (LISTEN first, in the order of a connection's " +
    "life), then local port, then remote port. For a LISTEN socket " +
    "recv-Q is the accept queue (connections waiting for accept()) and " +
    "send-Q the backlog, as 'ss -ltn' shows them: /proc lacks the " +
    "backlog, so netkit asks the kernel's sock_diag netlink interface " +
    "for it (through libc FFI); the queue is full when it holds " +
    "backlog+1.\n\n" +
    "Other programs' sockets share the port numbers: a TIME_WAIT socket " +
    "keeps its port for a minute, and a new listener may be given it. " +
    "--sport and --dport match one side, as ss's sport and dport do.",
  options: [
    ["-t, --tcp", "TCP sockets (the default when no table is named)"],
    ["-u, --udp", "UDP sockets; an unconnected one shows as UNCONN"],
    [
      "-x, --unix",
      "Unix sockets: type (u_str, u_dgr, u_seq), path (* when unbound), " +
      "state; they have no ports, so a port filter leaves them out",
    ],
    [
      "--port P",
      "only sockets whose local or remote port is P (either side, as ss " +
      "'( sport = :P or dport = :P )')",
    ],
    ["--sport P", "only sockets whose local (source) port is P"],
    ["--dport P", "only sockets whose remote (destination) port is P"],
    [
      "--state NAME",
      "only sockets in this state; repeat it or separate names with " +
      "commas for several: ESTABLISHED (or ESTAB), SYN_SENT, SYN_RECV, " +
      "FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE (or UNCONN), CLOSE_WAIT, " +
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
    "tcp states --sport 8080 --watch",
    "tcp states --state listen,established --process",
    "tcp states --udp --unix --state listen,unconn",
  ],
};

/** Runs `netkit tcp states`. */
export async function runStates(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const name = "tcp states";
  const { values } = parseCommand(name, splitWatch(argv), {
    tcp: { type: "boolean", short: "t" },
    udp: { type: "boolean", short: "u" },
    unix: { type: "boolean", short: "x" },
    port: { type: "string" },
    sport: { type: "string" },
    dport: { type: "string" },
    state: { type: "string", multiple: true },
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
  const portFlag = (flag: "port" | "sport" | "dport") =>
    read.count(flag, values[flag] as string | undefined, {
      min: 1,
      max: 65535,
    });
  const named = values.tcp || values.udp || values.unix;
  const filter: Filter = {
    port: portFlag("port"),
    sport: portFlag("sport"),
    dport: portFlag("dport"),
    state: readStates(name, values.state as string[] | undefined),
    tcp: Boolean(values.tcp || !named),
    udp: Boolean(values.udp),
    unix: Boolean(values.unix),
    process: values.process === true,
    info: values.info === true,
  };
  const ported = filter.port !== undefined || filter.sport !== undefined ||
    filter.dport !== undefined;
  if (ported && !filter.tcp && !filter.udp) {
    throw new UsageError(
      "Unix sockets have no ports: --port, --sport and --dport apply to " +
        "--tcp and --udp",
      name,
    );
  }
  const watch = readWatch(name, read, values);
  if (!watch.watch) {
    const sockets = await readRows(filter);
    const counts = countStates(sockets);
    if (values.json) outJson({ sockets, counts });
    else out(renderStates(sockets, filter).join("\n"));
    return 0;
  }
  return await runInterruptible((signal) =>
    watchStates(filter, watch, values.json === true, signal)
  );
}

/** `--state` as given, repeated and comma-separated, as state names. */
function readStates(
  command: string,
  texts: string[] | undefined,
): TcpStateName[] | undefined {
  if (texts === undefined) return undefined;
  const states = new Set<TcpStateName>();
  for (const text of texts.flatMap((t) => t.split(","))) {
    const state = parseTcpState(text);
    if (!state) {
      throw new UsageError(
        `unknown state '${text.trim()}' (states: ${
          Object.values(TCP_STATES).join(", ")
        }, UNCONN)`,
        command,
      );
    }
    states.add(state);
  }
  return [...states];
}

interface Filter extends SocketFilter {
  state?: TcpStateName[];
  tcp: boolean;
  udp: boolean;
  unix: boolean;
  process: boolean;
  info: boolean;
}

/** A TCP socket as `tcp states` shows it: the /proc row plus the backlog and owners. */
interface TcpRow extends TcpSocketRecord {
  /** LISTEN only: the backlog (ss Send-Q), from sock_diag. */
  backlog?: number;
  /** With --process: the processes holding it. */
  owners?: SocketOwner[];
}

/** A UDP socket with its owners. */
interface UdpRow extends UdpSocketRecord {
  owners?: SocketOwner[];
}

/** A Unix socket with its owners. */
interface UnixRow extends UnixSocketRecord {
  owners?: SocketOwner[];
}

type Row = TcpRow | UdpRow | UnixRow;

let backlogWarned = false;

async function readRows(filter: Filter): Promise<Row[]> {
  const ports: SocketFilter = {
    port: filter.port,
    sport: filter.sport,
    dport: filter.dport,
    state: filter.state,
  };
  const ported = ports.port !== undefined || ports.sport !== undefined ||
    ports.dport !== undefined;
  const [tcp, udp, unix] = await Promise.all([
    filter.tcp ? readTcpSockets(ports) : [],
    filter.udp ? readUdpSockets(ports) : [],
    filter.unix && !ported ? readUnixSockets({ state: filter.state }) : [],
  ]);
  const tcpRows: TcpRow[] = tcp;
  if (tcpRows.some((r) => r.state === "LISTEN")) {
    try {
      const queues = readListenQueues();
      for (const r of tcpRows) {
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
  // TCP and UDP in one order (state, then ports); Unix sockets after.
  const rows: Row[] = [
    ...[...tcpRows, ...udp as UdpRow[]].sort(compareSockets),
    ...unix as UnixRow[],
  ];
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
function socketKey(s: Row): string {
  if (s.proto === "unix") return `unix ${s.inode}`;
  return `${s.proto} ${formatAddress(s.local)} ${formatAddress(s.remote)}`;
}

/**
 * One state change between frames; `null` means the socket was not there.
 * TCP and UDP sockets are named by their addresses, Unix ones by path and
 * inode.
 */
type Change =
  & { key: string; from: TcpStateName | null; to: TcpStateName | null }
  & (
    | {
      proto: "tcp" | "tcp6" | "udp" | "udp6";
      local: HostPort;
      remote: HostPort;
    }
    | { proto: "unix"; path: string | null; inode: number }
  );

function changeOf(
  s: Row,
  from: TcpStateName | null,
  to: TcpStateName | null,
): Change {
  const key = socketKey(s);
  return s.proto === "unix"
    ? { key, proto: "unix", path: s.path, inode: s.inode, from, to }
    : { key, proto: s.proto, local: s.local, remote: s.remote, from, to };
}

function diff(previous: Map<string, Row>, sockets: Row[]): Change[] {
  const changes: Change[] = [];
  const seen = new Set<string>();
  for (const s of sockets) {
    const key = socketKey(s);
    seen.add(key);
    const before = previous.get(key);
    if (before?.state !== s.state) {
      changes.push(changeOf(s, before?.state ?? null, s.state));
    }
  }
  for (const [key, s] of previous) {
    if (!seen.has(key)) changes.push(changeOf(s, s.state, null));
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
  let previous: Map<string, Row> | undefined;
  for (let frame = 1; !signal.aborted; frame++) {
    const sockets = await readRows(filter);
    const counts = countStates(sockets);
    const changes = previous ? diff(previous, sockets) : [];
    const time = new Date();
    if (json) {
      outJson({
        frame,
        time: time.toISOString(),
        sockets,
        counts,
        changes: changes.map(({ key: _, ...c }) => c),
      });
    } else {
      const header =
        `netkit tcp states, every ${intervalMs / 1000} s, ${
          time.toTimeString().slice(0, 8)
        }` +
        (terminal ? " (Ctrl-C to stop)" : ` (frame ${frame})`);
      const body = renderStates(sockets, filter, changes, true);
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

const UNIX_TYPES = { stream: "u_str", dgram: "u_dgr", seqpacket: "u_seq" };

/** As ss names it: UDP and Unix sockets that are not connected are UNCONN. */
function stateText(proto: Row["proto"], state: TcpStateName): string {
  return state === "CLOSE" && !proto.startsWith("tcp") ? "UNCONN" : state;
}

function timerText(s: Row): string {
  if (s.proto !== "tcp" && s.proto !== "tcp6") return "";
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

// A process names itself (prctl PR_SET_NAME): escaped like peer text.
function ownersText(s: Row): string {
  return (s.owners ?? []).map((o) => `${o.pid}/${escapeControl(o.command)}`)
    .join(",");
}

function infoText(s: Row): string {
  if (!("info" in s) || !s.info) return "";
  const ss = s.info.ssthresh === null ? "-" : String(s.info.ssthresh);
  return `rto ${s.info.rtoMs}ms cwnd ${s.info.cwnd} ssthresh ${ss} retrans ${s.retransmits}`;
}

/** Protocol, local and remote as printed; a Unix path is chosen by whoever bound it. */
function place(c: Row | Change): [string, string, string] {
  if (c.proto === "unix") {
    const type = "type" in c ? UNIX_TYPES[c.type] : "unix";
    return [type, c.path === null ? "*" : escapeControl(c.path), "*"];
  }
  return [c.proto, endpoint(c.local), endpoint(c.remote)];
}

function queues(s: Row): [string, string] {
  if (s.proto === "unix") return ["", ""];
  const send = s.proto.startsWith("tcp") && s.state === "LISTEN"
    ? (s as TcpRow).backlog ?? s.txQueue
    : s.txQueue;
  return [String(s.rxQueue), String(send)];
}

function renderStates(
  sockets: Row[],
  filter: Filter,
  changes: Change[] = [],
  marks = false,
): string[] {
  const byKey = new Map<string, Change>();
  for (const c of changes) byKey.set(c.key, c);
  const rows: string[][] = [];
  for (const s of sockets) {
    const change = byKey.get(socketKey(s));
    const mark = !change ? " " : change.from === null ? "+" : "*";
    const now = stateText(s.proto, s.state);
    rows.push([
      mark,
      ...place(s),
      change?.from ? `${stateText(s.proto, change.from)} → ${now}` : now,
      ...queues(s),
      timerText(s),
      ...(filter.process ? [ownersText(s)] : []),
      ...(filter.info ? [infoText(s)] : []),
    ]);
  }
  for (const c of changes) {
    if (c.to !== null) continue;
    rows.push([
      "-",
      ...place(c),
      `${stateText(c.proto, c.from!)} → gone`,
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
  if (lines.length) lines.push("");
  const parts = [...countByText(sockets)].map(([st, n]) => `${st} ${n}`);
  lines.push(
    `${sockets.length} socket${sockets.length === 1 ? "" : "s"}${
      describeFilter(filter)
    }` +
      (parts.length ? `: ${parts.join(", ")}` : ""),
  );
  return lines;
}

/** Sockets per state as the rows show it (UNCONN right after CLOSE). */
function countByText(sockets: Row[]): Map<string, number> {
  const order = Object.values(TCP_STATES).flatMap((s) =>
    s === "CLOSE" ? [s, "UNCONN"] : [s]
  );
  const counts = new Map<string, number>(order.map((s) => [s, 0]));
  for (const s of sockets) {
    const text = stateText(s.proto, s.state);
    counts.set(text, counts.get(text)! + 1);
  }
  return new Map([...counts].filter(([, n]) => n > 0));
}

function describeFilter(filter: Filter): string {
  const words: string[] = [];
  if (filter.state) words.push(`in ${filter.state.join(" or ")}`);
  if (filter.port !== undefined) words.push(`on port ${filter.port}`);
  const sides = [
    ...(filter.sport !== undefined ? [`local port ${filter.sport}`] : []),
    ...(filter.dport !== undefined ? [`remote port ${filter.dport}`] : []),
  ];
  if (sides.length) words.push(`with ${sides.join(" and ")}`);
  return words.length ? " " + words.join(" ") : "";
}
