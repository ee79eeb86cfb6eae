// `deno task docs`: the README's console transcripts, regenerated from real
// runs so they cannot drift. A block marked `<!-- transcript -->` is run
// command by command (`$ ` lines) in a scratch folder with `netkit` on the
// PATH; servers (`… serve`, `file recv`) run in the background on free ports
// (shown as the ports the README names); `^C` stops them and adds their
// summaries. `deno task docs --check` regenerates without writing and fails
// on the first line that differs, figures that change every run (RTTs,
// tokens, rates) masked.

import { ENTRY, ROOT, shellQuote } from "./_cli_flags.ts";

/** A marked console block: its lines, between the fences at 0-based lines `start` and `end`. */
export interface Transcript {
  start: number;
  end: number;
  lines: string[];
}

const MARK = "<!-- transcript -->";

/** Every marked ```console block of `readme`. */
export function findTranscripts(readme: string): Transcript[] {
  const lines = readme.split("\n");
  const found: Transcript[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== MARK) continue;
    // deno fmt puts a blank line between the mark and the fence.
    let fence = i + 1;
    while (lines[fence] === "") fence++;
    if (lines[fence] !== "```console") {
      throw new Error(`line ${i + 1}: ${MARK} not followed by a console block`);
    }
    const end = lines.indexOf("```", fence + 1);
    if (end === -1) {
      throw new Error(`line ${fence + 1}: unclosed console block`);
    }
    found.push({ start: fence, end, lines: lines.slice(fence + 1, end) });
    i = end;
  }
  return found;
}

