// The units every command's flags share: durations (a bare number is
// seconds, as in ping, wscat, iperf3 and curl), sizes (a bare number is
// bytes) and whole-number counts. The library takes milliseconds and
// bytes; the CLI converts here, once.

import { UsageError } from "./_args.ts";

/** Milliseconds per duration unit; a bare number is seconds. */
const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Bytes per size unit: k, M, G, T in powers of 1024 (iperf3's and curl's K). */
const SIZE_UNITS: Record<string, number> = {
  "": 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/**
 * The longest duration a flag takes: a timer set beyond 2^31-1 ms fires at
 * once, so anything longer would mean "now".
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** How duration flags are described in errors and help. */
export const DURATION_EXAMPLE = "5 (seconds), 1.5s or 500ms";

/** How size flags are described in errors and help. */
export const SIZE_EXAMPLE = "65536 (bytes), 64k or 1MiB";

/**
 * A duration in milliseconds: `500ms`, `2s`, `1.5s`, `1m`, `1h`, or a bare
 * number of seconds (`5`, `0.2`); `undefined` when `text` is not one.
 * Fractions of a millisecond are rounded to the nearest.
 *
 * @example
 * ```ts ignore
 * parseDuration("1.5"); // 1500
 * parseDuration("250ms"); // 250
 * parseDuration("abc"); // undefined
 * ```
 */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h)?$/.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]) * DURATION_UNITS[match[2] ?? "s"]!;
  return Number.isFinite(value) ? Math.round(value) : undefined;
}

/**
 * A size in bytes: `65536`, `64k`, `64K`, `64KiB`, `1.5M`, `10MB`, `2G`
 * (k/M/G/T are powers of 1024); `undefined` when `text` is not one or is not
 * a whole number of bytes.
 *
 * @example
 * ```ts ignore
 * parseSize("64k"); // 65536
 * parseSize("1MiB"); // 1048576
 * parseSize("1.5"); // undefined
 * ```
 */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)([kmgt]?)(?:i?b)?$/i.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]!;
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * `1500` → `1.5s`, `250` → `250ms`, `60000` → `1m`: how help and messages
 * write a duration, in a form the duration flags accept back.
 */
export function formatDuration(ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 || ms === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** Bounds of a duration flag, in milliseconds (inclusive). */
export interface DurationBounds {
  /** Smallest value accepted. Default 0. */
  minMs?: number;
  /** Largest value accepted. Default {@linkcode MAX_DURATION_MS}. */
  maxMs?: number;
}

/** Bounds of a size or count flag (inclusive). */
export interface Bounds {
  /** Smallest value accepted. Default 0. */
  min?: number;
  /** Largest value accepted. Default `Number.MAX_SAFE_INTEGER`. */
  max?: number;
}

/**
 * Reads one command's flag values into numbers; every mistake is a
 * {@linkcode UsageError} that names the flag, the unit and an example.
 * Each method returns `undefined` for an absent flag (`text` undefined).
 */
export interface UnitReader {
  /** A duration flag, in milliseconds. */
  duration(
    flag: string,
    text: string | undefined,
    bounds?: DurationBounds,
  ): number | undefined;
  /** A size flag, in bytes. */
  size(
    flag: string,
    text: string | undefined,
    bounds?: Bounds,
  ): number | undefined;
  /** A whole-number flag (counts, ports, pids). */
  count(
    flag: string,
    text: string | undefined,
    bounds?: Bounds,
  ): number | undefined;
  /** A rate: a number per second above 0, fractions allowed. */
  rate(flag: string, text: string | undefined): number | undefined;
}

/**
 * The unit readers for `command` (the words after `netkit`, e.g.
 * `echo ping`), which its usage errors point to.
 *
 * @example
 * ```ts ignore
 * const read = unitReader("echo ping");
 * read.duration("interval", "0.2"); // 200
 * read.count("count", "3", { min: 1 }); // 3
 * read.duration("timeout", "abc");
 * // UsageError: --timeout takes a duration like 5 (seconds), 1.5s or 500ms, not 'abc'
 * ```
 */
export function unitReader(command: string): UnitReader {
  const fail = (message: string) => new UsageError(message, command);
  return {
    duration(flag, text, bounds = {}) {
      if (text === undefined) return undefined;
      const ms = parseDuration(text);
      if (ms === undefined) {
        throw fail(
          `--${flag} takes a duration like ${DURATION_EXAMPLE}, not '${text}'`,
        );
      }
      const min = bounds.minMs ?? 0;
      const max = Math.min(bounds.maxMs ?? MAX_DURATION_MS, MAX_DURATION_MS);
      if (ms < min) {
        throw fail(
          `--${flag} takes a duration of at least ${formatDuration(min)}` +
            (min > 0 && ms === 0 && Number(text) !== 0
              ? ` (it is rounded to whole milliseconds)`
              : "") +
            `, not '${text}'`,
        );
      }
      if (ms > max) {
        throw fail(
          `--${flag} takes a duration of at most ${
            formatDuration(max)
          }, not '${text}'`,
        );
      }
      return ms;
    },
    size(flag, text, bounds = {}) {
      if (text === undefined) return undefined;
      const bytes = parseSize(text);
      if (bytes === undefined) {
        throw fail(
          `--${flag} takes a size like ${SIZE_EXAMPLE}, not '${text}'`,
        );
      }
      const min = bounds.min ?? 0;
      const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
      if (bytes < min || bytes > max) {
        throw fail(
          `--${flag} takes a size ${
            range(min, max, formatSize)
          }, not '${text}'`,
        );
      }
      return bytes;
    },
    count(flag, text, bounds = {}) {
      if (text === undefined) return undefined;
      const min = bounds.min ?? 0;
      const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
      const value = Number(text);
      if (!/^\d+$/.test(text) || value < min || value > max) {
        throw fail(
          `--${flag} takes a whole number ${
            range(min, max, String)
          }, not '${text}'`,
        );
      }
      return value;
    },
    rate(flag, text) {
      if (text === undefined) return undefined;
      const value = Number(text);
      if (!/^(\d+(\.\d+)?|\.\d+)$/.test(text) || !(value > 0)) {
        throw fail(
          `--${flag} takes a number per second above 0, like 100 or 0.5, not '${text}'`,
        );
      }
      return value;
    },
  };
}

function range(
  min: number,
  max: number,
  format: (n: number) => string,
): string {
  return max === Number.MAX_SAFE_INTEGER
    ? `of at least ${format(min)}`
    : `from ${format(min)} to ${format(max)}`;
}

/** `65536` → `64k`: a size the size flags accept back. */
export function formatSize(bytes: number): string {
  for (
    const [unit, scale] of [["G", 1024 ** 3], ["M", 1024 ** 2], [
      "k",
      1024,
    ]] as const
  ) {
    if (bytes >= scale && bytes % scale === 0) return `${bytes / scale}${unit}`;
  }
  return String(bytes);
}
