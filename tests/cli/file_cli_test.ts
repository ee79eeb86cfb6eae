// `netkit file send` / `netkit file recv` as users run them.

import assert from "node:assert/strict";
import {
  generateToken,
  type ReceiveSession,
  serveFileReceiver,
} from "../../tcp/mod.ts";
import denoJson from "../../deno.json" with { type: "json" };
import {
  type CliResult,
  type CliServer,
  PROJECT_ROOT,
  readAll,
  runCli,
  seededBytes,
  startCli,
} from "../_helpers.ts";
import { renderLine } from "../../cli/_progress.ts";

const FIXTURES = `${PROJECT_ROOT}tests/fixtures/tls/`;
const enc = new TextEncoder();

/**
 * The CLI as one process we can SIGKILL: `deno task` would leave its child
 * running, so run what the task runs (or the compiled binary).
 */
function directCli(args: string[]): { cmd: string; args: string[] } {
  const bin = Deno.env.get("NETKIT_BIN");
  if (bin) return { cmd: bin, args };
  const task = denoJson.tasks.netkit.split(/\s+/).slice(1);
  return { cmd: Deno.execPath(), args: [...task, ...args] };
}

/** Waits for a `--once` receiver to exit on its own, then collects its output. */
async function finished(server: CliServer): Promise<CliResult> {
  await server.process.status;
  return await server.stop();
}

async function withDirs(
  run: (src: string, dst: string) => Promise<void>,
): Promise<void> {
  const src = await Deno.makeTempDir({ prefix: "netkit-cli-src-" });
  const dst = await Deno.makeTempDir({ prefix: "netkit-cli-dst-" });
  try {
    await run(src, dst);
  } finally {
    await Deno.remove(src, { recursive: true });
    await Deno.remove(dst, { recursive: true });
  }
}

Deno.test("file cli: recv --once --json and send --json move a folder and report it", async () => {
  await withDirs(async (src, dst) => {
    await Deno.mkdir(`${src}/pics/empty`, { recursive: true });
    await Deno.writeFile(`${src}/pics/a.bin`, seededBytes(123_456, 2));
    const token = generateToken();
    const recv = await startCli([
      "file",
      "recv",
      "--port",
      "0",
      "--dir",
      `${dst}/in`,
      "--token",
      token,
      "--once",
      "--json",
    ]);
    const port = recv.ports.tcp!;
    const sent = await runCli([
      "file-transfer",
      "send",
      `127.0.0.1:${port}`,
      `${src}/pics`,
      "--token",
      token,
      "--json",
    ]);
    assert.equal(sent.code, 0, sent.stderr);
    const report = JSON.parse(sent.stdout);
    assert.equal(report.ok, true);
    const file = report.files.find((f: { path: string }) =>
      f.path === "pics/a.bin"
    );
    assert.equal(file.status, "stored");
    assert.equal(file.bytes, 123_456);
    assert.equal(file.sha256.length, 64);
    const done = await finished(recv);
    assert.equal(done.code, 0, done.stderr);
    const session = JSON.parse(done.stdout.trim());
    assert.equal(session.ok, true);
    assert.equal(session.files.length, 3);
    assert.match(
      done.stderr,
      new RegExp(
        `send with: .*file send 127\\.0\\.0\\.1:${port} PATH --token ${token}`,
      ),
    );
    assert.deepEqual(
      await Deno.readFile(`${dst}/in/pics/a.bin`),
      seededBytes(123_456, 2),
    );
    assert.ok((await Deno.stat(`${dst}/in/pics/empty`)).isDirectory);
  });
});

