// How a command ends: its exit code, and what SIGINT (Ctrl-C) and SIGTERM
// do. One rule for every command:
//
// - 0 ok, 1 failure (and "nothing succeeded" is a failure), 2 usage,
//   130 interrupted by SIGINT (143 by SIGTERM: 128 + the signal's number).
// - Clients and long runs (`echo ping`, `load`, `file send`, `tcp … --watch`,
//   `ws connect`): the first signal stops the run, which reports what it
//   did so far and exits 130 (or 143); a second one exits at once.
// - Servers: the first SIGINT or SIGTERM shuts them down gracefully
//   (`--grace`) and they exit 0. A second SIGINT (Ctrl-C again) stops
//   waiting for the grace period: the summary is printed and the process
//   exits 0, closing what is still open; a third exits at once with 130.
//   Further SIGTERMs change nothing: a service manager or script that
//   repeats it must not turn a clean stop into a kill (it has SIGKILL).
//
// The process-wide listeners are installed on first use and never removed:
// with no listener left, Deno restores the default action, and a signal in
// that gap (a second SIGTERM while a server exits) killed the process with
// 143. With no command listening, a signal exits as the default action
// would (130 or 143), so nothing else changes.

/** The exit codes every command uses. */
export const EXIT = {
  /** Everything asked for was done. */
  ok: 0,
  /** Something failed (or nothing succeeded: 0 replies is a failure). */
  failure: 1,
  /** The command was called wrongly (unknown option, bad value). */
  usage: 2,
  /** Stopped by SIGINT (Ctrl-C). */
  interrupted: 130,
} as const;

/** The signals a command reacts to (Windows has no SIGTERM listener). */
const SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT"]
  : ["SIGINT", "SIGTERM"];

/** 128 + the signal's number, as a shell reports a process it ended. */
export function signalExitCode(signal: Deno.Signal): number {
  return signal === "SIGTERM" ? 143 : EXIT.interrupted;
}

/** Called with each signal and how many have arrived since it was installed. */
export type SignalHandler = (signal: Deno.Signal, count: number) => void;

const handlers: { handler: SignalHandler; count: number }[] = [];
let installed = false;

function dispatch(signal: Deno.Signal): void {
  const top = handlers.at(-1);
  if (!top) Deno.exit(signalExitCode(signal));
  top.handler(signal, ++top.count);
}

/**
 * Routes SIGINT and SIGTERM to `handler` until the returned object is
 * disposed; the newest handler gets them. Installed before a server says
 * `listening`, so a signal sent as soon as that line is read is handled.
 *
 * @example
 * ```ts ignore
 * using _ = handleSignals((signal, count) => {
 *   if (count === 1) void server.shutdown();
 * });
 * ```
 */
export function handleSignals(handler: SignalHandler): Disposable {
  if (!installed) {
    installed = true;
    for (const signal of SIGNALS) {
      Deno.addSignalListener(signal, () => dispatch(signal));
    }
  }
  const entry = { handler, count: 0 };
  handlers.push(entry);
  return {
    [Symbol.dispose]() {
      const at = handlers.indexOf(entry);
      if (at >= 0) handlers.splice(at, 1);
    },
  };
}

/** Options of {@linkcode runInterruptible}. */
export interface InterruptOptions {
  /** Called on the first signal, before the run is stopped (e.g. "run it again to resume"). */
  onInterrupt?: (signal: Deno.Signal) => void;
  /**
   * The run cannot stop early (its library call takes no signal): the
   * first signal exits at once, after `onInterrupt`.
   */
  exitAtOnce?: boolean;
}

/**
 * Runs a client or a long run: the first SIGINT/SIGTERM aborts `signal`,
 * the run reports what it did so far and returns, and the result is 130
 * (143 for SIGTERM) whatever the run returned; a second signal exits at
 * once. Without a signal, the run's own code.
 *
 * @example
 * ```ts ignore
 * return await runInterruptible(async (signal) => {
 *   const result = await pingTcp(addr, { signal });
 *   printSummary(result);
 *   return result.received > 0 ? EXIT.ok : EXIT.failure;
 * });
 * ```
 */
export async function runInterruptible(
  run: (signal: AbortSignal) => Promise<number>,
  options: InterruptOptions = {},
): Promise<number> {
  const controller = new AbortController();
  let caught: Deno.Signal | undefined;
  using _ = handleSignals((signal, count) => {
    if (count > 1 || options.exitAtOnce) {
      if (count === 1) options.onInterrupt?.(signal);
      Deno.exit(signalExitCode(caught ?? signal));
    }
    caught = signal;
    options.onInterrupt?.(signal);
    controller.abort();
  });
  try {
    const code = await run(controller.signal);
    return caught ? signalExitCode(caught) : code;
  } catch (error) {
    // An operation cut short by the abort: the interruption is the news.
    if (caught) return signalExitCode(caught);
    throw error;
  }
}

/** What {@linkcode serverSignals} reports. */
export interface ServerStop {
  /** Settles at the first SIGINT/SIGTERM (after `onStop` ran). */
  readonly stopping: Promise<Deno.Signal>;
  /** Settles at a second SIGINT: stop waiting for the grace period. */
  readonly cut: Promise<void>;
}

/**
 * The servers' rule (see the top of this file): `onStop` runs at the first
 * SIGINT/SIGTERM (shut down gracefully); the next SIGINT settles `cut`, the
 * one after exits at once; later SIGTERMs are ignored.
 */
export function serverSignals(
  onStop: (signal: Deno.Signal) => void,
): ServerStop & Disposable {
  const stopping = Promise.withResolvers<Deno.Signal>();
  const cut = Promise.withResolvers<void>();
  let interrupts = 0;
  const registration = handleSignals((signal, count) => {
    if (count === 1) {
      onStop(signal);
      stopping.resolve(signal);
      return;
    }
    if (signal !== "SIGINT") return;
    if (++interrupts === 1) cut.resolve();
    else Deno.exit(signalExitCode(signal));
  });
  return {
    stopping: stopping.promise,
    cut: cut.promise,
    [Symbol.dispose]: () => registration[Symbol.dispose](),
  };
}
