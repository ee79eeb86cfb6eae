// Reading results saved with `netkit load … --json`, for `load merge` and
// `load report`: a file holds one result, or one per line (JSON Lines, as
// `kubectl logs … | grep '^{'` collects the shards of a Job).

import { checkLoadResult, type LoadResult } from "../load/mod.ts";
import { NetkitError } from "../errors.ts";

// A result is a few KiB (a long timeline some hundred); refuse to slurp
// anything far bigger.
const MAX_FILE_BYTES = 64 * 1024 * 1024;

/** A result and the name it is shown under (the file, and the line for JSON Lines). */
export interface NamedResult {
  label: string;
  result: LoadResult;
}

/** Reads every result in `paths`, in order. */
export async function readLoadResults(paths: string[]): Promise<NamedResult[]> {
  const out: NamedResult[] = [];
  for (const path of paths) {
    let text: string;
    try {
      const { size } = await Deno.stat(path);
      if (size > MAX_FILE_BYTES) {
        throw new Error(`${size} bytes, more than load results can be`);
      }
      text = await Deno.readTextFile(path);
    } catch (error) {
      throw new NetkitError(
        "read_failed",
        `cannot read ${JSON.stringify(path)}: ${(error as Error).message}`,
      );
    }
    const name = path.slice(path.lastIndexOf("/") + 1);
    const whole = parse(text);
    if (whole !== undefined) {
      out.push({ label: name, result: check(whole, path) });
      continue;
    }
    const lines = text.split("\n").map((l) => l.trim());
    let found = 0;
    for (const [i, line] of lines.entries()) {
      if (line === "") continue;
      const value = parse(line);
      if (value === undefined) {
        throw new NetkitError(
          "bad_result",
          `${JSON.stringify(path)} line ${
            i + 1
          } is not JSON from 'netkit load --json'`,
        );
      }
      out.push({ label: `${name}:${i + 1}`, result: check(value, path) });
      found++;
    }
    if (found === 0) {
      throw new NetkitError(
        "bad_result",
        `${JSON.stringify(path)} holds no result from 'netkit load --json'`,
      );
    }
  }
  return out;
}

function check(value: unknown, path: string): LoadResult {
  try {
    return checkLoadResult(value);
  } catch {
    throw new NetkitError(
      "bad_result",
      `${
        JSON.stringify(path)
      }: not a netkit load result (write one with 'netkit load … --json')`,
    );
  }
}

function parse(text: string): unknown {
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? value
      : undefined;
  } catch {
    return undefined;
  }
}
