// End-to-end transfers through the library: sendFiles → serveFileReceiver.

import assert from "node:assert/strict";
import {
  generateToken,
  type ReceiveSession,
  sendFiles,
  serveFileReceiver,
} from "../../../tcp/mod.ts";
import { seededBytes } from "../../_helpers.ts";

const FIXTURES = new URL("../../fixtures/tls/", import.meta.url).pathname;

async function tempDirs(): Promise<
  { src: string; dst: string; cleanup(): Promise<void> }
> {
  const src = await Deno.makeTempDir({ prefix: "netkit-src-" });
  const dst = await Deno.makeTempDir({ prefix: "netkit-dst-" });
  return {
    src,
    dst,
    async cleanup() {
      await Deno.remove(src, { recursive: true });
      await Deno.remove(dst, { recursive: true });
    },
  };
}

async function listTree(root: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(root)) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    out.push(e.isDirectory ? rel + "/" : rel);
    if (e.isDirectory) out.push(...await listTree(`${root}/${e.name}`, rel));
  }
  return out.sort();
}

Deno.test("file transfer: empty, 1-byte and 10 MiB random files arrive byte-exact", async () => {
  const { src, dst, cleanup } = await tempDirs();
  try {
    const files: Record<string, Uint8Array> = {
      "empty.bin": new Uint8Array(0),
      "one.bin": Uint8Array.of(0x42),
      "big.bin": seededBytes(10 * 1024 * 1024, 7),
    };
    for (const [name, data] of Object.entries(files)) {
      await Deno.writeFile(`${src}/${name}`, data);
    }
    const token = generateToken();
    const sessions: ReceiveSession[] = [];
    await using receiver = serveFileReceiver({
      dir: dst,
      token,
      onSession: (s) => sessions.push(s),
    });
    const report = await sendFiles(
      receiver.addr,
      Object.keys(files).map((n) => `${src}/${n}`),
      { token },
    );
    assert.equal(report.ok, true, JSON.stringify(report.error));
    assert.deepEqual(report.files.map((f) => f.status), [
      "stored",
      "stored",
      "stored",
    ]);
    for (const [name, data] of Object.entries(files)) {
      assert.deepEqual(await Deno.readFile(`${dst}/${name}`), data, name);
    }
    const expected = await crypto.subtle.digest(
      "SHA-256",
      files["big.bin"]!.slice(),
    );
    const big = report.files.find((f) => f.path === "big.bin")!;
    assert.equal(big.sha256, new Uint8Array(expected).toHex());
    await receiver.shutdown();
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0]!.ok, true);
    assert.deepEqual(await listTree(dst), ["big.bin", "empty.bin", "one.bin"]);
  } finally {
    await cleanup();
  }
});

Deno.test("file transfer: a nested tree keeps relative paths and empty folders, skips symlinks", async () => {
  const { src, dst, cleanup } = await tempDirs();
  try {
    await Deno.mkdir(`${src}/tree/a/b/c`, { recursive: true });
    await Deno.mkdir(`${src}/tree/empty/inner`, { recursive: true });
    await Deno.writeFile(`${src}/tree/top.txt`, seededBytes(100, 1));
    await Deno.writeFile(`${src}/tree/a/mid.txt`, seededBytes(5000, 2));
    await Deno.writeFile(`${src}/tree/a/b/c/deep.bin`, seededBytes(70_000, 3));
    await Deno.symlink("/etc/passwd", `${src}/tree/a/link`);
    const token = generateToken();
    await using receiver = serveFileReceiver({ dir: dst, token });
    const report = await sendFiles(receiver.addr, [`${src}/tree/`], { token });
    assert.equal(report.ok, true, JSON.stringify(report));
    const link = report.files.find((f) => f.path === "tree/a/link")!;
    assert.equal(link.status, "skipped");
    assert.deepEqual(await listTree(dst), [
      "tree/",
      "tree/a/",
      "tree/a/b/",
      "tree/a/b/c/",
      "tree/a/b/c/deep.bin",
      "tree/a/mid.txt",
      "tree/empty/",
      "tree/empty/inner/",
      "tree/top.txt",
    ]);
    assert.deepEqual(
      await Deno.readFile(`${dst}/tree/a/b/c/deep.bin`),
      seededBytes(70_000, 3),
    );
  } finally {
    await cleanup();
  }
});

