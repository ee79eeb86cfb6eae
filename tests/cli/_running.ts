// A CLI (or any program) running as a child, its output collected as it
// arrives, with bounded waits; and the same under a pseudo-terminal
// (script from util-linux), for what netkit does on a terminal.

import { cliCommand, killQuietly, PROJECT_ROOT } from "../_helpers.ts";

const WAIT_MS = 20_000;

/** A running CLI with its output collected as it arrives. */
export interface Running {
  write(text: string): Promise<void>;
  closeStdin(): Promise<void>;
  /** Resolves once `stream` matches `pattern`; fails after WAIT_MS or at exit. */
  waitFor(stream: "stdout" | "stderr", pattern: RegExp): Promise<void>;
  /** Waits for the exit and returns everything. */
  done(): Promise<{ code: number; stdout: string; stderr: string }>;
  text(stream: "stdout" | "stderr"): string;
  /** Ends the process (SIGTERM) if still running and waits for it. */
  kill(): Promise<void>;
}

/** Starts `cmd` with piped stdin, stdout and stderr. */
export function spawn(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Running {
  const child = new Deno.Command(cmd, {
    args,
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: "1", TERM: "dumb", ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const texts = { stdout: "", stderr: "" };
  let changed = Promise.withResolvers<void>();
  let exited = false;
  const collect = async (name: "stdout" | "stderr") => {
    for await (
      const chunk of child[name].pipeThrough(new TextDecoderStream())
    ) {
      texts[name] += chunk;
      changed.resolve();
      changed = Promise.withResolvers();
    }
  };
  const collecting = Promise.all([collect("stdout"), collect("stderr")]);
  const status = child.status.then((s) => {
    exited = true;
    changed.resolve();
    return s;
  });
  const writer = child.stdin.getWriter();
  let stdinOpen = true;
  return {
    write: (text) => writer.write(new TextEncoder().encode(text)),
    async closeStdin() {
      if (!stdinOpen) return;
      stdinOpen = false;
      await writer.close().catch(() => {});
    },
    async waitFor(stream, pattern) {
      const deadline = Date.now() + WAIT_MS;
      while (!pattern.test(texts[stream])) {
        if (exited) {
          await collecting;
          if (pattern.test(texts[stream])) return;
          throw new Error(
            `exited without ${pattern} on ${stream}: ${JSON.stringify(texts)}`,
          );
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(
            `no ${pattern} on ${stream} within ${WAIT_MS} ms: ${
              JSON.stringify(texts)
            }`,
          );
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          changed.promise,
          new Promise((r) => timer = setTimeout(r, left)),
        ]);
        clearTimeout(timer);
      }
    },
    async done() {
      await this.closeStdin();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const s = await Promise.race([
        status,
        new Promise<never>((_, reject) =>
          timer = setTimeout(() => {
            // The whole tree: `deno task` runs netkit as a grandchild.
            killQuietly(child);
            reject(new Error(`still running after ${WAIT_MS} ms`));
          }, WAIT_MS)
        ),
      ]).finally(() => clearTimeout(timer));
      await collecting;
      return { code: s.code, ...texts };
    },
    text: (stream) => texts[stream],
    async kill() {
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch {
          // Gone already.
        }
      }
      await this.closeStdin();
      // Bounded: past WAIT_MS the whole tree is killed.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        status,
        new Promise((resolve) =>
          timer = setTimeout(() => {
            killQuietly(child);
            resolve(undefined);
          }, WAIT_MS)
        ),
      ]).finally(() => clearTimeout(timer));
      await status;
      await collecting;
    },
  };
}

/** Starts the CLI with piped stdin, stdout and stderr. */
export function spawnCli(args: string[]): Running {
  const { cmd, args: full } = cliCommand(args);
  return spawn(cmd, full);
}

/**
 * Runs `shellLine` (a sh command line) with a pseudo-terminal as its
 * stdin, stdout and stderr: what it shows arrives on the result's
 * `stdout`, and what is written to the result goes to the terminal as
 * typed keys.
 */
export function inTerminal(shellLine: string): Running {
  return spawn("script", ["-q", "-e", "-c", shellLine, "/dev/null"]);
}

/** The CLI's command line for sh, each word quoted. */
export function cliShellLine(args: string[]): string {
  const { cmd, args: full } = cliCommand(args);
  return [cmd, ...full].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
}

/**
 * Waits (bounded) until some socket LISTENs on TCP `port` (IPv4 or IPv6):
 * for peers such as wscat and nc that cannot take port 0 or say when they
 * listen.
 */
export async function waitListening(port: number): Promise<void> {
  const { waitFor } = await import("../_helpers.ts");
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const listen = new RegExp(`:${hex} [0-9A-F]+:0000 0A `);
  await waitFor(`a listener on TCP port ${port}`, async () => {
    for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      const text = await Deno.readTextFile(table).catch(() => "");
      if (listen.test(text)) return true;
    }
    return false;
  });
}
