// Helpers shared by the tests: run the CLI as users do, find peers.

import { readTcpSockets } from "../tcp/proc/sockets.ts";
import { readUdpSockets } from "../tcp/proc/udp_sockets.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** True in CI, where a missing peer is a failure, never a skip. */
export const IN_CI = Deno.env.get("CI") === "true";

/** The command that runs the CLI: `dist/netkit` when NETKIT_BIN is set, else `deno task netkit`. */
export function cliCommand(args: string[]): { cmd: string; args: string[] } {
  const bin = Deno.env.get("NETKIT_BIN");
  if (bin) return { cmd: bin, args };
  return { cmd: Deno.execPath(), args: ["task", "-q", "netkit", ...args] };
}

/**
 * The CLI as its own process, without `deno task` in between: for tests
 * that signal a server more than once. `deno task` forwards signals to its
 * child, but one that arrives after the child exited and before the task
 * did kills the task itself (exit 143), whatever netkit did.
 */
export function cliDirectCommand(
  args: string[],
): { cmd: string; args: string[] } {
  const bin = Deno.env.get("NETKIT_BIN");
  if (bin) return { cmd: bin, args };
  return {
    cmd: Deno.execPath(),
    args: [
      "run",
      "--unstable-net",
      "--allow-all",
      `${ROOT}cli/main.ts`,
      ...args,
    ],
  };
}

/** The result of a finished CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode runCli} and {@linkcode runProgram}. */
export interface RunOptions {
  stdin?: Uint8Array | string;
  cwd?: string;
  env?: Record<string, string>;
  /** Fail (killing the process) after this many ms. Default {@linkcode WAIT_MS} × 6 (2 minutes: transfers under load). */
  timeoutMs?: number;
}

/** Runs the CLI to completion, optionally feeding stdin. */
export function runCli(
  args: string[],
  options: RunOptions = {},
): Promise<CliResult> {
  const { cmd, args: full } = cliCommand(args);
  return runProgram(cmd, full, options, `netkit ${args.join(" ")}`);
}

/**
 * Runs any program to completion (a peer such as nc or socat, or the CLI),
 * feeding stdin while the output is read; killed and failed, naming it,
 * once `timeoutMs` pass.
 */
export async function runProgram(
  cmd: string,
  args: string[],
  options: RunOptions = {},
  name = `${cmd} ${args.join(" ")}`,
): Promise<CliResult> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd ?? ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Feed stdin while the output is read, or large transfers deadlock once
  // the pipes fill.
  const feeding = options.stdin === undefined
    ? Promise.resolve()
    : (async () => {
      const data = typeof options.stdin === "string"
        ? new TextEncoder().encode(options.stdin)
        : options.stdin!;
      const writer = child.stdin.getWriter();
      await writer.write(data).catch(() => {});
      await writer.close().catch(() => {});
    })();
  const timeoutMs = options.timeoutMs ?? WAIT_MS * 6;
  const [result] = await withTimeout(
    Promise.all([child.output(), feeding]),
    timeoutMs,
    `${name} to exit`,
  ).catch(async (error) => {
    killQuietly(child);
    await child.status;
    throw error;
  });
  const dec = new TextDecoder();
  return {
    code: result.code,
    stdout: dec.decode(result.stdout),
    stderr: dec.decode(result.stderr),
  };
}

/**
 * SIGKILLs a child process and everything it started, unless gone: `deno
 * task` runs the CLI as a grandchild, which a SIGKILL to the task alone
 * would leave running (holding our pipes open).
 */
export function killQuietly(child: Deno.ChildProcess): void {
  for (const pid of [...descendants(child.pid), child.pid]) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Already exited.
    }
  }
}

/** Every descendant of `pid`, deepest first (Linux /proc). */
function descendants(pid: number): number[] {
  const children: number[] = [];
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      const text = Deno.readTextFileSync(
        `/proc/${pid}/task/${task.name}/children`,
      );
      children.push(...text.split(/\s+/).filter(Boolean).map(Number));
    }
  } catch {
    return [];
  }
  return children.flatMap((c) => [...descendants(c), c]);
}

