// One grammar for every command, checked over every command through the
// real CLI: duration flags and their units, help screens, `netkit help X`,
// exit codes and signals, wrapping to the terminal, old flag names.

import assert from "node:assert/strict";
import {
  cliCommand,
  cliDirectCommand,
  hasPeer,
  LineSplitter,
  runCli,
  runProgram,
  startCli,
  WAIT_MS,
  waitFor,
  withTimeout,
} from "../_helpers.ts";
import { serveEcho } from "../../tcp/mod.ts";
import { serveWebSocket } from "../../ws/mod.ts";
import { columns } from "../../cli/_text.ts";

/** A TCP port something listens on, for "cannot listen" and "refused" runs. */
function busyPort(): Deno.TcpListener {
  return Deno.listen({ hostname: "127.0.0.1", port: 0 });
}

/** A port nothing listens on (bound, read, closed). */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

/** Runs `items` with at most `limit` at a time (two shared cores). */
async function pooled<T>(
  items: T[],
  limit: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: limit }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        await run(item);
      }
    }),
  );
}

// ------------------------------------------------------------ durations

/**
 * Every duration flag of every command. `args` runs the command so that it
 * fails (exit 1) or ends (exit 0) right after reading its flags: a busy
 * port to bind, a closed port to reach, a watch of one frame.
 */
interface DurationRow {
  command: string[];
  flags: string[];
  args: (port: { busy: number; closed: number }) => string[];
  /** What the run ends with once the flags are read. */
  code: number;
  /** Flags every run needs (e.g. --ping-timeout needs --ping-interval). */
  with?: string[];
  stdin?: string;
}

const DURATION_ROWS: DurationRow[] = [
  {
    command: ["echo", "serve"],
    flags: ["idle-timeout", "grace"],
    args: (p) => ["--port", String(p.busy), "--tcp"],
    code: 1,
  },
  {
    command: ["echo", "connect"],
    flags: ["timeout"],
    args: (p) => [`127.0.0.1:${p.closed}`, "--udp"],
    code: 0,
    stdin: "",
  },
  {
    command: ["echo", "ping"],
    flags: ["interval", "timeout"],
    args: (p) => [`127.0.0.1:${p.closed}`, "-c", "1"],
    code: 1,
  },
  {
    command: ["file", "recv"],
    flags: ["auth-timeout", "idle-timeout", "grace"],
    args: (p) => ["--port", String(p.busy)],
    code: 1,
  },
  {
    command: ["file", "send"],
    flags: ["timeout"],
    args: (p) => [`127.0.0.1:${p.closed}`, "README.md", "--token", "t"],
    code: 1,
  },
  {
    command: ["ws", "serve"],
    flags: ["idle-timeout", "grace"],
    args: (p) => ["--port", String(p.busy)],
    code: 1,
  },
  {
    command: ["ws", "connect"],
    flags: ["timeout", "wait", "ping-interval", "ping-timeout"],
    with: ["--ping-interval", "1"],
    args: (p) => [`ws://127.0.0.1:${p.closed}/`],
    code: 1,
    stdin: "",
  },
  {
    command: ["ws", "connect"],
    flags: ["reconnect-max-delay"],
    with: ["--reconnect", "--reconnect-tries", "1"],
    args: (p) => [`ws://127.0.0.1:${p.closed}/`],
    code: 1,
    stdin: "",
  },
  {
    command: ["ws", "verify"],
    flags: ["timeout"],
    args: (p) => [`ws://127.0.0.1:${p.closed}/`],
    code: 1,
  },
  {
    command: ["ws", "check"],
    flags: ["timeout"],
    args: (p) => [`ws://127.0.0.1:${p.closed}/`, "--case", "1.1.1"],
    code: 1,
  },
  {
    command: ["tcp", "states"],
    flags: ["watch"],
    args: () => ["--count", "1", "--port", "1"],
    code: 0,
  },
  {
    command: ["tcp", "limits"],
    flags: ["watch"],
    args: () => ["--count", "1", "--json"],
    code: 0,
  },
  {
    command: ["tcp", "trace"],
    flags: ["duration"],
    // No such interface: it fails (as root or not) once the flags are read.
    args: () => ["--interface", "netkit-none0"],
    code: 1,
  },
  {
    command: ["load", "tcp"],
    flags: ["duration", "warmup", "timeout", "interval"],
    args: (p) => [`127.0.0.1:${p.closed}`, "-n", "1", "-c", "1"],
    code: 1,
  },
  {
    command: ["load", "http"],
    flags: ["duration", "warmup", "timeout", "interval"],
    args: (p) => [`http://127.0.0.1:${p.closed}/`, "-n", "1", "-c", "1"],
    code: 1,
  },
  {
    command: ["relay"],
    flags: ["idle-timeout", "grace", "connect-timeout"],
    args: (p) => [`tcp://127.0.0.1:${p.busy}`, `tcp://127.0.0.1:${p.closed}`],
    code: 1,
  },
  {
    command: ["listen"],
    flags: ["idle-timeout", "grace"],
    args: (p) => [String(p.busy)],
    code: 1,
  },
  {
    command: ["serve"],
    flags: ["grace"],
    // Nothing is bound: an address no interface has cannot be listened on.
    args: () => ["--host", "192.0.2.1"],
    code: 1,
  },
];