Deno.test("file transfer: 300 files in one session", async () => {
  const { src, dst, cleanup } = await tempDirs();
  try {
    await Deno.mkdir(`${src}/many`);
    for (let i = 0; i < 300; i++) {
      await Deno.writeFile(`${src}/many/f${i}.txt`, seededBytes(i * 10, i + 1));
    }
    const token = generateToken();
    const sessions: ReceiveSession[] = [];
    await using receiver = serveFileReceiver({
      dir: dst,
      token,
      onSession: (s) => sessions.push(s),
    });
    const report = await sendFiles(receiver.addr, [`${src}/many`], { token });
    assert.equal(report.ok, true);
    assert.equal(report.files.length, 301);
    await receiver.shutdown();
    assert.equal(sessions.length, 1);
    for (let i = 0; i < 300; i += 37) {
      assert.deepEqual(
        await Deno.readFile(`${dst}/many/f${i}.txt`),
        seededBytes(i * 10, i + 1),
      );
    }
    assert.equal(receiver.stats().filesStored, 301);
  } finally {
    await cleanup();
  }
});

Deno.test("file transfer: 20 concurrent senders are isolated from each other and from a bad one", async () => {
  const { src, dst, cleanup } = await tempDirs();
  try {
    for (let i = 0; i < 20; i++) {
      await Deno.writeFile(
        `${src}/c${i}.bin`,
        seededBytes(200_000 + i, i + 10),
      );
    }
    const token = generateToken();
    await using receiver = serveFileReceiver({ dir: dst, token });
    const bad = sendFiles(receiver.addr, [`${src}/c0.bin`], { token: "wrong" })
      .then(() => "sent", (e) => e.code);
    const reports = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => sendFiles(receiver.addr, [`${src}/c${i}.bin`], { token }),
      ),
    );
    assert.equal(await bad, "auth_failed");
    for (const [i, r] of reports.entries()) {
      assert.equal(
        r.ok,
        true,
        `sender ${i}: ${JSON.stringify(r.error ?? r.files[0]?.error)}`,
      );
      assert.deepEqual(
        await Deno.readFile(`${dst}/c${i}.bin`),
        seededBytes(200_000 + i, i + 10),
      );
    }
    const st = receiver.stats();
    assert.equal(st.filesStored, 20);
    assert.equal(st.authFailures, 1);
  } finally {
    await cleanup();
  }
});

Deno.test("file transfer: a wrong token is refused and nothing is written", async () => {
  const { src, dst, cleanup } = await tempDirs();
  try {
    await Deno.writeFile(`${src}/secret.txt`, seededBytes(1000));
    await using receiver = serveFileReceiver({
      dir: dst,
      token: generateToken(),
    });
    await assert.rejects(
      sendFiles(receiver.addr, [`${src}/secret.txt`], { token: "guess" }),
      (e: { code: string }) => e.code === "auth_failed",
    );
    await receiver.shutdown();
    assert.deepEqual(await listTree(dst), []);
    assert.equal(receiver.stats().authFailures, 1);
  } finally {
    await cleanup();
  }
});

Deno.test("file transfer: existing files are refused, overwritten or renamed as asked", async () => {
  const { src, dst, cleanup } = await tempDirs();
  try {
    await Deno.writeFile(`${src}/notes.txt`, seededBytes(10, 1));
    await Deno.writeFile(`${dst}/notes.txt`, seededBytes(10, 2));
    const token = generateToken();
    {
      await using receiver = serveFileReceiver({ dir: dst, token });
      const report = await sendFiles(receiver.addr, [`${src}/notes.txt`], {
        token,
      });
      assert.equal(report.ok, false);
      assert.equal(report.files[0]!.error?.code, "exists");
      assert.deepEqual(
        await Deno.readFile(`${dst}/notes.txt`),
        seededBytes(10, 2),
      );
    }
    {
      await using receiver = serveFileReceiver({
        dir: dst,
        token,
        existing: "rename",
      });
      const first = await sendFiles(receiver.addr, [`${src}/notes.txt`], {
        token,
      });
      const second = await sendFiles(receiver.addr, [`${src}/notes.txt`], {
        token,
      });
      assert.equal(first.files[0]!.storedAs, "notes (1).txt");
      assert.equal(second.files[0]!.storedAs, "notes (2).txt");
      assert.deepEqual(
        await Deno.readFile(`${dst}/notes (2).txt`),
        seededBytes(10, 1),
      );
      assert.deepEqual(
        await Deno.readFile(`${dst}/notes.txt`),
        seededBytes(10, 2),
      );
    }
    {
      await using receiver = serveFileReceiver({
        dir: dst,
        token,
        existing: "overwrite",
      });
      const report = await sendFiles(receiver.addr, [`${src}/notes.txt`], {
        token,
      });
      assert.equal(report.ok, true);
      assert.deepEqual(
        await Deno.readFile(`${dst}/notes.txt`),
        seededBytes(10, 1),
      );
    }
  } finally {
    await cleanup();
  }
});

