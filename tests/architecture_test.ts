// Guards the layout (docs/architecture.md): no import cycles among the
// library's modules, private `_name.ts` files used only inside their own
// folder (and its subfolders), a CLI that imports only the library's
// public modules, and folders that import only the folders below them
// (FOLDER_RULES, the source of truth for the table in the doc). The rules
// are checked on the real import graph (`deno info --json`, and for the
// folder rule every non-test file's imports as written) and proven on
// fixture graphs and a fixture tree.

import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url);
const ROOT_PATH = ROOT.pathname;

type Graph = Map<string, string[]>;

/** The import graph of every local module reachable from `entries`. */
async function importGraph(entries: string[]): Promise<Graph> {
  const graph: Graph = new Map();
  for (const entry of entries) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--unstable-net", entry],
      cwd: ROOT_PATH,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(output.success, new TextDecoder().decode(output.stderr));
    const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
      modules: {
        specifier: string;
        dependencies?: {
          code?: { specifier: string };
          type?: { specifier: string };
        }[];
      }[];
    };
    for (const module of info.modules) {
      const from = local(module.specifier);
      if (from === undefined) continue;
      const to = (module.dependencies ?? []).flatMap((d) =>
        [d.code?.specifier, d.type?.specifier].map((s) => s && local(s))
          .filter((s): s is string => s !== undefined)
      );
      graph.set(from, [...new Set(to)]);
    }
  }
  return graph;
}

function local(specifier: string): string | undefined {
  if (!specifier.startsWith(ROOT.href)) return undefined;
  const path = specifier.slice(ROOT.href.length);
  return path.endsWith(".ts") ? path : undefined;
}

/** Every cycle, as the strongly connected components with more than one module (Tarjan). */
export function findCycles(graph: Graph): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      const selfLoop = (graph.get(v) ?? []).includes(v);
      if (component.length > 1 || selfLoop) cycles.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return cycles;
}

function folderOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

/**
 * Imports of a private `_name.ts` from outside its folder: a private file
 * belongs to its folder and the folders under it.
 */
export function privateViolations(graph: Graph): string[] {
  const bad: string[] = [];
  for (const [from, targets] of graph) {
    if (from.startsWith("tests/") || from.startsWith("bench/")) continue;
    for (const to of targets) {
      const name = to.slice(to.lastIndexOf("/") + 1);
      if (!name.startsWith("_")) continue;
      const home = folderOf(to);
      const inside = home === "" || folderOf(from) === home ||
        folderOf(from).startsWith(home + "/");
      if (!inside || (from.startsWith("cli/") && !to.startsWith("cli/"))) {
        bad.push(`${from} -> ${to}`);
      }
    }
  }
  return bad;
}

/** The library modules the CLI may import: export-map entry points and root public modules. */
async function publicModules(): Promise<Set<string>> {
  const denoJson = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  ) as { exports: Record<string, string> };
  const entries = Object.values(denoJson.exports).map((p) =>
    p.replace(/^\.\//, "")
  );
  const rootPublic = [];
  for await (const entry of Deno.readDir(ROOT)) {
    if (entry.isFile && /^[a-z][a-z0-9_]*\.ts$/.test(entry.name)) {
      rootPublic.push(entry.name);
    }
  }
  return new Set([...entries, ...rootPublic]);
}

Deno.test("findCycles finds a cycle in a fixture graph and none in a tree", () => {
  const cyclic: Graph = new Map([
    ["tcp/file/receiver.ts", ["tcp/file/_netcat.ts"]],
    ["tcp/file/_netcat.ts", ["tcp/file/types.ts", "tcp/file/receiver.ts"]],
    ["tcp/file/types.ts", []],
    ["mod.ts", ["tcp/file/receiver.ts"]],
  ]);
  assert.deepEqual(findCycles(cyclic), [[
    "tcp/file/_netcat.ts",
    "tcp/file/receiver.ts",
  ]]);
  assert.deepEqual(findCycles(new Map([["a.ts", ["a.ts"]]])), [["a.ts"]]);
  const tree: Graph = new Map([
    ["mod.ts", ["a.ts", "b.ts"]],
    ["a.ts", ["b.ts"]],
    ["b.ts", []],
  ]);
  assert.deepEqual(findCycles(tree), []);
});

Deno.test("privateViolations flags private files used outside their folder", () => {
  const graph: Graph = new Map([
    ["cli/echo.ts", ["udp/_socket.ts", "cli/_args.ts", "udp/mod.ts"]],
    ["ws/check/_session.ts", ["ws/_raw_connection.ts", "_io.ts"]],
    ["udp/client.ts", ["tcp/file/_store.ts"]],
    ["tests/udp/x_test.ts", ["udp/_socket.ts"]],
    ["cli/tcp.ts", ["_io.ts"]],
  ]);
  assert.deepEqual(privateViolations(graph), [
    "cli/echo.ts -> udp/_socket.ts",
    "udp/client.ts -> tcp/file/_store.ts",
    "cli/tcp.ts -> _io.ts",
  ]);
});

