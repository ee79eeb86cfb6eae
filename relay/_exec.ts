// A program per connection, talking on its stdin/stdout, as a relay
// stream. The child is killed (if still running) and reaped on every path.

import type { RelayStream } from "./_stream.ts";

/** Milliseconds a program gets after SIGTERM before SIGKILL. */
const KILL_AFTER_MS = 2000;

/** Starts `argv` with piped stdin/stdout (stderr shared with the relay). */
export function execStream(argv: string[]): RelayStream {
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const writer = child.stdin.getWriter();
  let leftover: Uint8Array | undefined;
  let status: Deno.CommandStatus | undefined;
  let killed = false;
  let closing: Promise<void> | undefined;
  const exited = child.status.then((s) => {
    status = s;
  });

  function kill(signal: Deno.Signal) {
    if (status) return;
    try {
      child.kill(signal);
      killed = true;
    } catch {
      // Exited between the check and the kill.
    }
  }

  async function close(): Promise<void> {
    kill("SIGTERM");
    const timer = setTimeout(() => kill("SIGKILL"), KILL_AFTER_MS);
    await Promise.all([
      reader.cancel().catch(() => {}),
      writer.abort().catch(() => {}),
      exited,
    ]);
    clearTimeout(timer);
  }

  return {
    peer: `exec:${argv.join(" ")}[${child.pid}]`,
    async read(p) {
      if (!leftover) {
        const { done, value } = await reader.read();
        if (done) return null;
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
    closeWrite: () => writer.close(),
    reset() {
      // A pipe has no reset; the program is stopped instead.
      kill("SIGTERM");
      return Promise.resolve(false);
    },
    close() {
      closing ??= close();
      return closing;
    },
    detail() {
      if (!status) return undefined;
      if (status.signal) {
        return `${killed ? "killed by " : ""}signal ${status.signal}`;
      }
      return `exit ${status.code}`;
    },
  };
}
