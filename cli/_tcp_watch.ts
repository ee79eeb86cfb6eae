// `--watch [TIME]` and `--count N` of `tcp states` and `tcp limits`: one
// reading of the flags for both.

import { UsageError } from "./_args.ts";
import { DEFAULT_TIMEOUTS } from "./_defaults.ts";
import type { HelpRow } from "./_help.ts";
import { formatDuration, parseDuration, type UnitReader } from "./_units.ts";

/**
 * parseArgs has no optional values: `--watch 2`, `--watch 500ms` and
 * `--watch=2` become `--watch --interval 2`.
 */
export function splitWatch(argv: string[]): string[] {
  const result: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      result.push(...argv.slice(i));
      break;
    }
    if (a.startsWith("--watch=")) {
      result.push("--watch", "--interval", a.slice("--watch=".length));
    } else if (
      a === "--watch" && parseDuration(argv[i + 1] ?? "") !== undefined
    ) {
      result.push("--watch", "--interval", argv[++i]!);
    } else {
      result.push(a);
    }
  }
  return result;
}

/** The parseArgs spec of the watch flags. */
export const WATCH_FLAGS = {
  watch: { type: "boolean" },
  interval: { type: "string" },
  count: { type: "string" },
} as const;

/** The help rows of the watch flags; `what` says what each frame shows. */
export function watchHelp(what: string, frames: string): HelpRow[] {
  return [
    [
      "--watch [TIME]",
      `every TIME (default ${
        formatDuration(DEFAULT_TIMEOUTS.watchIntervalMs)
      }) until Ctrl-C, ${what}`,
    ],
    ["--count N", `with --watch: stop after N ${frames}`],
  ];
}

/** What the watch flags asked for. */
export interface WatchSettings {
  watch: boolean;
  intervalMs: number;
  count?: number;
}

/** Reads the watch flags: at least 100 ms apart; --count needs --watch. */
export function readWatch(
  command: string,
  read: UnitReader,
  values: { watch?: boolean; interval?: string; count?: string },
): WatchSettings {
  const intervalMs = read.duration("watch", values.interval, {
    minMs: 100,
  }) ?? DEFAULT_TIMEOUTS.watchIntervalMs;
  const count = read.count("count", values.count, { min: 1 });
  if (!values.watch && (values.interval !== undefined || count !== undefined)) {
    throw new UsageError("--count and a watch interval need --watch", command);
  }
  return { watch: Boolean(values.watch), intervalMs, count };
}
