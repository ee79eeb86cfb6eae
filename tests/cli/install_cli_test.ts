// `deno task install` and `deno task compile`: the ways to get a `netkit`
// command, and the command lines netkit prints working as printed.

import assert from "node:assert/strict";
import { PROJECT_ROOT } from "../_helpers.ts";

const dec = new TextDecoder();

async function task(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", ...args],
    cwd: PROJECT_ROOT,
    env,
    stdin: "null",
  }).output();
  return {
    code: r.code,
    stdout: dec.decode(r.stdout),
    stderr: dec.decode(r.stderr),
  };
}

async function sh(
  line: string,
  options: { cwd: string; env: Record<string, string>; stdin?: string },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command("sh", {
    args: ["-c", line],
    cwd: options.cwd,
    env: options.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(options.stdin ?? ""));
  await w.close();
  const r = await child.output();
  return {
    code: r.code,
    stdout: dec.decode(r.stdout),
    stderr: dec.decode(r.stderr),
  };
}

/** Collects a child's stderr; `wait` resolves once `count` lines match `pattern` (bounded by `ms`). */
function watchStderr(child: Deno.ChildProcess) {
  let seen = "";
  let changed = Promise.withResolvers<void>();
  const drained = (async () => {
    for await (
      const chunk of child.stderr.pipeThrough(new TextDecoderStream())
    ) {
      seen += chunk;
      changed.resolve();
      changed = Promise.withResolvers<void>();
    }
    changed.resolve();
  })();
  return {
    drained,
    async wait(pattern: RegExp, count: number, ms: number): Promise<string[]> {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = seen.split("\n").filter((l) => pattern.test(l));
        if (found.length >= count) return found;
        const left = deadline - Date.now();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<"late">((r) =>
          timer = setTimeout(() => r("late"), Math.max(0, left))
        );
        const why = await Promise.race([changed.promise, late]);
        clearTimeout(timer);
        if (why === "late") {
          throw new Error(
            `waited ${ms} ms for ${count} ${pattern} lines; stderr: ${seen}`,
          );
        }
      }
    },
  };
}

Deno.test("install: deno task install --root puts a working netkit in <root>/bin", async () => {
  const root = await Deno.makeTempDir({ prefix: "netkit-install-" });
  const elsewhere = await Deno.makeTempDir({ prefix: "netkit-elsewhere-" });
  try {
    const r = await task(["install", "--root", root], {
      PATH: "/usr/bin:/bin",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^installed ${root}/bin/netkit$`, "m"));
    assert.match(r.stdout, new RegExp(`export PATH="${root}/bin:\\$PATH"`));

    // From another folder, with Deno not on the PATH: the script names it.
    const v = await new Deno.Command(`${root}/bin/netkit`, {
      args: ["--version"],
      cwd: elsewhere,
      env: { PATH: "/usr/bin:/bin" },
    }).output();
    assert.equal(v.code, 0, dec.decode(v.stderr));
    assert.match(dec.decode(v.stdout), /^netkit \S+ \(installed script; deno /);

    // The try: lines `netkit serve` prints work as printed, from elsewhere.
    const env = { PATH: `${root}/bin:/usr/bin:/bin`, NO_COLOR: "1" };
    const server = new Deno.Command("netkit", {
      args: ["serve", "--any-port", "--dir", `${elsewhere}/received`],
      cwd: elsewhere,
      env,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = watchStderr(server);
    try {
      const hints = await stderr.wait(/^try: /, 3, 30_000);
      assert.match(
        hints[0]!,
        /^try: printf 'hello\\n' \| netkit echo connect /,
      );
      const echo = await sh(hints[0]!.slice(5), { cwd: elsewhere, env });
      assert.equal(echo.stdout, "hello\n", echo.stderr);
      await Deno.writeTextFile(`${elsewhere}/note.txt`, "sent as printed\n");
      const send = hints[1]!.slice(5).replace(" PATH ", " note.txt ");
      assert.match(send, /^netkit file send /);
      const sent = await sh(send, { cwd: elsewhere, env });
      assert.equal(sent.code, 0, sent.stderr);
      assert.equal(
        await Deno.readTextFile(`${elsewhere}/received/note.txt`),
        "sent as printed\n",
      );
    } finally {
      server.kill("SIGTERM");
      await server.status;
      await stderr.drained;
    }
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(elsewhere, { recursive: true });
  }
});

Deno.test("compile: --dry-run prints deno compile with every flag before the entry point", async () => {
  const r = await task([
    "compile",
    "--target",
    "x86_64-apple-darwin",
    "--no-check",
    "--dry-run",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const words = r.stdout.trim().split(" ");
  assert.equal(words[1], "compile");
  assert.equal(words.at(-1), `${PROJECT_ROOT}cli/main.ts`);
  const before = words.slice(0, -1);
  for (const flag of ["--unstable-net", "--allow-all", "--no-check"]) {
    assert.ok(before.includes(flag), `${flag} in ${r.stdout}`);
  }
  assert.equal(before[before.indexOf("--target") + 1], "x86_64-apple-darwin");
  assert.equal(
    before[before.indexOf("--output") + 1],
    `${PROJECT_ROOT}dist/netkit-x86_64-apple-darwin`,
  );

  const all = await task(["compile", "--target", "all", "--dry-run"]);
  assert.equal(all.code, 0, all.stderr);
  const outputs = all.stdout.trim().split("\n").map((l) =>
    l.split(" --output ")[1]!.split(" ")[0]
  );
  assert.equal(new Set(outputs).size, 6, all.stdout);
  assert.ok(
    outputs.includes(`${PROJECT_ROOT}dist/netkit-x86_64-pc-windows-msvc.exe`),
  );

  const bad = await task(["compile", "--target", "x86_64-plan9", "--dry-run"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown target 'x86_64-plan9'/);
});

Deno.test("compile: a failed build names DENORT_BIN and leaves no empty output", async () => {
  const dir = await Deno.makeTempDir({ prefix: "netkit-compile-" });
  try {
    const r = await task(
      ["compile", "--no-check", "--output", `${dir}/dist/netkit`],
      { DENORT_BIN: `${dir}/no-such-denort` },
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /DENORT_BIN/);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "dist/ removed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