Deno.test("grammar: every duration flag takes 250ms, 2s and 1.5 (bare = seconds) and refuses abc naming the unit", async () => {
  const busy = busyPort();
  const port = { busy: busy.addr.port, closed: closedPort() };
  try {
    const runs: (() => Promise<void>)[] = [];
    for (const row of DURATION_ROWS) {
      const name = row.command.join(" ");
      for (const value of ["250ms", "2s", "1.5"]) {
        // All of a command's duration flags at once: each is read before
        // the run fails (or ends) for the reason `args` sets up.
        const flags = row.flags.flatMap((f) => [`--${f}`, value]);
        runs.push(async () => {
          const r = await runCli(
            [...row.command, ...row.args(port), ...(row.with ?? []), ...flags],
            { stdin: row.stdin },
          );
          assert.equal(
            r.code,
            row.code,
            `${name} ${flags.join(" ")}: ${r.stderr}`,
          );
          assert.doesNotMatch(r.stderr, /takes a duration/, name);
        });
      }
      for (const flag of row.flags) {
        runs.push(async () => {
          const r = await runCli([
            ...row.command,
            ...row.args(port),
            ...(row.with ?? []),
            // --watch takes its value only when it looks like a duration.
            ...(flag === "watch" ? ["--watch=abc"] : [`--${flag}`, "abc"]),
          ], { stdin: row.stdin });
          assert.equal(r.code, 2, `${name} --${flag} abc: ${r.stderr}`);
          assert.match(
            r.stderr,
            new RegExp(
              `^netkit: --${flag} takes a duration like 5 \\(seconds\\), 1\\.5s or 500ms, not 'abc'\\nTry 'netkit ${name} --help'\\.`,
            ),
            `${name} --${flag}`,
          );
        });
      }
    }
    await pooled(runs, 3, (run) => run());
  } finally {
    busy.close();
  }
});

// ---------------------------------------------------------------- help

const SCREENS = [
  [],
  ["echo"],
  ["echo", "serve"],
  ["echo", "connect"],
  ["echo", "ping"],
  ["file"],
  ["file", "recv"],
  ["file", "send"],
  ["ws"],
  ["ws", "serve"],
  ["ws", "connect"],
  ["ws", "verify"],
  ["ws", "check"],
  ["tcp"],
  ["tcp", "states"],
  ["tcp", "limits"],
  ["tcp", "lab"],
  ["tcp", "trace"],
  ["load"],
  ["load", "tcp"],
  ["load", "udp"],
  ["load", "ws"],
  ["load", "http"],
  ["load", "merge"],
  ["load", "report"],
  ["relay"],
  ["listen"],
  ["serve"],
];

