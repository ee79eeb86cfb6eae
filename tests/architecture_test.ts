// Guards the layout (docs/architecture.md): no import cycles among the
// library's modules, private `_name.ts` files used only inside their own
// folder (and its subfolders), and a CLI that imports only the library's
// public modules. The rules are checked on the real import graph, as
// `deno info --json` reports it, and proven on fixture graphs.

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