Deno.test("file cli: a wrong token is refused, writes nothing, and does not end a --once receiver", async () => {
  await withDirs(async (src, dst) => {
    await Deno.writeTextFile(`${src}/x.txt`, "x");
    const recv = await startCli([
      "file",
      "recv",
      "--port",
      "0",
      "--dir",
      dst,
      "--token",
      "right",
      "--once",
    ]);
    const target = `127.0.0.1:${recv.ports.tcp}`;
    const wrong = await runCli([
      "file",
      "send",
      target,
      `${src}/x.txt`,
      "--token",
      "wrong",
    ]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /wrong token/);
    await recv.waitForStderr(/auth_failed: wrong token/);
    assert.deepEqual([...Deno.readDirSync(dst)], []);
    // The stranger did not end the --once receiver: the real sender is served.
    const right = await runCli([
      "file",
      "send",
      target,
      `${src}/x.txt`,
      "--token",
      "right",
    ]);
    assert.equal(right.code, 0, right.stderr);
    const done = await finished(recv);
    assert.equal(done.code, 0, done.stderr);
    assert.equal(await Deno.readTextFile(`${dst}/x.txt`), "x");
  });
});

Deno.test("file cli: TLS with --tls-cert/--tls-key and --tls-ca", async () => {
  await withDirs(async (src, dst) => {
    await Deno.writeFile(`${src}/t.bin`, seededBytes(50_000, 6));
    const token = generateToken();
    const recv = await startCli([
      "file",
      "recv",
      "--port",
      "0",
      "--dir",
      dst,
      "--token",
      token,
      "--once",
      "--tls-cert",
      `${FIXTURES}cert.pem`,
      "--tls-key",
      `${FIXTURES}key.pem`,
    ]);
    const sent = await runCli([
      "file",
      "send",
      `localhost:${recv.ports.tcp}`,
      `${src}/t.bin`,
      "--token",
      token,
      "--tls-ca",
      `${FIXTURES}cert.pem`,
    ]);
    assert.equal(sent.code, 0, sent.stderr);
    const done = await finished(recv);
    assert.equal(done.code, 0);
    assert.match(done.stderr, /--tls-ca /);
    assert.deepEqual(
      await Deno.readFile(`${dst}/t.bin`),
      seededBytes(50_000, 6),
    );
  });
});

Deno.test("file cli: a sender killed midway leaves no final file; the next send resumes to an identical file", async () => {
  await withDirs(async (src, dst) => {
    const size = 96 * 1024 * 1024;
    const data = seededBytes(1024 * 1024, 11);
    {
      using f = await Deno.open(`${src}/big.bin`, {
        write: true,
        create: true,
      });
      for (let i = 0; i < size / data.length; i++) {
        data[0] = i; // Distinct blocks, so a misplaced block would show.
        await f.write(data);
      }
    }
    const token = generateToken();
    const sessions: ReceiveSession[] = [];
    let sessionEnded: () => void = () => {};
    let killed = false;
    const proc: { child?: Deno.ChildProcess } = {};
    await using receiver = serveFileReceiver({
      dir: dst,
      token,
      onProgress: (p) => {
        // Kill the sender from the receiver's side once a part has arrived.
        if (!killed && p.bytes >= 8 * 1024 * 1024 && proc.child) {
          killed = true;
          proc.child.kill("SIGKILL");
        }
      },
      onSession: (s) => {
        sessions.push(s);
        sessionEnded();
      },
    });
    const ended = new Promise<void>((resolve) => sessionEnded = resolve);
    const first = directCli([
      "file",
      "send",
      `127.0.0.1:${receiver.addr.port}`,
      `${src}/big.bin`,
      "--token",
      token,
      "--quiet",
    ]);
    const child = proc.child = new Deno.Command(first.cmd, {
      args: first.args,
      cwd: PROJECT_ROOT,
      stdout: "null",
      stderr: "null",
    }).spawn();
    const status = await child.status;
    await ended;
    assert.equal(killed, true);
    assert.notEqual(status.code, 0);
    assert.equal(sessions[0]!.ok, false);
    const names = [...Deno.readDirSync(dst)].map((e) => e.name);
    assert.deepEqual(names, [".big.bin.netkit-part"]);
    const partSize = (await Deno.stat(`${dst}/.big.bin.netkit-part`)).size;
    assert.ok(partSize > 0 && partSize < size, `part file holds ${partSize}`);

    const second = await runCli([
      "file",
      "send",
      `127.0.0.1:${receiver.addr.port}`,
      `${src}/big.bin`,
      "--token",
      token,
      "--json",
    ]);
    assert.equal(second.code, 0, second.stderr);
    const report = JSON.parse(second.stdout);
    assert.ok(report.files[0].resumedFrom > 0, JSON.stringify(report.files[0]));
    assert.equal(report.bytes, size - report.files[0].resumedFrom);
    const got = await Deno.readFile(`${dst}/big.bin`);
    const want = await Deno.readFile(`${src}/big.bin`);
    assert.equal(got.length, want.length);
    assert.ok(got.every((b, i) => b === want[i]), "resumed file differs");
    assert.deepEqual([...Deno.readDirSync(dst)].map((e) => e.name), [
      "big.bin",
    ]);
  });
});

