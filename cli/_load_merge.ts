// `netkit load merge A.json B.json …`: joins runs made at the same time
// (shards on several machines, several shells) as one run.

import { type LoadResult, mergeLoadResults } from "../load/mod.ts";
import { NetkitError } from "../errors.ts";
import { parseCommand } from "./_args.ts";
import type { CliContext } from "./_command.ts";
import { jsonHelp, OUTPUT_FLAGS } from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import { readLoadResults } from "./_load_files.ts";
import { renderSummary } from "./_load_render.ts";
import { logWarnings, writeReport } from "./_load_run.ts";
import { out, outJson } from "./_output.ts";
import { terminalWidth } from "./_text.ts";

/** `netkit load merge --help`. */
export const MERGE_HELP: HelpScreen = {
  usage: ["load merge A.json B.json ... [options]"],
  about: "Joins runs made at the same time (shards on several machines, " +
    "several shells), each saved with 'netkit load ... --json' (a file may " +
    "hold one result per line): counts add, histograms add exactly so the " +
    "percentiles are those of every request, rates are taken over the " +
    "window every run was measuring, and kernel counters stay per host. " +
    "Runs of different targets are refused, and so are runs whose windows " +
    "do not overlap; windows that overlap in part are merged with a warning.",
  options: [
    [
      "--allow-mixed-targets",
      "merge runs of different targets anyway (with a warning)",
    ],
    ["--html FILE", "also write the report (each run and the merge)"],
    [
      "--all-counters",
      "list every kernel counter that moved, not only those that explain " +
      "something",
    ],
    jsonHelp("print the merged result as one JSON object"),
  ],
  examples: ["load merge a.json b.json", "load merge shards.jsonl --json"],
};

/** Runs `netkit load merge`. */
export async function runMerge(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const cmd = "load merge";
  const { values, positionals } = parseCommand(cmd, argv, {
    "allow-mixed-targets": { type: "boolean" },
    html: { type: "string" },
    "all-counters": { type: "boolean" },
    ...OUTPUT_FLAGS,
  }, { min: 1, max: 10_000, names: "A.json B.json …" });
  if (values.help) {
    out(renderHelp(MERGE_HELP));
    return 0;
  }
  const runs = await readLoadResults(positionals);
  let merged: LoadResult;
  try {
    merged = mergeLoadResults(runs.map((r) => r.result), {
      allowMixedTargets: Boolean(values["allow-mixed-targets"]),
    });
  } catch (error) {
    const code = (error as NetkitError).code ?? "bad_result";
    throw new NetkitError(
      code,
      code === "bad_result"
        ? `${
          (error as Error).message
        } (merge takes files written by 'netkit load --json')`
        : (error as Error).message,
    );
  }
  logWarnings(merged);
  if (values.html !== undefined) {
    await writeReport(values.html, [...runs, {
      label: `merged (${runs.length} runs)`,
      result: merged,
    }]);
  }
  if (values.json) outJson(merged);
  else out(renderSummary(merged, terminalWidth(), values["all-counters"]));
  return 0;
}