Deno.test("file transfer: TLS with the test certificate, and a sender that does not trust it", async () => {
  const { src, dst, cleanup } = await tempDirs();
  try {
    const cert = await Deno.readTextFile(`${FIXTURES}cert.pem`);
    const key = await Deno.readTextFile(`${FIXTURES}key.pem`);
    await Deno.writeFile(`${src}/tls.bin`, seededBytes(3 * 1024 * 1024, 5));
    const token = generateToken();
    await using receiver = serveFileReceiver({
      dir: dst,
      token,
      tls: { cert, key },
    });
    const report = await sendFiles(receiver.addr, [`${src}/tls.bin`], {
      token,
      tls: { caCerts: [cert] },
    });
    assert.equal(report.ok, true, JSON.stringify(report.error));
    assert.deepEqual(
      await Deno.readFile(`${dst}/tls.bin`),
      seededBytes(3 * 1024 * 1024, 5),
    );
    await assert.rejects(
      sendFiles(receiver.addr, [`${src}/tls.bin`], { token, tls: {} }),
    );
    await Deno.remove(`${dst}/tls.bin`);
    const insecure = await sendFiles(receiver.addr, [`${src}/tls.bin`], {
      token,
      tls: { insecure: true },
    });
    assert.equal(insecure.ok, true, JSON.stringify(insecure.error));
    assert.deepEqual(
      await Deno.readFile(`${dst}/tls.bin`),
      seededBytes(3 * 1024 * 1024, 5),
    );
  } finally {
    await cleanup();
  }
});

Deno.test("file transfer: a partial file is resumed when its prefix matches and restarted when not", async () => {
  const { src, dst, cleanup } = await tempDirs();
  try {
    const data = seededBytes(2 * 1024 * 1024, 9);
    await Deno.writeFile(`${src}/r.bin`, data);
    // What an interrupted earlier session leaves behind.
    await Deno.writeFile(
      `${dst}/.r.bin.netkit-part`,
      data.subarray(0, 700_000),
    );
    const token = generateToken();
    const checked: number[] = [];
    await using receiver = serveFileReceiver({
      dir: dst,
      token,
      onProgress: (p) => p.verifying && checked.push(p.bytes),
    });
    const sentChecked: number[] = [];
    const resumed = await sendFiles(receiver.addr, [`${src}/r.bin`], {
      token,
      onProgress: (p) => p.verifying && sentChecked.push(p.bytes),
    });
    assert.equal(resumed.ok, true);
    assert.equal(resumed.files[0]!.resumedFrom, 700_000);
    // Both sides report the prefix check (the "verifying" phase).
    assert.equal(checked.at(-1), 700_000);
    assert.equal(sentChecked.at(-1), 700_000);
    assert.equal(resumed.bytes, data.length - 700_000);
    assert.deepEqual(await Deno.readFile(`${dst}/r.bin`), data);

    await Deno.remove(`${dst}/r.bin`);
    const changed = data.slice(0, 700_000);
    changed[1000]! ^= 0xff;
    await Deno.writeFile(`${dst}/.r.bin.netkit-part`, changed);
    const restarted = await sendFiles(receiver.addr, [`${src}/r.bin`], {
      token,
    });
    assert.equal(restarted.ok, true);
    assert.equal(restarted.files[0]!.resumedFrom, 0);
    assert.deepEqual(await Deno.readFile(`${dst}/r.bin`), data);

    await Deno.remove(`${dst}/r.bin`);
    await Deno.writeFile(
      `${dst}/.r.bin.netkit-part`,
      data.subarray(0, 700_000),
    );
    const noResume = await sendFiles(receiver.addr, [`${src}/r.bin`], {
      token,
      resume: false,
    });
    assert.equal(noResume.files[0]!.resumedFrom, 0);
    assert.deepEqual(await Deno.readFile(`${dst}/r.bin`), data);
    assert.deepEqual(await listTree(dst), ["r.bin"]);
  } finally {
    await cleanup();
  }
});

