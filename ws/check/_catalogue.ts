// The catalogue of `netkit ws check`: every case in run order, and the
// `--case` glob that selects some of them.

import type { CheckCase } from "./_session.ts";
import { HANDSHAKE_CASES } from "./_handshake_cases.ts";
import { FRAMING_CASES } from "./_framing_cases.ts";
import { UTF8_CASES } from "./_utf8_cases.ts";
import { CLOSE_CASES } from "./_close_cases.ts";
import { MISC_CASES } from "./_masking_limit_cases.ts";
import { COMPRESSION_CASES } from "./_compression_cases.ts";

export type { CheckCase } from "./_session.ts";

/** Every case, in the order they run. */
export const CASES: readonly CheckCase[] = [
  ...HANDSHAKE_CASES,
  ...FRAMING_CASES,
  ...UTF8_CASES,
  ...CLOSE_CASES,
  ...MISC_CASES,
  ...COMPRESSION_CASES,
];

/** Category titles, by the first number of a case id (Autobahn's where they exist). */
export const CATEGORIES: Readonly<Record<string, string>> = {
  "0": "Handshake",
  "1": "Framing",
  "2": "Pings/Pongs",
  "3": "Reserved bits",
  "4": "Opcodes",
  "5": "Fragmentation",
  "6": "UTF-8",
  "7": "Close",
  "8": "Masking",
  "9": "Limits/Performance",
  "12": "Compression (permessage-deflate, optional)",
};

/**
 * Compiles one `--case` pattern: `*` matches anything, `?` one character,
 * and a pattern without wildcards matches that id and every id under it
 * (`7.9` is `7.9` and `7.9.*`).
 */
function compile(pattern: string): RegExp {
  const body = pattern.split("").map((c) =>
    c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&")
  ).join("");
  const tail = /[*?]/.test(pattern) ? "" : "(\\..*)?";
  return new RegExp(`^${body}${tail}$`);
}

/**
 * The cases matching `patterns` (comma-separated globs), in catalogue
 * order; all of them when `patterns` is empty or absent.
 *
 * @throws {RangeError} When a pattern matches no case.
 */
export function selectCases(patterns?: string): CheckCase[] {
  const list = (patterns ?? "").split(",").map((p) => p.trim()).filter((p) =>
    p !== ""
  );
  if (list.length === 0) return [...CASES];
  const regexps = list.map((pattern) => {
    const regexp = compile(pattern);
    if (!CASES.some((c) => regexp.test(c.id))) {
      throw new RangeError(
        `no case matches '${pattern}' (case ids look like 1.1.2, 6.4.*)`,
      );
    }
    return regexp;
  });
  return CASES.filter((c) => regexps.some((r) => r.test(c.id)));
}