Deno.test("grammar: every help screen fits 80 columns, has Usage, Options and an example; `netkit help X` prints the same", async () => {
  const seen = new Map<string, string>();
  await pooled(SCREENS, 3, async (words) => {
    const name = `netkit ${words.join(" ")}`.trim();
    const direct = await runCli([...words, "--help"]);
    assert.equal(direct.code, 0, `${name} --help: ${direct.stderr}`);
    assert.equal(direct.stderr, "", name);
    const text = direct.stdout;
    for (const line of text.split("\n")) {
      assert.ok(columns(line) <= 80, `${name}: ${columns(line)}: ${line}`);
    }
    assert.match(text, /^Usage: netkit /, name);
    assert.match(text, /^Options:$/m, name);
    assert.match(text, /^Examples?:\n {2}netkit \S/m, name);
    // An example is a command to copy: one line each, never wrapped.
    const examples = text.slice(text.search(/^Examples?:$/m)).split("\n");
    for (const line of examples.slice(1)) {
      assert.match(line, /^( {2}netkit \S.*)?$/, `${name}: ${line}`);
    }
    if (/\bTIME\b/.test(text)) assert.match(text, /a bare number is seconds/);
    // Old flag names work but are not advertised.
    assert.doesNotMatch(text, /--tls-ca|--tls-insecure/, name);
    const viaHelp = await runCli(["help", ...words]);
    assert.equal(viaHelp.code, 0, name);
    assert.equal(viaHelp.stdout, text, `netkit help ${words.join(" ")}`);
    seen.set(words.join(" "), text);
  });
  // Each screen is its own: `help ws` is not the top-level help, and a
  // subcommand's is not its family's.
  assert.equal(new Set(seen.values()).size, SCREENS.length);
  assert.match(seen.get("ws")!, /^Usage: netkit ws <command>/);
});

