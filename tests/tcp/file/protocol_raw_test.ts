// Raw-socket peers that break the file protocol's rules, one rule each:
// the receiver must refuse clearly, write nothing final, and keep serving.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  codeFromWire,
  codeToWire,
  decodeHello,
  decodeNotice,
  decodeStatus,
  deriveKeys,
  encodeFileEntry,
  encodeFrame,
  encodeHello,
  encodeU64,
  endMac,
  EntryKind,
  HELLO_BYTES,
  MessageType,
  type SessionKeys,
} from "../../../tcp/file/protocol.ts";
import {
  type FileReceiver,
  type FileReceiverOptions,
  generateToken,
  type ReceiveSession,
  sendFiles,
  serveFileReceiver,
} from "../../../tcp/mod.ts";
import { FrameReader } from "../../../tcp/file/_frame_io.ts";
import {
  readAllWithin as readAll,
  seededBytes,
  WAIT_MS,
  withTimeout,
} from "../../_helpers.ts";

const enc = new TextEncoder();

/** A receiver in a temporary folder that records its sessions. */
async function startReceiver(
  options: Partial<FileReceiverOptions> = {},
): Promise<{
  receiver: FileReceiver;
  dir: string;
  token: string;
  sessions: ReceiveSession[];
  nextSession(): Promise<ReceiveSession>;
  [Symbol.asyncDispose](): Promise<void>;
}> {
  const dir = await Deno.makeTempDir({ prefix: "netkit-raw-" });
  const token = generateToken();
  const sessions: ReceiveSession[] = [];
  let waiting: ((s: ReceiveSession) => void) | undefined;
  let consumed = 0;
  const receiver = serveFileReceiver({
    dir,
    token,
    ...options,
    onSession: (s) => {
      sessions.push(s);
      waiting?.(s);
    },
  });
  return {
    receiver,
    dir,
    token,
    sessions,
    nextSession() {
      const want = consumed++;
      return withTimeout(
        new Promise((resolve) => {
          if (sessions.length > want) return resolve(sessions[want]!);
          waiting = () => {
            if (sessions.length > want) resolve(sessions[want]!);
          };
        }),
        WAIT_MS,
        `receive session ${want + 1} to end`,
      );
    },
    async [Symbol.asyncDispose]() {
      await withTimeout(receiver.shutdown(), WAIT_MS, "receiver shutdown");
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A hand-driven protocol client. */
class RawClient {
  conn: Deno.TcpConn;
  reader: FrameReader;
  keys?: SessionKeys;
  index = 0;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    this.reader = new FrameReader(conn, 128 * 1024, () => {});
  }

  static async open(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      off += await this.conn.write(bytes.subarray(off));
    }
  }

  async authenticate(token: string): Promise<void> {
    const nonce = crypto.getRandomValues(new Uint8Array(32));
    await this.write(encodeHello(nonce));
    const hello = decodeHello(
      (await withTimeout(this.reader.exact(HELLO_BYTES), WAIT_MS, "HELLO"))
        .slice(),
    );
    assert.equal(hello.code, 0);
    this.keys = deriveKeys(token, nonce, hello.nonce);
    await this.write(encodeFrame(MessageType.AUTH, this.keys.senderProof));
    const reply = await this.frame();
    assert.equal(reply.type, MessageType.AUTH_OK);
  }

  async frame(): Promise<{ type: number; payload: Uint8Array }> {
    const f = await withTimeout(this.reader.frame(), WAIT_MS, "a frame");
    return { type: f.type, payload: f.payload.slice() };
  }

  offer(
    path: string | Uint8Array,
    size: number,
    kind: number = EntryKind.FILE,
  ): Promise<void> {
    const bytes = typeof path === "string" ? enc.encode(path) : path;
    return this.write(
      encodeFrame(
        MessageType.FILE,
        encodeFileEntry({ kind, flags: 0, mode: 0o644, size, path: bytes }),
      ),
    );
  }

  /** Reads a STATUS (or ERROR) and returns its code word. */
  async verdict(): Promise<string> {
    const f = await this.frame();
    if (f.type === MessageType.ERROR) {
      return `error:${codeFromWire(decodeNotice(f.payload).code)}`;
    }
    assert.equal(f.type, MessageType.STATUS);
    this.index++;
    return codeFromWire(decodeStatus(f.payload).code);
  }

  start(offset = 0): Promise<void> {
    return this.write(encodeFrame(MessageType.START, encodeU64(offset)));
  }

  data(bytes: Uint8Array): Promise<void> {
    return this.write(encodeFrame(MessageType.DATA, bytes));
  }

  end(path: string, size: number, sha: Uint8Array): Promise<void> {
    const mac = endMac(this.keys!.sessionKey, {
      index: this.index,
      size,
      path: enc.encode(path),
      sha256: sha,
    });
    const payload = new Uint8Array(64);
    payload.set(sha, 0);
    payload.set(mac, 32);
    return this.write(encodeFrame(MessageType.END, payload));
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // Closed by the receiver already.
    }
  }
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

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
    await client.write(encodeFrame(MessageType.DONE));
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
  await client.write(encodeFrame(MessageType.END, payload));
  assert.equal(await client.verdict(), "integrity_failed");

  await client.write(encodeFrame(MessageType.DONE));
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
  await conn.write(encodeHello(new Uint8Array(32), { version: 2 }));
  const reply = decodeHello(await readAll(conn));
  conn.close();
  assert.equal(reply.version, 1);
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

Deno.test("file raw --basic: classic senders store files; bad names and existing files store nothing", async () => {
  await using r = await startReceiver({ basic: true, token: undefined });
  const send = async (head: string, body: Uint8Array, waitOk = true) => {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: r.receiver.addr.port,
    });
    await conn.write(enc.encode(head));
    let answer = "";
    if (waitOk) {
      const buf = new Uint8Array(200);
      const n = await withTimeout(conn.read(buf), WAIT_MS, "the answer");
      answer = new TextDecoder().decode(buf.subarray(0, n ?? 0));
    }
    if (!waitOk || answer === "ok\n") {
      await conn.write(body);
      await conn.closeWrite();
    }
    answer += new TextDecoder().decode(await readAll(conn));
    conn.close();
    return answer;
  };
  assert.equal(await send("photo.jpg\n", seededBytes(500_000, 3)), "ok\n");
  assert.deepEqual(
    await Deno.readFile(`${r.dir}/photo.jpg`),
    seededBytes(500_000, 3),
  );
  // Name and bytes in one go, CRLF line end: still the classic flow.
  assert.equal(
    await send("crlf.txt\r\nhello", new Uint8Array(0), false),
    "ok\n",
  );
  assert.equal(await Deno.readTextFile(`${r.dir}/crlf.txt`), "hello");
  assert.match(
    await send("../../.bashrc\n", enc.encode("x")),
    /^error: unsafe path/,
  );
  assert.match(await send("photo.jpg\n", enc.encode("x")), /^error: .*exists/);
  assert.deepEqual(await entries(r.dir), ["crlf.txt", "photo.jpg"]);
});

