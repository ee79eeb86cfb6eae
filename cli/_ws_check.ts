// `netkit ws check URL`: runs the conformance catalogue against an echo
// server and prints one table row per case as it finishes.

import { wsUrlArg } from "./_ws_args.ts";
import type { CliContext } from "./_command.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { DEFAULT_TIMEOUTS } from "./_defaults.ts";
import { EXIT } from "./_exit.ts";
import {
  jsonHelp,
  OUTPUT_FLAGS,
  readTlsClient,
  TLS_CLIENT_FLAGS,
  tlsClientHelp,
} from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import { out, outJson } from "./_output.ts";
import { terminalWidth } from "./_text.ts";
import { formatDuration, unitReader } from "./_units.ts";
import {
  type CaseResult,
  CHECK_CATEGORIES,
  type CheckReport,
  checkServer,
  type CheckVerdict,
  listCases,
} from "../ws/check/mod.ts";

const COMMAND = "ws check";

/** `netkit ws check --help`. */
export const CHECK_HELP: HelpScreen = {
  usage: ["ws check URL [options]", "ws check --list"],
  about: "Runs a catalogue of RFC 6455 cases against a WebSocket echo " +
    "server, each on its own raw connection (TLS for wss://) with netkit's " +
    "codec: handshake (0), framing (1), ping/pong (2), reserved bits (3) " +
    "and opcodes (4), fragmentation (5), UTF-8 (6), close (7), client " +
    "masking (8), limits (9) and more. One row per case: what it sends, " +
    "what the RFC requires, what the server did, and the verdict.\n\n" +
    "The last line is 'N passed, N failed'; NON-STRICT and INFO count as " +
    "passed (as in Autobahn|Testsuite). Exit 1 when any case fails.",
  options: [
    [
      "--case GLOB",
      'only these cases: comma-separated globs over ids, e.g. "1.*", ' +
      '"6.4.*,7.9", "2.5" (a bare id selects the ids under it too)',
    ],
    [
      "--timeout TIME",
      `time allowed per case (default ${
        formatDuration(DEFAULT_TIMEOUTS.wsCheckMs)
      }; category 9 gets 4x)`,
    ],
    ...tlsClientHelp({ scope: "wss://", insecure: false, clientCert: false }),
    jsonHelp("print the report as one JSON object, nothing else"),
    ["--list", "list the cases and exit"],
  ],
  sections: [{
    title: "Verdicts",
    rows: [
      ["PASS", "the server did what the RFC requires"],
      [
        "NON-STRICT",
        "acceptable, not the best (e.g. no echo of the message before a " +
        "bad frame, invalid UTF-8 found only at the end of the message)",
      ],
      ["INFO", "reported, not judged (timings, behaviour the RFC leaves open)"],
      ["FAIL", "a requirement broken, or no answer within the timeout"],
    ],
  }],
  examples: [
    'ws check ws://127.0.0.1:8080/ws --case "1.*,7.*"',
    "ws check --list",
  ],
};

