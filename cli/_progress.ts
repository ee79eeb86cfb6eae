// A one-line progress display on stderr: name, bar, %, amount, speed, ETA.
// Drawn only when stderr is a terminal, at most ten times a second, and
// never as wide as the terminal (a line that fills the last column wraps
// on some terminals): the name is shortened first, then fields are dropped.
// One unit family throughout: decimal SI (kB, MB, GB and MB/s).

import { stderrIsTerminal } from "./_output.ts";
import { terminalWidth } from "./_text.ts";

/** One progress report. */
export interface ProgressUpdate {
  /** What is moving (already escaped for the terminal). */
  name: string;
  /** Bytes done (in the verifying phase: bytes of the prefix checked). */
  bytes: number;
  /** Total bytes, when known (verifying: the prefix length). */
  size: number | undefined;
  /** Bytes an earlier transfer already delivered (not counted in speed). */
  resumedFrom?: number;
  /** Checking a partial file before resuming it. */
  verifying?: boolean;
}

/** Draws progress; every method is a no-op when disabled. */
export interface ProgressBar {
  /** Reports progress of one file. */
  update(update: ProgressUpdate): void;
  /** Erases the line so a log line can be printed; the next update redraws it. */
  clear(): void;
}

const REDRAW_MS = 100;
// Speed is shown once this much time has passed: the first chunks of a
// transfer (or a resumed one) would give a meaningless rate.
const SPEED_AFTER_S = 1;
const encoder = new TextEncoder();

/** A progress line on stderr, enabled only when stderr is a terminal and not `quiet`. */
export function createProgressBar(
  options: { quiet?: boolean } = {},
): ProgressBar {
  const enabled = !options.quiet && stderrIsTerminal();
  let drawn = false;
  let lastDraw = 0;
  let current = "";
  let started = 0;
  const write = (text: string) => {
    const bytes = encoder.encode(text);
    let off = 0;
    while (off < bytes.length) {
      off += Deno.stderr.writeSync(bytes.subarray(off));
    }
  };
  return {
    update(u) {
      if (!enabled) return;
      const now = performance.now();
      const key = `${u.verifying ? "v" : "s"}:${u.name}`;
      if (key !== current) {
        current = key;
        started = now;
      }
      const finished = u.size !== undefined && u.bytes >= u.size;
      if (!finished && now - lastDraw < REDRAW_MS) return;
      lastDraw = now;
      write(`\r${renderLine(u, (now - started) / 1000)}\x1b[K`);
      drawn = true;
    },
    clear() {
      if (!enabled || !drawn) return;
      write("\r\x1b[K");
      drawn = false;
    },
  };
}

/**
 * The text of one progress line, at most `columns - 1` characters wide;
 * exported for tests.
 */
export function renderLine(
  u: ProgressUpdate,
  seconds: number,
  columns: number = terminalWidth("stderr"),
): string {
  const width = Math.max(1, columns - 1);
  const moved = u.bytes - (u.verifying ? 0 : u.resumedFrom ?? 0);
  const rate = seconds >= SPEED_AFTER_S ? moved / seconds : undefined;
  const pct = u.size ? Math.min(100, (u.bytes / u.size) * 100) : undefined;
  const left = u.size === undefined ? 0 : u.size - u.bytes;
  const fields = {
    bar: pct === undefined ? "" : bar(pct, 20),
    pct: pct === undefined ? "" : `${pct.toFixed(0).padStart(3)}%`,
    amount: u.size === undefined
      ? formatBytes(u.bytes)
      : `${formatBytes(u.bytes)}/${formatBytes(u.size)}`,
    speed: rate === undefined ? "" : `${formatRate(rate)}`,
    eta: u.size !== undefined && rate && rate > 0
      ? `ETA ${formatSeconds(left / rate)}`
      : "",
  };
  const head = u.verifying
    ? `verifying ${formatBytes(u.size ?? u.bytes)} already received:`
    : "";
  // Dropped in this order while the line is too wide.
  const order = ["bar", "eta", "speed", "amount", "pct"] as const;
  const shown = new Set<string>(order);
  for (let drop = 0;; drop++) {
    const tail = [
      fields.bar && shown.has("bar") ? fields.bar : "",
      shown.has("pct") ? fields.pct : "",
      shown.has("amount") ? fields.amount : "",
      shown.has("speed") ? fields.speed : "",
      shown.has("eta") ? fields.eta : "",
    ].filter(Boolean).join(" ");
    const prefix = head ? `${head} ` : "";
    const room = width - length(prefix) - (tail ? length(tail) + 1 : 0);
    // The name keeps at least 12 columns before a field goes.
    if (room >= Math.min(12, length(u.name)) || drop >= order.length) {
      const name = shorten(u.name, Math.max(0, room));
      return clip([prefix + name, tail].filter(Boolean).join(" "), width);
    }
    shown.delete(order[drop]!);
  }
}

function bar(pct: number, cells: number): string {
  const filled = Math.round((pct / 100) * cells);
  return `[${"#".repeat(filled)}${"-".repeat(cells - filled)}]`;
}

// Counted in code points: names are escaped, so no control characters.
function length(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function clip(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : chars.slice(0, width).join("");
}

// Keeps the end of a long name (the file name itself), marked with "…".
function shorten(name: string, width: number): string {
  const chars = [...name];
  if (chars.length <= width) return name;
  if (width <= 1) return chars.slice(0, width).join("");
  return "…" + chars.slice(chars.length - (width - 1)).join("");
}

/** 1500 → "1.5 kB": decimal SI units, the family MB/s belongs to. */
export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function formatRate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "--:--";
  const total = Math.ceil(s);
  const m = Math.floor(total / 60);
  const sec = total % 60;
  return m >= 60
    ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`
    : `${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}`;
}
