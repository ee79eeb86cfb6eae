// `netkit load report RUN.json … > FILE.html`: one self-contained page
// (no request leaves it) with the runs' percentile plot overlaid, requests
// and errors per second, their parameters and their summaries.

import { renderLoadReport } from "../view/mod.ts";
import { parseCommand } from "./_args.ts";
import type { CliContext } from "./_command.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import { readLoadResults } from "./_load_files.ts";
import { out } from "./_output.ts";

/** `netkit load report --help`. */
export const REPORT_HELP: HelpScreen = {
  usage: ["load report RUN.json ... [--title TEXT] > FILE.html"],
  about: "Writes one HTML page to stdout: the latency percentile plot " +
    "(x: log scale of 1/(1-p), every run overlaid), requests and errors per " +
    "second, each run's parameters and its summary (the numbers the " +
    "terminal shows). The page is self-contained: it loads nothing.",
  options: [
    ["--title TEXT", "the page's title (default: netkit load report)"],
    [
      "--all-counters",
      "list every kernel counter that moved in the summaries",
    ],
  ],
  examples: [
    "load report before.json after.json > compare.html",
    "load report shards.jsonl > run.html",
  ],
};

/** Runs `netkit load report`. */
export async function runReport(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const { values, positionals } = parseCommand("load report", argv, {
    title: { type: "string" },
    "all-counters": { type: "boolean" },
  }, { min: 1, max: 1000, names: "RUN.json …" });
  if (values.help) {
    out(renderHelp(REPORT_HELP));
    return 0;
  }
  const runs = await readLoadResults(positionals);
  out(renderLoadReport(runs, {
    title: values.title,
    allCounters: values["all-counters"],
  }));
  return 0;
}
