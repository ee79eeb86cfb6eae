// Output conventions for every command: data to stdout, logs to stderr,
// JSON when asked, one line per failure, and the server run loop.

import { NetkitError } from "../errors.ts";
import { formatAddress } from "../address.ts";
import { escapeJson } from "../escape.ts";
import type { NetkitServer, ServerStats } from "../types.ts";
import { UsageError } from "./_args.ts";
import { serverSignals } from "./_exit.ts";
import { plural } from "../words.ts";

export { plural };

const encoder = new TextEncoder();

/** Writes all of `data` (a writer may take less than asked). */
export async function writeFully(
  w: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  for (let off = 0; off < data.length;) {
    off += await w.write(data.subarray(off));
  }
}

/** Writes a line of data to stdout. */
export function out(line: string): void {
  try {
    writeSync(Deno.stdout, line + "\n");
  } catch (error) {
    throw stdoutError(error);
  }
}

/** Writes bytes of data to stdout (for streams: `echo connect`). */
export async function writeStdout(data: Uint8Array): Promise<void> {
  try {
    await writeFully(Deno.stdout, data);
  } catch (error) {
    throw stdoutError(error);
  }
}

/**
 * Thrown when stdout was closed by its reader (`netkit … | head -1`): the
 * command ends quietly, as Unix tools do on a closed pipe.
 */
export class StdoutClosed extends NetkitError {
  constructor(cause: unknown) {
    super("stdout_closed", "stdout closed", { cause });
    this.name = "StdoutClosed";
  }
}

function stdoutError(error: unknown): unknown {
  return error instanceof Deno.errors.BrokenPipe
    ? new StdoutClosed(error)
    : error;
}

/** Writes a log line to stderr. */
export function log(line: string): void {
  writeSync(Deno.stderr, line + "\n");
}

/**
 * Writes one JSON value as a line to stdout, numbers rounded to what they
 * mean: durations (`…Ms`) to the microsecond, percentages to 0.01, any other
 * fraction to 3 decimals (float noise like 3.5393159999999995 means nothing).
 * Strings keep their value, but C1 controls and bidi overrides (which
 * JSON leaves raw) are written as `\uXXXX`: a peer's string cannot steer
 * the terminal that shows the line.
 */
export function outJson(value: unknown): void {
  out(escapeJson(JSON.stringify(value, roundNumbers)));
}

function roundNumbers(key: string, value: unknown): unknown {
  if (typeof value !== "number" || Number.isInteger(value)) return value;
  if (!Number.isFinite(value)) return value;
  const scale = /Percent$/i.test(key) ? 100 : 1000;
  return Math.round(value * scale) / scale;
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
  const denied = notCapable(error);
  if (denied) return permissionLine(denied);
  if (error instanceof NetkitError) return error.message;
  if (error instanceof Deno.errors.AddrInUse) return "address already in use";
  if (error instanceof Deno.errors.ConnectionRefused) {
    return "connection refused";
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `permission denied: ${error.message}`;
  }
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
  if (error instanceof StdoutClosed) return 0;
  if (error instanceof UsageError) {
    log(`netkit: ${error.message}`);
    log(`Try 'netkit ${error.command ? error.command + " " : ""}--help'.`);
    return 2;
  }
  log(`netkit: ${describeError(error)}`);
  if (debug && error instanceof Error && error.stack) log(error.stack);
  return 1;
}

/** The permission error behind `error` (its own or a cause's), if any. */
function notCapable(error: unknown): Error | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; depth++) {
    if (e instanceof Deno.errors.NotCapable) return e;
    e = e.cause;
  }
  return undefined;
}

/**
 * Deno's "Requires net access to "x", run again with the --allow-net flag"
 * as one line that starts with the missing flag.
 */
function permissionLine(error: Error): string {
  const flag = /--allow-[a-z-]+/.exec(error.message)?.[0];
  const what = /^Requires (.*?), run again/.exec(error.message)?.[1];
  if (!flag) return error.message.split("\n")[0]!;
  return `needs ${flag}${what ? ` (${what})` : ""}`;
}

