// `netkit tcp trace`: captures packets and prints one line each, as
// `tcpdump -n` does, with what each means and both sides' TCP states.

import {
  formatPacket,
  startTrace,
  traceDiagram,
  type TracePacket,
} from "../tcp/trace/mod.ts";
import { sequenceHtml, sequenceText } from "../view/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import type { CliContext } from "./_command.ts";
import { EXIT, runInterruptible } from "./_exit.ts";
import { jsonHelp, OUTPUT_FLAGS } from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import { log, out, outJson, plural } from "./_output.ts";
import { terminalWidth } from "./_text.ts";
import { unitReader } from "./_units.ts";

/** Packets kept for `--html` and `--diagram`; a longer trace draws its first ones. */
const MAX_DRAWN = 10_000;

/** `netkit tcp trace --help`. */
export const TRACE_HELP: HelpScreen = {
  usage: [
    "tcp trace [--port P] [--host H] [--count N] [--duration TIME] " +
    "[--write FILE.pcap] [--json] [--html FILE] [--diagram]",
  ],
  about: "Captures packets (Linux; root or CAP_NET_RAW) on loopback or " +
    "--interface and prints one line per packet in tcpdump -n's words, " +
    "sequence numbers relative to each side's ISN and the window scaled, " +
    "then what the packet means (handshake, retransmission and its " +
    "interval, duplicate ACK, zero window, window probe or update, RST or " +
    "FIN and who sent it, TIME_WAIT) and the state each side is in after " +
    "it. It ends after --count packets, after --duration, or at Ctrl-C, " +
    "and says on stderr how many packets the kernel dropped.",
  options: [
    ["--port P", "only TCP and UDP packets with port P at either end"],
    ["--host H", "only packets to or from IP address H"],
    ["--interface IF", "capture on IF (default lo)"],
    ["--count N", "stop after N packets"],
    ["--duration TIME", "stop after TIME"],
    ["--write FILE", "also write the packets to FILE as a classic pcap"],
    ["--html FILE", "write a sequence diagram of the packets to FILE"],
    ["--diagram", "print a sequence diagram at the end instead of lines"],
    jsonHelp("one JSON object per packet"),
  ],
  examples: [
    "tcp trace --port 8080",
    "tcp trace --port 8080 --count 20 --write web.pcap",
    "tcp trace --port 8080 --duration 10s --html trace.html",
  ],
};

/** Runs `netkit tcp trace`. */
export async function runTraceCommand(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const name = "tcp trace";
  const { values } = parseCommand(name, argv, {
    port: { type: "string" },
    host: { type: "string" },
    interface: { type: "string" },
    count: { type: "string" },
    duration: { type: "string" },
    write: { type: "string" },
    html: { type: "string" },
    diagram: { type: "boolean" },
    ...OUTPUT_FLAGS,
  });
  if (values.help) {
    out(renderHelp(TRACE_HELP));
    return EXIT.ok;
  }
  const read = unitReader(name);
  const port = read.count("port", values.port, { min: 1, max: 65535 });
  const count = read.count("count", values.count, { min: 1 });
  const durationMs = read.duration("duration", values.duration);
  const host = values.host === undefined ? undefined : ipLiteral(values.host);
  if (values.json && values.diagram) {
    throw new UsageError("--diagram and --json do not go together", name);
  }
  const tracer = startTrace({
    interface: values.interface,
    port,
    host,
    count,
    write: values.write,
  });
  // On stderr, as tcpdump's "listening on": the capture is set up, packets
  // from now on are seen.
  log(
    `capturing on ${tracer.capture.interface}${
      port === undefined ? "" : `, port ${port}`
    }${host === undefined ? "" : `, host ${host}`}: Ctrl-C to stop`,
  );
  const drawn: TracePacket[] = [];
  const keep = values.html !== undefined || values.diagram === true;
  let start: number | undefined;
  const code = await runInterruptible(async (signal) => {
    const end = durationMs === undefined
      ? Infinity
      : performance.now() + durationMs;
    try {
      while (!tracer.done && !signal.aborted && performance.now() < end) {
        const got = tracer.poll((p) => {
          start ??= p.timeMs;
          if (values.json) outJson(p);
          else if (!values.diagram) out(formatPacket(p, { startMs: start }));
          if (keep && drawn.length < MAX_DRAWN) drawn.push(p);
        });
        if (got === 0) {
          await tracer.wait(
            Math.min(100, Math.max(1, end - performance.now())),
          );
        }
      }
    } finally {
      const stats = tracer.stats();
      await tracer.close();
      log(
        `${plural(stats.packets, "packet")} captured${
          values.write ? ` (written to ${values.write})` : ""
        }, ${stats.dropped} dropped by the kernel`,
      );
    }
    return EXIT.ok;
  });
  if (keep) {
    const diagram = traceDiagram(drawn, {
      title: `netkit tcp trace${port === undefined ? "" : ` --port ${port}`}`,
    });
    if (values.diagram) {
      out(sequenceText(diagram, { width: terminalWidth() }).join("\n"));
    }
    if (values.html !== undefined) {
      await Deno.writeTextFile(values.html, sequenceHtml(diagram));
      log(`wrote ${values.html} (${plural(drawn.length, "arrow")})`);
    }
  }
  return code;
}

/** An IP literal for --host (names are not resolved: say which address). */
function ipLiteral(text: string): string {
  const bare = text.replace(/^\[|\]$/g, "");
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(bare) || bare.includes(":")) return bare;
  throw new UsageError(
    `--host takes an IP address (127.0.0.1, ::1), not '${text}'`,
    "tcp trace",
  );
}
