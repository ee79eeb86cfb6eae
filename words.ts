/**
 * Words for counts, shared by every renderer and the CLI's summaries, so
 * a line says "1 connection", never "1 connections".
 *
 * @module
 */

/**
 * A count with its noun: `1 probe`, `2 probes`, `0 probes`. A count given
 * as already formatted text (`"1,024"`) is read as the number it shows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { plural } from "@netkit/netkit";
 *
 * assert.equal(plural(1, "connection"), "1 connection");
 * assert.equal(plural(3, "entry", "entries"), "3 entries");
 * assert.equal(plural("1,024", "byte"), "1,024 bytes");
 * ```
 */
export function plural(
  count: number | string,
  noun: string,
  nouns: string = noun + "s",
): string {
  const n = typeof count === "number"
    ? count
    : Number(count.replaceAll(",", ""));
  return `${count} ${n === 1 ? noun : nouns}`;
}
