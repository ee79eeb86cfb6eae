// cli/_args.ts: the parsing rules every command shares.

import assert from "node:assert/strict";
import {
  addressArg,
  bytesFlag,
  intFlag,
  parseCommand,
  secondsFlag,
  UsageError,
} from "../../cli/_args.ts";

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

Deno.test("intFlag: whole numbers within bounds, inclusive", () => {
  assert.equal(intFlag("c", "n", undefined), undefined);
  assert.equal(intFlag("c", "n", "0"), 0);
  assert.equal(intFlag("c", "n", "1", { min: 1, max: 5 }), 1);
  assert.equal(intFlag("c", "n", "5", { min: 1, max: 5 }), 5);
  for (const bad of ["0", "6", "-1", "1.5", "1e3", "", " 2", "two"]) {
    assert.throws(
      () => intFlag("c", "n", bad, { min: 1, max: 5 }),
      usage("c", /^--n takes a whole number from 1 to 5, not '/),
      bad,
    );
  }
});

Deno.test("secondsFlag: seconds (fractions too) into milliseconds", () => {
  assert.equal(secondsFlag("c", "grace", undefined), undefined);
  assert.equal(secondsFlag("c", "grace", "0"), 0);
  assert.equal(secondsFlag("c", "grace", "5"), 5000);
  assert.equal(secondsFlag("c", "grace", "0.25"), 250);
  assert.equal(secondsFlag("c", "grace", "1.0005"), 1001);
  for (const bad of ["-1", "1s", ".5", "5.", "1e3", "", "Infinity"]) {
    assert.throws(
      () => secondsFlag("c", "grace", bad),
      usage("c", /^--grace takes seconds, e\.g\. 5 or 0\.5, not '/),
      bad,
    );
  }
});

Deno.test("bytesFlag: plain counts and K/M/G suffixes in powers of 1024", () => {
  assert.equal(bytesFlag("c", "max", undefined), undefined);
  assert.equal(bytesFlag("c", "max", "1048576"), 1048576);
  assert.equal(bytesFlag("c", "max", "512K"), 512 * 1024);
  assert.equal(bytesFlag("c", "max", "10M"), 10 * 1024 ** 2);
  assert.equal(bytesFlag("c", "max", "2G"), 2 * 1024 ** 3);
  assert.equal(bytesFlag("c", "max", "3KiB"), 3 * 1024);
  assert.equal(bytesFlag("c", "max", "4mb"), 4 * 1024 ** 2);
  for (const bad of ["", "1.5M", "-1", "10T", "M", "1 K"]) {
    assert.throws(
      () => bytesFlag("c", "max", bad),
      usage("c", /^--max takes a size like 1048576, 512K or 10M, not '/),
      bad,
    );
  }
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
