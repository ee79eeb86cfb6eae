// load/ sits below the protocol folders (docs/architecture.md, "Folders
// point down"): what it imports stays in load/ and the root, so no folder
// cycle can run load/ → tcp/proc/ → … → tcp/load.ts → load/.

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

async function localModules(entry: string): Promise<string[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--unstable-net", entry],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    modules: { specifier: string }[];
  };
  return info.modules.map((m) => m.specifier)
    .filter((s) => s.startsWith(ROOT.href))
    .map((s) => s.slice(ROOT.href.length));
}

Deno.test("load/ imports only load/ and the root: the protocols are above it", async () => {
  const reached = await localModules("load/mod.ts");
  assert.ok(reached.includes("load/schedule.ts"));
  const outside = reached.filter((p) =>
    !p.startsWith("load/") && p.includes("/")
  );
  assert.deepEqual(outside, []);
});
