/**
 * Pictures from records, with no I/O: the lab, `tcp trace` and `load` hand
 * records to these and print or save what they return.
 *
 * - `sequence_diagram.ts`: two columns (client, server), an arrow per
 *   packet, states beside each side; as terminal text that fits a width,
 *   as SVG, or as a self-contained HTML page.
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
