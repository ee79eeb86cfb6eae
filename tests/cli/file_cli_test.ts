// `netkit file send` / `netkit file recv` as users run them.

import assert from "node:assert/strict";
import {
  fileProtocol,
  generateToken,
  type ReceiveSession,
  serveFileReceiver,
} from "../../tcp/mod.ts";
import { FrameReader } from "../tcp/file/_frame_reader.ts";
import denoJson from "../../deno.json" with { type: "json" };
import {
  type CliResult,
  type CliServer,
  IN_CI,
  PROJECT_ROOT,
  readAll,
  runCli,
  seededBytes,
  startCli,
  withDirs,
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

Deno.test("file cli: recv --once --json and send --json move a folder and report it", async () => {
  await withDirs("cli", async (src, dst) => {
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
    // With --json the secret and the send command come first on stdout.
    const [start, session] = done.stdout.trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.equal(start.token, token);
    assert.equal(start.listening, `127.0.0.1:${port}`);
    assert.match(start.sendWith, new RegExp(`--token ${token}$`));
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
  await withDirs("cli", async (src, dst) => {
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
  await withDirs("cli", async (src, dst) => {
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
    // The printed send command uses the new name; the old one (above)
    // still works.
    assert.match(done.stderr, /send with: .* --ca \S+cert\.pem/);
    assert.deepEqual(
      await Deno.readFile(`${dst}/t.bin`),
      seededBytes(50_000, 6),
    );
  });
});

Deno.test("file cli: a sender killed midway leaves no final file; the next send resumes to an identical file", async () => {
  await withDirs("cli", async (src, dst) => {
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
  await withDirs("cli", async (src, dst) => {
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
    await conn.write(enc.encode("classic.txt"));
    const ok = new Uint8Array(16);
    const got = await conn.read(ok);
    assert.equal(new TextDecoder().decode(ok.subarray(0, got ?? 0)), "ok");
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
      await c.write(enc.encode("ok"));
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
    assert.deepEqual(await peer, { name: "out.txt", body: "outgoing" });
  });
});

Deno.test("file cli: usage errors exit 2, help exits 0", async () => {
  const noToken = await runCli(["file", "send", "127.0.0.1:1", "x"], {
    env: { NETKIT_FILE_TOKEN: "" },
  });
  assert.equal(noToken.code, 2);
  assert.match(
    noToken.stderr,
    /missing --code \(the receiver prints it\) or --token/,
  );
  const both = await runCli(["file", "recv", "--overwrite", "--rename"]);
  assert.equal(both.code, 2);
  const help = await runCli(["file", "send", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--no-resume/);
});

Deno.test("file cli: the progress line: one unit family, fits any width, verifying phase", () => {
  const line = renderLine(
    { name: "photos/cat.jpg", bytes: 5_000_000, size: 10_000_000 },
    2,
    100,
  );
  assert.equal(
    line,
    "photos/cat.jpg [##########----------]  50% 5.0 MB/10.0 MB 2.5 MB/s ETA 00:02",
  );
  const unknown = renderLine(
    { name: "s.bin", bytes: 2000, size: undefined },
    2,
    100,
  );
  assert.equal(unknown, "s.bin 2.0 kB 0.0 MB/s");
  // No speed before a second has passed: the first chunks say nothing.
  assert.equal(
    renderLine({ name: "a", bytes: 1, size: 2 }, 0.01, 100),
    "a [##########----------]  50% 1 B/2 B",
  );
  // A resumed prefix does not count as speed.
  assert.match(
    renderLine({ name: "r", bytes: 9e6, size: 1e7, resumedFrom: 8e6 }, 1, 100),
    / 1\.0 MB\/s /,
  );
  assert.match(
    renderLine(
      { name: "big.iso", bytes: 5e5, size: 1e6, verifying: true },
      2,
      80,
    ),
    /^verifying 1\.0 MB already received: big\.iso /,
  );
  const name = "folder/" + "x".repeat(300) + ".bin";
  for (const columns of [20, 30, 40, 50, 60, 80, 120]) {
    for (const verifying of [false, true]) {
      const text = renderLine(
        { name, bytes: 123_456_789, size: 2_000_000_000, verifying },
        5,
        columns,
      );
      assert.ok([...text].length < columns, `${columns}: ${text}`);
    }
  }
  // Shorten the name first, then drop the bar, then ETA…
  const at50 = renderLine({ name, bytes: 5e8, size: 2e9 }, 5, 50);
  assert.match(at50, /^…x+\.bin {2}25% /);
  assert.doesNotMatch(at50, /\[/);
});

Deno.test({
  name:
    "file cli: through a pseudo-terminal the progress line fits 50 and 80 columns",
  ignore: !IN_CI && !hasScript(),
  async fn() {
    await withDirs("cli", async (src, dst) => {
      await Deno.writeFile(
        `${src}/progress-test-file.bin`,
        seededBytes(4_000_000, 3),
      );
      const token = generateToken();
      await using receiver = serveFileReceiver({
        dir: dst,
        token,
        existing: "overwrite",
      });
      for (const columns of [50, 80]) {
        const cli = directCli([
          "file",
          "send",
          `127.0.0.1:${receiver.addr.port}`,
          `${src}/progress-test-file.bin`,
          "--token",
          token,
        ]);
        const line = [cli.cmd, ...cli.args].map(shellQuote).join(" ");
        const out = await new Deno.Command("script", {
          args: [
            "-q",
            "-e",
            "-c",
            `stty cols ${columns} rows 24; ${line}`,
            "/dev/null",
          ],
          cwd: PROJECT_ROOT,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(out.stdout);
        assert.equal(out.code, 0, text);
        // deno-lint-ignore no-control-regex
        const draws = [...text.matchAll(/\r([^\r\n]*?)\x1b\[K/g)].map((m) =>
          m[1]!
        )
          .filter((d) => d !== "");
        assert.ok(
          draws.length > 0,
          `no progress drawn: ${JSON.stringify(text)}`,
        );
        for (const d of draws) {
          assert.ok(
            [...d].length < columns,
            `${columns} columns: ${JSON.stringify(d)}`,
          );
        }
        assert.ok(draws.some((d) => d.includes("100%")), JSON.stringify(draws));
      }
    });
  },
});

function hasScript(): boolean {
  try {
    return new Deno.Command("script", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

Deno.test("file cli: peer names with escape sequences and bidi overrides reach the log escaped", async () => {
  await withDirs("cli", async (_src, dst) => {
    const recv = await startCli([
      "file",
      "recv",
      "--port",
      "0",
      "--dir",
      dst,
      "--basic",
    ]);
    const port = recv.ports.tcp!;
    const classic = async (name: string, body: string) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(enc.encode(name));
      const buf = new Uint8Array(4096);
      const n = await conn.read(buf);
      const answer = new TextDecoder().decode(buf.subarray(0, n ?? 0));
      if (answer === "ok") {
        await conn.write(enc.encode(body));
        await conn.closeWrite();
        await readAll(conn);
      }
      conn.close();
      return answer;
    };
    assert.match(
      await classic("a\x1b]0;pwned\x07\x1b[2J.txt", "x"),
      /^error: unsafe path/,
    );
    assert.equal(await classic("evil\u202etxt.exe", "y"), "ok");
    await recv.waitForStderr(/stored evil/);
    const done = await recv.stop();
    // No raw control byte, no raw bidi override: only their escapes.
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(done.stderr, /[\x00-\x08\x0b-\x1f\x7f\u202e]/);
    assert.match(done.stderr, /refused a\\x1b\]0;pwned\\x07\\x1b\[2J\.txt/);
    assert.match(done.stderr, /stored evil\\u\{202e\}txt\.exe/);
  });
});

Deno.test("file cli: --max-size refuses a larger file; send exits 1 when any file fails", async () => {
  await withDirs("cli", async (src, dst) => {
    await Deno.writeTextFile(`${src}/small.txt`, "0123456789");
    await Deno.writeTextFile(`${src}/large.txt`, "0123456789A");
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
      "--max-size",
      "10",
      "--once",
    ]);
    const sent = await runCli([
      "file",
      "send",
      `127.0.0.1:${recv.ports.tcp}`,
      `${src}/small.txt`,
      `${src}/large.txt`,
      "--token",
      token,
    ]);
    assert.equal(sent.code, 1, sent.stderr);
    assert.match(sent.stderr, /stored small\.txt/);
    assert.match(sent.stderr, /failed large\.txt: too_large/);
    const done = await finished(recv);
    assert.equal(done.code, 1);
    assert.deepEqual([...Deno.readDirSync(dst)].map((e) => e.name), [
      "small.txt",
    ]);
  });
});

Deno.test("file cli: --no-resume sends from byte 0; without it the verified prefix is kept", async () => {
  await withDirs("cli", async (src, dst) => {
    const data = seededBytes(300_000, 12);
    for (const name of ["a.bin", "b.bin"]) {
      await Deno.writeFile(`${src}/${name}`, data);
      await Deno.writeFile(`${dst}/.${name}.netkit-part`, data.slice(0, 1000));
    }
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
    ]);
    const target = `127.0.0.1:${recv.ports.tcp}`;
    const send = async (name: string, extra: string[]) => {
      const r = await runCli([
        "file",
        "send",
        target,
        `${src}/${name}`,
        "--token",
        token,
        "--json",
        ...extra,
      ]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout).files[0].resumedFrom;
    };
    assert.equal(await send("a.bin", ["--no-resume"]), 0);
    assert.equal(await send("b.bin", []), 1000);
    await recv.stop();
    assert.deepEqual(await Deno.readFile(`${dst}/a.bin`), data);
    assert.deepEqual(await Deno.readFile(`${dst}/b.bin`), data);
  });
});

Deno.test("file cli: --tls-insecure reaches a TLS receiver whose certificate it does not check; plain does not", async () => {
  await withDirs("cli", async (src, dst) => {
    await Deno.writeTextFile(`${src}/i.txt`, "insecure but sealed");
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
      "--tls-cert",
      `${FIXTURES}cert.pem`,
      "--tls-key",
      `${FIXTURES}key.pem`,
    ]);
    const target = `127.0.0.1:${recv.ports.tcp}`;
    const args = ["file", "send", target, `${src}/i.txt`, "--token", token];
    const plain = await runCli(args);
    assert.equal(plain.code, 1);
    const insecure = await runCli([...args, "--tls-insecure"]);
    assert.equal(insecure.code, 0, insecure.stderr);
    await recv.stop();
    assert.equal(
      await Deno.readTextFile(`${dst}/i.txt`),
      "insecure but sealed",
    );
  });
});

Deno.test("file cli: Ctrl-C says how to resume, on the sender and on the receiver", async () => {
  await withDirs("cli", async (src, dst) => {
    await Deno.writeFile(`${src}/big.bin`, seededBytes(32 * 1024 * 1024, 4));
    const token = generateToken();
    // A receiver that accepts the file, then stops reading: the sender is
    // certainly mid-transfer when it gets SIGINT.
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const streaming = Promise.withResolvers<void>();
    const stall = (async () => {
      const conn = await listener.accept();
      const reader = new FrameReader(conn, 1 << 21, () => {});
      const senderHello = (await reader.exact(fileProtocol.HELLO_BYTES))
        .slice();
      const receiverHello = fileProtocol.encodeHello(
        crypto.getRandomValues(new Uint8Array(32)),
      );
      await conn.write(receiverHello);
      const keys = fileProtocol.deriveKeys(token, senderHello, receiverHello);
      await reader.frame();
      await conn.write(
        fileProtocol.encodeFrame(
          fileProtocol.MessageType.AUTH_OK,
          keys.receiverProof,
        ),
      );
      const cipher = fileProtocol.createFrameCipher(
        keys.receiverKey,
        keys.senderKey,
      );
      reader.cipher = cipher;
      await reader.frame();
      await conn.write(
        cipher.seal(
          fileProtocol.MessageType.ACCEPT,
          fileProtocol.encodeAccept(0, new Uint8Array(32)),
        ),
      );
      await reader.header();
      streaming.resolve();
      return conn;
    })();
    const cli = directCli([
      "file",
      "send",
      `127.0.0.1:${listener.addr.port}`,
      `${src}/big.bin`,
      "--token",
      token,
    ]);
    const sender = new Deno.Command(cli.cmd, {
      args: cli.args,
      cwd: PROJECT_ROOT,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    await streaming.promise;
    sender.kill("SIGINT");
    const out = await sender.output();
    (await stall).close();
    assert.equal(out.code, 130);
    assert.match(
      new TextDecoder().decode(out.stderr),
      /interrupted: run the same command again to resume/,
    );

    const recv = await startCli([
      "file",
      "recv",
      "--port",
      "0",
      "--dir",
      dst,
      "--token",
      token,
    ]);
    const stopped = await recv.stop("SIGINT");
    assert.match(stopped.stderr, /partial files are kept/);
  });
});

Deno.test("file cli: recv refuses a folder it cannot write to, with exit 1 and no stack trace", async () => {
  // sysfs takes no new files or folders, not even from root.
  for (const dir of ["/sys/kernel", "/sys/kernel/netkit-inbox"]) {
    const r = await runCli(["file", "recv", "--port", "0", "--dir", dir]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot create/);
    assert.doesNotMatch(r.stderr, /\bat \S+:\d+:\d+/);
  }
});

Deno.test("file recv --help names the protocol's default port", async () => {
  const result = await runCli(["file", "recv", "--help"]);
  assert.equal(result.code, 0);
  assert.match(
    result.stdout,
    new RegExp(`default ${fileProtocol.FILE_DEFAULT_PORT}\\)`),
  );
});

/** The code a receiver printed (stderr `code: …`). */
async function printedCode(recv: CliServer): Promise<string> {
  const line = await recv.waitForStderr(/code: \S+/);
  return line.slice("code: ".length);
}

Deno.test("file cli: recv prints a code by default, send --code uses it, --json carries it", async () => {
  await withDirs("cli", async (src, dst) => {
    await Deno.writeFile(`${src}/a.bin`, seededBytes(50_000, 3));
    const recv = await startCli([
      "file",
      "recv",
      "--port",
      "0",
      "--dir",
      dst,
      "--json",
    ]);
    const port = recv.ports.tcp!;
    const start = JSON.parse((await recv.lines.next()).value);
    const code = await printedCode(recv);
    assert.equal(start.code, code);
    assert.equal(start.token, undefined);
    assert.match(code, /^\d{1,2}(-[a-z]{4,8}){3}$/);
    assert.match(
      start.sendWith,
      new RegExp(`file send 127\\.0\\.0\\.1:${port} PATH --code ${code}$`),
    );
    assert.match(
      recv.stderr(),
      new RegExp(
        `send with: .*file send 127\\.0\\.0\\.1:${port} PATH --code ${code}`,
      ),
    );
    const sent = await runCli([
      "file",
      "send",
      `127.0.0.1:${port}`,
      `${src}/a.bin`,
      "--code",
      code.toUpperCase().replaceAll("-", " "),
    ]);
    assert.equal(sent.code, 0, sent.stderr);
    // A code serves one sender: the receiver ends by itself, exit 0.
    const done = await finished(recv);
    assert.equal(done.code, 0, done.stderr);
    assert.equal(JSON.parse(done.stdout.trim()).ok, true);
    assert.deepEqual(
      await Deno.readFile(`${dst}/a.bin`),
      seededBytes(50_000, 3),
    );
  });
});

Deno.test("file cli: wrong codes are refused and counted; the third ends the code and the receiver", async () => {
  await withDirs("cli", async (src, dst) => {
    await Deno.writeFile(`${src}/a.bin`, seededBytes(10_000, 4));
    const recv = await startCli(["file", "recv", "--port", "0", "--dir", dst]);
    const port = recv.ports.tcp!;
    const code = await printedCode(recv);
    const [n, ...words] = code.split("-");
    const wrong = [Number(n) % 99 + 1, ...words].join("-");
    for (let i = 1; i <= 3; i++) {
      const sent = await runCli([
        "file",
        "send",
        `127.0.0.1:${port}`,
        `${src}/a.bin`,
        "--code",
        wrong,
      ]);
      assert.equal(sent.code, 1, sent.stderr);
      assert.match(sent.stderr, /wrong code/);
      if (i < 3) {
        await recv.waitForStderr(
          new RegExp(`wrong code: ${3 - i} of 3 attempts left`),
        );
      }
    }
    await recv.waitForStderr(/the code has ended after 3 wrong attempts/);
    const done = await finished(recv);
    assert.equal(done.code, 1, done.stderr);
    assert.match(done.stderr, /3 wrong codes/);
    assert.deepEqual([...Deno.readDirSync(dst)], []);
  });
});

Deno.test("file cli: a token sender at a code receiver, and a code sender at a token receiver, are told which to use", async () => {
  await withDirs("cli", async (src, dst) => {
    await Deno.writeFile(`${src}/a.bin`, seededBytes(1000, 5));
    await using recv = await startCli([
      "file",
      "recv",
      "--port",
      "0",
      "--dir",
      dst,
    ]);
    const byToken = await runCli([
      "file",
      "send",
      `127.0.0.1:${recv.ports.tcp}`,
      `${src}/a.bin`,
      "--token",
      generateToken(),
    ]);
    assert.equal(byToken.code, 1);
    assert.match(
      byToken.stderr,
      /the receiver takes a code, not a token: send with --code/,
    );
    await recv.waitForStderr(/mode_mismatch: the sender has a token/);
    const token = generateToken();
    await using tokenRecv = await startCli([
      "file",
      "recv",
      "--port",
      "0",
      "--dir",
      dst,
      "--token",
      token,
    ]);
    const byCode = await runCli([
      "file",
      "send",
      `127.0.0.1:${tokenRecv.ports.tcp}`,
      `${src}/a.bin`,
      "--code",
      "7-lantern-walnut-cobra",
    ]);
    assert.equal(byCode.code, 1);
    assert.match(
      byCode.stderr,
      /the receiver takes a token, not a code: send with --token/,
    );
    assert.deepEqual([...Deno.readDirSync(dst)], []);
  });
});

Deno.test("file cli: code and token flags are checked before anything connects", async () => {
  const typo = await runCli([
    "file",
    "send",
    "127.0.0.1:1",
    "README.md",
    "--code",
    "7-lanten-walnut-cobra",
  ]);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /did you mean 'lantern'\?/);
  const both = await runCli([
    "file",
    "send",
    "127.0.0.1:1",
    "README.md",
    "--code",
    "7-lantern-walnut-cobra",
    "--token",
    "t",
  ]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--code and --token exclude each other/);
  const recv = await runCli([
    "file",
    "recv",
    "--port",
    "0",
    "--token",
    "t",
    "--random-token",
  ]);
  assert.equal(recv.code, 2);
  assert.match(recv.stderr, /--token and --random-token exclude each other/);
});
