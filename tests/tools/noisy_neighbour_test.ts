// The noisy neighbour CI runs the suite beside (.ci/noisy_neighbour.ts)
// stops by itself at its duration, and at once on SIGTERM, with its summary.

import assert from "node:assert/strict";
import {
  PROJECT_ROOT,
  runProgram,
  WAIT_MS,
  waitFor,
  withTimeout,
} from "../_helpers.ts";

const SCRIPT = `${PROJECT_ROOT}.ci/noisy_neighbour.ts`;
const QUIET = ["--rate", "40", "--listeners", "1", "--pairs", "2", "--no-cpu"];
const SUMMARY =
  /^noisy_neighbour: (\d+) connections \(\d+ failed\), (\d+) datagrams, at most \d+ TIME_WAIT sockets\n$/;

Deno.test("noisy neighbour: churns connections and datagrams, then stops at its duration", async () => {
  const r = await runProgram(Deno.execPath(), [
    "run",
    "--unstable-net",
    "--allow-all",
    SCRIPT,
    "--duration",
    "2",
    ...QUIET,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const m = SUMMARY.exec(r.stderr);
  assert.ok(m, r.stderr);
  assert.ok(Number(m[1]) > 0 && Number(m[2]) > 0, r.stderr);
});

Deno.test("noisy neighbour: SIGTERM stops it at once, exit 0", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--unstable-net",
      "--allow-all",
      SCRIPT,
      "--duration",
      "600",
      ...QUIET,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    // Running once it holds its listeners and pairs (6 sockets at least).
    await waitFor("the neighbour's sockets", () => {
      const fds = [...Deno.readDirSync(`/proc/${child.pid}/fd`)];
      return fds.filter((f) => {
        try {
          return Deno.readLinkSync(`/proc/${child.pid}/fd/${f.name}`)
            .startsWith("socket:");
        } catch {
          return false;
        }
      }).length >= 6;
    });
  } finally {
    child.kill("SIGTERM");
  }
  const status = await withTimeout(
    child.status,
    WAIT_MS,
    "the neighbour to stop",
  );
  assert.equal(status.code, 0);
  assert.match(await stderr, SUMMARY);
});
