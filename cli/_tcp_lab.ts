// `netkit tcp lab SCENARIO`: makes a TCP failure happen on 127.0.0.1 (as
// root in a network namespace of its own), prints its timeline with the
// packets behind each step and explains it.

import {
  LAB_SCENARIOS,
  labDiagram,
  type LabPacket,
  type LabReport,
  runLab,
  runResetServer,
} from "../tcp/lab/mod.ts";
import { explainCounters } from "../tcp/proc/mod.ts";
import { sequenceHtml } from "../view/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import type { CliContext } from "./_command.ts";
import { jsonHelp, OUTPUT_FLAGS } from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import { log, out, outJson } from "./_output.ts";
import { terminalWidth, wrapText } from "./_text.ts";
import { unitReader } from "./_units.ts";

/** `netkit tcp lab --help` (the scenarios come from the library). */
export function labHelp(): HelpScreen {
  return {
    usage: ["tcp lab <scenario> [options]"],
    about: "Runs a short, self-cleaning experiment on 127.0.0.1 and prints " +
      "its timeline: what the client did and saw, both sides' socket states " +
      "and queues at that moment, the kernel counters that moved, then why " +
      "and what to change.\n\nAs root every scenario runs in a private " +
      "network namespace of its own (unshare -n), so its counters count only " +
      "the experiment, and each step lists the packets that caused it, " +
      "captured on the wire. Parts marked [root] or [+root] change sysctls " +
      "or nftables rules there; without root the report says what was " +
      "skipped, packets included, and why.",
    options: [
      ["--backlog N", "accept-overflow: the listen() backlog (default 2)"],
      [
        "--clients N",
        "accept-overflow: clients (default backlog+4); close-wait, emfile",
      ],
      ["--nofile N", "emfile: the echo server's open-file limit (default 40)"],
      [
        "--packets",
        "list every packet of each step, not only the notable ones",
      ],
      ["--html FILE", "write the run as a sequence diagram to FILE"],
      [
        "--all-counters",
        "every kernel counter that moved, not only those that explain " +
        "something (--json always has all)",
      ],
      [
        "--no-namespace",
        "run on the host even as root: no packets, no [root] parts",
      ],
      jsonHelp(
        "one JSON object {scenario, namespace, capture, steps, outcomes, " +
          "kernel, facts, skipped, explanation}",
      ),
    ],
    sections: [{
      title: "Scenarios",
      rows: LAB_SCENARIOS.map((s) => [
        s.name,
        `${s.summary}${
          s.namespace === "only"
            ? " [root]"
            : s.namespace === "partly"
            ? " [+root]"
            : ""
        }`,
      ]),
    }],
    examples: [
      "tcp lab accept-overflow",
      "tcp lab close --packets --html close.html",
      "tcp lab emfile --nofile 20 --json",
    ],
  };
}

