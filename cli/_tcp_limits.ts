// `netkit tcp limits`: what limits a TCP server on this host, each value
// with what it means and what to do; `--watch` follows the counters.

import { setTimeout as delay } from "node:timers/promises";
import { ProcError } from "../errors.ts";
import {
  counterDeltas,
  type KernelCounters,
  readKernelCounters,
  readTcpLimits,
  type TcpLimits,
  type TcpReading,
} from "../tcp/proc/mod.ts";
import { parseCommand } from "./_args.ts";
import type { CliContext } from "./_command.ts";
import { EXIT, runInterruptible } from "./_exit.ts";
import { jsonHelp, OUTPUT_FLAGS } from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import { out, outJson } from "./_output.ts";
import { readWatch, splitWatch, WATCH_FLAGS, watchHelp } from "./_tcp_watch.ts";
import { columns, terminalWidth, wrapText } from "./_text.ts";
import { unitReader } from "./_units.ts";

/** `netkit tcp limits --help`. */
export const LIMITS_HELP: HelpScreen = {
  usage: ["tcp limits [--pid PID] [--watch [TIME]] [--json]"],
  about: "Shows what limits a TCP server on this host: the open-file limit " +
    "and descriptors in use, the kernel's backlog and handshake settings, " +
    "and the TCP counters since boot, each with what it means and what to " +
    "do about it. Values that cannot be read (e.g. in a container) say why.",
  options: [
    [
      "--pid PID",
      "read the open-file limit and descriptors of this process (default: " +
      "netkit itself)",
    ],
    ...watchHelp(
      "print the kernel counters that moved in that interval, with a '*' " +
        "on each (and the descriptors in use)",
      "intervals",
    ),
    jsonHelp(
      "print everything as one JSON object; with --watch one {interval, " +
        "time, deltas, descriptorsInUse} per line",
    ),
  ],
  examples: ["tcp limits", "tcp limits --pid 1234 --watch 2s --count 5"],
};

/** Runs `netkit tcp limits`. */
export async function runLimits(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const name = "tcp limits";
  const { values } = parseCommand(name, splitWatch(argv), {
    pid: { type: "string" },
    ...OUTPUT_FLAGS,
    ...WATCH_FLAGS,
  });
  if (values.help) {
    out(renderHelp(LIMITS_HELP));
    return 0;
  }
  const read = unitReader(name);
  const pid = read.count("pid", values.pid, { min: 1 });
  if (pid !== undefined) {
    try {
      await Deno.stat(`/proc/${pid}`);
    } catch {
      throw new ProcError(
        "proc_unavailable",
        `no process with pid ${pid} (nothing at /proc/${pid})`,
      );
    }
  }
  const watch = readWatch(name, read, values);
  if (watch.watch) {
    return await runInterruptible((signal) =>
      watchCounters(
        pid,
        watch.intervalMs,
        watch.count,
        values.json === true,
        signal,
      )
    );
  }
  const limits = await readTcpLimits({ pid });
  if (values.json) outJson(limits);
  else {
    out(renderLimits(limits, pid === undefined, terminalWidth()).join("\n"));
  }
  return 0;
}

async function watchCounters(
  pid: number | undefined,
  intervalMs: number,
  count: number | undefined,
  json: boolean,
  stop: AbortSignal,
): Promise<number> {
  let before: KernelCounters = await readKernelCounters();
  {
    if (!json) {
      out(
        `netkit tcp limits --watch: counters that moved every ${
          intervalMs / 1000
        } s (* = non-zero)${count === undefined ? ", Ctrl-C to stop" : ""}`,
      );
    }
    for (let n = 1; !stop.aborted; n++) {
      await delay(intervalMs, undefined, { signal: stop }).catch(() => {});
      if (stop.aborted) break;
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
  }
  return EXIT.ok;
}

/**
 * The limits as text fitting `width` columns: each reading's name, value
 * and meaning, then `→` what to do, wrapped at spaces under the meaning
 * (or, on a narrow terminal, under the name).
 */
export function renderLimits(
  limits: TcpLimits,
  self: boolean,
  width: number,
): string[] {
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
  const valueWidth = Math.max(...all.map((r) => columns(valueText(r))));
  const column = 2 + nameWidth + 2 + valueWidth + 2;
  // The meaning keeps its own column while 30 columns are left for it.
  const indent = " ".repeat(width - column >= 30 ? column : 4);
  const lines: string[] = [];
  for (const [title, items] of sections) {
    if (lines.length) lines.push("");
    lines.push(title);
    for (const r of items) {
      const head = `  ${r.name.padEnd(nameWidth)}  ${
        valueText(r).padStart(valueWidth)
      }  `;
      lines.push(
        ...wrapText(r.meaning, width, { firstIndent: head, indent }),
        ...wrapText(
          `→ ${r.available ? r.hint : `unavailable: ${r.reason}`}`,
          width,
          { firstIndent: indent, indent: indent + "  " },
        ),
      );
    }
  }
  return lines;
}
