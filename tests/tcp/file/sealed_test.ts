// Protocol version 3 on the wire: the key schedule and MACs against
// vectors computed independently from docs/file-transfer.md, a capture in
// which nothing readable appears, tampering, fake receivers, and TLS.

import assert from "node:assert/strict";
import {
  codeFromWire,
  createFrameCipher,
  decodeHello,
  deriveKeys,
  DIGEST_BYTES,
  encodeAccept,
  encodeHello,
  encodeStatus,
  endMac,
  HELLO_BYTES,
  MessageType,
  statusMac,
} from "../../../tcp/file/protocol.ts";
import {
  FileTransferError,
  generateToken,
  sendFiles,
  serveFileReceiver,
} from "../../../tcp/mod.ts";
import { FrameReader } from "./_frame_reader.ts";
import { joined, startRelay } from "./_relay.ts";
import { readAll, seededBytes } from "../../_helpers.ts";
import { enc, entries, sha256 } from "./_raw.ts";

const FIXTURES = new URL("../../fixtures/tls/", import.meta.url).pathname;

// Spec vectors: token "correct horse battery staple", sender nonce bytes
// 0x00…0x1f, receiver nonce 0x20…0x3f, both hellos version 3, code 0.
// Computed by tools/file_vectors.py (Python's hmac/hashlib, HKDF written
// out from RFC 5869, and cryptography's ChaCha20Poly1305), not with netkit.
const VECTORS = {
  senderProof:
    "88f0ea8c8562cc4bf70543740b881df81f4ae024d555c00f28e32e740cf1da33",
  receiverProof:
    "28ceaf6aacf44f51ed62db164780e000e6dc52c240f168241acb05642fad64cb",
  mac: "76c2d21b292e63c76e5be3f1dd0d43477458f60dda42aaf8775f8d3a9d92b854",
  senderKey: "e813e5bee471c19343778d7c3942b15cc1afcb10f721a470a511124bfb4afc85",
  receiverKey:
    "bba25110dd12918a4c8411732e2bfaac0cb51a84fddb4a4693600e5a11ab93a9",
  // endMac(index 3, size 5, path "a/b.txt", sha256("hello"))
  end: "592806bc8f0db4b36559d1d4c44b821b3958e04fd8a93350996884aa1f105986",
  // statusMac(index 3, code 0, sha256("hello"))
  status: "30f96823f15b8e495dc646df068292c590e701adc8359e937d52f0d7830f2fa4",
  // Sender frames: DONE (empty) at counter 0, then DATA "hello" at counter 1.
  done0: "060000001051af640e21537cafbfa19dca202a9dc6",
  data1: "0400000015f656e86d2dd90390ca2817e9493015ef5e9b926b56",
};

function specHellos(): { sender: Uint8Array; receiver: Uint8Array } {
  const nonce = (from: number) =>
    Uint8Array.from({ length: 32 }, (_, i) => from + i);
  return { sender: encodeHello(nonce(0)), receiver: encodeHello(nonce(32)) };
}

Deno.test("file sealed: key schedule, MACs and sealed frames match the spec vectors", () => {
  const { sender, receiver } = specHellos();
  const keys = deriveKeys("correct horse battery staple", sender, receiver);
  assert.equal(keys.senderProof.toHex(), VECTORS.senderProof);
  assert.equal(keys.receiverProof.toHex(), VECTORS.receiverProof);
  assert.equal(keys.sessionKey.toHex(), VECTORS.mac);
  assert.equal(keys.senderKey.toHex(), VECTORS.senderKey);
  assert.equal(keys.receiverKey.toHex(), VECTORS.receiverKey);
  const sha = sha256(enc.encode("hello"));
  assert.equal(
    endMac(keys.sessionKey, {
      index: 3,
      size: 5,
      path: enc.encode("a/b.txt"),
      sha256: sha,
    }).toHex(),
    VECTORS.end,
  );
  assert.equal(
    statusMac(keys.sessionKey, { index: 3, code: 0, sha256: sha }).toHex(),
    VECTORS.status,
  );
  const out = createFrameCipher(keys.senderKey, keys.receiverKey);
  assert.equal(
    out.seal(MessageType.DONE, new Uint8Array(0)).toHex(),
    VECTORS.done0,
  );
  assert.equal(
    out.seal(MessageType.DATA, enc.encode("hello")).toHex(),
    VECTORS.data1,
  );
  // The receiver's side opens them in order, and nothing out of order.
  const back = createFrameCipher(keys.receiverKey, keys.senderKey);
  const done = Uint8Array.fromHex(VECTORS.done0);
  const data = Uint8Array.fromHex(VECTORS.data1);
  assert.throws(
    () => back.open(data.subarray(0, 5), data.subarray(5)),
    (e: unknown) => (e as FileTransferError).code === "integrity_failed",
  );
  const fresh = createFrameCipher(keys.receiverKey, keys.senderKey);
  assert.equal(fresh.open(done.subarray(0, 5), done.subarray(5)).length, 0);
  assert.deepEqual(
    fresh.open(data.subarray(0, 5), data.subarray(5)),
    enc.encode("hello"),
  );
});

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay).indexOf(Buffer.from(needle)) !== -1;
}

