// What `netkit load` prints, through view/'s renderers (which the HTML
// report shares, so both show the same numbers): the live line and the
// summary; here only what is the terminal's alone.

import type { LoadProgress, LoadResult } from "../load/mod.ts";
import { renderLoadSummary, renderProgressLine } from "../view/mod.ts";

/** The live line: time, rate, MB/s, p50/p99, errors, open connections. */
export function renderProgress(p: LoadProgress): string {
  return renderProgressLine(p);
}

/** Cuts `text` to `width` columns (the live line must never wrap). */
export function fitWidth(text: string, width: number): string {
  return text.length <= width ? text : text.slice(0, Math.max(0, width));
}

/**
 * The human summary of a run (or a merge), fitted to `width` columns:
 * the kernel counters that explain something, or all with `allCounters`.
 */
export function renderSummary(
  result: LoadResult,
  width: number,
  allCounters = false,
): string {
  return renderLoadSummary(result, { width, allCounters });
}
