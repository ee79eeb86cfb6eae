// `netkit echo ping HOST:PORT`: round-trip times with a ping(8)-style
// summary, over TCP or UDP.

import { formatAddress } from "../address.ts";
import type { PingProbe, PingSummary } from "../ping.ts";
import { addressArg, parseCommand, UsageError } from "./_args.ts";
import type { CliContext } from "./_command.ts";
import { DEFAULT_LIMITS, DEFAULT_TIMEOUTS } from "./_defaults.ts";
import { EXIT, runInterruptible } from "./_exit.ts";
import { jsonHelp, OUTPUT_FLAGS } from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import { out, outJson, plural } from "./_output.ts";
import { formatDuration, unitReader } from "./_units.ts";

/** `netkit echo ping --help`. */
export const PING_HELP: HelpScreen = {
  usage: ["echo ping HOST:PORT [--udp] [options]"],
  about: "Sends --count probes to an echo server, one every --interval, and " +
    "prints each round trip, then a ping(8)-style summary: sent, received, " +
    "loss, min/avg/max/p99. A probe without a reply within --timeout is " +
    "lost. Ctrl-C stops early and still prints the summary (exit 130). " +
    "Exit 0 when every probe came back, 1 otherwise.",
  options: [
    ["--udp", "probe over UDP (one datagram each) instead of TCP"],
    [
      "-c, --count N",
      `probes to send (default ${DEFAULT_LIMITS.pingCount})`,
    ],
    [
      "-s, --size SIZE",
      `bytes per probe, at least 8 (default ${DEFAULT_LIMITS.pingSize})`,
    ],
    [
      "-i, --interval TIME",
      `time between probes (default ${
        formatDuration(DEFAULT_TIMEOUTS.pingIntervalMs)
      }); 0 sends the next at once`,
    ],
    [
      "-W, --timeout TIME",
      `wait this long for each reply (default ${
        formatDuration(DEFAULT_TIMEOUTS.pingReplyMs)
      })`,
    ],
    jsonHelp("one JSON object per probe, then the summary"),
  ],
  examples: [
    "echo ping 127.0.0.1:7007 -c 3",
    "echo ping 127.0.0.1:7007 --udp -i 0.2 -W 1",
  ],
};

/** Runs `netkit echo ping`. */
export async function runPing(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const cmd = "echo ping";
  const { values, positionals } = parseCommand(cmd, argv, {
    udp: { type: "boolean" },
    count: { type: "string", short: "c" },
    size: { type: "string", short: "s" },
    interval: { type: "string", short: "i" },
    timeout: { type: "string", short: "W" },
    ...OUTPUT_FLAGS,
  }, { min: 1, max: 1, names: "HOST:PORT" });
  if (values.help) {
    out(renderHelp(PING_HELP));
    return 0;
  }
  const addr = addressArg(cmd, positionals[0]!, { connect: true });
  const read = unitReader(cmd);
  const options = {
    count: read.count("count", values.count, { min: 1 }) ??
      DEFAULT_LIMITS.pingCount,
    size: read.size("size", values.size, { min: 8, max: 16 * 1024 * 1024 }) ??
      DEFAULT_LIMITS.pingSize,
    intervalMs: read.duration("interval", values.interval) ??
      DEFAULT_TIMEOUTS.pingIntervalMs,
    timeoutMs: read.duration("timeout", values.timeout, { minMs: 1 }) ??
      DEFAULT_TIMEOUTS.pingReplyMs,
  };
  const transport = values.udp ? "udp" : "tcp";
  const { checkUdpPayloadSize, pingUdp } = await import("../udp/mod.ts");
  const { pingTcp } = await import("../tcp/mod.ts");
  if (values.udp) {
    try {
      checkUdpPayloadSize(options.size, addr.hostname);
    } catch (error) {
      throw new UsageError(
        error instanceof Error ? error.message : String(error),
        cmd,
      );
    }
  }
  const target = formatAddress(addr);
  const json = Boolean(values.json);
  return await runInterruptible(async (signal) => {
    if (!json) {
      out(`PING ${target} (${transport}) ${plural(options.size, "byte")}`);
    }
    const onProbe = (p: PingProbe) => {
      if (json) outJson({ type: "probe", ...p });
      else out(probeLine(p, target));
    };
    const run = { ...options, signal, onProbe };
    const result = values.udp
      ? await pingUdp(addr, run)
      : await pingTcp(addr, run);
    const { probes: _, ...summary } = result;
    if (json) outJson({ type: "summary", target, transport, ...summary });
    else summaryLines(target, summary).forEach((l) => out(l));
    return summary.received === summary.sent ? EXIT.ok : EXIT.failure;
  });
}

function probeLine(p: PingProbe, target: string): string {
  return p.rttMs === null
    ? `no reply from ${target}: seq=${p.seq}`
    : `${plural(p.bytes, "byte")} from ${target}: seq=${p.seq} time=${
      p.rttMs.toFixed(3)
    } ms`;
}

function summaryLines(target: string, s: PingSummary): string[] {
  const lines = [
    `--- ${target} echo ping statistics ---`,
    `${plural(s.sent, "probe")} sent, ${s.received} received, ${
      fmt(s.lossPercent, 1)
    }% loss`,
  ];
  if (s.minMs !== null) {
    lines.push(
      `rtt min/avg/max/p99 = ${fmt(s.minMs)}/${fmt(s.avgMs)}/${fmt(s.maxMs)}/${
        fmt(s.p99Ms)
      } ms`,
    );
  }
  return lines;
}

function fmt(n: number | null, digits = 3): string {
  return n === null ? "-" : n.toFixed(digits);
}