async function withFiles(
  run: (src: string, dst: string) => Promise<void>,
): Promise<void> {
  const src = await Deno.makeTempDir({ prefix: "netkit-sealed-src-" });
  const dst = await Deno.makeTempDir({ prefix: "netkit-sealed-dst-" });
  try {
    await run(src, dst);
  } finally {
    await Deno.remove(src, { recursive: true });
    await Deno.remove(dst, { recursive: true });
  }
}

const SECRET_NAME = "quarterly-salaries-CONFIDENTIAL.txt";

Deno.test("file sealed: a capture of the session holds neither the file's name nor its contents", async () => {
  await withFiles(async (src, dst) => {
    // Readable, repetitive content: any cleartext stretch would show.
    const content = enc.encode("the launch code is 0000\n".repeat(20_000));
    await Deno.writeFile(`${src}/${SECRET_NAME}`, content);
    const token = generateToken();
    await using receiver = serveFileReceiver({ dir: dst, token });
    const relay = startRelay(receiver.addr);
    const report = await sendFiles(
      `127.0.0.1:${relay.port}`,
      [`${src}/${SECRET_NAME}`],
      { token },
    );
    await relay.done;
    relay.close();
    assert.equal(report.ok, true, JSON.stringify(report.error));
    assert.deepEqual(await Deno.readFile(`${dst}/${SECRET_NAME}`), content);
    const capture = joined([...relay.up, ...relay.down]);
    assert.ok(
      capture.length > content.length,
      "the bytes went through the relay",
    );
    assert.ok(!contains(capture, enc.encode("quarterly-salaries")), "name");
    assert.ok(!contains(capture, enc.encode("launch code")), "content");
    assert.ok(!contains(capture, enc.encode(token)), "token");
  });
});

Deno.test("file sealed: one flipped ciphertext byte ends the session and stores nothing", async () => {
  await withFiles(async (src, dst) => {
    await Deno.writeFile(`${src}/data.bin`, seededBytes(300_000, 5));
    const token = generateToken();
    await using receiver = serveFileReceiver({ dir: dst, token });
    // Hello (44) and AUTH (37) go up first; 5000 bytes later is DATA.
    const relay = startRelay(receiver.addr, { flipUpAt: 44 + 37 + 5000 });
    const report = await sendFiles(
      { hostname: "127.0.0.1", port: relay.port },
      [`${src}/data.bin`],
      { token },
    );
    await relay.done;
    relay.close();
    assert.equal(report.ok, false);
    assert.equal(report.files[0]!.status, "failed");
    assert.equal(report.error?.code, "integrity_failed");
    assert.deepEqual(await entries(dst), []);
  });
});

Deno.test("file sealed: a fake receiver that gives a wrong proof gets auth_failed and not one more byte", async () => {
  await withFiles(async (src) => {
    await Deno.writeFile(`${src}/secret.txt`, enc.encode("secret"));
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const fake = (async () => {
      const conn = await listener.accept();
      const reader = new FrameReader(conn, 4096, () => {});
      await reader.exact(HELLO_BYTES);
      await conn.write(encodeHello(crypto.getRandomValues(new Uint8Array(32))));
      const auth = await reader.frame();
      assert.equal(auth.type, MessageType.AUTH);
      // AUTH_OK with a proof made up without the token.
      const bogus = new Uint8Array(5 + DIGEST_BYTES);
      bogus[0] = MessageType.AUTH_OK;
      new DataView(bogus.buffer).setUint32(1, DIGEST_BYTES);
      bogus.set(crypto.getRandomValues(new Uint8Array(DIGEST_BYTES)), 5);
      await conn.write(bogus);
      const after = await readAll(conn).catch(() => new Uint8Array(0));
      conn.close();
      return after.length + reader.buffered.length;
    })();
    const error = await sendFiles(listener.addr, [`${src}/secret.txt`], {
      token: generateToken(),
    }).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof FileTransferError, String(error));
    assert.equal(error.code, "auth_failed");
    assert.equal(await fake, 0, "the sender sent nothing after AUTH");
  });
});