/** Masks what changes from run to run: round-trip times, tokens, codes, rates, nonces. */
export function normalize(line: string): string {
  return line
    .replace(/time=\d+\.\d+ ms/g, "time=T ms")
    .replace(/= [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms/g, "= T/T/T/T ms")
    .replace(/([Tt]oken:? )[A-Za-z0-9_-]{16,}/g, "$1TOKEN")
    .replace(/((?:[Cc]ode:?|--code) )\d{1,2}(?:-[a-z]{4,8}){3}/g, "$1CODE")
    .replace(/ [0-9a-f]{12}"/g, ' NONCE"')
    .replace(/in [\d.]+ s \([\d.]+ MB\/s\)/g, "in T s (R MB/s)");
}

/** The first difference between two transcripts (after {@linkcode normalize}), or undefined. */
export function compareTranscripts(
  expected: string[],
  actual: string[],
): string | undefined {
  for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
    const a = expected[i], b = actual[i];
    if (a === undefined || b === undefined || normalize(a) !== normalize(b)) {
      return `line ${i + 1}: README has ${JSON.stringify(a)}, the run printed ${
        JSON.stringify(b)
      }`;
    }
  }
  return undefined;
}

interface Server {
  child: Deno.ChildProcess;
  text: { lines: string[] };
  done: Promise<void>;
}

const SERVER = /^netkit (?:\w+ )?(?:serve|recv)\b/;

/** Runs one transcript's commands and returns the block as it should read. */
export async function runTranscript(doc: string[]): Promise<string[]> {
  const work = await Deno.makeTempDir({ prefix: "netkit-docs-" });
  await writeFixtures(work);
  const env = {
    PATH: `${work}/.bin:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    NO_COLOR: "1",
  };
  const servers: Server[] = [];
  const ports = new Map<string, string>(); // README port → real port
  const tokens = new Map<string, string>(); // README token → real token
  const out: string[] = [];
  const toReal = (s: string) => {
    for (const [d, r] of [...ports, ...tokens]) s = s.replaceAll(d, r);
    return s;
  };
  const toDoc = (s: string) => {
    for (const [d, r] of ports) s = s.replace(new RegExp(`\\b${r}\\b`, "g"), d);
    return s;
  };
  try {
    for (let i = 0; i < doc.length; i++) {
      const line = doc[i]!;
      if (line.startsWith("^C")) {
        out.push(line);
        for (const s of servers.splice(0)) {
          out.push(...(await stop(s)).map(toDoc));
        }
        continue;
      }
      if (!line.startsWith("$ ")) continue;
      const command = line.slice(2);
      const expected = countOutput(doc, i);
      out.push(`$ ${toDocTokens(command, tokens)}`);
      if (SERVER.test(command)) {
        const server = startServer(serverCommand(command), work, env);
        servers.push(server);
        const lines = await waitLines(server, expected);
        learnPorts(command, lines, ports);
        learnTokens(doc.slice(i + 1, i + 1 + expected), lines, tokens);
        out.push(...lines.map(toDoc));
      } else {
        const r = await new Deno.Command("sh", {
          args: ["-c", `exec 2>&1; ${toReal(command)}`],
          cwd: work,
          env,
          stdin: "null",
          stdout: "piped",
        }).output();
        const text = new TextDecoder().decode(r.stdout).replace(/\n$/, "");
        if (text) out.push(...text.split("\n").map(toDoc));
      }
    }
  } finally {
    for (const s of servers) await stop(s);
    await Deno.remove(work, { recursive: true });
  }
  return out;
}

function toDocTokens(command: string, tokens: Map<string, string>): string {
  for (const [d, r] of tokens) command = command.replaceAll(d, r);
  return command;
}

/** Output lines the README shows after command `i` (up to the next `$ ` or `^C`). */
function countOutput(doc: string[], i: number): number {
  let n = 0;
  while (i + 1 + n < doc.length && !/^(\$ |\^C)/.test(doc[i + 1 + n]!)) n++;
  return n;
}

// Servers bind free ports; the README keeps naming the documented ones.
function serverCommand(command: string): string {
  if (/--port \d+/.test(command)) {
    return command.replace(/--port \d+/, "--port 0");
  }
  if (/^netkit serve\b/.test(command)) return `${command} --any-port`;
  return `${command} --port 0`;
}

function learnPorts(
  command: string,
  lines: string[],
  ports: Map<string, string>,
) {
  const real = lines.map((l) => /^listening \w+ .*:(\d+)$/.exec(l)?.[1])
    .filter((p): p is string => p !== undefined);
  const doc = /^netkit serve\b/.test(command)
    ? ["7007", "7007", "7070", "8080"]
    : [/--port (\d+)/.exec(command)?.[1] ?? "7070"];
  real.forEach((port, k) => {
    const d = doc[Math.min(k, doc.length - 1)]!;
    if (!ports.has(d)) ports.set(d, port);
  });
}

function learnTokens(
  doc: string[],
  lines: string[],
  tokens: Map<string, string>,
) {
  const pick = (ls: string[]) =>
    ls.map((l) => /^(?:token|code): (\S+)/.exec(l)?.[1]).find(Boolean);
  const d = pick(doc), r = pick(lines);
  if (d && r) tokens.set(d, r);
}

function startServer(
  command: string,
  cwd: string,
  env: Record<string, string>,
): Server {
  const child = new Deno.Command("sh", {
    args: ["-c", `exec 2>&1; exec ${command}`],
    cwd,
    env,
    stdin: "null",
    stdout: "piped",
  }).spawn();
  const text = { lines: [] as string[] };
  const done = (async () => {
    let rest = "";
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      text.lines.push(...parts);
    }
  })();
  return { child, text, done };
}

/** The server's first `count` lines, waiting at most 15 s (then what there is). */
async function waitLines(server: Server, count: number): Promise<string[]> {
  const deadline = Date.now() + 15_000;
  while (
    server.text.lines.length < Math.max(1, count) && Date.now() < deadline
  ) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return server.text.lines.splice(0);
}

async function stop(server: Server): Promise<string[]> {
  try {
    server.child.kill("SIGINT");
  } catch {
    // Already gone.
  }
  await server.child.status;
  await server.done;
  return server.text.lines.splice(0);
}

async function writeFixtures(work: string): Promise<void> {
  await Deno.mkdir(`${work}/.bin`);
  await Deno.writeTextFile(
    `${work}/.bin/netkit`,
    `#!/bin/sh\nexec ${
      shellQuote(Deno.execPath())
    } run --unstable-net --allow-all ${shellQuote(ENTRY)} "$@"\n`,
    { mode: 0o755 },
  );
  await Deno.mkdir(`${work}/src/docs`, { recursive: true });
  await Deno.writeTextFile(`${work}/src/docs/readme.txt`, "hello\n");
  const photo = new Uint8Array(3_000_000);
  let x = 1;
  for (let i = 0; i < photo.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    photo[i] = x & 0xff;
  }
  await Deno.writeFile(`${work}/src/photo.jpg`, photo);
}

async function run(args: string[]): Promise<number> {
  const check = args.includes("--check");
  // --readme FILE: another file (the tests check a changed copy).
  const at = args.indexOf("--readme");
  const path = at === -1 ? `${ROOT}README.md` : args[at + 1]!;
  const readme = await Deno.readTextFile(path);
  const lines = readme.split("\n");
  const blocks = findTranscripts(readme);
  let failed = 0;
  for (const block of blocks.reverse()) {
    const actual = await runTranscript(block.lines);
    if (check) {
      const diff = compareTranscripts(block.lines, actual);
      if (diff) {
        console.error(
          `${path}:${block.start + 1}: transcript drifted: ${diff}`,
        );
        failed++;
      }
    } else {
      lines.splice(block.start + 1, block.end - block.start - 1, ...actual);
    }
  }
  if (check) {
    if (failed) console.error("run `deno task docs` to regenerate");
    else console.log(`${blocks.length} transcripts match their runs`);
    return failed ? 1 : 0;
  }
  await Deno.writeTextFile(path, lines.join("\n"));
  console.log(`regenerated ${blocks.length} transcripts in README.md`);
  return 0;
}

if (import.meta.main) Deno.exit(await run(Deno.args));
