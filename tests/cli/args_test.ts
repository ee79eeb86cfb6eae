// cli/_args.ts: the parsing rules every command shares.

import assert from "node:assert/strict";
import { addressArg, parseCommand, UsageError } from "../../cli/_args.ts";

const usage = (command: string, message: RegExp) => (e: unknown) =>
  e instanceof UsageError && e.code === "usage" && e.command === command &&
  message.test(e.message);

Deno.test("parseCommand: options, positionals and --help", () => {
  const { values, positionals } = parseCommand(
    "x run",
    ["--name", "n", "-v", "a", "b"],
    { name: { type: "string" }, verbose: { type: "boolean", short: "v" } },
    { min: 1, max: 2 },
  );
  assert.deepEqual({ ...values }, { name: "n", verbose: true });
  assert.deepEqual(positionals, ["a", "b"]);
  // --help skips the positional count.
  assert.equal(parseCommand("x run", ["-h"], {}, { min: 1 }).values.help, true);
});

Deno.test("parseCommand: unknown options, missing values and wrong counts are usage errors naming the command", () => {
  assert.throws(
    () => parseCommand("x run", ["--frob"], {}),
    usage("x run", /^unknown option '--frob'$/),
  );
  assert.throws(
    () => parseCommand("x run", ["--name"], { name: { type: "string" } }),
    usage("x run", /^option '--name' needs a value$/),
  );
  assert.throws(
    () => parseCommand("x run", [], {}, { min: 1, names: "HOST:PORT" }),
    usage("x run", /^missing HOST:PORT$/),
  );
  assert.throws(
    () => parseCommand("x run", ["a", "b"], {}, { max: 1 }),
    usage("x run", /^unexpected argument 'b'$/),
  );
});

Deno.test("parseCommand: a hidden alias means its new name; twice is a usage error", () => {
  const spec = {
    ca: { type: "string", multiple: true },
    insecure: { type: "boolean" },
  } as const;
  const aliases = { "tls-ca": "ca", "tls-insecure": "insecure" };
  const { values } = parseCommand(
    "x run",
    ["--tls-ca", "a.pem", "--ca", "b.pem", "--tls-insecure"],
    spec,
    { aliases },
  );
  assert.deepEqual({ ...values }, { ca: ["b.pem", "a.pem"], insecure: true });
  assert.deepEqual(
    { ...parseCommand("x run", ["--tls-ca=c.pem"], spec, { aliases }).values },
    { ca: ["c.pem"] },
  );
  assert.throws(
    () =>
      parseCommand("x run", ["--insecure", "--tls-insecure"], spec, {
        aliases,
      }),
    usage("x run", /^--tls-insecure is --insecure: give it once$/),
  );
  // Without the alias the old name is unknown.
  assert.throws(
    () => parseCommand("x run", ["--tls-ca", "a"], spec),
    usage("x run", /^unknown option '--tls-ca'$/),
  );
});

Deno.test("addressArg: parses like parseAddress, a bad address is a usage error", () => {
  assert.deepEqual(addressArg("c", "[::1]:80"), { hostname: "::1", port: 80 });
  assert.deepEqual(addressArg("c", "host", { defaultPort: 7 }), {
    hostname: "host",
    port: 7,
  });
  assert.throws(
    () => addressArg("c", "::1:80"),
    usage("c", /^bad address '::1:80': IPv6 addresses need brackets/),
  );
});