Deno.test("file sealed: a receiver's verdict with a forged MAC is integrity_failed, report not ok", async () => {
  await withFiles(async (src) => {
    const body = enc.encode("hello");
    await Deno.writeFile(`${src}/a.txt`, body);
    const token = generateToken();
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    // Knows the token, seals correctly, but lies in its STATUS MAC.
    const fake = (async () => {
      const conn = await listener.accept();
      const reader = new FrameReader(conn, 1 << 21, () => {});
      const senderHello = (await reader.exact(HELLO_BYTES)).slice();
      assert.equal(decodeHello(senderHello).version, 3);
      const receiverHello = encodeHello(
        crypto.getRandomValues(new Uint8Array(32)),
      );
      await conn.write(receiverHello);
      const keys = deriveKeys(token, senderHello, receiverHello);
      await reader.frame();
      const ok = new Uint8Array(5 + DIGEST_BYTES);
      ok[0] = MessageType.AUTH_OK;
      new DataView(ok.buffer).setUint32(1, DIGEST_BYTES);
      ok.set(keys.receiverProof, 5);
      await conn.write(ok);
      const cipher = createFrameCipher(keys.receiverKey, keys.senderKey);
      reader.cipher = cipher;
      assert.equal((await reader.frame()).type, MessageType.FILE);
      await conn.write(
        cipher.seal(MessageType.ACCEPT, encodeAccept(0, new Uint8Array(32))),
      );
      for (;;) {
        if ((await reader.frame()).type === MessageType.END) break;
      }
      await conn.write(cipher.seal(
        MessageType.STATUS,
        encodeStatus({
          code: 0,
          sha256: sha256(body),
          mac: new Uint8Array(32),
          storedPath: "a.txt",
          message: "stored",
        }),
      ));
      await readAll(conn).catch(() => {});
      conn.close();
    })();
    const report = await sendFiles(listener.addr, [`${src}/a.txt`], { token });
    await fake;
    assert.equal(report.ok, false);
    assert.equal(report.error?.code, "integrity_failed");
    assert.notEqual(report.files[0]!.status, "stored");
  });
});

Deno.test("file sealed: the TLS receiver speaks TLS on the wire; a plain sender fails", async () => {
  await withFiles(async (src, dst) => {
    await Deno.writeFile(`${src}/t.txt`, enc.encode("over tls"));
    const token = generateToken();
    const cert = await Deno.readTextFile(`${FIXTURES}cert.pem`);
    const key = await Deno.readTextFile(`${FIXTURES}key.pem`);
    await using receiver = serveFileReceiver({
      dir: dst,
      token,
      tls: { cert, key },
    });
    const plain = await sendFiles(receiver.addr, [`${src}/t.txt`], { token })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(plain instanceof FileTransferError, String(plain));
    const relay = startRelay(receiver.addr);
    const ok = await sendFiles(
      { hostname: "localhost", port: relay.port },
      [`${src}/t.txt`],
      { token, tls: { caCerts: [cert] } },
    );
    await relay.done;
    relay.close();
    assert.equal(ok.ok, true, JSON.stringify(ok.error));
    const up = joined(relay.up);
    // A TLS handshake record (0x16, version 3.x), not a netkit hello.
    assert.equal(up[0], 0x16);
    assert.equal(up[1], 0x03);
    assert.ok(!contains(up, enc.encode("NKFT")));
    assert.ok(
      !contains(joined([...relay.up, ...relay.down]), enc.encode("over tls")),
    );
  });
});

/** Hello and AUTH by hand with the given flags; returns the reader and keys. */
async function rawAuth(
  conn: Deno.Conn,
  token: string,
  flags: number,
): Promise<{ reader: FrameReader; type: number; helloCode: number }> {
  const reader = new FrameReader(conn, 1 << 17, () => {});
  const mine = encodeHello(crypto.getRandomValues(new Uint8Array(32)), {
    code: flags,
  });
  await conn.write(mine);
  const theirs = (await reader.exact(HELLO_BYTES)).slice();
  const helloCode = decodeHello(theirs).code;
  if (helloCode !== 0) return { reader, type: -1, helloCode };
  const keys = deriveKeys(token, mine, theirs);
  const auth = new Uint8Array(5 + DIGEST_BYTES);
  auth[0] = MessageType.AUTH;
  new DataView(auth.buffer).setUint32(1, DIGEST_BYTES);
  auth.set(keys.senderProof, 5);
  await conn.write(auth);
  return { reader, type: (await reader.frame()).type, helloCode };
}

Deno.test("file sealed: over verified TLS frames are not sealed twice; without TLS the flag is refused", async () => {
  await withFiles(async (_src, dst) => {
    const token = generateToken();
    const cert = await Deno.readTextFile(`${FIXTURES}cert.pem`);
    const key = await Deno.readTextFile(`${FIXTURES}key.pem`);
    await using tlsReceiver = serveFileReceiver({
      dir: dst,
      token,
      tls: { cert, key },
    });
    const conn = await Deno.connectTls({
      hostname: "localhost",
      port: tlsReceiver.addr.port,
      caCerts: [cert],
    });
    const { reader, type } = await rawAuth(conn, token, 1);
    assert.equal(type, MessageType.AUTH_OK);
    // An unsealed DONE is understood: the session ends with SESSION.
    await conn.write(new Uint8Array([MessageType.DONE, 0, 0, 0, 0]));
    assert.equal((await reader.frame()).type, MessageType.SESSION);
    conn.close();

    await using plainReceiver = serveFileReceiver({ dir: dst, token });
    const plain = await Deno.connect({
      hostname: "127.0.0.1",
      port: plainReceiver.addr.port,
    });
    // The flag claims TLS where there is none: refused in the hello.
    const refused = await rawAuth(plain, token, 1);
    assert.equal(codeFromWire(refused.helloCode), "protocol_error");
    plain.close();
  });
});