/** A CLI server running in a subprocess. */
export interface CliServer {
  /** Ports from the `listening <kind> host:port` lines, by kind (first of each kind). */
  ports: Record<string, number>;
  /** Every `listening` line in order. */
  listening: string[];
  /** Lines printed to stdout after the `listening` lines (the rest stays readable here). */
  process: Deno.ChildProcess;
  /** Stdout lines after the listening lines, as they arrive. */
  lines: AsyncIterator<string>;
  /** Sends a signal and collects the exit code and the whole of stderr. */
  stop(signal?: Deno.Signal): Promise<CliResult>;
  /** Resolves once stderr (so far) matches `pattern`; rejects if the process ends first. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Stderr received so far. */
  stderr(): string;
  /**
   * Kills the server and its children if still running (for `await using`,
   * so a failed assertion never leaves a server behind); a no-op after
   * `stop()`.
   */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts a CLI server and resolves once it has printed `expect` listening
 * lines (the first line that is not `listening …` ends the wait too).
 */
export async function startCli(
  args: string[],
  options: {
    expect?: number;
    cwd?: string;
    env?: Record<string, string>;
    /** Run this instead of the CLI (e.g. the CLI wrapped in prlimit). */
    command?: { cmd: string; args: string[] };
  } = {},
): Promise<CliServer> {
  const { cmd, args: full } = options.command ?? cliCommand(args);
  const process = new Deno.Command(cmd, {
    args: full,
    cwd: options.cwd ?? ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let errText = "";
  let errChanged = Promise.withResolvers<void>();
  const stderrText = (async () => {
    for await (
      const chunk of process.stderr.pipeThrough(new TextDecoderStream())
    ) {
      errText += chunk;
      errChanged.resolve();
      errChanged = Promise.withResolvers<void>();
    }
    errChanged.resolve();
    return errText;
  })();
  let ended = false;
  stderrText.then(() => ended = true);
  let exited = false;
  process.status.then(() => exited = true);
  const lines = process.stdout
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new LineSplitter())[Symbol.asyncIterator]();
  const listening: string[] = [];
  const ports: Record<string, number> = {};
  const expect = options.expect ?? 1;
  while (listening.length < expect) {
    const next = await withTimeout(
      lines.next(),
      WAIT_MS * 3,
      `'listening' line ${listening.length + 1} of ${expect} from ${
        options.command ? options.command.cmd : "netkit"
      } ${args.join(" ")}`,
    ).catch(async (error) => {
      killQuietly(process);
      await process.status;
      throw new Error(`${error.message} (stderr: ${errText})`);
    });
    if (next.done) {
      const status = await process.status;
      throw new Error(
        `server exited (${status.code}) before listening: ${await stderrText}`,
      );
    }
    const m = /^listening (\w+) (.+):(\d+)$/.exec(next.value);
    if (!m) throw new Error(`unexpected line before listening: ${next.value}`);
    listening.push(next.value);
    ports[m[1]!] ??= Number(m[3]);
  }
  const server: CliServer = {
    ports,
    listening,
    process,
    lines,
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        process.kill(signal);
      } catch {
        // Already exited.
      }
      const rest: string[] = [];
      const exiting = (async () => {
        for (let n = await lines.next(); !n.done; n = await lines.next()) {
          rest.push(n.value);
        }
        return await process.status;
      })();
      const status = await withTimeout(
        exiting,
        WAIT_MS,
        `the server to exit after ${signal}`,
      ).catch(async (error) => {
        killQuietly(process);
        await withTimeout(exiting, WAIT_MS, "the server to die").catch(
          () => {},
        );
        throw error;
      });
      return {
        code: status.code,
        stdout: rest.join("\n"),
        stderr: await withTimeout(stderrText, WAIT_MS, "the server's stderr"),
      };
    },
    async waitForStderr(pattern: RegExp, timeoutMs = WAIT_MS) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const m = pattern.exec(errText);
        if (m) return m[0];
        if (ended) {
          throw new Error(`stderr ended without ${pattern}: ${errText}`);
        }
        const left = deadline - performance.now();
        await withTimeout(
          errChanged.promise,
          Math.max(0, left),
          `${pattern} on stderr (so far: ${errText})`,
        );
      }
    },
    stderr: () => errText,
    async [Symbol.asyncDispose]() {
      if (exited) return;
      killQuietly(process);
      await server.stop("SIGKILL");
    },
  };
  return server;
}

/** Splits a text stream into lines (without the newline). */
export class LineSplitter extends TransformStream<string, string> {
  constructor() {
    let buffer = "";
    super({
      transform(chunk, controller) {
        buffer += chunk;
        const parts = buffer.split("\n");
        buffer = parts.pop()!;
        for (const p of parts) controller.enqueue(p);
      },
      flush(controller) {
        if (buffer) controller.enqueue(buffer);
      },
    });
  }
}

/**
 * Whether an external peer program is installed. In CI a missing peer
 * throws (a failure); locally the test is skipped with a visible reason.
 */