/**
 * Wraps a bind failure so it names the address ("cannot listen on …") and,
 * when another program has the port, the way out: `inUseHint`, by default
 * the --port flag.
 */
export function bindError(
  error: unknown,
  hostname: string,
  port: number,
  inUseHint = "choose another with --port (--port 0 picks a free one)",
): NetkitError {
  // The library already names the address and the cause.
  const named = error instanceof NetkitError && error.code === "bind_failed"
    ? error
    : new NetkitError(
      "bind_failed",
      `cannot listen on ${formatAddress({ hostname, port })}: ${
        describeError(error)
      }`,
      { cause: error },
    );
  if (!/address already in use/i.test(named.message)) return named;
  const bare = named.message.replace(/ \(another program has port .*\)$/, "");
  return new NetkitError(
    "bind_failed",
    `${bare} (another program has port ${port}: ${inUseHint})`,
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

/** Options of {@linkcode runServers}. */
export interface RunServersOptions {
  /** Lines logged (stderr) after the `listening` lines: how to try them. */
  notes?: string[];
  /** Called at the first SIGINT/SIGTERM, before the servers shut down. */
  onStop?: (signal: Deno.Signal) => void;
  /** Called once the `listening` lines and the notes are out. */
  onReady?: () => void;
}

/**
 * Runs servers until SIGINT/SIGTERM (or until they all finish on their
 * own), shuts them down gracefully and prints one summary line per server;
 * resolves to 0. The rule for signals is cli/_exit.ts's: a second SIGINT
 * stops waiting for the grace period, a second SIGTERM changes nothing.
 *
 * The signal handlers are installed before the `listening` lines go out, so
 * a script that signals as soon as it reads them never kills the process
 * mid-start.
 */
export async function runServers(
  services: RunningService[],
  options: RunServersOptions = {},
): Promise<number> {
  using signals = serverSignals((signal) => {
    options.onStop?.(signal);
    for (const s of services) void s.server.shutdown();
  });
  services.forEach(announce);
  for (const note of options.notes ?? []) log(note);
  options.onReady?.();
  const finished = Promise.all(services.map((s) => s.server.finished));
  const cut = await Promise.race([
    finished.then(() => false),
    signals.cut.then(() => true),
  ]);
  if (cut) {
    const open = services.reduce((n, s) => n + s.server.stats().active, 0);
    log(
      `stopping now: not waiting for the grace period` +
        (open ? ` (${plural(open, "connection")} still open)` : ""),
    );
  }
  // Still under the handlers until the process exits: a signal while the
  // summary prints must not kill the process with 130/143.
  for (const s of services) log(summaryLine(s));
  return 0;
}

/** `echo/tcp: served 3, refused 0, 10 bytes in, 10 bytes out, 0 accept back-offs, …`. */
export function summaryLine(service: RunningService): string {
  const st = service.server.stats();
  const parts = [
    `served ${st.served}`,
    `refused ${st.refused}`,
    `${plural(st.bytesIn, "byte")} in`,
    `${plural(st.bytesOut, "byte")} out`,
  ];
  // Every server on the shared TCP accept loop counts EMFILE back-offs.
  if ("acceptBackoffs" in st) {
    parts.push(plural(Number(st.acceptBackoffs), "accept back-off"));
  }
  // Every TLS server resets the handshakes strangers leave unfinished.
  const tls = st as { handshakeTimeouts?: number; handshakesShed?: number };
  const reset = (tls.handshakeTimeouts ?? 0) + (tls.handshakesShed ?? 0);
  if (reset > 0) parts.push(`${reset} unfinished TLS handshakes reset`);
  if (service.summary) parts.push(service.summary(st));
  return `${service.name}/${service.kind}: ${parts.join(", ")}`;
}

// How this process was started, for `--version` and for the command lines
// netkit prints for the user to run (`try:`, `send with:`).
let installedAs: string | undefined;
let taskCwd: string | undefined;

/**
 * Prepares the process before `main`: strips the `--installed[=PATH]` mark
 * that `deno task install` bakes into the installed script, and follows
 * `deno task` back to the folder the user typed the command in (relative
 * paths must mean what they meant there). Returns the remaining arguments.
 */
export function startProcess(args: string[]): string[] {
  const [first, ...rest] = args;
  if (first === "--installed" || first?.startsWith("--installed=")) {
    installedAs = first.slice("--installed=".length);
    args = rest;
  }
  // INIT_CWD is inherited by every child of a `deno task`: it is ours only
  // when we run in the project folder, where `deno task` starts us.
  const initCwd = Deno.build.standalone || installedAs !== undefined
    ? undefined
    : envIfAllowed("INIT_CWD");
  taskCwd = initCwd !== undefined && cwdIfAllowed() === projectRoot()
    ? initCwd
    : undefined;
  if (taskCwd) {
    try {
      Deno.chdir(taskCwd);
    } catch {
      // Without --allow-read the command still runs, from the project folder.
    }
  }
  return args;
}

/** `compiled binary`, `installed script`, `deno task` or `deno run`. */
export function runMode(): string {
  if (Deno.build.standalone) return "compiled binary";
  if (installedAs !== undefined) return "installed script";
  if (taskCwd !== undefined) return "deno task";
  return "deno run";
}

/**
 * How the user can run netkit again, from any folder: `netkit` when a
 * `netkit` is on the PATH, else the installed script or binary by path,
 * else the `deno task`/`deno run` form this process was started with.
 */
export function selfCommand(): string {
  if (onPath("netkit")) return "netkit";
  if (Deno.build.standalone) return shellQuote(execPath() ?? "netkit");
  if (installedAs !== undefined) {
    return installedAs ? shellQuote(installedAs) : "netkit";
  }
  const main = Deno.mainModule;
  // Called from another program (a test, a script using the CLI modules):
  // the user's command is not known; `netkit` is what the README installs.
  if (!main.endsWith("/cli/main.ts")) return "netkit";
  if (!main.startsWith("file:")) {
    return `deno run --unstable-net --allow-all ${shellQuote(main)}`;
  }
  const script = decodeURIComponent(new URL(main).pathname);
  const root = projectRoot();
  if (taskCwd !== undefined && root !== undefined) {
    return taskCwd === root || taskCwd.startsWith(root + "/")
      ? "deno task netkit"
      : `deno task --config ${shellQuote(root + "/deno.json")} netkit`;
  }
  return `deno run --unstable-net --allow-all ${shellQuote(script)}`;
}

/** Quotes a word for sh when it needs it. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word)
    ? word
    : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The checkout this copy runs from (the folder holding cli/main.ts), if any. */
function projectRoot(): string | undefined {
  const main = Deno.mainModule;
  if (!main.startsWith("file:")) return undefined;
  const script = decodeURIComponent(new URL(main).pathname);
  const root = script.replace(/\/cli\/main\.ts$/, "");
  return root === script ? undefined : root;
}

function cwdIfAllowed(): string | undefined {
  try {
    return Deno.cwd();
  } catch {
    return undefined;
  }
}

function envIfAllowed(name: string): string | undefined {
  const allowed =
    Deno.permissions.querySync({ name: "env", variable: name }).state ===
      "granted";
  return allowed ? Deno.env.get(name) : undefined;
}

function execPath(): string | undefined {
  try {
    return Deno.execPath();
  } catch {
    return undefined;
  }
}

function onPath(program: string): boolean {
  const path = envIfAllowed("PATH");
  if (!path) return false;
  for (const dir of path.split(":")) {
    if (!dir) continue;
    const file = `${dir}/${program}`;
    if (
      Deno.permissions.querySync({ name: "read", path: file }).state !==
        "granted"
    ) {
      continue;
    }
    try {
      const info = Deno.statSync(file);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return true;
    } catch {
      // Not in this folder.
    }
  }
  return false;
}
