// The README cannot drift: its transcripts match real runs (tools/
// readme_transcripts.ts), every netkit command line it shows parses, and
// every flag it lists is one the command has.

import assert from "node:assert/strict";
import {
  compareTranscripts,
  findTranscripts,
  normalize,
} from "../tools/readme_transcripts.ts";
import { PROJECT_ROOT, runCli } from "./_helpers.ts";

const README = await Deno.readTextFile(`${PROJECT_ROOT}README.md`);

/** Splits a shell command line into words (single and double quotes). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /'([^']*)'|"((?:\\.|[^"\\])*)"|(\S+)/g;
  for (const m of line.matchAll(re)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}

/** Every `netkit …` command line the README shows: `$ ` lines, `try:` lines and `send with:` lines. */
function shownCommands(): string[][] {
  const found: string[][] = [];
  for (const line of README.split("\n")) {
    if (!/^(\$ |try: |send with: )/.test(line)) continue;
    for (const part of line.split(/\s\|\s|\s{2}or\s/)) {
      const m = /(?:^|\s)netkit\s+(.*)$/.exec(part);
      if (m) found.push(shellWords(m[1]!));
    }
  }
  return found;
}

Deno.test("README: every netkit command line shown parses (run with --help)", async () => {
  const commands = shownCommands();
  assert.ok(commands.length >= 15, `found ${commands.length}`);
  for (const args of commands) {
    const r = await runCli([...args, "--help"]);
    assert.equal(r.code, 0, `netkit ${args.join(" ")}: ${r.stderr}`);
  }
});

Deno.test("README: every flag listed for a command is in its --help", async () => {
  const bullets = [
    ...README.matchAll(/^- `((?:echo|file|ws|tcp|serve)\b[^`]*)`/gm),
  ]
    .map((m) => m[1]!);
  assert.ok(bullets.length >= 10, `found ${bullets.length}`);
  for (const bullet of bullets) {
    const words = bullet.split(" ");
    const command = words.slice(
      0,
      words.findIndex((w) => !/^[a-z-]+$/.test(w)) >>> 0,
    );
    const r = await runCli([...command, "--help"]);
    assert.equal(r.code, 0, `${command.join(" ")}: ${r.stderr}`);
    for (const flag of bullet.match(/--[a-z][a-z-]*/g) ?? []) {
      assert.ok(r.stdout.includes(flag), `${flag} of '${bullet}' not in help`);
    }
  }
});

Deno.test("README: the transcript checker masks what varies and catches what changed", () => {
  const [serve] = findTranscripts(README).filter((t) =>
    t.lines[0] === "$ netkit echo serve --port 7007"
  );
  assert.ok(serve, "the echo transcript is marked");
  assert.equal(compareTranscripts(serve.lines, serve.lines), undefined);
  const otherTimes = serve.lines.map((l) =>
    l.replace(/time=[\d.]+ ms/, "time=9.999 ms")
  );
  assert.equal(compareTranscripts(serve.lines, otherTimes), undefined);
  const changed = serve.lines.map((l) =>
    l.replace("3 probes sent", "3 probes lost")
  );
  assert.match(
    compareTranscripts(serve.lines, changed) ?? "",
    /the run printed "3 probes lost/,
  );
  assert.match(
    compareTranscripts(serve.lines, serve.lines.slice(0, -1)) ?? "",
    /the run printed undefined/,
  );
  assert.equal(normalize("token: abcdefghijklmnopqrstuv"), "token: TOKEN");
});

async function docsCheck(readme: string) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "docs", "--check", "--readme", readme],
    cwd: PROJECT_ROOT,
    stdin: "null",
  }).output();
  return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
}

Deno.test("README: the transcripts match real runs; a changed output fails the check", async () => {
  const ok = await docsCheck(`${PROJECT_ROOT}README.md`);
  assert.equal(ok.code, 0, ok.stderr);

  const [serve] = findTranscripts(README).filter((t) =>
    t.lines[0] === "$ netkit serve"
  );
  assert.ok(serve);
  const lines = serve.lines.map((l) =>
    l.replace(/^listening ws /, "listening http ")
  );
  const copy = await Deno.makeTempFile({ suffix: ".md" });
  try {
    await Deno.writeTextFile(
      copy,
      ["<!-- transcript -->", "```console", ...lines, "```", ""].join("\n"),
    );
    const bad = await docsCheck(copy);
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /transcript drifted: line 5: README has "listening http/,
    );
  } finally {
    await Deno.remove(copy);
  }
});
