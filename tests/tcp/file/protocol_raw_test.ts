// Raw-socket peers that break the file protocol's rules, one rule each:
// the receiver must refuse clearly, write nothing final, and keep serving.

import assert from "node:assert/strict";
import {
  codeFromWire,
  codeToWire,
  decodeHello,
  encodeHello,
  EntryKind,
  MessageType,
} from "../../../tcp/file/protocol.ts";
import { sendFiles } from "../../../tcp/mod.ts";
import { readAll, seededBytes } from "../../_helpers.ts";
import { enc, entries, RawClient, sha256, startReceiver } from "./_raw.ts";

Deno.test("file raw: every path-safety rule refuses the file and the session goes on", async () => {
  await using r = await startReceiver({ existing: "overwrite" });
  const outside = await Deno.makeTempDir({ prefix: "netkit-outside-" });
  try {
    await Deno.symlink(outside, `${r.dir}/escape`);
    await Deno.writeTextFile(`${outside}/victim.txt`, "keep");
    await Deno.symlink(`${outside}/victim.txt`, `${r.dir}/victim.txt`);
    const bad: (string | Uint8Array)[] = [
      "/etc/passwd",
      "..",
      "../x",
      "a/../../x",
      "",
      ".",
      "a/./b",
      "a//b",
      "a/",
      "a\\b",
      "a\0b",
      "new\nline",
      "esc\x1b[2J",
      "del\x7f",
      "c1\u0085",
      "n".repeat(256),
      ("d/".repeat(2049)) + "x",
      Uint8Array.of(0x61, 0xff, 0xfe),
      ".x.netkit-part",
      "escape/evil.txt",
      "escape/sub/evil.txt",
      "victim.txt",
    ];
    const client = await RawClient.open(r.receiver.addr.port);
    await client.authenticate(r.token);
    for (const path of bad) {
      await client.offer(path, 4);
      assert.equal(
        await client.verdict(),
        "unsafe_path",
        `path ${JSON.stringify(path)}`,
      );
    }
    // A 255-byte component is fine; the session is still usable.
    const okName = "n".repeat(255);
    await client.offer(okName, 4);
    const accept = await client.frame();
    assert.equal(accept.type, MessageType.ACCEPT);
    await client.start();
    await client.data(enc.encode("good"));
    await client.end(okName, 4, sha256(enc.encode("good")));
    assert.equal(await client.verdict(), "ok");
    await client.send(MessageType.DONE);
    assert.equal((await client.frame()).type, MessageType.SESSION);
    client.close();
    assert.deepEqual(await entries(outside), ["victim.txt"]);
    assert.equal(await Deno.readTextFile(`${outside}/victim.txt`), "keep");
    assert.deepEqual(
      await entries(r.dir),
      ["escape", okName, "victim.txt"].sort(),
    );
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("file raw: over --max-size is refused before any byte", async () => {
  await using r = await startReceiver({ maxSize: 100 });
  const client = await RawClient.open(r.receiver.addr.port);
  await client.authenticate(r.token);
  await client.offer("big.bin", 101);
  assert.equal(await client.verdict(), "too_large");
  client.close();
  await r.nextSession();
  assert.deepEqual(await entries(r.dir), []);
});

Deno.test("file raw: more bytes than announced ends the session and leaves nothing", async () => {
  await using r = await startReceiver();
  const client = await RawClient.open(r.receiver.addr.port);
  await client.authenticate(r.token);
  await client.offer("lie.bin", 10);
  assert.equal((await client.frame()).type, MessageType.ACCEPT);
  await client.start();
  await client.data(seededBytes(20));
  assert.equal(await client.verdict(), "error:size_mismatch");
  client.close();
  const session = await r.nextSession();
  assert.equal(session.ok, false);
  assert.deepEqual(await entries(r.dir), []);
});

Deno.test("file raw: fewer bytes than announced, a wrong hash or a wrong MAC store nothing", async () => {
  await using r = await startReceiver();
  const client = await RawClient.open(r.receiver.addr.port);
  await client.authenticate(r.token);
  const five = seededBytes(5);
  await client.offer("short.bin", 10);
  assert.equal((await client.frame()).type, MessageType.ACCEPT);
  await client.start();
  await client.data(five);
  await client.end("short.bin", 10, sha256(five));
  assert.equal(await client.verdict(), "size_mismatch");

  const ten = seededBytes(10);
  await client.offer("hash.bin", 10);
  assert.equal((await client.frame()).type, MessageType.ACCEPT);
  await client.start();
  await client.data(ten);
  await client.end("hash.bin", 10, sha256(five));
  assert.equal(await client.verdict(), "hash_mismatch");

  await client.offer("mac.bin", 10);
  assert.equal((await client.frame()).type, MessageType.ACCEPT);
  await client.start();
  await client.data(ten);
  const payload = new Uint8Array(64);
  payload.set(sha256(ten), 0);
  await client.send(MessageType.END, payload);
  assert.equal(await client.verdict(), "integrity_failed");

  await client.send(MessageType.DONE);
  assert.equal((await client.frame()).type, MessageType.SESSION);
  client.close();
  const session = await r.nextSession();
  assert.deepEqual(session.files.map((f) => f.error?.code), [
    "size_mismatch",
    "hash_mismatch",
    "integrity_failed",
  ]);
  assert.deepEqual(await entries(r.dir), []);
});

Deno.test("file raw: a garbage hello gets a plain-text hint and the receiver keeps serving", async () => {
  await using r = await startReceiver();
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: r.receiver.addr.port,
  });
  await conn.write(enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  const answer = new TextDecoder().decode(await readAll(conn));
  conn.close();
  assert.match(answer, /--basic/);
  const session = await r.nextSession();
  assert.equal(session.error?.code, "bad_hello");
  const client = await RawClient.open(r.receiver.addr.port);
  await client.authenticate(r.token);
  client.close();
});

Deno.test("file raw: a version mismatch is reported on both sides", async () => {
  await using r = await startReceiver();
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: r.receiver.addr.port,
  });
  // A sender of the previous release (version 2: tokens only).
  await conn.write(encodeHello(new Uint8Array(32), { version: 2 }));
  const reply = decodeHello(await readAll(conn));
  conn.close();
  assert.equal(reply.version, 3);
  assert.equal(codeFromWire(reply.code), "version_mismatch");
  assert.equal((await r.nextSession()).error?.code, "version_mismatch");
});

