// The mutant catalogues stay applicable: every mutant's `find` text occurs
// exactly once in its file, so a change to the code cannot silently turn
// a mutant into a no-op (`deno task mutants` itself is not part of the suite).

import assert from "node:assert/strict";
import {
  type Entry,
  formatTable,
  loadCatalogues,
  validate,
} from "../../tools/mutants.ts";
import { PROJECT_ROOT } from "../_helpers.ts";

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
