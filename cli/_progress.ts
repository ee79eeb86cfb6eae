// A one-line progress bar on stderr: file name, bytes, %, MB/s, ETA.
// Drawn only when stderr is a terminal, at most ten times a second.

import { stderrIsTerminal } from "./_output.ts";

/** Draws progress; every method is a no-op when disabled. */
export interface ProgressBar {
  /** Reports `bytes` of `size` done for `name` (`size` undefined when unknown). */
  update(name: string, bytes: number, size: number | undefined): void;
  /** Erases the bar so a log line can be printed; the next update redraws it. */
  clear(): void;
}

const REDRAW_MS = 100;
const encoder = new TextEncoder();

/** A progress bar on stderr, enabled only when stderr is a terminal and not `quiet`. */
export function createProgressBar(
  options: { quiet?: boolean } = {},
): ProgressBar {
  const enabled = !options.quiet && stderrIsTerminal();
  let drawn = false;
  let lastDraw = 0;
  let current = "";
  let started = 0;
  let startBytes = 0;
  const write = (text: string) => {
    const bytes = encoder.encode(text);
    let off = 0;
    while (off < bytes.length) {
      off += Deno.stderr.writeSync(bytes.subarray(off));
    }
  };
  return {
    update(name, bytes, size) {
      if (!enabled) return;
      const now = performance.now();
      if (name !== current) {
        current = name;
        started = now;
        startBytes = bytes;
      }
      const finished = size !== undefined && bytes >= size;
      if (!finished && now - lastDraw < REDRAW_MS) return;
      lastDraw = now;
      write(
        `\r${
          renderLine(
            name,
            bytes,
            size,
            (now - started) / 1000,
            bytes - startBytes,
          )
        }\x1b[K`,
      );
      drawn = true;
    },
    clear() {
      if (!enabled || !drawn) return;
      write("\r\x1b[K");
      drawn = false;
    },
  };
}

/** The text of one progress line; exported for tests. */
export function renderLine(
  name: string,
  bytes: number,
  size: number | undefined,
  seconds: number,
  movedBytes: number,
  columns = terminalColumns(),
): string {
  const rate = seconds > 0 ? movedBytes / seconds : 0;
  const speed = `${(rate / 1e6).toFixed(1)} MB/s`;
  const pct = size ? Math.min(100, (bytes / size) * 100) : undefined;
  const eta = size !== undefined && rate > 0
    ? formatSeconds((size - bytes) / rate)
    : "--:--";
  const amount = size === undefined
    ? formatBytes(bytes)
    : `${formatBytes(bytes)}/${formatBytes(size)}`;
  const tail = pct === undefined
    ? ` ${amount} ${speed}`
    : ` ${pct.toFixed(0).padStart(3)}% ${amount} ${speed} ETA ${eta}`;
  const barWidth = pct === undefined ? 0 : 20;
  const nameWidth = Math.max(8, columns - tail.length - barWidth - 4);
  const shown = name.length > nameWidth
    ? "…" + name.slice(-(nameWidth - 1))
    : name;
  if (pct === undefined) return `${shown}${tail}`;
  const filled = Math.round((pct / 100) * barWidth);
  return `${shown} [${"#".repeat(filled)}${
    "-".repeat(barWidth - filled)
  }]${tail}`;
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
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

function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 80;
  }
}