Deno.test("grammar: a family without a subcommand prints its help on stderr, exit 2; `help` with an unknown command is a usage error", async () => {
  const bare = await runCli(["echo"]);
  assert.equal(bare.code, 2);
  assert.equal(bare.stdout, "");
  assert.match(bare.stderr, /^Usage: netkit echo <command>/);
  const unknown = await runCli(["help", "frob"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^netkit: unknown command 'frob'/);
  const sub = await runCli(["help", "echo", "frob"]);
  assert.equal(sub.code, 2);
  assert.match(sub.stderr, /^netkit: unknown command 'echo frob'/);
});

// ------------------------------------------------------------ exit codes

Deno.test("grammar: exit 0 ok, 1 failure, 2 usage, and nothing succeeded is a failure (load udp with no reply)", async () => {
  await using echo = serveEcho({ port: 0 });
  const ok = await runCli([
    "echo",
    "ping",
    `127.0.0.1:${echo.addr.port}`,
    "-c",
    "1",
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  const failed = await runCli([
    "echo",
    "ping",
    `127.0.0.1:${closedPort()}`,
    "-c",
    "1",
  ]);
  assert.equal(failed.code, 1);
  const usage = await runCli(["echo", "ping", "127.0.0.1:1", "-c", "zero"]);
  assert.equal(usage.code, 2);
  // A UDP port nobody reads: every request times out, no reply at all.
  const udp = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  try {
    const port = (udp.addr as Deno.NetAddr).port;
    const none = await runCli([
      "load",
      "udp",
      `127.0.0.1:${port}`,
      "-c",
      "1",
      "-d",
      "300ms",
      "--timeout",
      "100ms",
      "--json",
    ]);
    assert.equal(none.code, 1, none.stderr);
    assert.equal(JSON.parse(none.stdout).requests, 0);
  } finally {
    udp.close();
  }
});

/** A CLI process with its output read as it comes. */
interface Running {
  child: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;
  /** Resolves once stdout or stderr (so far) matches. */
  waitFor(pattern: RegExp): Promise<void>;
  /** The exit code and everything printed. */
  end(): Promise<{ code: number; out: string }>;
}

function spawnCli(args: string[], options: { stdin?: boolean } = {}): Running {
  const { cmd, args: full } = cliCommand(args);
  const child = new Deno.Command(cmd, {
    args: full,
    env: { NO_COLOR: "1" },
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  let changed = Promise.withResolvers<void>();
  const read = (stream: ReadableStream<Uint8Array>) =>
    (async () => {
      for await (
        const line of stream.pipeThrough(new TextDecoderStream()).pipeThrough(
          new LineSplitter(),
        )
      ) {
        text += line + "\n";
        changed.resolve();
        changed = Promise.withResolvers<void>();
      }
    })();
  const reading = Promise.all([read(child.stdout), read(child.stderr)]).then(
    () => changed.resolve(),
  );
  let ended = false;
  reading.then(() => ended = true);
  return {
    child,
    stdin: options.stdin ? child.stdin.getWriter() : undefined,
    async waitFor(pattern) {
      await withTimeout(
        (async () => {
          while (!pattern.test(text)) {
            if (ended) throw new Error(`ended without ${pattern}: ${text}`);
            await changed.promise;
          }
        })(),
        WAIT_MS,
        `${pattern} from netkit ${args.join(" ")} (so far: ${text})`,
      );
    },
    async end() {
      const status = await withTimeout(
        child.status,
        WAIT_MS,
        `netkit ${args.join(" ")} to exit`,
      );
      await reading;
      return { code: status.code, out: text };
    },
  };
}

Deno.test("grammar: Ctrl-C (SIGINT) ends every client and long run with 130, after its summary where it has one", async () => {
  await using echo = serveEcho({ port: 0 });
  await using ws = serveWebSocket({ port: 0 });
  const target = `127.0.0.1:${echo.addr.port}`;
  // A server that accepts and never answers: a file send waits on it.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) held.push(conn);
  })();
  const clients = () => echo.stats().served + echo.stats().active;
  /** Resolves once the echo server has seen more clients than `before`. */
  const oneMoreClient = (_r: Running, before: number) =>
    waitFor("the client to connect", () => clients() > before).then(() => {});
  const cases: {
    args: string[];
    /** Resolves once the run is under way; `before`: clients() before it. */
    ready: (r: Running, before: number) => Promise<void>;
    stdin?: boolean;
    after?: RegExp;
  }[] = [
    {
      args: ["echo", "ping", target, "-c", "1000", "-i", "50ms"],
      ready: (r) => r.waitFor(/seq=1 /),
      after: /^\d+ probes? sent, \d+ received/m,
    },
    {
      args: ["echo", "connect", target],
      stdin: true,
      ready: oneMoreClient,
    },
    {
      args: ["load", "tcp", target, "-c", "2", "-d", "60s", "--json"],
      ready: oneMoreClient,
      after: /"requests":/,
    },
    {
      args: ["ws", "connect", `ws://127.0.0.1:${ws.addr.port}/ws`],
      stdin: true,
      ready: (r) => r.waitFor(/^connected to ws:/m),
    },
    {
      args: ["tcp", "states", "--watch", "200ms", "--port", "1"],
      ready: (r) => r.waitFor(/^=== netkit tcp states/m),
    },
    {
      args: ["tcp", "limits", "--watch", "200ms"],
      ready: (r) => r.waitFor(/interval 1:/),
    },
    {
      args: [
        "file",
        "send",
        `127.0.0.1:${silent.addr.port}`,
        "README.md",
        "--token",
        "t",
      ],
      ready: () =>
        waitFor("file send to connect", () => held.length > 0).then(() => {}),
      after: /run the same command again/,
    },
  ];
  try {
    for (const c of cases) {
      const name = c.args.slice(0, 2).join(" ");
      const before = clients();
      const r = spawnCli(c.args, { stdin: c.stdin });
      await c.ready(r, before);
      r.child.kill("SIGINT");
      const { code, out } = await r.end();
      assert.equal(code, 130, `${name}: ${out}`);
      if (c.after) assert.match(out, c.after, `${name}: ${out}`);
      await r.stdin?.close().catch(() => {});
    }
  } finally {
    silent.close();
    await accepting.catch(() => {});
    for (const conn of held) conn.close();
  }
});

Deno.test("grammar: servers stopped by SIGINT or SIGTERM exit 0; file recv --once (or with a code) interrupted before its session exits 130", async () => {
  for (
    const args of [
      ["echo", "serve", "--port", "0"],
      ["ws", "serve", "--port", "0"],
      ["file", "recv", "--port", "0", "--dir", "/tmp", "--random-token"],
      ["relay", "tcp://127.0.0.1:0", "tcp://127.0.0.1:1"],
    ]
  ) {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      await using server = await startCli(args);
      const r = await server.stop(signal);
      assert.equal(r.code, 0, `${args.join(" ")} ${signal}: ${r.stderr}`);
    }
  }
  await using once = await startCli([
    "file",
    "recv",
    "--port",
    "0",
    "--dir",
    "/tmp",
    "--once",
  ]);
  const r = await once.stop("SIGINT");
  assert.equal(r.code, 130, r.stderr);
  // A code serves one sender: the same task as --once.
  await using code = await startCli([
    "file",
    "recv",
    "--port",
    "0",
    "--dir",
    "/tmp",
  ]);
  assert.equal((await code.stop("SIGINT")).code, 130);
});

Deno.test("grammar: a second SIGTERM during shutdown changes nothing (exit 0); a second SIGINT stops waiting for the grace period", async () => {
  // #22: a second SIGTERM while the server shut down killed it with 143.
  // Run directly: `deno task` has a window of its own (cliDirectCommand).
  for (const second of ["SIGTERM", "SIGINT"] as const) {
    const args = ["echo", "serve", "--tcp", "--port", "0", "--grace", "60s"];
    await using server = await startCli(args, {
      command: cliDirectCommand(args),
    });
    // A connected client keeps the 60 s grace period running.
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.ports.tcp!,
    });
    try {
      // Served before the signal: a connection still in the accept queue
      // when shutdown begins is turned away.
      await conn.write(new TextEncoder().encode("a"));
      assert.equal(await conn.read(new Uint8Array(1)), 1);
      server.process.kill("SIGTERM");
      // The listener closes once shutdown has begun.
      await waitFor("the listener to close", async () => {
        try {
          (await Deno.connect({
            hostname: "127.0.0.1",
            port: server.ports.tcp!,
          })).close();
          return false;
        } catch {
          return true;
        }
      });
      if (second === "SIGTERM") {
        server.process.kill("SIGTERM");
        // Still running, still in its grace period: the client is served.
        await conn.write(new TextEncoder().encode("x"));
        const buf = new Uint8Array(1);
        assert.equal(await conn.read(buf), 1);
        conn.close();
        const r = await server.stop("SIGTERM");
        assert.equal(r.code, 0, r.stderr);
      } else {
        const r = await server.stop("SIGINT");
        assert.equal(r.code, 0, r.stderr);
        // This client (a listener probe may still be closing).
        assert.match(
          r.stderr,
          /stopping now: not waiting for the grace period \(\d+ connections? still open\)/,
        );
        assert.match(r.stderr, /^echo\/tcp: served \d+/m);
        conn.close();
      }
    } catch (error) {
      try {
        conn.close();
      } catch {
        // Closed already.
      }
      throw error;
    }
  }
});

