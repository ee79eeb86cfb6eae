// The mutant catalogues stay applicable: every mutant's `find` text occurs
// exactly once in its file, so a change to the code cannot silently turn
// a mutant into a no-op (`deno task mutants` itself is not part of the suite).

import assert from "node:assert/strict";
import {
  type Entry,
  formatTable,
  loadCatalogues,
  META_TEST,
  runTests,
  testCommand,
  validate,
} from "../../tools/mutants.ts";
import { PROJECT_ROOT, WAIT_MS, waitFor, withTimeout } from "../_helpers.ts";

Deno.test("mutants: every catalogue entry applies exactly once to an existing file", async () => {
  const entries = await loadCatalogues(`${PROJECT_ROOT}tools/mutants/`);
  assert.ok(entries.some((e) => e.area === "core"), "core.json is read");
  const problems: string[] = [];
  for (const e of entries) {
    for (const p of await validate(e, PROJECT_ROOT)) {
      problems.push(`${e.id}: ${p}`);
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("mutants: validate names a find that is missing or repeated, and unknown areas fail", async () => {
  const dir = await Deno.makeTempDir({ prefix: "netkit-mutants-test-" });
  try {
    await Deno.writeTextFile(`${dir}/x.ts`, "a a b");
    const entry = (find: string): Entry => ({
      area: "t",
      id: "t#1",
      file: "x.ts",
      find,
      replace: "z",
      why: "test",
    });
    assert.deepEqual(await validate(entry("b"), `${dir}/`), []);
    assert.deepEqual(await validate(entry("a"), `${dir}/`), [
      "'find' occurs 2 times in x.ts, not once",
    ]);
    assert.deepEqual(await validate(entry("c"), `${dir}/`), [
      "'find' occurs 0 times in x.ts, not once",
    ]);
    await Deno.mkdir(`${dir}/m`);
    await Deno.writeTextFile(`${dir}/m/one.json`, JSON.stringify([entry("b")]));
    const loaded = await loadCatalogues(`${dir}/m/`);
    assert.deepEqual(loaded.map((e) => e.id), ["one#1"]);
    await assert.rejects(
      loadCatalogues(`${dir}/m/`, ["two"]),
      /no catalogue for area two \(have: one\)/,
    );
    const table = formatTable([{
      entry: loaded[0]!,
      result: "killed",
      seconds: 3,
      tail: "",
    }]);
    assert.match(table, /^\| one#1 \| x\.ts \| test \| killed \| 3 s \|$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mutants: the meta-test never judges; an entry naming it is invalid", async () => {
  const dir = await Deno.makeTempDir({ prefix: "netkit-mutants-meta-" });
  try {
    // A meta-test that always fails beside a behaviour test that passes:
    // the run passes, so a mutant cannot be "killed" by bookkeeping.
    await Deno.mkdir(`${dir}/tests/tools`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/${META_TEST}`,
      'Deno.test("bookkeeping", () => { throw new Error("stale"); });\n',
    );
    await Deno.writeTextFile(
      `${dir}/tests/ok_test.ts`,
      'Deno.test("behaviour", () => {});\n',
    );
    await Deno.writeTextFile(`${dir}/x.ts`, "b");
    const run = await runTests(`${dir}/`, ["tests/"], 60_000);
    assert.equal(run.passed, true, run.tail);
    assert.ok(testCommand(["tests/"]).args.includes(`--ignore=${META_TEST}`));
    const entry: Entry = {
      area: "t",
      id: "t#1",
      file: "x.ts",
      find: "b",
      replace: "c",
      why: "test",
      tests: [META_TEST],
    };
    assert.deepEqual(await validate(entry, `${dir}/`), [
      `${META_TEST} judges no behaviour: name behaviour tests`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "mutants --isolated: the tests run in a private network namespace with loopback up",
  ignore: Deno.uid() !== 0,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "netkit-mutants-ns-" });
  try {
    // Passes only in another network namespace than this one, where
    // 127.0.0.1 works and none of this machine's sockets are listed.
    await Deno.writeTextFile(
      `${dir}/ns_test.ts`,
      `Deno.test("private namespace", () => {
  const here = Deno.readLinkSync("/proc/self/ns/net");
  if (here === ${JSON.stringify(Deno.readLinkSync("/proc/self/ns/net"))}) {
    throw new Error("same namespace as the caller");
  }
  using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const rows = Deno.readTextFileSync("/proc/net/tcp").trim().split("\\n");
  if (rows.length !== 2) throw new Error(rows.join("\\n"));
});
`,
    );
    const isolated = await runTests(`${dir}/`, ["ns_test.ts"], 60_000, {
      isolated: true,
    });
    assert.equal(isolated.passed, true, isolated.tail);
    const shared = await runTests(`${dir}/`, ["ns_test.ts"], 60_000);
    assert.equal(shared.passed, false, "the check tells namespaces apart");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mutants: a run past its timeout is killed with every process it started", async () => {
  const dir = await Deno.makeTempDir({ prefix: "netkit-mutants-hang-" });
  try {
    // A test that starts a long child, records its pid, and never ends.
    await Deno.writeTextFile(
      `${dir}/hang_test.ts`,
      `Deno.test("hangs", async () => {
  const child = new Deno.Command("sleep", { args: ["300"] }).spawn();
  Deno.writeTextFileSync("pid", String(child.pid));
  await child.status;
});
`,
    );
    // Ended from here once the child runs (as the timeout would end it).
    const stop = new AbortController();
    const running = runTests(`${dir}/`, ["hang_test.ts"], 10 * WAIT_MS, {
      signal: stop.signal,
    });
    const pid = await waitFor(
      "the hanging test to start its child",
      () => Deno.readTextFile(`${dir}/pid`).then(Number, () => undefined),
    );
    stop.abort();
    const run = await withTimeout(running, WAIT_MS, "the run to be killed");
    assert.equal(run.timedOut, true);
    assert.equal(run.passed, false);
    // Gone, or a zombie of the killed test process that init reaps.
    const state = await Deno.readTextFile(`/proc/${pid}/stat`).then(
      (t) => t.split(") ")[1]?.[0],
      () => "gone",
    );
    assert.ok(state === "gone" || state === "Z", `sleep ${pid}: ${state}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
