// A program per connection, talking on its stdin/stdout, as a relay
// stream. Each program runs in its own process group (a new session), and
// every signal goes to the whole group, so what a --shell command starts
// in the background ends with it. The program is ended (SIGTERM, then
// SIGKILL) and reaped on every path: when its client resets, when the
// relay closes the connection, and when it is still running `finishMs`
// after its client's FIN (its stdin then at EOF; output keeps flowing
// until then, so `wc -c`-like programs still answer).

import { delay } from "../_io.ts";
import type { RelayStream } from "./_stream.ts";

/** Milliseconds a program gets after SIGTERM before SIGKILL. */
const KILL_AFTER_MS = 2000;

/** Options of {@linkcode execStream}. */
export interface ExecOptions {
  /** Milliseconds a program may run on after its client's FIN. */
  finishMs: number;
}

/** Starts `argv` with piped stdin/stdout (stderr shared with the relay). */
export function execStream(argv: string[], options: ExecOptions): RelayStream {
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
    // setsid(): the program leads a new process group, its children join it.
    detached: true,
  }).spawn();
  const reader = child.stdout.getReader();
  const writer = child.stdin.getWriter();
  let leftover: Uint8Array | undefined;
  let stdoutDone = false;
  let status: Deno.CommandStatus | undefined;
  let killedWhy: string | undefined;
  let closing: Promise<void> | undefined;
  let finishTimer: ReturnType<typeof setTimeout> | undefined;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const exited = child.status.then((s) => {
    status = s;
    clearTimeout(killTimer);
  });

  // True if the group still existed. After the leader exits its group
  // lives on while any member does (a --shell background job), and its
  // number cannot be reused until then.
  function signalGroup(signal: Deno.Signal): boolean {
    try {
      Deno.kill(-child.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  // SIGTERM to the group, SIGKILL if the program is still there 2 s later.
  function end(why: string) {
    if (status || killTimer !== undefined) return;
    if (!signalGroup("SIGTERM")) return;
    killedWhy = why;
    killTimer = setTimeout(() => signalGroup("SIGKILL"), KILL_AFTER_MS);
  }

  async function close(): Promise<void> {
    clearTimeout(finishTimer);
    if (stdoutDone && !status) {
      // Its output is over, so it is exiting: let it, rather than racing
      // a SIGTERM against its own exit status.
      const waited = new AbortController();
      await Promise.race([exited, delay(KILL_AFTER_MS, waited.signal)]);
      waited.abort();
    }
    end("");
    await Promise.all([
      reader.cancel().catch(() => {}),
      writer.abort().catch(() => {}),
      exited,
    ]);
    // The program is reaped; a job it started in the background may live
    // on in its group: the same SIGTERM, then SIGKILL.
    if (signalGroup("SIGTERM")) {
      await delay(KILL_AFTER_MS);
      signalGroup("SIGKILL");
    }
  }

  return {
    peer: `exec:${argv.join(" ")}[${child.pid}]`,
    async read(p) {
      if (!leftover) {
        const { done, value } = await reader.read();
        if (done) {
          stdoutDone = true;
          return null;
        }
        leftover = value;
      }
      const n = Math.min(p.length, leftover.length);
      p.set(leftover.subarray(0, n));
      leftover = n < leftover.length ? leftover.subarray(n) : undefined;
      return n;
    },
    async write(p) {
      await writer.write(p);
      return p.length;
    },
    async closeWrite() {
      finishTimer ??= setTimeout(
        () =>
          end(
            `still running ${options.finishMs / 1000} s after the client's FIN`,
          ),
        options.finishMs,
      );
      await writer.close();
    },
    reset() {
      // A pipe has no reset; the program is ended instead.
      end("the client reset the connection");
      return Promise.resolve(false);
    },
    close() {
      closing ??= close();
      return closing;
    },
    detail() {
      if (!status) return undefined;
      if (status.signal) {
        return killedWhy === undefined
          ? `signal ${status.signal}`
          : `killed by signal ${status.signal}${
            killedWhy ? ` (${killedWhy})` : ""
          }`;
      }
      return `exit ${status.code}`;
    },
  };
}
