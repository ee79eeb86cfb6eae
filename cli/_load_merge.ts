// `netkit load merge A.json B.json …`: adds up runs saved with --json.

import { type LoadResult, mergeLoadResults } from "../load/mod.ts";
import { NetkitError } from "../errors.ts";
import { parseCommand } from "./_args.ts";
import type { CliContext } from "./_command.ts";
import { jsonHelp, OUTPUT_FLAGS } from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import { renderSummary } from "./_load_render.ts";
import { out, outJson } from "./_output.ts";
import { terminalWidth } from "./_text.ts";

const MAX_RESULT_BYTES = 16 * 1024 * 1024;

/** `netkit load merge --help`. */
export const MERGE_HELP: HelpScreen = {
  usage: ["load merge A.json B.json ... [--json]"],
  about: "Adds up runs made at the same time (several machines, several " +
    "shells), each saved with 'netkit load ... --json': counts, rates and " +
    "histograms add; percentiles come from the merged histogram.",
  options: [jsonHelp("print the merged result as one JSON object")],
  examples: ["load merge a.json b.json"],
};

/** Runs `netkit load merge`. */
export async function runMerge(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const cmd = "load merge";
  const { values, positionals } = parseCommand(cmd, argv, {
    ...OUTPUT_FLAGS,
  }, { min: 1, max: 10_000, names: "A.json B.json …" });
  if (values.help) {
    out(renderHelp(MERGE_HELP));
    return 0;
  }
  const results: LoadResult[] = [];
  for (const path of positionals) {
    let text: string;
    try {
      // A result is a few KiB; refuse to slurp anything far bigger.
      const { size } = await Deno.stat(path);
      if (size > MAX_RESULT_BYTES) {
        throw new Error(`${size} bytes, more than a load result can be`);
      }
      text = await Deno.readTextFile(path);
    } catch (error) {
      throw new NetkitError(
        "read_failed",
        `cannot read ${JSON.stringify(path)}: ${(error as Error).message}`,
      );
    }
    try {
      results.push(JSON.parse(text));
    } catch {
      throw new NetkitError(
        "bad_result",
        `${JSON.stringify(path)} is not JSON from 'netkit load --json'`,
      );
    }
  }
  let merged: LoadResult;
  try {
    merged = mergeLoadResults(results);
  } catch (error) {
    throw new NetkitError(
      "bad_result",
      `${
        (error as Error).message
      } (merge takes files written by 'netkit load --json')`,
    );
  }
  if (values.json) outJson(merged);
  else out(renderSummary(merged, terminalWidth()));
  return 0;
}
