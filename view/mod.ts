/**
 * Pictures as pure functions: records in, text, SVG or HTML out, no I/O.
 * The load generator's percentile and timeline plots, its text summary
 * and its self-contained HTML report.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LatencyHistogram } from "@netkit/netkit/load";
 * import { renderLatencyPlot } from "@netkit/netkit/view";
 *
 * const h = new LatencyHistogram();
 * h.record(2);
 * assert.match(renderLatencyPlot([{ label: "a", histogram: h.toJSON() }]), /<svg /);
 * ```
 *
 * @module
 */

export * from "./latency_plot.ts";
export * from "./load_summary.ts";
export * from "./load_report.ts";