Deno.test("file transfer: --basic mode round trip through the library", async () => {
  const { src, dst, cleanup } = await tempDirs();
  try {
    await Deno.mkdir(`${src}/d`);
    await Deno.writeFile(`${src}/d/x.bin`, seededBytes(300_000, 4));
    await Deno.writeFile(`${src}/y.txt`, new TextEncoder().encode("hello\n"));
    await using receiver = serveFileReceiver({ dir: dst, basic: true });
    const report = await sendFiles(
      receiver.addr,
      [`${src}/d`, `${src}/y.txt`],
      { basic: true },
    );
    assert.equal(report.ok, true, JSON.stringify(report));
    assert.deepEqual(report.files.map((f) => [f.path, f.status]), [
      ["d/x.bin", "sent"],
      ["y.txt", "sent"],
    ]);
    assert.deepEqual(
      await Deno.readFile(`${dst}/d/x.bin`),
      seededBytes(300_000, 4),
    );
    assert.equal(await Deno.readTextFile(`${dst}/y.txt`), "hello\n");
    const again = await sendFiles(receiver.addr, [`${src}/y.txt`], {
      basic: true,
    });
    assert.equal(again.ok, false);
    assert.equal(again.files[0]!.error?.code, "refused");
  } finally {
    await cleanup();
  }
});

Deno.test("file transfer: a missing local path throws before connecting", async () => {
  await assert.rejects(
    sendFiles({ hostname: "127.0.0.1", port: 9 }, ["/nonexistent/netkit-x"], {
      token: "t",
    }),
    (e: { code: string }) => e.code === "not_found",
  );
});

Deno.test("file transfer --basic: 80 MiB (read-ahead on the sender, early writeback on the receiver) arrive byte-exact, with the same SHA-256 reported on both sides", async () => {
  const { src, dst, cleanup } = await tempDirs();
  try {
    // Many 1 MiB chunks through the sender's two alternating buffers, and
    // past the 64 MiB at which the basic receiver starts its writeback.
    const data = seededBytes(80 * 1024 * 1024 + 12_345, 12);
    await Deno.writeFile(`${src}/large.bin`, data);
    const received: ReceiveSession[] = [];
    await using receiver = serveFileReceiver({
      dir: dst,
      basic: true,
      onSession: (s) => received.push(s),
    });
    const report = await sendFiles(receiver.addr, [`${src}/large.bin`], {
      basic: true,
    });
    assert.equal(report.ok, true, JSON.stringify(report.files[0]?.error));
    const stored = await Deno.readFile(`${dst}/large.bin`);
    assert.equal(stored.length, data.length);
    assert.ok(stored.every((b, i) => b === data[i]), "stored file differs");
    const expected = new Uint8Array(
      await crypto.subtle.digest("SHA-256", data.slice()),
    ).toHex();
    assert.equal(report.files[0]!.sha256, expected);
    await receiver.shutdown();
    assert.equal(received[0]!.files[0]!.sha256, expected);
  } finally {
    await cleanup();
  }
});

Deno.test("file transfer: a file large enough for early writeback (80 MiB) arrives byte-exact", async () => {
  const { src, dst, cleanup } = await tempDirs();
  try {
    // Over two writeback intervals (32 MiB each), so the receiver flushes
    // on its second handle while the transfer runs.
    const data = seededBytes(80 * 1024 * 1024, 11);
    await Deno.writeFile(`${src}/large.bin`, data);
    const token = generateToken();
    await using receiver = serveFileReceiver({ dir: dst, token });
    const report = await sendFiles(receiver.addr, [`${src}/large.bin`], {
      token,
    });
    assert.equal(report.ok, true, JSON.stringify(report.error));
    const stored = await Deno.readFile(`${dst}/large.bin`);
    assert.equal(stored.length, data.length);
    assert.ok(stored.every((b, i) => b === data[i]), "stored file differs");
    assert.deepEqual(await listTree(dst), ["large.bin"]);
  } finally {
    await cleanup();
  }
});

Deno.test("generateToken: 128 random bits that a command line never takes for an option", () => {
  const tokens = new Set<string>();
  // base64url starts with '-' once in 64 tokens: 4096 would all but surely
  // include some if the rule broke.
  for (let i = 0; i < 4096; i++) {
    const token = generateToken();
    assert.match(token, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    tokens.add(token);
  }
  assert.equal(tokens.size, 4096);
});
