// Output conventions for every command: data to stdout, logs to stderr,
// JSON when asked, one line per failure, and the server run loop.

import { NetkitError } from "../errors.ts";
import { formatAddress } from "../address.ts";
import type { NetkitServer, ServerStats } from "../types.ts";
import { UsageError } from "./_args.ts";

const encoder = new TextEncoder();

/** Writes a line of data to stdout. */
/** Writes all of `data` (a writer may take less than asked). */
export async function writeFully(
  w: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  for (let off = 0; off < data.length;) {
    off += await w.write(data.subarray(off));
  }
}

export function out(line: string): void {
  writeSync(Deno.stdout, line + "\n");
}

/** Writes a log line to stderr. */
export function log(line: string): void {
  writeSync(Deno.stderr, line + "\n");
}

/** Writes one JSON value as a line to stdout. */
export function outJson(value: unknown): void {
  out(JSON.stringify(value));
}

function writeSync(file: { writeSync(p: Uint8Array): number }, text: string) {
  const bytes = encoder.encode(text);
  let off = 0;
  while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
}

/** True when stderr is a terminal: progress bars and redraws only then. */
export function stderrIsTerminal(): boolean {
  return Deno.stderr.isTerminal();
}

/** Turns any error into the one line a user sees. */
export function describeError(error: unknown): string {
  if (error instanceof NetkitError) return error.message;
  if (error instanceof Deno.errors.AddrInUse) return "address already in use";
  if (error instanceof Deno.errors.ConnectionRefused) {
    return "connection refused";
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `permission denied: ${error.message}`;
  }
  if (error instanceof Deno.errors.NotCapable) return error.message;
  if (error instanceof Error) {
    return error.message.replace(/ \(os error \d+\)$/, "");
  }
  return String(error);
}

/**
 * Prints an error the CLI way and returns the exit code: 2 for usage
 * errors (with a pointer to `--help`), 1 for everything else.
 */
export function reportError(error: unknown, debug: boolean): number {
  if (error instanceof UsageError) {
    log(`netkit: ${error.message}`);
    log(`Try 'netkit ${error.command ? error.command + " " : ""}--help'.`);
    return 2;
  }
  log(`netkit: ${describeError(error)}`);
  if (debug && error instanceof Error && error.stack) log(error.stack);
  return 1;
}

/** Wraps a bind failure so it names the address: "cannot listen on …". */
export function bindError(
  error: unknown,
  hostname: string,
  port: number,
): NetkitError {
  // The library already names the address and the cause.
  if (error instanceof NetkitError && error.code === "bind_failed") {
    return error;
  }
  return new NetkitError(
    "bind_failed",
    `cannot listen on ${formatAddress({ hostname, port })}: ${
      describeError(error)
    }`,
    { cause: error },
  );
}

/** One server the CLI runs, with how its `listening` line names it. */
export interface RunningService {
  /** Transport word for the `listening` line. */
  kind: "tcp" | "udp" | "ws" | "http";
  /** Name used in logs and the summary, e.g. `echo`. */
  name: string;
  /** The server. */
  server: NetkitServer<ServerStats>;
  /** Extra words for the summary, from the server's stats. */
  summary?: (stats: ServerStats) => string;
}

/** Prints the `listening <kind> <host>:<port>` line scripts wait for. */
function announce(service: RunningService): void {
  out(`listening ${service.kind} ${formatAddress(service.server.addr)}`);
}

/**
 * Runs servers until SIGINT/SIGTERM (or until they all finish on their
 * own), shuts them down gracefully and prints one summary line per server.
 *
 * The signal handlers are installed before the `listening` lines go out, so
 * a script that signals as soon as it reads them never kills the process
 * mid-start. `notes` are logged (stderr) after the `listening` lines.
 */
export async function runServers(
  services: RunningService[],
  notes: string[] = [],
): Promise<number> {
  const stop = () => {
    for (const s of services) void s.server.shutdown();
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  for (const sig of signals) Deno.addSignalListener(sig, stop);
  try {
    services.forEach(announce);
    for (const note of notes) log(note);
    await Promise.all(services.map((s) => s.server.finished));
  } finally {
    for (const sig of signals) Deno.removeSignalListener(sig, stop);
  }
  for (const s of services) log(summaryLine(s));
  return 0;
}

/** `echo/tcp: served 3, refused 0, 10 bytes in, 10 bytes out, 0 accept back-offs, …`. */
export function summaryLine(service: RunningService): string {
  const st = service.server.stats();
  const parts = [
    `served ${st.served}`,
    `refused ${st.refused}`,
    `${st.bytesIn} bytes in`,
    `${st.bytesOut} bytes out`,
  ];
  // Every server on the shared TCP accept loop counts EMFILE back-offs.
  if ("acceptBackoffs" in st) {
    parts.push(`${st.acceptBackoffs} accept back-offs`);
  }
  if (service.summary) parts.push(service.summary(st));
  return `${service.name}/${service.kind}: ${parts.join(", ")}`;
}
