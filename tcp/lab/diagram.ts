/**
 * A lab run as a sequence diagram (`view/`): each step a note with what
 * the lab did and the kernel's states, the packets that caused it as
 * arrows before it, named by their client's role.
 *
 * @module
 */

import type {
  SequenceDiagram,
  SequenceItem,
} from "../../view/sequence_diagram.ts";
import { packetArrow } from "../trace/diagram.ts";
import type { LabReport } from "./types.ts";

/**
 * The diagram of a lab report: notes for its steps, arrows for the packets
 * it captured (none without root).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { labDiagram, type LabReport } from "@netkit/netkit/tcp/lab";
 *
 * const report: LabReport = {
 *   scenario: "close", namespace: "host", outcomes: {}, kernel: {}, facts: {}, skipped: [],
 *   explanation: { why: "", change: "" },
 *   steps: [{ t: 12, event: "connected", states: { client: "ESTABLISHED" }, queues: {} }],
 * };
 * const d = labDiagram(report);
 * assert.equal(d.title, "netkit tcp lab close");
 * assert.deepEqual(d.items, [
 *   { kind: "note", tMs: 12, text: "connected (kernel: client ESTABLISHED)" },
 * ]);
 * ```
 */
export function labDiagram(report: LabReport): SequenceDiagram {
  const start = report.capture?.startMs ?? 0;
  const items: SequenceItem[] = [];
  for (const step of report.steps) {
    for (const p of step.packets ?? []) {
      const arrow = packetArrow(p, start, p.role);
      if (arrow) items.push(arrow);
    }
    if (step.packetsOmitted) {
      items.push({
        kind: "note",
        tMs: step.t,
        text: `(${step.packetsOmitted} more packets: plain data and ACKs)`,
      });
    }
    const states = Object.entries(step.states).map(([k, v]) => `${k} ${v}`);
    items.push({
      kind: "note",
      tMs: step.t,
      text: states.length > 0
        ? `${step.event} (kernel: ${states.join(", ")})`
        : step.event,
    });
  }
  return { title: `netkit tcp lab ${report.scenario}`, items };
}