Deno.test("file raw --basic: the netkit sender speaks the classic flow to a raw receiver", async () => {
  const src = await Deno.makeTempFile();
  await Deno.writeFile(src, seededBytes(250_000, 8));
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const peer = (async () => {
    const got: { name: string; body: Uint8Array }[] = [];
    for (let i = 0; i < 2; i++) {
      const conn = await listener.accept();
      const reader = new FrameReader(conn, 4096, () => {});
      const first = await reader.peek(4096, (b) => !b.includes(10));
      assert.ok(first);
      const line = reader.buffered.indexOf(10);
      const name = new TextDecoder().decode(
        (await reader.exact(line + 1)).slice(0, line),
      );
      if (i === 1) {
        await conn.write(enc.encode("no thanks\n"));
        conn.close();
        continue;
      }
      await conn.write(enc.encode("ok\n"));
      const chunks: number[] = [];
      for (
        let c = await reader.chunk(65536);
        c;
        c = await reader.chunk(65536)
      ) chunks.push(...c);
      got.push({ name, body: Uint8Array.from(chunks) });
      conn.close();
    }
    return got;
  })();
  try {
    const first = await sendFiles(listener.addr, [src], { basic: true });
    const second = await sendFiles(listener.addr, [src], { basic: true });
    const got = await withTimeout(peer, WAIT_MS, "the raw receiver");
    assert.equal(first.ok, true);
    assert.equal(first.files[0]!.status, "sent");
    assert.equal(got[0]!.name, src.slice(src.lastIndexOf("/") + 1));
    assert.deepEqual(got[0]!.body, seededBytes(250_000, 8));
    assert.equal(second.ok, false);
    assert.equal(second.files[0]!.error?.code, "refused");
  } finally {
    await Deno.remove(src);
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