Deno.test("file raw: a wrong proof is refused, logged, and nothing is accepted", async () => {
  await using r = await startReceiver();
  const client = await RawClient.open(r.receiver.addr.port);
  await assert.rejects(client.authenticate("not-the-token"));
  client.close();
  const session = await r.nextSession();
  assert.equal(session.error?.code, "auth_failed");
  assert.equal(r.receiver.stats().authFailures, 1);
});

Deno.test("file raw: a stalled sender is dropped by the idle timeout; no final file", async () => {
  await using r = await startReceiver({ idleTimeoutMs: 300 });
  const client = await RawClient.open(r.receiver.addr.port);
  await client.authenticate(r.token);
  await client.offer("stall.bin", 1000);
  assert.equal((await client.frame()).type, MessageType.ACCEPT);
  await client.start();
  await client.data(seededBytes(100));
  // Now silence: the receiver must hang up by itself.
  const rest = await readAll(client.conn).catch(() => new Uint8Array(0));
  client.close();
  assert.equal(rest.length, 0);
  const session = await r.nextSession();
  assert.equal(session.error?.code, "timeout");
  assert.deepEqual(await entries(r.dir), [".stall.bin.netkit-part"]);
});

Deno.test("file raw: a cut connection keeps the partial file (for resume), never a final one", async () => {
  await using r = await startReceiver();
  const client = await RawClient.open(r.receiver.addr.port);
  await client.authenticate(r.token);
  await client.offer("cut.bin", 1000);
  assert.equal((await client.frame()).type, MessageType.ACCEPT);
  await client.start();
  await client.data(seededBytes(400));
  client.close();
  const session = await r.nextSession();
  assert.equal(session.error?.code, "connection_closed");
  assert.deepEqual(await entries(r.dir), [".cut.bin.netkit-part"]);
  assert.deepEqual(
    await Deno.readFile(`${r.dir}/.cut.bin.netkit-part`),
    seededBytes(400),
  );
});

Deno.test("file raw: too many files, an oversized header, and out-of-order messages end the session", async () => {
  await using r = await startReceiver({ maxFiles: 2 });
  const client = await RawClient.open(r.receiver.addr.port);
  await client.authenticate(r.token);
  await client.offer("d1", 0, EntryKind.DIRECTORY);
  assert.equal(await client.verdict(), "ok");
  await client.offer("d2", 0, EntryKind.DIRECTORY);
  assert.equal(await client.verdict(), "ok");
  await client.offer("d3", 0, EntryKind.DIRECTORY);
  assert.equal(await client.verdict(), "error:too_many_files");
  client.close();
  await r.nextSession();

  const big = await RawClient.open(r.receiver.addr.port);
  await big.authenticate(r.token);
  const header = new Uint8Array(5);
  header[0] = MessageType.FILE;
  new DataView(header.buffer).setUint32(1, 70_000);
  await big.write(header);
  assert.equal(await big.verdict(), "error:message_too_large");
  big.close();
  await r.nextSession();

  const odd = await RawClient.open(r.receiver.addr.port);
  await odd.authenticate(r.token);
  await odd.data(seededBytes(10));
  assert.equal(await odd.verdict(), "error:protocol_error");
  odd.close();
  await r.nextSession();
  assert.deepEqual(await entries(r.dir), ["d1", "d2"]);
});