export function hasPeer(program: string): boolean {
  const found = ["/usr/bin", "/usr/local/bin", "/bin", "/usr/sbin", "/sbin"]
    .some((dir) => {
      try {
        return Deno.statSync(`${dir}/${program}`).isFile;
      } catch {
        return false;
      }
    });
  if (found) return true;
  if (IN_CI) {
    throw new Error(
      `peer '${program}' is missing in CI: .ci/run must install it`,
    );
  }
  console.warn(
    `SKIP: peer '${program}' is not installed (apt-get install it to run this test)`,
  );
  return false;
}

/** Reads from a connection until EOF. */
export async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  let total = 0;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
    total += n;
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function seededBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** The project root, with a trailing slash. */
export const PROJECT_ROOT: string = ROOT;

/** Connects to a server's address over TCP. */
export function connectTo(addr: Deno.NetAddr): Promise<Deno.TcpConn> {
  return Deno.connect({
    hostname: addr.hostname,
    port: addr.port,
    transport: "tcp",
  });
}

/**
 * The test certificate for 127.0.0.1 and localhost (self-signed,
 * `CA:FALSE`: rustls refuses a CA certificate as a server's own), its key,
 * and the path to pass where a CA file is wanted.
 */
export async function testTls(): Promise<
  { caPath: string; cert: string; key: string }
> {
  const dir = `${ROOT}tests/fixtures/tls/`;
  return {
    caPath: `${dir}cert.pem`,
    cert: await Deno.readTextFile(`${dir}cert.pem`),
    key: await Deno.readTextFile(`${dir}key.pem`),
  };
}

/** How long a test waits for anything by default before failing. */
export const WAIT_MS = 20_000;

/**
 * Resolves like `promise`, or rejects with "timed out after N ms waiting for
 * <what>" once `ms` pass: the one bound on every wait in the tests, so a
 * regression fails the test with what it waited for instead of hanging.
 */
export async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `check` (every `intervalMs`, default 10) until it returns something
 * other than `undefined`, `null` or `false`, and resolves to that value;
 * rejects naming `what` after `timeoutMs` (default {@linkcode WAIT_MS}).
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<Exclude<T, undefined | null | false>> {
  const timeoutMs = options.timeoutMs ?? WAIT_MS;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    // A check that itself hangs (a connect, a read) is bounded too.
    const value = await withTimeout(
      Promise.resolve(check()),
      Math.max(1, deadline - performance.now()),
      what,
    );
    if (value !== undefined && value !== null && value !== false) {
      return value as Exclude<T, undefined | null | false>;
    }
    if (performance.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 10));
  }
}

/**
 * For `Deno.test`'s `ignore:` option: true when a peer program is missing,
 * so the test is reported as ignored (never as passed). In CI a missing
 * peer throws instead, failing the test file with the peer's name.
 */
export function missingPeer(...programs: string[]): boolean {
  return !programs.every((p) => hasPeer(p));
}

/**
 * For `ignore:`: true when this machine cannot listen on IPv6 loopback
 * (`::1`). In CI it throws: IPv6 is part of what CI must cover.
 */