Deno.test("the library and the CLI have no import cycle", async () => {
  const graph = await importGraph(["mod.ts", "cli/main.ts"]);
  assert.ok(graph.size > 50, `only ${graph.size} modules found`);
  assert.deepEqual(findCycles(graph), []);
});

Deno.test("private modules are imported only from their own folder", async () => {
  const graph = await importGraph(["mod.ts", "cli/main.ts"]);
  assert.deepEqual(privateViolations(graph), []);
});

Deno.test("the CLI imports only the library's public modules", async () => {
  const graph = await importGraph(["cli/main.ts"]);
  const allowed = await publicModules();
  const bad: string[] = [];
  for (const [from, targets] of graph) {
    if (!from.startsWith("cli/")) continue;
    for (const to of targets) {
      if (!to.startsWith("cli/") && !allowed.has(to)) {
        bad.push(`${from} -> ${to}`);
      }
    }
  }
  assert.deepEqual(bad, []);
});

// ---------------------------------------------------------------------------
// Folder floors: which folder may import which.

/**
 * The floors: each folder and the folders it may import (besides itself).
 * `.` is the root. Every non-test `.ts` file's imports must keep to this
 * table, the table itself must have no cycle, and so no two folders import
 * each other, even through different files. A folder's `mod.ts` is its
 * entry point: what it re-exports from its own folder and the folders under
 * it (the root's: every library folder) is no arrow, and importing a
 * `mod.ts` counts as importing every folder it re-exports.
 * docs/architecture.md shows this table; this one is the source of truth.
 */
export const FOLDER_RULES: Record<string, readonly string[]> = {
  ".": [],
  "load": ["."],
  "tcp/proc": ["."],
  "view": [".", "load", "tcp/proc"],
  "tcp": [".", "load", "tcp/proc"],
  "tcp/file": [".", "tcp"],
  "tcp/trace": [".", "tcp", "view"],
  "tcp/lab": [".", "tcp", "tcp/proc", "tcp/trace", "view"],
  "udp": [".", "load", "tcp/proc"],
  "http": [".", "load", "tcp", "tcp/proc"],
  "ws": [".", "load", "tcp", "tcp/proc"],
  "ws/check": [".", "tcp", "ws"],
  "relay": [".", "tcp", "udp", "ws"],
};
/** The published library's folders; the rest stand on top of it. */
const LIBRARY = Object.keys(FOLDER_RULES);
FOLDER_RULES["cli"] = LIBRARY;
FOLDER_RULES["bench"] = LIBRARY;
FOLDER_RULES["bench/peers"] = LIBRARY;
FOLDER_RULES["tools"] = [...LIBRARY, "cli"];
FOLDER_RULES[".ci"] = [];

/**
 * The local imports a module's source writes: static `import`/`export …
 * from`, side-effect imports and `import("…")` with a literal, outside
 * comments. Only relative specifiers (`./`, `../`) are local.
 */
export function writtenImports(source: string): string[] {
  const code = source.replace(/^\s*(\/\/|\/\*|\*).*$/gm, "");
  const specifiers = [
    ...code.matchAll(
      /^(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["']([^"']+)["']/gm,
    ),
    ...code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g),
  ].map((m) => m[1]!);
  return specifiers.filter((s) => s.startsWith("./") || s.startsWith("../"));
}

/**
 * Every non-test `.ts` file under `root` (a directory path ending in `/`)
 * and the local files it imports, as paths relative to `root`.
 */
export async function writtenGraph(root: string): Promise<Graph> {
  const graph: Graph = new Map();
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(root + dir)) {
      const path = dir + entry.name;
      if (entry.isDirectory) {
        if (!["tests", "node_modules", "dist", ".git"].includes(entry.name)) {
          await walk(path + "/");
        }
      } else if (entry.isFile && path.endsWith(".ts")) {
        const base = new URL(path, "file:///");
        graph.set(
          path,
          writtenImports(await Deno.readTextFile(root + path)).map((s) =>
            new URL(s, base).pathname.slice(1)
          ),
        );
      }
    }
  };
  await walk("");
  return graph;
}

function folderName(path: string): string {
  return folderOf(path) || ".";
}

/** Whether `folder` is one a `mod.ts` in `home` re-exports without an arrow. */
function underEntry(home: string, folder: string, library: string[]): boolean {
  if (home === ".") return library.includes(folder);
  return folder === home || folder.startsWith(home + "/");
}

/** The folders a module brings in: its own, or for a `mod.ts`, every folder it re-exports. */
function foldersBehind(
  graph: Graph,
  path: string,
  seen = new Set<string>(),
): string[] {
  if (!path.endsWith("mod.ts") || path.endsWith("_mod.ts")) {
    return [folderName(path)];
  }
  if (seen.has(path)) return [];
  seen.add(path);
  return [
    folderName(path),
    ...(graph.get(path) ?? []).flatMap((to) => foldersBehind(graph, to, seen)),
  ];
}

