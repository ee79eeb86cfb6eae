// Pins the public API: for each entry point in deno.json's "exports", the
// sorted names it exports (as `deno doc --json` sees them, types included)
// must equal tests/fixtures/exports.json, so adding or removing an export
// is a decision, never an accident. After a deliberate change, run
//   NETKIT_UPDATE_EXPORTS=1 deno test --allow-all tests/exports_test.ts
// and commit the new list. Also keeps private files out of the public docs:
// nothing an entry point exports may be declared in a `_name.ts` file, and
// no exported signature may name a type that only a `_name.ts` file
// declares.

import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url);
const PIN = new URL("tests/fixtures/exports.json", ROOT);

interface DocSymbol {
  name: string;
  declarations: {
    declarationKind: string;
    location: { filename: string };
  }[];
}

/** deno.json's export map: entry name → file. */
async function entryPoints(): Promise<Record<string, string>> {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  ) as { exports: Record<string, string> };
  return config.exports;
}

/** Each entry point's exported symbols, from one `deno doc --json` run. */
async function exportedSymbols(
  entries: Record<string, string>,
): Promise<Map<string, DocSymbol[]>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", ...Object.values(entries)],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const doc = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    nodes: Record<string, { symbols?: DocSymbol[] }>;
  };
  const symbols = new Map<string, DocSymbol[]>();
  for (const [name, file] of Object.entries(entries)) {
    const node = doc.nodes[new URL(file, ROOT).href];
    assert.ok(node, `deno doc says nothing about ${file}`);
    symbols.set(
      name,
      (node.symbols ?? []).filter((s) =>
        s.declarations.some((d) => d.declarationKind === "export")
      ),
    );
  }
  return symbols;
}

/** What differs between two pins, one line per added or removed name. */
export function exportDiff(
  pinned: Record<string, string[]>,
  actual: Record<string, string[]>,
): string[] {
  const lines: string[] = [];
  const entries = [...new Set([...Object.keys(pinned), ...Object.keys(actual)])]
    .sort();
  for (const entry of entries) {
    const before = new Set(pinned[entry] ?? []);
    const after = new Set(actual[entry] ?? []);
    if (!(entry in pinned)) lines.push(`+ entry point ${entry}`);
    if (!(entry in actual)) lines.push(`- entry point ${entry}`);
    for (const name of after) {
      if (!before.has(name)) lines.push(`+ ${entry}: ${name}`);
    }
    for (const name of before) {
      if (!after.has(name)) lines.push(`- ${entry}: ${name}`);
    }
  }
  return lines;
}

Deno.test("exportDiff names each added and removed export", () => {
  assert.deepEqual(
    exportDiff(
      { ".": ["a", "b"], "./tcp": ["c"] },
      { ".": ["a", "d"], "./udp": ["e"] },
    ),
    [
      "+ .: d",
      "- .: b",
      "- entry point ./tcp",
      "- ./tcp: c",
      "+ entry point ./udp",
      "+ ./udp: e",
    ],
  );
  assert.deepEqual(exportDiff({ ".": ["a"] }, { ".": ["a"] }), []);
});

Deno.test("every entry point exports exactly the pinned names (tests/fixtures/exports.json)", async () => {
  const symbols = await exportedSymbols(await entryPoints());
  const actual: Record<string, string[]> = {};
  for (const [entry, list] of symbols) {
    actual[entry] = [...new Set(list.map((s) => s.name))].sort();
  }
  if (Deno.env.get("NETKIT_UPDATE_EXPORTS")) {
    await Deno.writeTextFile(PIN, JSON.stringify(actual, null, 2) + "\n");
  }
  const pinned = JSON.parse(await Deno.readTextFile(PIN)) as Record<
    string,
    string[]
  >;
  const diff = exportDiff(pinned, actual);
  assert.deepEqual(
    diff,
    [],
    `the public exports changed (+ added, - removed):\n  ${
      diff.join("\n  ")
    }\nIf that is meant, run NETKIT_UPDATE_EXPORTS=1 deno test --allow-all ` +
      `tests/exports_test.ts and commit tests/fixtures/exports.json.`,
  );
});

Deno.test("no entry point exports a symbol declared in a private _name.ts file", async () => {
  const symbols = await exportedSymbols(await entryPoints());
  const bad: string[] = [];
  for (const [entry, list] of symbols) {
    for (const symbol of list) {
      for (const { location } of symbol.declarations) {
        const file = location.filename.slice(ROOT.href.length);
        const base = file.slice(file.lastIndexOf("/") + 1);
        if (base.startsWith("_")) {
          bad.push(`${entry}: ${symbol.name} (${file})`);
        }
      }
    }
  }
  assert.deepEqual([...new Set(bad)], []);
});

/** Every type name a deno doc node refers to. */
function typeNames(node: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(node)) {
    for (const item of node) typeNames(item, into);
  } else if (node !== null && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      if (key === "typeName" && typeof value === "string") into.add(value);
      else typeNames(value, into);
    }
  }
  return into;
}

/** Types exported by private files (`_name.ts`) of the library. */
async function privateTypes(dir = ""): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for await (const entry of Deno.readDir(new URL(dir || ".", ROOT))) {
    const path = dir + entry.name;
    if (entry.isDirectory) {
      if (!/^(tests|bench|tools|node_modules|dist|\.)/.test(entry.name)) {
        for (const [k, v] of await privateTypes(path + "/")) found.set(k, v);
      }
    } else if (entry.name.startsWith("_") && path.endsWith(".ts")) {
      const source = await Deno.readTextFile(new URL(path, ROOT));
      for (
        const m of source.matchAll(
          /^export (?:interface|type|class|enum) (\w+)/gm,
        )
      ) found.set(m[1]!, path);
    }
  }
  return found;
}

Deno.test("no exported signature names a type only a private file declares", async () => {
  const symbols = await exportedSymbols(await entryPoints());
  const hidden = await privateTypes();
  const bad: string[] = [];
  for (const [entry, list] of symbols) {
    const exported = new Set(list.map((s) => s.name));
    for (const symbol of list) {
      for (const name of typeNames(symbol.declarations)) {
        if (hidden.has(name) && !exported.has(name)) {
          bad.push(
            `${entry}: ${symbol.name} uses ${name} (${hidden.get(name)})`,
          );
        }
      }
    }
  }
  assert.deepEqual([...new Set(bad)].sort(), []);
});