export function missingIpv6(): boolean {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return false;
  } catch (error) {
    if (IN_CI) {
      throw new Error(`IPv6 loopback is unavailable in CI: ${error}`);
    }
    console.warn(`SKIP: cannot listen on ::1 (${error})`);
    return true;
  }
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export function freePort(transport: "tcp" | "udp" = "tcp"): number {
  if (transport === "udp") {
    const socket = Deno.listenDatagram({
      hostname: "127.0.0.1",
      port: 0,
      transport: "udp",
    });
    const port = (socket.addr as Deno.NetAddr).port;
    socket.close();
    return port;
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** Reads until EOF, failing after `ms` with what it waited for. */
export function readAllWithin(
  conn: Deno.Conn,
  what = "the peer to close the connection",
  ms = WAIT_MS,
): Promise<Uint8Array> {
  return withTimeout(readAll(conn), ms, what);
}

/**
 * Reads exactly `length` bytes (or fewer if EOF comes first), failing after
 * `ms` with what it waited for.
 */
export function readExactly(
  conn: Deno.Conn,
  length: number,
  what = `${length} bytes`,
  ms = WAIT_MS,
): Promise<Uint8Array> {
  return withTimeout(
    (async () => {
      const buf = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const n = await conn.read(buf.subarray(got));
        if (n === null) break;
        got += n;
      }
      return buf.subarray(0, got);
    })(),
    ms,
    what,
  );
}

/**
 * Whether the peer closed `conn`: true on EOF or a reset, false when data
 * arrives instead. Fails after `ms` naming `what`.
 */
export async function closedByPeer(
  conn: Deno.Conn,
  what = "the server to close the connection",
  ms = WAIT_MS,
): Promise<boolean> {
  const n = await withTimeout(
    conn.read(new Uint8Array(1)).catch(() => null),
    ms,
    what,
  );
  return n === null;
}

/** A socat echo server (`PIPE`) on 127.0.0.1; dispose or `stop()` to end it. */
export interface SocatEcho extends AsyncDisposable {
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts socat as a TCP (`fork`: one child per connection) or UDP echo
 * server on a free port, and waits (bounded) until the kernel lists it.
 */
export async function startSocatEcho(
  kind: "TCP-LISTEN" | "UDP-LISTEN",
  fork?: "fork",
): Promise<SocatEcho> {
  const port = freePort(kind === "TCP-LISTEN" ? "tcp" : "udp");
  const opts = [
    `${kind}:${port}`,
    "bind=127.0.0.1",
    "reuseaddr",
    ...(fork ? [fork] : []),
  ].join(",");
  const child = new Deno.Command("socat", {
    args: [opts, "PIPE"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    await child.status;
  };
  // Its own socket, by exact local address (and LISTEN for TCP): another
  // program's socket may use the same port number.
  const bound = async () => {
    const filter = { sport: port };
    const rows = kind === "TCP-LISTEN"
      ? await readTcpSockets({ ...filter, state: "LISTEN" })
      : await readUdpSockets(filter);
    return rows.some((r) => r.local.hostname === "127.0.0.1");
  };
  try {
    await waitFor(`socat to bind ${kind} 127.0.0.1:${port}`, bound);
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, stop, [Symbol.asyncDispose]: stop };
}

/**
 * Wraps a server so that `await using` waits at most `ms` for its shutdown
 * and then fails naming it, instead of hanging the suite when a regression
 * keeps the server from finishing.
 */
export function bounded<T extends AsyncDisposable>(
  server: T,
  ms: number = WAIT_MS,
  what = "the server to shut down",
): T {
  const dispose = server[Symbol.asyncDispose].bind(server);
  return {
    ...server,
    [Symbol.asyncDispose]: () =>
      withTimeout(Promise.resolve(dispose()), ms, what),
  };
}

/** An address as /proc rows and Deno report it: hostname and port. */
type Endpoint = { hostname: string; port: number };

/** `127.0.0.1:80 127.0.0.1:5000`: the exact address pair that names one socket. */
export function pairKey(local: Endpoint, remote: Endpoint): string {
  const text = (e: Endpoint) =>
    e.hostname.includes(":")
      ? `[${e.hostname}]:${e.port}`
      : `${e.hostname}:${e.port}`;
  return `${text(local)} ${text(remote)}`;
}

/**
 * The exact address pairs of a test's own listeners and connections (the
 * end each object is), so the test picks its sockets out of the machine's
 * by what is theirs: a port number alone may be another program's too (a
 * TIME_WAIT socket keeps a port a new listener may bind again).
 */
export function ownPairs(
  ...ends: (Deno.TcpListener | Deno.Conn<Deno.NetAddr>)[]
): Set<string> {
  return new Set(ends.map((e) => {
    if ("accept" in e) {
      const any = e.addr.hostname.includes(":") ? "::" : "0.0.0.0";
      return pairKey(e.addr, { hostname: any, port: 0 });
    }
    return pairKey(e.localAddr, e.remoteAddr);
  }));
}

/** The rows of `records` whose exact address pair is in `pairs`. */
export function ownRows<T extends { local: Endpoint; remote: Endpoint }>(
  records: readonly T[],
  pairs: Set<string>,
): T[] {
  return records.filter((r) => pairs.has(pairKey(r.local, r.remote)));
}

/**
 * Runs `run` with two fresh temporary folders (a source and a destination,
 * named after `prefix`) and removes both afterwards, whatever happened.
 */
export async function withDirs(
  prefix: string,
  run: (src: string, dst: string) => Promise<void>,
): Promise<void> {
  const src = await Deno.makeTempDir({ prefix: `netkit-${prefix}-src-` });
  const dst = await Deno.makeTempDir({ prefix: `netkit-${prefix}-dst-` });
  try {
    await run(src, dst);
  } finally {
    await Deno.remove(src, { recursive: true });
    await Deno.remove(dst, { recursive: true });
  }
}