Deno.test("file cli --basic: receiver takes a classic sender, sender feeds a classic receiver, both warn", async () => {
  await withDirs(async (src, dst) => {
    const recv = await startCli([
      "file",
      "recv",
      "--port",
      "0",
      "--dir",
      dst,
      "--basic",
      "--once",
    ]);
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: recv.ports.tcp!,
    });
    await conn.write(enc.encode("classic.txt\n"));
    const ok = new Uint8Array(3);
    assert.equal(await conn.read(ok), 3);
    assert.equal(new TextDecoder().decode(ok), "ok\n");
    await conn.write(enc.encode("the content"));
    await conn.closeWrite();
    await readAll(conn);
    conn.close();
    const done = await finished(recv);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stderr, /cannot detect truncation/);
    assert.equal(await Deno.readTextFile(`${dst}/classic.txt`), "the content");

    await Deno.writeTextFile(`${src}/out.txt`, "outgoing");
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const peer = (async () => {
      const c = await listener.accept();
      const buf = new Uint8Array(100);
      const n = await c.read(buf);
      const name = new TextDecoder().decode(buf.subarray(0, n!));
      await c.write(enc.encode("ok\n"));
      const body = new TextDecoder().decode(await readAll(c));
      c.close();
      return { name, body };
    })();
    const sent = await runCli([
      "file",
      "send",
      `127.0.0.1:${listener.addr.port}`,
      `${src}/out.txt`,
      "--basic",
    ]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stderr, /no authentication/);
    assert.deepEqual(await peer, { name: "out.txt\n", body: "outgoing" });
  });
});

Deno.test("file cli: usage errors exit 2, help exits 0", async () => {
  const noToken = await runCli(["file", "send", "127.0.0.1:1", "x"], {
    env: { NETKIT_FILE_TOKEN: "" },
  });
  assert.equal(noToken.code, 2);
  assert.match(noToken.stderr, /missing --token/);
  const both = await runCli(["file", "recv", "--overwrite", "--rename"]);
  assert.equal(both.code, 2);
  const help = await runCli(["file", "send", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--no-resume/);
});

Deno.test("file cli: the progress line shows name, bytes, percent, MB/s and ETA", () => {
  const line = renderLine(
    "photos/cat.jpg",
    5 * 1024 * 1024,
    10 * 1024 * 1024,
    2,
    5_000_000,
    100,
  );
  assert.match(
    line,
    /^photos\/cat\.jpg \[#{10}-{10}\]\s+50% 5\.0 MiB\/10\.0 MiB 2\.5 MB\/s ETA 00:03$/,
  );
  const unknown = renderLine("stream.bin", 2048, undefined, 1, 2048, 100);
  assert.equal(unknown, "stream.bin 2.0 KiB 0.0 MB/s");
  const long = renderLine("x".repeat(300), 1, 2, 1, 1, 80);
  assert.ok(long.length <= 80, `${long.length} columns`);
});
