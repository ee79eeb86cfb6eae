// The rows every benchmark section returns, and how they are printed.

/**
 * One comparison: netkit against one peer on one measurement. Sections may
 * return plain `{ name, netkit, peer, peerName, unit }` rows (bench/file_bench.ts
 * does); `target` and `higherIsBetter` are optional.
 */
export interface BenchRow {
  name: string;
  /** netkit's figure (the median over rounds). */
  netkit: number;
  /** The peer's figure, measured in the same run with the same client. */
  peer: number;
  peerName: string;
  /** "MB/s", "round trips/s", "µs", … */
  unit: string;
  /**
   * The lowest acceptable netkit/peer ratio (the highest, for rows where a
   * smaller figure is better); rows without one are context.
   */
  target?: number;
  /** False for latencies: then a smaller figure is better. Default true. */
  higherIsBetter?: boolean;
  /** Shown after the table, e.g. how a figure was obtained. */
  note?: string;
}

/** "PASS", "MISS", or "info" for rows without a target. */
export function verdict(row: BenchRow): string {
  if (row.target === undefined) return "info";
  const r = ratio(row);
  if (!Number.isFinite(r)) return "MISS";
  const ok = row.higherIsBetter === false ? r <= row.target : r >= row.target;
  return ok ? "PASS" : "MISS";
}

/** netkit / peer, the way the targets are stated. */
export function ratio(row: BenchRow): number {
  return row.netkit / row.peer;
}

/** A figure with thousands separators and sensible precision. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return "–";
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** Two decimals, or three when two would hide which side of the target it is. */
function formatRatio(row: BenchRow): string {
  const r = ratio(row);
  const two = r.toFixed(2);
  if (
    row.target !== undefined && two === row.target.toFixed(2) &&
    verdict(row) === "MISS"
  ) {
    return r.toFixed(3);
  }
  return two;
}

function cells(row: BenchRow): string[] {
  const r = ratio(row);
  const better = row.higherIsBetter === false ? " (lower is better)" : "";
  return [
    row.name,
    `${formatNumber(row.netkit)} ${row.unit}`,
    `${formatNumber(row.peer)} ${row.unit}`,
    row.peerName,
    Number.isFinite(r) ? `${formatRatio(row)}×${better}` : "–",
    row.target === undefined
      ? "–"
      : `${row.higherIsBetter === false ? "≤" : "≥"} ${row.target.toFixed(2)}×`,
    verdict(row),
  ];
}

const HEADER = [
  "benchmark",
  "netkit",
  "peer",
  "peer name",
  "netkit/peer",
  "target",
  "result",
];

/** The rows as a Markdown table. */
export function markdownTable(rows: BenchRow[]): string {
  const lines = [
    `| ${HEADER.join(" | ")} |`,
    "|---|---:|---:|---|---:|---:|---|",
    ...rows.map((row) => `| ${cells(row).join(" | ")} |`),
  ];
  return lines.join("\n");
}

/** The rows as aligned plain text for the terminal. */
export function textTable(rows: BenchRow[]): string {
  const table = [HEADER, ...rows.map(cells)];
  const widths = HEADER.map((_, i) =>
    Math.max(...table.map((r) => r[i]!.length))
  );
  const right = new Set([1, 2, 4, 5]);
  return table.map((r) =>
    r.map((c, i) =>
      right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)
    )
      .join("  ").trimEnd()
  ).join("\n");
}

/**
 * A small table of a sweep (a figure by size, by connections, …), printed
 * after the rows and written to the results as it is.
 */
export interface SweepTable {
  title: string;
  header: string[];
  rows: string[][];
  /** Lines under the table: what was measured, targets, causes. */
  notes?: string[];
}

/** A sweep table as Markdown. */
export function sweepMarkdown(table: SweepTable): string {
  return [
    `### ${table.title}`,
    "",
    `| ${table.header.join(" | ")} |`,
    `|${table.header.map((_, i) => i === 0 ? "---" : "---:").join("|")}|`,
    ...table.rows.map((r) => `| ${r.join(" | ")} |`),
    ...(table.notes?.length ? ["", ...table.notes] : []),
  ].join("\n");
}

/** A sweep table as aligned plain text for the terminal. */
export function sweepText(table: SweepTable): string {
  const all = [table.header, ...table.rows];
  const widths = table.header.map((_, i) =>
    Math.max(...all.map((r) => (r[i] ?? "").length))
  );
  const lines = all.map((r) =>
    r.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))
      .join("  ").trimEnd()
  );
  return [table.title, ...lines, ...(table.notes ?? [])].join("\n");
}
