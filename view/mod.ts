/**
 * Pictures from records, with no I/O: the lab, `tcp trace` and `load` hand
 * records to these and print or save what they return.
 *
 * - `sequence_diagram.ts`: two columns (client, server), an arrow per
 *   packet, states beside each side; as terminal text that fits a width,
 *   as SVG, or as a self-contained HTML page.
 * - `latency_plot.ts`: the load percentile plot (x: log scale of 1/(1−p),
 *   runs overlaid) and the rate and errors per interval, as SVG.
 * - `load_summary.ts`: the load summary and `--interval` lines, as text.
 * - `load_report.ts`: a load report as one self-contained HTML page.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sequenceText } from "@netkit/netkit/view";
 *
 * const lines = sequenceText({
 *   items: [{ kind: "arrow", tMs: 0, from: "client", label: "SYN" }],
 * }, { width: 50 });
 * assert.ok(lines.every((line) => line.length <= 50));
 * ```
 *
 * @module
 */

export * from "./sequence_diagram.ts";
export * from "./latency_plot.ts";
export * from "./load_summary.ts";
export * from "./load_report.ts";
