// The shared test helpers keep their promises: bounded waits fail naming
// what they waited for, and a missing peer is a skip locally but a failure
// in CI.

import assert from "node:assert/strict";
import {
  missingPeer,
  PROJECT_ROOT,
  runProgram,
  startCli,
  waitFor,
  withTimeout,
} from "./_helpers.ts";

Deno.test("withTimeout: resolves in time, else fails naming what it waited for", async () => {
  assert.equal(await withTimeout(Promise.resolve(7), 1000, "seven"), 7);
  await assert.rejects(
    withTimeout(new Promise(() => {}), 20, "a reply that never comes"),
    /^Error: timed out after 20 ms waiting for a reply that never comes$/,
  );
});

Deno.test("waitFor: returns the first truthy value, else fails naming the condition", async () => {
  let calls = 0;
  assert.equal(await waitFor("three calls", () => ++calls >= 3 && calls), 3);
  await assert.rejects(
    waitFor("something false", () => false, { timeoutMs: 30 }),
    /timed out after 30 ms waiting for something false/,
  );
  // A check that hangs is bounded as well.
  await assert.rejects(
    waitFor("a hanging check", () => new Promise<boolean>(() => {}), {
      timeoutMs: 30,
    }),
    /waiting for a hanging check/,
  );
});

const PROBE = `import { missingPeer } from "${PROJECT_ROOT}tests/_helpers.ts";
console.log(missingPeer("netkit-no-such-peer"));`;

Deno.test("missingPeer: a missing peer is a visible skip locally and a failure in CI", async () => {
  assert.equal(missingPeer("sh"), false);
  const local = await runProgram(Deno.execPath(), ["eval", PROBE], {
    env: { CI: "false" },
  });
  assert.equal(local.code, 0, local.stderr);
  assert.equal(local.stdout.trim(), "true");
  assert.match(local.stderr, /SKIP: peer 'netkit-no-such-peer'/);
  const ci = await runProgram(Deno.execPath(), ["eval", PROBE], {
    env: { CI: "true" },
  });
  assert.notEqual(ci.code, 0);
  assert.match(ci.stderr, /peer 'netkit-no-such-peer' is missing in CI/);
});

Deno.test("startCli: disposing a running server kills the CLI itself, not only deno task", async () => {
  let port: number;
  {
    await using server = await startCli([
      "echo",
      "serve",
      "--tcp",
      "--port",
      "0",
    ]);
    port = server.ports.tcp!;
  }
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
});
