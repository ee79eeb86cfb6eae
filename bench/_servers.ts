// Starting and stopping the servers under test, each in its own process.
//
// A server either prints `listening <kind> <host>:<port>` (netkit's CLI and
// the peers in bench/peers/ do), or takes a port picked here through a
// `{port}` placeholder in its command (socat, iperf3); then we wait until the
// kernel shows the port bound, without sending it any traffic.

import { cpuSeconds, sleep } from "./_stats.ts";

/** How to start one server. */
export interface ServerSpec {
  /** Short name shown in tables: "netkit", "node", "socat", … */
  name: string;
  /** Command and arguments; `{port}` is replaced by a free port. */
  cmd: string[];
  /** Where to look for the bound port when the command has `{port}`. */
  transport: "tcp" | "udp";
}

/** A server process that is up and bound. */
export interface RunningServer {
  name: string;
  port: number;
  pid: number;
  /** CPU seconds the process and its live children (socat forks) have used so far. */
  cpuSeconds(): number;
  /** Stops the process (SIGTERM, then SIGKILL after 3 s) and waits for it. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 30_000;
const live = new Set<RunningServer>();
let pinCpu: string | undefined;

/** Runs every server started from now on under `taskset -c cpu`. */
export function pinServers(cpu: string | undefined): void {
  pinCpu = cpu;
}

/** Stops every server still running: for `finally` and signal handlers. */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop()));
}

/** Starts a server and resolves once it is ready for clients. */
export async function startServer(spec: ServerSpec): Promise<RunningServer> {
  let port = 0;
  if (spec.cmd.some((a) => a.includes("{port}"))) {
    port = freePort(spec.transport);
  }
  const args = spec.cmd.map((a) => a.replaceAll("{port}", String(port)));
  const argv = pinCpu ? ["taskset", "-c", pinCpu, ...args] : args;
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderrTail = "";
  const stderrDone = drain(child.stderr, (text) => {
    stderrTail = (stderrTail + text).slice(-4000);
  });
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const lines = lineReader(child.stdout);
  const server: RunningServer = {
    name: spec.name,
    port,
    pid: child.pid,
    cpuSeconds: () =>
      [child.pid, ...descendants(child.pid)].reduce(
        (sum, pid) => sum + (cpuSeconds(pid) || 0),
        0,
      ),
    async stop() {
      live.delete(server);
      if (!exited) {
        // socat forks a child per connection; those outlive the parent.
        for (const pid of descendants(child.pid)) killQuietly(pid, "SIGTERM");
        try {
          child.kill("SIGTERM");
        } catch {
          // Already gone.
        }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            // Already gone.
          }
        }, 3000);
        await status;
        clearTimeout(timer);
      }
      await lines.cancel();
      await stderrDone;
    },
  };
  live.add(server);
  try {
    const deadline = performance.now() + START_TIMEOUT_MS;
    if (port === 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        server.port = await Promise.race([
          lines.waitForListening(),
          status.then((s) => {
            throw new Error(`exited with code ${s.code} before listening`);
          }),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error("no `listening` line in time")),
              START_TIMEOUT_MS,
            );
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    } else {
      while (!isBound(spec.transport, port)) {
        if (exited) throw new Error(`exited before binding port ${port}`);
        if (performance.now() > deadline) {
          throw new Error(`port ${port} never bound`);
        }
        await sleep(20);
      }
    }
  } catch (error) {
    await server.stop();
    throw new Error(
      `${spec.name} (${argv.join(" ")}): ${
        (error as Error).message
      }\n${stderrTail}`,
    );
  }
  return server;
}

/** Starts a server, runs `fn` against it, and always stops it. */
export async function withServer<T>(
  spec: ServerSpec,
  fn: (server: RunningServer) => Promise<T>,
): Promise<T> {
  const server = await startServer(spec);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry.name)]);
    } catch {
      // The process ended while we looked.
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of parents.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

function killQuietly(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

function freePort(transport: "tcp" | "udp"): number {
  // Bind port 0, note the port, let it go: the server binds it right after.
  const socket = transport === "tcp"
    ? Deno.listen({ hostname: "127.0.0.1", port: 0 })
    : Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const port = (socket.addr as Deno.NetAddr).port;
  socket.close();
  return port;
}

function isBound(transport: "tcp" | "udp", port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")} `;
  try {
    const table = Deno.readTextFileSync(`/proc/net/${transport}`);
    return table.split("\n").some((line) => {
      const fields = line.trim().split(/\s+/);
      const local = fields[1] ?? "";
      // TCP: state 0A is LISTEN; UDP sockets are 07 (unconnected).
      return `${local} `.endsWith(hex) &&
        (transport === "udp" || fields[3] === "0A");
    });
  } catch {
    return false;
  }
}

interface LineReader {
  waitForListening(): Promise<number>;
  cancel(): Promise<void>;
}

function lineReader(stream: ReadableStream<Uint8Array>): LineReader {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let draining: Promise<void> | undefined;
  return {
    async waitForListening() {
      for (;;) {
        const match = buffered.match(/^listening \w+ (\S+):(\d+)$/m);
        if (match) {
          // Keep reading so a chatty server never blocks on a full pipe.
          draining = (async () => {
            while (!(await reader.read()).done) { /* discard */ }
          })().catch(() => {});
          return Number(match[2]);
        }
        const { value, done } = await reader.read();
        if (done) throw new Error("stdout closed before a `listening` line");
        buffered += value;
      }
    },
    async cancel() {
      await reader.cancel().catch(() => {});
      await draining;
    },
  };
}

async function drain(
  stream: ReadableStream<Uint8Array>,
  onText: (text: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  try {
    for await (const chunk of stream) {
      onText(decoder.decode(chunk, { stream: true }));
    }
  } catch {
    // The process went away.
  }
}
