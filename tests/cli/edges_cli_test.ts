// The CLI at its edges: a closed stdout, narrow permissions, bad numbers and
// addresses, a server that closes first, JSON numbers and plurals.

import assert from "node:assert/strict";
import { serveEcho } from "../../tcp/mod.ts";
import { cliCommand, PROJECT_ROOT, runCli } from "../_helpers.ts";

const dec = new TextDecoder();
const COMPILED = Deno.env.get("NETKIT_BIN") !== undefined;

/** Runs the CLI with its stdout already closed by the reader: every write gets EPIPE. */
async function runWithClosedStdout(
  args: string[],
  stdin?: Uint8Array,
): Promise<{ code: number; stderr: string }> {
  const { cmd, args: full } = cliCommand(args);
  const child = new Deno.Command(cmd, {
    args: full,
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: "1" },
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await child.stdout.cancel();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin).catch(() => {});
    await w.close().catch(() => {});
  }
  const [status, stderr] = await Promise.all([
    child.status,
    new Response(child.stderr).text(),
  ]);
  return { code: status.code, stderr };
}

/** `sh -c "CLI ARGS | head -1"` with pipefail: the CLI's own status. */
async function runPipedToHead(
  args: string[],
  input = "",
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { cmd, args: full } = cliCommand(args);
  const line = [cmd, ...full].map((w) => `'${w}'`).join(" ") + input;
  const r = await new Deno.Command("bash", {
    args: ["-o", "pipefail", "-c", `${line} | head -1`],
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  return {
    code: r.code,
    stdout: dec.decode(r.stdout),
    stderr: dec.decode(r.stderr),
  };
}

Deno.test("EPIPE: ws check --list, tcp states and echo connect end quietly with status 0", async () => {
  await using server = serveEcho({ port: 0 });
  const text = "line of echo\n".repeat(20_000);
  const lines = await Deno.makeTempFile({ suffix: ".txt" });
  await Deno.writeTextFile(lines, text);
  const cases: [string[], Uint8Array?][] = [
    [["ws", "check", "--list"]],
    [["tcp", "states"]],
    [
      ["echo", "connect", `127.0.0.1:${server.addr.port}`],
      new TextEncoder().encode(text),
    ],
  ];
  for (const [args, stdin] of cases) {
    const r = await runWithClosedStdout(args, stdin);
    assert.equal(r.stderr, "", `${args.join(" ")}: nothing on stderr`);
    assert.equal(r.code, 0, args.join(" "));
  }
  const piped: [string[], string?][] = [
    [["ws", "check", "--list"]],
    [["tcp", "states"]],
    [
      ["echo", "connect", `127.0.0.1:${server.addr.port}`],
      ` < '${lines}'`,
    ],
  ];
  try {
    for (const [args, input] of piped) {
      const r = await runPipedToHead(args, input ?? "");
      assert.equal(r.code, 0, `${args.join(" ")} | head -1: ${r.stderr}`);
      assert.equal(r.stdout.split("\n").length, 2, r.stdout);
      assert.equal(r.stderr, "");
    }
  } finally {
    await Deno.remove(lines);
  }
});

async function denoRun(
  flags: string[],
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--unstable-net", ...flags, "cli/main.ts", ...args],
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  return {
    code: r.code,
    stdout: dec.decode(r.stdout),
    stderr: dec.decode(r.stderr),
  };
}

Deno.test({
  name: "permissions: each missing permission is one line naming the flag",
  ignore: COMPILED,
  async fn() {
    const version = await denoRun(["--allow-net"], ["--version"]);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^netkit \S+ \(deno run;/);
    assert.equal(version.stderr, "");
    const cases: [string[], string[], RegExp][] = [
      [["--allow-read"], ["tcp", "states"], /needs --allow-all \(all access/],
      [[], ["tcp", "states"], /needs --allow-read \(read access/],
      [
        ["--allow-net=127.0.0.1"],
        ["echo", "serve", "--host", "0.0.0.0", "--port", "0", "--tcp"],
        /needs --allow-net \(net access to "0\.0\.0\.0:0"\)/,
      ],
      [
        [],
        ["echo", "ping", "127.0.0.1:9", "-c", "1"],
        /needs --allow-net \(net access/,
      ],
    ];
    // tcp limits reports what it cannot read, naming the flag it needs.
    const limits = await denoRun(["--allow-read"], ["tcp", "limits"]);
    // The lines are wrapped to 80 columns: read them as prose.
    const prose = limits.stdout.replace(/\n +/g, " ");
    assert.match(
      prose,
      /cannot read \/proc\/self\/limits: needs --allow-all/,
    );
    assert.doesNotMatch(prose, /needs --allow-read/);
    for (const [flags, args, pattern] of cases) {
      const r = await denoRun(flags, args);
      const what = `${flags} ${args.join(" ")}`;
      assert.equal(r.code, 1, what);
      assert.match(r.stderr, /^netkit: /, what);
      assert.match(r.stderr, pattern, what);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    }
  },
});

Deno.test("validation: bad addresses and numbers are one-line usage errors, exit 2", async () => {
  const cases: [string[], RegExp][] = [
    [["echo", "connect", "127.0.0.1:0"], /port 0 cannot be connected to/],
    [["echo", "ping", "127.0.0.1:0"], /port 0 cannot be connected to/],
    [
      ["echo", "ping", "127.0.0.1:7", "-c", "-1"],
      /option '-c' cannot take '-1'/,
    ],
    [["echo", "serve", "--port", "-5"], /option '--port' cannot take '-5'/],
    [
      ["echo", "serve", "--port=-5"],
      /--port takes a whole number from 0 to 65535, not '-5'/,
    ],
    [["echo", "serve", "--port", "70000"], /--port takes a whole number/],
    [
      ["echo", "ping", "127.0.0.1:7", "--count", "1.5"],
      /--count takes a whole number of at least 1, not '1\.5'/,
    ],
    [["echo", "serve", "--grace", "-1"], /option '--grace' cannot take '-1'/],
  ];
  for (const [args, pattern] of cases) {
    const r = await runCli(args);
    const what = args.join(" ");
    assert.equal(r.code, 2, `${what}: ${r.stderr}`);
    const [first, hint, ...rest] = r.stderr.trimEnd().split("\n");
    assert.match(first!, /^netkit: /, what);
    assert.match(first!, pattern, what);
    assert.match(hint!, /^Try 'netkit echo \w+ --help'\.$/, what);
    assert.deepEqual(rest, [], what);
  }
});

Deno.test("echo connect: says on stderr when the server closed first", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { cmd, args } = cliCommand([
    "echo",
    "connect",
    `127.0.0.1:${listener.addr.port}`,
  ]);
  const child = new Deno.Command(cmd, {
    args,
    cwd: PROJECT_ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const conn = await listener.accept();
  await conn.write(new TextEncoder().encode("bye\n"));
  conn.close();
  // stdin stays open until the CLI has exited: the server closed first.
  const output = await child.output();
  await child.stdin.close();
  assert.equal(output.code, 0);
  assert.equal(dec.decode(output.stdout), "bye\n");
  assert.match(
    dec.decode(output.stderr),
    /^netkit: 127\.0\.0\.1:\d+ closed the connection before stdin ended\n$/,
  );
});

Deno.test("echo ping: '1 probe sent', JSON times rounded to the microsecond", async () => {
  await using server = serveEcho({ port: 0 });
  const target = `127.0.0.1:${server.addr.port}`;
  const text = await runCli(["echo", "ping", target, "-c", "1"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^1 probe sent, 1 received, 0\.0% loss$/m);
  const json = await runCli([
    "echo",
    "ping",
    target,
    "-c",
    "3",
    "-i",
    "0",
    "--json",
  ]);
  assert.equal(json.code, 0, json.stderr);
  const numbers = json.stdout.match(/-?\d+\.\d+/g) ?? [];
  assert.ok(numbers.length > 0, json.stdout);
  for (const n of numbers) {
    assert.ok(n.split(".")[1]!.length <= 3, `${n} in ${json.stdout}`);
  }
});

Deno.test("ws connect: says on stderr when the server closed first", async () => {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onopen = () => socket.close(1001, "going away");
      return response;
    },
  );
  try {
    const { cmd, args } = cliCommand([
      "ws",
      "connect",
      `ws://127.0.0.1:${server.addr.port}/`,
    ]);
    const child = new Deno.Command(cmd, {
      args,
      cwd: PROJECT_ROOT,
      env: { NO_COLOR: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // stdin stays open until the CLI has exited: the server closed first.
    const output = await child.output();
    await child.stdin.close();
    assert.match(
      dec.decode(output.stderr),
      /closed 1001 .*going away.*\(server closed first\)\n$/,
    );
  } finally {
    ac.abort();
    await server.finished;
  }
});
