import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { PROJECT_ROOT, runCli } from "../_helpers.ts";

Deno.test("cli: --version names the version from deno.json and how it runs", async () => {
  const r = await runCli(["--version"]);
  assert.equal(r.code, 0);
  assert.match(
    r.stdout,
    new RegExp(`^netkit ${denoJson.version.replaceAll(".", "\\.")} \\(`),
  );
  const compiled = Deno.env.get("NETKIT_BIN") !== undefined;
  assert.match(r.stdout, compiled ? /compiled binary/ : /deno task/);
});

Deno.test("cli: --help lists every command and exits 0", async () => {
  const r = await runCli(["--help"]);
  assert.equal(r.code, 0);
  for (const name of ["echo", "file", "ws", "tcp", "serve"]) {
    assert.match(r.stdout, new RegExp(`^  ${name} `, "m"));
  }
});

Deno.test("cli: an unknown command is one line naming it, exit 2", async () => {
  const r = await runCli(["frobnicate"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^netkit: unknown command 'frobnicate'/);
  assert.doesNotMatch(r.stderr, / {4}at /, "no stack trace");
});

Deno.test("cli: an unknown option is named with a hint, exit 2", async () => {
  const r = await runCli(["echo", "serve", "--frob"]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^netkit: unknown option '--frob'\nTry 'netkit echo serve --help'\./,
  );
});

Deno.test("cli: a missing argument is a usage error", async () => {
  const r = await runCli(["echo", "ping"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /missing HOST:PORT/);
});

Deno.test("cli: a bad address is a usage error", async () => {
  for (const bad of ["127.0.0.1:99999", "::1:80", "host:port"]) {
    const r = await runCli(["echo", "ping", bad, "--count", "1"]);
    assert.equal(r.code, 2, bad);
    assert.match(r.stderr, /^netkit: bad address/, bad);
  }
});

Deno.test("cli: --debug adds a stack trace to a runtime failure", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const plain = await runCli(["echo", "ping", `127.0.0.1:${port}`, "-c", "1"]);
  const debug = await runCli([
    "echo",
    "ping",
    `127.0.0.1:${port}`,
    "-c",
    "1",
    "--debug",
  ]);
  assert.equal(plain.code, 1);
  assert.equal(plain.stderr.trim().split("\n").length, 1, plain.stderr);
  assert.equal(debug.code, 1);
  assert.match(debug.stderr, / {4}at /);
});

/** The modules `entry` loads before running anything: static code imports, transitively. */
async function staticGraph(entry: string): Promise<Set<string>> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--unstable-net", entry],
    cwd: PROJECT_ROOT,
    stdout: "piped",
  }).output();
  const info = JSON.parse(new TextDecoder().decode(r.stdout)) as {
    modules: {
      specifier: string;
      dependencies?: {
        isDynamic?: boolean;
        code?: { specifier: string };
      }[];
    }[];
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const root = new URL(entry, `file://${PROJECT_ROOT}`).href;
  const seen = new Set<string>();
  const visit = (specifier: string) => {
    if (seen.has(specifier)) return;
    seen.add(specifier);
    for (const d of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (!d.isDynamic && d.code) visit(d.code.specifier);
    }
  };
  visit(root);
  return new Set(
    [...seen].map((s) => s.replace(`file://${PROJECT_ROOT}`, "")),
  );
}

Deno.test("cli: start-up loads only the command being run (--version, echo --help, serve --help)", async () => {
  const main = await staticGraph("cli/main.ts");
  for (const command of ["echo", "file", "ws", "tcp", "serve"]) {
    assert.ok(!main.has(`cli/${command}.ts`), `main loads cli/${command}.ts`);
  }
  assert.ok(main.size <= 10, [...main].join(", "));
  for (const command of ["cli/echo.ts", "cli/serve.ts"]) {
    const graph = await staticGraph(command);
    for (const heavy of ["tcp/mod.ts", "udp/mod.ts", "ws/mod.ts"]) {
      assert.ok(!graph.has(heavy), `${command} loads ${heavy} for --help`);
    }
  }
});