/**
 * Everything that breaks the floors in `graph` (module → modules it
 * imports): an import of a folder `rules` does not allow (or from a folder
 * the table does not name), a folder cycle in the graph, a cycle in the
 * table. Each entry names the files behind it. `library` is the folders a
 * root `mod.ts` may re-export.
 */
export function floorViolations(
  graph: Graph,
  rules: Record<string, readonly string[]>,
  library: string[] = Object.keys(rules),
): string[] {
  const bad: string[] = [];
  const folders: Graph = new Map();
  for (const [from, targets] of graph) {
    const home = folderName(from);
    const entry = from.endsWith("mod.ts") && !from.endsWith("_mod.ts");
    const reached = folders.get(home) ?? [];
    folders.set(home, reached);
    for (const to of targets) {
      for (const folder of new Set(foldersBehind(graph, to))) {
        if (folder === home) continue;
        if (
          entry &&
          underEntry(home, folder, library)
        ) continue;
        reached.push(folder);
        const via = folderName(to) === folder ? "" : ` (via ${to})`;
        if (!(home in rules)) {
          bad.push(`${home}/ has no floor in the table: ${from} -> ${to}`);
        } else if (!rules[home]!.includes(folder)) {
          bad.push(
            `${home}/ may not import ${folder}/: ${from} -> ${to}${via}`,
          );
        }
      }
    }
  }
  for (const cycle of findCycles(folders)) {
    bad.push(`folder cycle: ${cycle.join(" <-> ")}`);
  }
  const table: Graph = new Map(
    Object.entries(rules).map(([k, v]) => [k, [...v]]),
  );
  for (const cycle of findCycles(table)) {
    bad.push(`the table allows a cycle: ${cycle.join(" <-> ")}`);
  }
  return bad;
}

Deno.test("floorViolations fails on a fixture tree with a folder cycle", async () => {
  const dir = await Deno.makeTempDir({ prefix: "netkit_floors_" });
  try {
    const files: Record<string, string> = {
      // a/ imports b/ and b/ imports a/, through different files.
      "a/one.ts":
        `import { two } from "../b/two.ts";\nexport const one = two;\n`,
      "a/four.ts": `export const four = 4;\n`,
      "b/two.ts": `export const two = 2;\n`,
      "b/three.ts":
        `// import { nothing } from "../c/six.ts";\nexport { four } from "../a/four.ts";\n`,
      "b/mod.ts": `export * from "./two.ts";\nexport * from "./sub/five.ts";\n`,
      "b/sub/five.ts": `export const five = 5;\n`,
      // c/ imports only b/, but b's entry point brings b/sub/ too.
      "c/six.ts":
        `export const six = async () => (await import("../b/mod.ts")).two;\n`,
    };
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(`${dir}/${folderOf(path)}`, { recursive: true });
      await Deno.writeTextFile(`${dir}/${path}`, text);
    }
    const graph = await writtenGraph(dir + "/");
    assert.deepEqual(graph.get("b/three.ts"), ["a/four.ts"]);
    assert.deepEqual(graph.get("c/six.ts"), ["b/mod.ts"]);

    // A table that allows both arrows still fails: the folders form a cycle.
    const permissive = { a: ["b"], b: ["a"], "b/sub": [], c: ["b", "b/sub"] };
    assert.deepEqual(floorViolations(graph, permissive), [
      "folder cycle: a <-> b",
      "the table allows a cycle: a <-> b",
    ]);

    // A table with one direction names the arrow that goes up.
    const strict = { a: ["b"], b: [], "b/sub": [], c: ["b"] };
    assert.deepEqual(floorViolations(graph, strict).sort(), [
      "b/ may not import a/: b/three.ts -> a/four.ts",
      "c/ may not import b/sub/: c/six.ts -> b/mod.ts (via b/mod.ts)",
      "folder cycle: a <-> b",
    ]);

    // Without the upward file, the tree keeps its floors.
    graph.delete("b/three.ts");
    assert.deepEqual(
      floorViolations(graph, permissive).filter((v) =>
        !v.startsWith("the table")
      ),
      [],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every folder imports only the folders below it (FOLDER_RULES)", async () => {
  const graph = await writtenGraph(ROOT_PATH);
  assert.ok(graph.size > 150, `only ${graph.size} modules found`);
  assert.deepEqual(floorViolations(graph, FOLDER_RULES), []);
});

Deno.test("the written-imports scanner sees every import deno info sees", async () => {
  const written = await writtenGraph(ROOT_PATH);
  const info = await importGraph([
    "mod.ts",
    "cli/main.ts",
    "tcp/lab/mod.ts",
    "tcp/trace/mod.ts",
  ]);
  const missed: string[] = [];
  for (const [from, targets] of info) {
    if (from.startsWith("tests/")) continue;
    for (const to of targets) {
      if (!written.get(from)?.includes(to)) missed.push(`${from} -> ${to}`);
    }
  }
  assert.deepEqual(missed, []);
});