/** Runs `netkit tcp lab`. */
export async function runLabCommand(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const name = "tcp lab";
  const { values, positionals } = parseCommand(name, argv, {
    backlog: { type: "string" },
    clients: { type: "string" },
    nofile: { type: "string" },
    packets: { type: "boolean" },
    html: { type: "string" },
    "all-counters": { type: "boolean" },
    ...OUTPUT_FLAGS,
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
  if (values.help) {
    out(renderHelp(labHelp()));
    return 0;
  }
  if (scenario === undefined) {
    // Like a family without its subcommand: the list, as a usage mistake.
    log(renderHelp(labHelp()));
    return 2;
  }
  if (!LAB_SCENARIOS.some((s) => s.name === scenario)) {
    throw new UsageError(
      `unknown scenario '${scenario}' (scenarios: ${
        LAB_SCENARIOS.map((s) => s.name).join(", ")
      })`,
      name,
    );
  }
  const read = unitReader(name);
  const report = await runLab(scenario, {
    backlog: read.count("backlog", values.backlog, { max: 64 }),
    clients: read.count("clients", values.clients, { min: 1, max: 200 }),
    nofile: read.count("nofile", values.nofile, { min: 8, max: 4096 }),
    noNamespace: values["no-namespace"] === true,
    insideNamespace: values["inside-namespace"] === true,
    packets: values.packets ? "all" : undefined,
  });
  if (values.json) outJson(report);
  else {
    out(
      renderLab(report, terminalWidth(), values["all-counters"] === true)
        .join("\n"),
    );
  }
  if (values.html !== undefined) {
    await Deno.writeTextFile(values.html, sequenceHtml(labDiagram(report)));
    const arrows = report.steps.reduce(
      (n, s) => n + (s.packets?.length ?? 0),
      0,
    );
    log(
      `wrote ${values.html} (${report.steps.length} steps, ${arrows} packets)`,
    );
  }
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

/**
 * The kernel counters that moved: by default only the ones that explain
 * something, each with its meaning; every one with `all` (and in --json).
 */
function renderCounters(
  report: LabReport,
  width: number,
  all: boolean,
): string[] {
  const lines = [
    report.namespace === "own"
      ? "Kernel counters that moved (the lab's own namespace: this experiment only):"
      : "Kernel counters that moved (the whole machine: other programs' traffic too):",
  ];
  // A scenario's second experiment prefixes its counters ("[ACKs held]
  // TcpRetransSegs"): each experiment's counters are explained apart.
  const groups = new Map<string, Record<string, number>>();
  for (const [key, delta] of Object.entries(report.kernel)) {
    const [, prefix = "", counter] = /^(\[[^\]]*\] )?(.*)$/.exec(key)!;
    if (!groups.has(prefix)) groups.set(prefix, {});
    groups.get(prefix)![counter!] = delta;
  }
  const shown = [...groups].flatMap(([prefix, deltas]) =>
    explainCounters(deltas, { all }).map((c) => ({
      ...c,
      name: prefix + c.name,
    }))
  );
  const nameWidth = Math.max(0, ...shown.map((c) => c.name.length));
  const deltaWidth = Math.max(0, ...shown.map((c) => signed(c.delta).length));
  for (const c of shown) {
    const head = `  ${c.name.padEnd(nameWidth)}  ${
      signed(c.delta).padStart(deltaWidth)
    }`;
    if (!c.meaning) {
      lines.push(head);
      continue;
    }
    lines.push(...wrapText(c.meaning, width, {
      firstIndent: `${head}  `,
      indent: " ".repeat(head.length + 2),
    }));
  }
  const moved = Object.values(report.kernel).filter((v) => v !== 0).length;
  if (moved > shown.length) {
    const rest = moved - shown.length;
    lines.push(...wrapText(
      `${shown.length ? "and " : ""}${rest} more that count ordinary ` +
        "traffic (--all-counters lists them)",
      width,
      { firstIndent: "  ", indent: "  " },
    ));
  }
  return lines;
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : `${n}`;
}

/**
 * The lab's report as text; the explanation paragraphs are wrapped to
 * `width` columns at spaces.
 */
export function renderLab(
  report: LabReport,
  width: number,
  allCounters = false,
): string[] {
  const lines = [`netkit tcp lab ${report.scenario}`, ""];
  if (report.namespace === "own") {
    lines.push(
      ...wrapText(
        `In a network namespace of its own: only this experiment's sockets, counters and packets${
          report.capture
            ? ` (${report.capture.packets} packets captured${
              report.capture.dropped
                ? `, ${report.capture.dropped} dropped by the kernel`
                : ""
            })`
            : ""
        }.`,
        width,
      ),
      "",
    );
  }
  for (const step of report.steps) {
    lines.push(
      ...wrapText(step.event, width, {
        firstIndent: `${seconds(step.t).padStart(9)}  `,
        indent: " ".repeat(11),
      }),
    );
    const rows = groupSockets(step);
    const nameWidth = Math.max(0, ...rows.map((r) => r[0].length));
    const stateWidth = Math.max(0, ...rows.map((r) => r[1].length));
    for (const [name, state, queues] of rows) {
      lines.push(
        `${" ".repeat(11)}${name.padEnd(nameWidth)}  ${
          state.padEnd(stateWidth)
        }  ${queues}`,
      );
    }
    lines.push(...renderPackets(step, report.capture?.startMs ?? 0, width));
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
  lines.push("", ...renderCounters(report, width, allCounters));
  section("Measured:", Object.entries(report.facts));
  if (report.skipped.length) {
    lines.push("", "Skipped:");
    for (const s of report.skipped) {
      lines.push(
        ...wrapText(s, width, { firstIndent: "  - ", indent: "    " }),
      );
    }
  }
  lines.push("", ...wrapText(`Why: ${report.explanation.why}`, width));
  lines.push(
    "",
    ...wrapText(`What to change: ${report.explanation.change}`, width),
  );
  return lines;
}

/**
 * A step's packets: one line each (time, connection, direction, flags and
 * numbers), what it means and both states wrapped under it.
 */
function renderPackets(
  step: LabReport["steps"][number],
  startMs: number,
  width: number,
): string[] {
  const packets = step.packets ?? [];
  const lines: string[] = [];
  for (const p of packets) {
    lines.push(
      ...wrapText(packetLine(p, startMs), width, {
        firstIndent: " ".repeat(11),
        indent: " ".repeat(13),
      }),
    );
    const meaning = [
      ...p.notes.map((n) => n.text),
      ...(p.states
        ? [`after it: client ${p.states.client}, server ${p.states.server}`]
        : []),
    ].join("; ");
    if (meaning) {
      lines.push(
        ...wrapText(meaning, width, {
          firstIndent: " ".repeat(13),
          indent: " ".repeat(13),
        }),
      );
    }
  }
  if (step.packetsOmitted) {
    lines.push(
      ...wrapText(
        `(${step.packetsOmitted} more packets, plain data and ACKs: --packets lists them)`,
        width,
        { firstIndent: " ".repeat(11), indent: " ".repeat(12) },
      ),
    );
  }
  return lines;
}

/** `+0.146s client 1 -> :8080 [S.] seq 0 ack 1 win 65483`. */
function packetLine(p: LabPacket, startMs: number): string {
  const who = p.role ?? p.client ?? "?";
  const server = p.server
    ? `:${p.server.slice(p.server.lastIndexOf(":") + 1)}`
    : "?";
  const arrow = p.from === "server"
    ? `${who} <- ${server}`
    : `${who} -> ${server}`;
  const time = seconds(p.timeMs - startMs);
  if (p.tcp) {
    const seq = p.relSeq ?? p.tcp.seq;
    const len = p.tcp.payloadLength;
    return `${time} ${arrow} [${p.tcp.flagText}] seq ${
      len > 0 ? `${seq}:${(seq + len) >>> 0}` : seq
    }${p.tcp.flags & 0x10 ? ` ack ${p.relAck ?? p.tcp.ack}` : ""} win ${
      p.windowBytes ?? p.tcp.window
    }${len > 0 ? ` len ${len}` : ""}`;
  }
  if (p.udp) return `${time} ${arrow} UDP len ${p.udp.payloadLength}`;
  return `${time} ${p.src ?? "?"} > ${p.dst ?? "?"}`;
}
