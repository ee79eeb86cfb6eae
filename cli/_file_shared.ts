// What `file recv` and `file send` share: the library loader, the warning
// of the classic flow, and the numbers their reports print.

/** The file-transfer library, loaded on first use (`--help` starts fast). */
export function library(): Promise<typeof import("../tcp/file/mod.ts")> {
  return import("../tcp/file/mod.ts");
}

/** Said by both sides whenever `--basic` is used. */
export const BASIC_WARNING =
  "warning: --basic mode has no authentication (anyone who can connect can " +
  "write files), no encryption (anyone on the path can read them) and cannot " +
  "detect truncation (a cut connection looks like a complete file)";

/** MB/s to one decimal; 0 for a run too short to time. */
export function mbps(bytes: number, seconds: number): number {
  return seconds > 0 ? Math.round((bytes / 1e6 / seconds) * 10) / 10 : 0;
}

/** Rounded to the millisecond, for JSON seconds. */
export function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