Deno.test("file raw: the same path from two senders at once: the second is told busy", async () => {
  await using r = await startReceiver();
  const a = await RawClient.open(r.receiver.addr.port);
  const b = await RawClient.open(r.receiver.addr.port);
  await a.authenticate(r.token);
  await b.authenticate(r.token);
  await a.offer("same.bin", 4);
  assert.equal((await a.frame()).type, MessageType.ACCEPT);
  await b.offer("same.bin", 4);
  assert.equal(await b.verdict(), "busy");
  await a.start();
  await a.data(enc.encode("abcd"));
  await a.end("same.bin", 4, sha256(enc.encode("abcd")));
  assert.equal(await a.verdict(), "ok");
  a.close();
  b.close();
  assert.equal(await Deno.readTextFile(`${r.dir}/same.bin`), "abcd");
});

/**
 * A classic sender: writes the bare name, reads one reply, compares it
 * with exactly "ok", streams the content and closes. Returns the reply.
 */
async function classicSend(
  port: number,
  name: string | Uint8Array,
  body: Uint8Array,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(typeof name === "string" ? enc.encode(name) : name);
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    const answer = new TextDecoder().decode(buf.subarray(0, n ?? 0));
    if (answer !== "ok") return answer;
    let off = 0;
    while (off < body.length) off += await conn.write(body.subarray(off));
    await conn.closeWrite();
    await readAll(conn);
    return answer;
  } finally {
    conn.close();
  }
}

/**
 * A classic receiver: the name is its first read, it answers "ok" (with or
 * without a newline) and keeps everything until EOF.
 */
async function classicReceive(
  listener: Deno.Listener,
  answer: string,
): Promise<{ name: Uint8Array; body: Uint8Array }> {
  const conn = await listener.accept();
  try {
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    const name = buf.slice(0, n ?? 0);
    await conn.write(enc.encode(answer));
    if (!answer.startsWith("ok")) return { name, body: new Uint8Array(0) };
    return { name, body: await readAll(conn) };
  } finally {
    conn.close();
  }
}

Deno.test("file raw --basic: a classic sender (bare name, exact 'ok') stores byte-exact files", async () => {
  await using r = await startReceiver({ basic: true, token: undefined });
  const port = r.receiver.addr.port;
  const body = seededBytes(500_000, 3);
  assert.equal(await classicSend(port, "photo.jpg", body), "ok");
  assert.deepEqual(await Deno.readFile(`${r.dir}/photo.jpg`), body);
  assert.equal((await r.nextSession()).ok, true);
  // A name ended by a newline (printf 'name\n' | cat - file | nc): the
  // newline ends the name early and the rest is content.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(enc.encode("crlf.txt\r\nhello"));
  await conn.closeWrite();
  assert.equal(new TextDecoder().decode(await readAll(conn)), "ok");
  conn.close();
  assert.equal((await r.nextSession()).ok, true);
  assert.equal(await Deno.readTextFile(`${r.dir}/crlf.txt`), "hello");
  assert.match(
    await classicSend(port, "../../.bashrc", enc.encode("x")),
    /^error: unsafe path/,
  );
  assert.match(
    await classicSend(port, "photo.jpg", enc.encode("x")),
    /^error: .*exists/,
  );
  assert.match(
    await classicSend(port, "n".repeat(5000), enc.encode("x")),
    /^error: .*longer than 4096/,
  );
  assert.deepEqual(await entries(r.dir), ["crlf.txt", "photo.jpg"]);
});

Deno.test("file raw --basic: the netkit sender feeds classic receivers ('ok' with or without newline), byte-exact", async () => {
  const dir = await Deno.makeTempDir();
  const src = `${dir}/data.bin`;
  await Deno.writeFile(src, seededBytes(250_000, 8));
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    for (const answer of ["ok", "ok\n"]) {
      const peer = classicReceive(listener, answer);
      const report = await sendFiles(listener.addr, [src], { basic: true });
      const got = await peer;
      assert.equal(report.ok, true, JSON.stringify(report.files[0]?.error));
      assert.equal(report.files[0]!.status, "sent");
      // The bare name: no newline for a classic receiver to keep.
      assert.equal(new TextDecoder().decode(got.name), "data.bin");
      assert.deepEqual(got.body, seededBytes(250_000, 8));
    }
    const peer = classicReceive(listener, "no thanks\n");
    const refused = await sendFiles(listener.addr, [src], { basic: true });
    await peer;
    assert.equal(refused.ok, false);
    assert.equal(refused.files[0]!.error?.code, "refused");
    assert.match(refused.files[0]!.error!.message, /no thanks/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file raw --basic: the netkit sender and receiver interoperate", async () => {
  await using r = await startReceiver({ basic: true, token: undefined });
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/x.bin`, seededBytes(70_000, 4));
    const report = await sendFiles(r.receiver.addr, [`${dir}/x.bin`], {
      basic: true,
    });
    assert.equal(report.ok, true, JSON.stringify(report.files[0]?.error));
    assert.deepEqual(
      await Deno.readFile(`${r.dir}/x.bin`),
      seededBytes(70_000, 4),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file raw: wire codes round-trip", () => {
  for (
    const code of ["exists", "unsafe_path", "timeout", "not_found"] as const
  ) {
    assert.equal(codeFromWire(codeToWire(code)), code);
  }
  assert.equal(codeFromWire(999), "protocol_error");
});