// --------------------------------------------------------------- width

/** Runs the CLI on a pseudo-terminal `cols` wide; what it printed, without \r. */
async function onTerminal(args: string[], cols: number): Promise<string> {
  const { cmd, args: full } = cliCommand(args);
  const line = [cmd, ...full].map((w) => `'${w.replaceAll("'", `'\\''`)}'`)
    .join(" ");
  // The terminal's own width, not COLUMNS (a shell may export it).
  const r = await runProgram("script", [
    "-qec",
    `stty cols ${cols} rows 50; exec env -u COLUMNS ${line}`,
    "/dev/null",
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  // deno task clears its own progress line with escape sequences.
  // deno-lint-ignore no-control-regex
  return r.stdout.replaceAll("\r", "").replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
}

Deno.test(
  "grammar: prose wraps to the terminal's width (60 and 120 columns through a pseudo-terminal, COLUMNS when piped), never mid-word",
  {
    ignore: !hasPeer("script"),
  },
  async () => {
    const widest = (text: string) =>
      Math.max(...text.split("\n").map((l) => columns(l)));
    for (const cols of [60, 120]) {
      const limits = await onTerminal(["tcp", "limits"], cols);
      assert.ok(widest(limits) <= cols, `tcp limits at ${cols}:\n${limits}`);
      // The '→' hints are whole words on every line.
      assert.match(limits, /→ /);
      const help = await onTerminal(["relay", "--help"], cols);
      assert.ok(widest(help) <= Math.min(cols, 80), `help at ${cols}`);
      const lab = await onTerminal(
        ["tcp", "lab", "close-wait", "--no-namespace"],
        cols,
      );
      const why = lab.slice(lab.indexOf("Why: "));
      assert.ok(widest(why) <= cols, `lab at ${cols}:\n${why}`);
      if (cols === 120) {
        // The width is used, not just capped at 80.
        assert.ok(widest(limits) > 80, limits);
        assert.ok(widest(why) > 80, why);
      }
      // The lab's paragraphs, unwrapped, are the --json explanation.
    }
    const piped = await runCli(["tcp", "limits"], { env: { COLUMNS: "60" } });
    assert.ok(widest(piped.stdout) <= 60, piped.stdout);
    const plain = await runCli(["tcp", "limits"]);
    assert.ok(widest(plain.stdout) <= 80, "80 columns when not a terminal");
  },
);

Deno.test("grammar: the lab's wrapped paragraphs are its explanation, word for word", async () => {
  const json = await runCli([
    "tcp",
    "lab",
    "close-wait",
    "--no-namespace",
    "--json",
  ]);
  assert.equal(json.code, 0, json.stderr);
  const { explanation } = JSON.parse(json.stdout);
  const text = await runCli(["tcp", "lab", "close-wait", "--no-namespace"], {
    env: { COLUMNS: "60" },
  });
  const tail = text.stdout.slice(text.stdout.indexOf("Why: "));
  const [why, change] = tail.split("\n\n");
  assert.equal(why!.replaceAll("\n", " "), `Why: ${explanation.why}`);
  assert.equal(
    change!.trim().replaceAll("\n", " "),
    `What to change: ${explanation.change}`,
  );
});

// ------------------------------------------------------------ old names

Deno.test("grammar: old flag names still work as hidden aliases (--tls-ca, --tls-insecure, file recv --max-conns)", async () => {
  // Both old names reach the new flags' rule: one of --ca and --insecure.
  const both = await runCli([
    "file",
    "send",
    "127.0.0.1:1",
    "README.md",
    "--token",
    "t",
    "--tls-ca",
    "tests/fixtures/tls/cert.pem",
    "--tls-insecure",
  ]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /choose one of --ca, --tls and --insecure/);
  // --max-conns of file recv meant pending strangers: now --max-pending.
  const pending = await runCli([
    "file",
    "recv",
    "--port",
    "0",
    "--max-conns",
    "0",
  ]);
  assert.equal(pending.code, 2);
  assert.match(
    pending.stderr,
    /--max-pending takes a whole number of at least 1/,
  );
  const wsOld = await runCli([
    "ws",
    "connect",
    "ws://127.0.0.1:1/",
    "--tls-insecure",
  ], { stdin: "" });
  assert.equal(wsOld.code, 2);
  assert.match(wsOld.stderr, /--insecure need a wss:\/\/ URL/);
});