/** Runs `netkit ws check` with the arguments after `check`. */
export async function runWsCheck(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const { values, positionals } = parseCommand(COMMAND, argv, {
    case: { type: "string" },
    timeout: { type: "string" },
    ca: TLS_CLIENT_FLAGS.ca,
    ...OUTPUT_FLAGS,
    list: { type: "boolean" },
  }, { min: 0, max: 1, names: "URL", aliases: { "tls-ca": "ca" } });
  if (values.help) {
    out(renderHelp(CHECK_HELP));
    return 0;
  }
  const width = tableWidth();
  if (values.list) {
    printList(width, values.json === true);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError("missing URL", COMMAND);
  const url = wsUrlArg(COMMAND, positionals[0]!);
  const timeoutMs = unitReader(COMMAND).duration("timeout", values.timeout, {
    minMs: 1,
  }) ?? DEFAULT_TIMEOUTS.wsCheckMs;
  const { caCerts } = await readTlsClient(COMMAND, values);
  try {
    listCases(values.case);
  } catch (error) {
    throw new UsageError(
      `--case: ${error instanceof Error ? error.message : String(error)}`,
      COMMAND,
    );
  }
  const table = values.json ? undefined : new Table(width, useColor());
  const report = await checkServer(url, {
    cases: values.case,
    timeoutMs,
    caCerts,
    onCase: table && ((result) => table.row(result)),
  });
  const summary = summarize(report);
  if (values.json) {
    outJson({ ...report, summary });
  } else {
    out("");
    out(
      `${summary.PASS} PASS, ${
        summary["NON-STRICT"]
      } NON-STRICT, ${summary.INFO} INFO, ` +
        `${summary.FAIL} FAIL (NON-STRICT and INFO count as passed)`,
    );
    out(`${summary.passed} passed, ${summary.failed} failed`);
  }
  return report.failed > 0 ? EXIT.failure : EXIT.ok;
}

/**
 * The counts of a report, defined once: per verdict, and `passed`/`failed`
 * as the last line says them (NON-STRICT and INFO count as passed). The
 * JSON report carries them as `summary`.
 */
export function summarize(report: CheckReport): {
  PASS: number;
  "NON-STRICT": number;
  INFO: number;
  FAIL: number;
  passed: number;
  failed: number;
} {
  return {
    PASS: report.pass,
    "NON-STRICT": report.nonStrict,
    INFO: report.info,
    FAIL: report.failed,
    passed: report.passed,
    failed: report.failed,
  };
}

/**
 * The terminal's width (cli/_text.ts: COLUMNS, the terminal, 80 when piped)
 * kept between 80 and 120 columns: the table needs 80, and wider rows get
 * hard to read.
 */
function tableWidth(): number {
  return Math.min(120, Math.max(80, terminalWidth()));
}

function useColor(): boolean {
  return Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
}

function printList(width: number, json: boolean): void {
  const cases = listCases();
  if (json) {
    outJson({ cases });
    return;
  }
  const titleWidth = width - 9;
  let category = "";
  for (const c of cases) {
    const head = c.id.split(".")[0]!;
    if (head !== category) {
      category = head;
      out(`${category} ${CHECK_CATEGORIES[category] ?? ""}`);
    }
    wrap(c.title, titleWidth).forEach((line, i) => {
      out(`${(i === 0 ? c.id : "").padEnd(8)} ${line}`.trimEnd());
    });
  }
}

const COLORS: Record<CheckVerdict, string> = {
  "PASS": "\x1b[32m",
  "NON-STRICT": "\x1b[33m",
  "INFO": "\x1b[36m",
  "FAIL": "\x1b[31m",
};

/** Prints results as table rows, wrapping long cells onto more lines. */
class Table {
  readonly #widths: number[];
  readonly #color: boolean;
  #category = "";

  constructor(width: number, color: boolean) {
    // id, sends, requires, observed, verdict; two spaces between columns.
    const fixed = 7 + 10 + 4 * 2;
    const flexible = width - fixed;
    const sends = Math.floor(flexible * 0.24);
    const requires = Math.floor(flexible * 0.22);
    this.#widths = [7, sends, requires, flexible - sends - requires, 10];
    this.#color = color;
  }

  row(result: CaseResult): void {
    // The header waits for the first row: a server that cannot be reached
    // gets one error line, not an empty table.
    if (this.#category === "") {
      this.#print(["CASE", "SENDS", "REQUIRES", "OBSERVED", "VERDICT"]);
    }
    const category = result.id.split(".")[0]!;
    if (category !== this.#category) {
      this.#category = category;
      out(`-- ${category} ${CHECK_CATEGORIES[category] ?? ""}`);
    }
    this.#print(
      [result.id, result.sends, result.requires, result.observed],
      result.verdict,
    );
  }

  #print(cells: string[], verdict?: CheckVerdict): void {
    const columns = cells.map((cell, i) => wrap(cell, this.#widths[i]!));
    const height = Math.max(...columns.map((c) => c.length));
    for (let line = 0; line < height; line++) {
      const parts = columns.map((c, i) =>
        (c[line] ?? "").padEnd(this.#widths[i]!)
      );
      let text = parts.join("  ");
      if (verdict && line === 0) {
        text += "  " +
          (this.#color ? `${COLORS[verdict]}${verdict}\x1b[0m` : verdict);
      }
      out(text.trimEnd());
    }
  }
}

/** Splits text into lines of at most `width` characters, at spaces when possible. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (let word of text.split(" ")) {
    while (word.length > width) {
      if (line) {
        lines.push(line);
        line = "";
      }
      lines.push(word.slice(0, width));
      word = word.slice(width);
    }
    if (!line) line = word;
    else if (line.length + 1 + word.length <= width) line += " " + word;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line || lines.length === 0) lines.push(line);
  return lines;
}
