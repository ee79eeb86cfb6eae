// The receiver's session core (tcp/file/_receiver_session.ts) driven with
// bytes and time only: every frame order the grammar forbids, size lies,
// MAC and seal failures, resume offers, and its deadlines (the proof's
// slow-down, the grace period) passed as `now`, never waited for.

import assert from "node:assert/strict";
import {
  codeFromWire,
  decodeAccept,
  decodeHello,
  decodeNotice,
  decodeStatus,
  DIGEST_BYTES,
  encodeFileEntry,
  encodeFrame,
  encodeHello,
  encodeU64,
  EntryKind,
  FLAG_NO_RESUME,
  HELLO_BYTES,
  HELLO_FLAG_PLAIN_OVER_TLS,
  MessageType,
  statusMac,
} from "../../../tcp/file/protocol.ts";
import { DRAIN_LIMIT } from "../../../tcp/file/_receiver_session.ts";
import {
  admitted,
  bytesOf,
  codeOf,
  concat,
  enc,
  MemoryDisk,
  readFrames,
  receiverCore,
  replies,
  SenderPeer,
  sha256,
  types,
} from "./_session_harness.ts";

const ALL_TYPES = [
  MessageType.AUTH,
  MessageType.FILE,
  MessageType.START,
  MessageType.DATA,
  MessageType.END,
  MessageType.DONE,
  MessageType.AUTH_OK,
  MessageType.ACCEPT,
  MessageType.STATUS,
  MessageType.SESSION,
  MessageType.ERROR,
  0x00,
  0x55,
  0xff,
];

function failedWith(events: { type: string }[], code: string): void {
  const failed = events.at(-1) as
    | { type: "failed"; failure: { code: string } }
    | undefined;
  assert.equal(failed?.type, "failed", JSON.stringify(events));
  assert.equal(failed.failure.code, code);
}

Deno.test("receiver core: hello, proof and admission, byte for byte", () => {
  const core = receiverCore();
  const peer = new SenderPeer();
  const opening = peer.opening();
  // Nothing happens until the whole hello is there.
  assert.deepEqual(core.receive(opening.subarray(0, HELLO_BYTES - 1)), []);
  assert.deepEqual(core.takeOutput(), []);
  assert.deepEqual(types(core.receive(opening.subarray(HELLO_BYTES - 1))), [
    "hello",
    "proof",
  ]);
  // The receiver's hello went out with its nonce, code 0.
  const [hello] = core.takeOutput();
  assert.deepEqual(
    hello,
    encodeHello(Uint8Array.from({ length: 32 }, (_, i) => 32 + i)),
  );
  assert.equal(core.wantsInput, false, "paused on the proof");
  core.holdProof(5);
  assert.equal(core.pollTimeout(), 5);
  assert.deepEqual(core.handleTimeout(4), []);
  assert.deepEqual(types(core.handleTimeout(5)), ["proven"]);
  assert.equal(core.authenticated, false, "not before admit()");
  assert.deepEqual(types(core.admit()), ["authenticated"]);
  const [authOk] = readFrames(concat(core.takeOutput()));
  assert.equal(authOk!.type, MessageType.AUTH_OK);
  assert.deepEqual(authOk!.payload, peer.keys.receiverProof);
  assert.ok(core.authenticated);
});

Deno.test("receiver core: the proof's slow-down is a deadline passed in, not a wait", () => {
  const core = receiverCore();
  core.receive(new SenderPeer().opening());
  core.holdProof(1_000);
  for (const now of [0, 500, 999.9]) {
    assert.deepEqual(core.handleTimeout(now), [], `at ${now}`);
  }
  assert.deepEqual(core.takeOutput().length, 1, "only the hello so far");
  assert.deepEqual(types(core.handleTimeout(1_000)), ["proven"]);
});

Deno.test("receiver core: a wrong proof is auth_failed, answered in clear", () => {
  const core = receiverCore();
  const wrong = new SenderPeer({ token: "guess" });
  core.receive(wrong.opening());
  core.holdProof(0);
  const events = core.handleTimeout(0);
  failedWith(events, "auth_failed");
  const out = core.takeOutput();
  const [error] = readFrames(out[1]!);
  assert.equal(codeOf(error!), "error:auth_failed");
  assert.equal(core.finished, true);
});

Deno.test("receiver core: a proven sender can be refused (busy), in clear", () => {
  const core = receiverCore();
  core.receive(new SenderPeer().opening());
  core.holdProof(0);
  core.handleTimeout(0);
  failedWith(core.refuse({ code: "busy", message: "taken" }), "busy");
  const [error] = readFrames(core.takeOutput()[1]!);
  assert.equal(codeOf(error!), "error:busy");
  assert.equal(core.authenticated, false);
});

Deno.test("receiver core: what is not a hello gets the --basic hint and no linger", () => {
  const core = receiverCore();
  // The first byte already rules out a hello.
  const events = core.receive(enc.encode("p"));
  failedWith(events, "bad_hello");
  assert.equal((events.at(-1) as { linger: boolean }).linger, false);
  assert.match(new TextDecoder().decode(core.takeOutput()[0]), /--basic/);
});

Deno.test("receiver core: another version gets our hello with version_mismatch", () => {
  const core = receiverCore();
  failedWith(
    core.receive(encodeHello(new Uint8Array(32), { version: 1 })),
    "version_mismatch",
  );
  const out = core.takeOutput();
  assert.equal(out.length, 1, "the hello only, no frame after it");
  const hello = decodeHello(out[0]!);
  assert.equal(hello.version, 3);
  assert.equal(codeFromWire(hello.code), "version_mismatch");
});

Deno.test("receiver core: unsealed frames are refused in the hello code unless the connection is TLS", () => {
  const flags = HELLO_FLAG_PLAIN_OVER_TLS;
  const plain = receiverCore();
  failedWith(
    plain.receive(new SenderPeer({ flags }).opening()),
    "protocol_error",
  );
  assert.equal(
    codeFromWire(decodeHello(plain.takeOutput()[0]!).code),
    "protocol_error",
  );
  // Over TLS: admitted, and every later frame travels unsealed.
  const tls = receiverCore({ tls: true });
  const peer = new SenderPeer({ flags });
  tls.receive(peer.opening());
  tls.holdProof(0);
  tls.handleTimeout(0);
  tls.admit();
  tls.takeOutput();
  assert.deepEqual(types(tls.receive(encodeFrame(MessageType.DONE))), [
    "done",
  ]);
  assert.equal(
    readFrames(concat(tls.takeOutput()))[0]!.type,
    MessageType.SESSION,
  );
});

Deno.test("receiver core: before AUTH every other frame, a wrong AUTH length and an oversized header are refused", () => {
  for (const type of ALL_TYPES) {
    if (type === MessageType.AUTH) continue;
    const core = receiverCore();
    const peer = new SenderPeer();
    failedWith(
      core.receive(concat([peer.hello, encodeFrame(type, new Uint8Array(32))])),
      "protocol_error",
    );
  }
  for (const length of [0, 31, 33, 60_000]) {
    const core = receiverCore();
    const header = new Uint8Array(5);
    header[0] = MessageType.AUTH;
    new DataView(header.buffer).setUint32(1, length);
    // Refused on the header: no payload byte is waited for.
    failedWith(
      core.receive(concat([new SenderPeer().hello, header])),
      "protocol_error",
    );
  }
  const core = receiverCore();
  const header = new Uint8Array(5);
  header[0] = MessageType.AUTH;
  new DataView(header.buffer).setUint32(1, 70_000);
  failedWith(
    core.receive(concat([new SenderPeer().hello, header])),
    "message_too_large",
  );
});

/** A sealed frame of every type but the allowed ones, each on a fresh session in `state`. */
/**
 * Each type but the allowed ones, on a fresh session brought to a state by
 * `reach`, carrying `payload`: one the state's allowed message would take,
 * so only the type can be what is refused.
 */
function refusedIn(
  reach: (s: ReturnType<typeof admitted>) => void,
  allowed: number[],
  payload: Uint8Array,
): void {
  for (const type of ALL_TYPES) {
    if (allowed.includes(type)) continue;
    const s = admitted();
    reach(s);
    replies(s.core, s.peer);
    const events = s.core.receive(s.peer.sealed(type, payload));
    failedWith(events, "protocol_error");
    const frames = replies(s.core, s.peer);
    assert.equal(
      codeOf(frames.at(-1)!),
      "error:protocol_error",
      `type ${type}`,
    );
  }
}

Deno.test("receiver core: between entries only FILE and DONE are allowed", () => {
  const file = encodeFileEntry({
    kind: EntryKind.DIRECTORY,
    flags: 0,
    mode: 0o755,
    size: 0,
    path: enc.encode("d"),
  });
  refusedIn(() => {}, [MessageType.FILE, MessageType.DONE], file);
});

Deno.test("receiver core: after ACCEPT only START is allowed, at 0 or the offer", () => {
  const offered = (s: ReturnType<typeof admitted>) => {
    const disk = new MemoryDisk();
    disk.answer(s.core, s.core.receive(s.peer.file("a.bin", 10)));
  };
  refusedIn(offered, [MessageType.START], encodeU64(0));
  const s = admitted();
  offered(s);
  failedWith(s.core.receive(s.peer.start(3)), "protocol_error");
  const t = admitted();
  offered(t);
  failedWith(
    t.core.receive(t.peer.sealed(MessageType.START, new Uint8Array(7))),
    "protocol_error",
  );
});

Deno.test("receiver core: while content flows only DATA and END are allowed; END carries 64 bytes", () => {
  const streaming = (s: ReturnType<typeof admitted>) => {
    const disk = new MemoryDisk();
    disk.answer(s.core, s.core.receive(s.peer.file("a.bin", 10)));
    disk.answer(s.core, s.core.receive(s.peer.start()));
  };
  refusedIn(streaming, [MessageType.DATA, MessageType.END], bytesOf(8));
  const s = admitted();
  streaming(s);
  failedWith(
    s.core.receive(s.peer.sealed(MessageType.END, new Uint8Array(63))),
    "protocol_error",
  );
});

Deno.test("receiver core: a FILE past --max-files ends the session; a malformed FILE is a protocol error", () => {
  const s = admitted({ maxFiles: 1 });
  const disk = new MemoryDisk();
  disk.answer(
    s.core,
    s.core.receive(s.peer.file("d", 0, { kind: EntryKind.DIRECTORY })),
  );
  failedWith(
    s.core.receive(s.peer.file("e", 0, { kind: EntryKind.DIRECTORY })),
    "too_many_files",
  );
  const t = admitted();
  failedWith(
    t.core.receive(t.peer.sealed(MessageType.FILE, new Uint8Array(13))),
    "protocol_error",
  );
  const u = admitted();
  failedWith(
    u.core.receive(
      u.peer.sealed(
        MessageType.FILE,
        Uint8Array.of(7, 0, 0, 0, 0, 0, ...new Uint8Array(8), 0x61),
      ),
    ),
    "protocol_error",
  );
});

Deno.test("receiver core: unsafe paths and --max-size are refused by STATUS before any byte; the session goes on", () => {
  const s = admitted({ maxSize: 100 });
  const disk = new MemoryDisk();
  const refused = [
    ["../x", 4],
    ["/etc/passwd", 4],
    ["a\x1b[2J", 4],
    [".x.netkit-part", 4],
    ["big.bin", 101],
  ] as const;
  for (const [path, size] of refused) {
    const events = disk.answer(s.core, s.core.receive(s.peer.file(path, size)));
    assert.deepEqual(types(events), ["file"], path);
    s.peer.index++;
  }
  const codes = replies(s.core, s.peer).map(codeOf);
  assert.deepEqual(codes, [
    "unsafe_path",
    "unsafe_path",
    "unsafe_path",
    "unsafe_path",
    "too_large",
  ]);
  // Invalid UTF-8 too.
  const bad = s.core.receive(
    s.peer.sealed(
      MessageType.FILE,
      concat([new Uint8Array(14), Uint8Array.of(0x61, 0xff)]),
    ),
  );
  assert.equal(
    (bad[0] as { file: { error: { code: string } } }).file.error.code,
    "unsafe_path",
  );
  s.peer.index++;
  // Still in session: a good file is stored.
  const body = enc.encode("good");
  const events = disk.answer(
    s.core,
    s.core.receive(
      concat([
        s.peer.file("ok.txt", 4),
        s.peer.start(),
        s.peer.data(body),
        s.peer.end("ok.txt", 4, sha256(body)),
      ]),
    ),
  );
  assert.deepEqual(types(events), ["entry", "start", "data", "end", "file"]);
  assert.deepEqual(disk.files.get("ok.txt"), body);
});

Deno.test("receiver core: more bytes than announced ends the session on the DATA header, before its payload", () => {
  const s = admitted();
  const disk = new MemoryDisk();
  disk.answer(
    s.core,
    s.core.receive(concat([s.peer.file("lie.bin", 10), s.peer.start()])),
  );
  const data = s.peer.data(bytesOf(11));
  // Only the 5-byte header of the DATA frame.
  const events = s.core.receive(data.subarray(0, 5));
  failedWith(events, "size_mismatch");
  assert.equal(codeOf(replies(s.core, s.peer).at(-1)!), "error:size_mismatch");
});

Deno.test("receiver core: fewer bytes, a wrong hash, a wrong END MAC: the file fails, the session goes on", () => {
  const s = admitted();
  const disk = new MemoryDisk();
  const five = bytesOf(5);
  const ten = bytesOf(10);
  const cases: [string, Uint8Array, Uint8Array, Uint8Array | undefined][] = [
    ["short.bin", five, sha256(five), undefined],
    ["hash.bin", ten, sha256(five), undefined],
    ["mac.bin", ten, sha256(ten), new Uint8Array(32)],
  ];
  const failures: string[] = [];
  for (const [path, body, sha, mac] of cases) {
    const events = disk.answer(
      s.core,
      s.core.receive(concat([
        s.peer.file(path, 10),
        s.peer.start(),
        s.peer.data(body),
        s.peer.end(path, 10, sha, mac),
      ])),
    );
    const end = events.find((e) => e.type === "end") as {
      failure?: { code: string };
    };
    failures.push(end.failure!.code);
    s.peer.index++;
  }
  assert.deepEqual(failures, [
    "size_mismatch",
    "hash_mismatch",
    "integrity_failed",
  ]);
  assert.deepEqual(
    replies(s.core, s.peer).filter((f) => f.type === MessageType.STATUS).map(
      codeOf,
    ),
    ["size_mismatch", "hash_mismatch", "integrity_failed"],
  );
  assert.equal(disk.files.size, 0);
  assert.deepEqual(types(s.core.receive(s.peer.sealed(MessageType.DONE))), [
    "done",
  ]);
  const session = replies(s.core, s.peer).at(-1)!;
  assert.equal(session.type, MessageType.SESSION);
  assert.equal(decodeNotice(session.payload).count, 0);
  assert.equal(decodeNotice(session.payload).message, "3 not stored");
});

Deno.test("receiver core: an altered, replayed, dropped or truncated sealed frame is integrity_failed", () => {
  const tamper: Record<string, (peer: SenderPeer) => Uint8Array> = {
    "a flipped ciphertext byte": (peer) => {
      const frame = peer.file("a", 1);
      frame[8]! ^= 1;
      return frame;
    },
    "a flipped header byte (the AAD)": (peer) => {
      const frame = peer.sealed(MessageType.DONE);
      frame[0] = MessageType.FILE;
      return frame;
    },
    "a replayed frame": (peer) => {
      const frame = peer.file("d", 0, { kind: EntryKind.DIRECTORY });
      return concat([frame, frame]);
    },
    "a dropped frame": (peer) => {
      peer.sealed(MessageType.DONE);
      return peer.sealed(MessageType.DONE);
    },
    "a frame shorter than its tag": (_peer) =>
      encodeFrame(MessageType.DONE, new Uint8Array(15)),
  };
  for (const [name, make] of Object.entries(tamper)) {
    const s = admitted();
    const disk = new MemoryDisk();
    const events = disk.answer(s.core, s.core.receive(make(s.peer)));
    failedWith(events, "integrity_failed");
    assert.equal(
      codeOf(replies(s.core, s.peer).at(-1)!),
      "error:integrity_failed",
      name,
    );
  }
});

Deno.test("receiver core: STATUS verdicts carry the MAC of this session and entry", () => {
  const s = admitted();
  const disk = new MemoryDisk();
  disk.answer(
    s.core,
    s.core.receive(s.peer.file("d", 0, { kind: EntryKind.DIRECTORY })),
  );
  const [status] = replies(s.core, s.peer);
  const decoded = decodeStatus(status!.payload);
  assert.deepEqual(
    decoded.mac,
    statusMac(s.peer.keys.sessionKey, {
      index: 0,
      code: 0,
      sha256: new Uint8Array(32),
    }),
  );
  assert.equal(decoded.storedPath, "d");
});

Deno.test("receiver core: resume offers follow the part file, the flag and the size", () => {
  const offer = (part: number, size: number, flags = 0) => {
    const s = admitted();
    const events = s.core.receive(s.peer.file("r.bin", size, { flags }));
    assert.deepEqual(types(events), ["entry"]);
    return s.core.resumePoint(part);
  };
  assert.equal(offer(700, 1000), 700);
  assert.equal(offer(1000, 1000), 1000);
  assert.equal(offer(0, 1000), 0);
  assert.equal(offer(1001, 1000), 0, "a part file longer than the file");
  assert.equal(offer(700, 1000, FLAG_NO_RESUME), 0, "--no-resume");
});

Deno.test("receiver core: a resumed file is hashed from the offered prefix; START 0 starts over", () => {
  const data = bytesOf(3000, 4);
  for (const from of [1200, 0]) {
    const s = admitted();
    const disk = new MemoryDisk();
    disk.parts.set("r.bin", data.slice(0, 1200));
    disk.answer(s.core, s.core.receive(s.peer.file("r.bin", 3000)));
    const accept = decodeAccept(replies(s.core, s.peer)[0]!.payload);
    assert.equal(accept.offset, 1200);
    assert.deepEqual(accept.prefixSha, sha256(data.subarray(0, 1200)));
    const events = disk.answer(
      s.core,
      s.core.receive(concat([
        s.peer.start(from),
        s.peer.data(data.subarray(from)),
        s.peer.end("r.bin", 3000, sha256(data)),
      ])),
    );
    const start = events.find((e) => e.type === "start") as {
      from: number;
      truncate: boolean;
    };
    assert.deepEqual(start, { type: "start", from, truncate: from === 0 });
    const file =
      (events.at(-1) as { file: { status: string; resumedFrom: number } }).file;
    assert.equal(file.status, "stored");
    assert.equal(file.resumedFrom, from);
    assert.deepEqual(disk.files.get("r.bin"), data);
  }
});

Deno.test("receiver core: a stop before admission fails at once; after it, the grace period is a deadline", () => {
  const stranger = receiverCore();
  stranger.receive(new SenderPeer().hello);
  const events = stranger.stop(0, 5_000);
  failedWith(events, "shutting_down");
  assert.equal((events[0] as { linger: boolean }).linger, false);

  const s = admitted();
  const disk = new MemoryDisk();
  disk.answer(
    s.core,
    s.core.receive(concat([s.peer.file("slow.bin", 100), s.peer.start()])),
  );
  replies(s.core, s.peer);
  assert.deepEqual(s.core.stop(1_000, 500), []);
  assert.equal(s.core.pollTimeout(), 1_500);
  assert.deepEqual(s.core.handleTimeout(1_499), []);
  // Content still flows within the grace period.
  assert.deepEqual(types(s.core.receive(s.peer.data(bytesOf(10)))), ["data"]);
  const ended = s.core.handleTimeout(1_500);
  failedWith(ended, "shutting_down");
  assert.equal((ended[0] as { linger: boolean }).linger, true);
  assert.equal(codeOf(replies(s.core, s.peer).at(-1)!), "error:shutting_down");
});

Deno.test("receiver core: while stopping, a new FILE is refused and DONE still gets SESSION", () => {
  const s = admitted();
  s.core.stop(0, 1_000);
  failedWith(
    s.core.receive(s.peer.file("late.bin", 1)),
    "shutting_down",
  );
  const t = admitted();
  t.core.stop(0, 1_000);
  assert.deepEqual(types(t.core.receive(t.peer.sealed(MessageType.DONE))), [
    "done",
  ]);
});

Deno.test("receiver core: a failed session reads and drops up to the drain limit, then is closed", () => {
  const s = admitted();
  failedWith(
    s.core.receive(s.peer.sealed(MessageType.DATA, new Uint8Array(4))),
    "protocol_error",
  );
  assert.equal(s.core.wantsInput, true, "draining");
  let drained = 0;
  for (let reads = 0; s.core.wantsInput && reads < 100_000; reads++) {
    const room = s.core.space();
    assert.ok(room.length > 0);
    drained += room.length;
    assert.deepEqual(s.core.commit(room.length), []);
  }
  assert.ok(drained >= DRAIN_LIMIT);
  assert.ok(drained < DRAIN_LIMIT + 1024 * 1024, `${drained} bytes drained`);
  assert.equal(s.core.wantsInput, false, "closed once the limit is reached");
  assert.equal(s.core.finished, true);
});

Deno.test("receiver core: EOF before the hello or mid-session is connection_closed, without linger", () => {
  const core = receiverCore();
  core.receive(new SenderPeer().hello.subarray(0, 10));
  const early = core.eof();
  failedWith(early, "connection_closed");
  assert.match(
    (early[0] as { failure: { message: string } }).failure.message,
    /before its hello/,
  );
  const s = admitted();
  const mid = s.core.eof();
  failedWith(mid, "connection_closed");
  assert.equal((mid[0] as { linger: boolean }).linger, false);
  assert.deepEqual(s.core.takeOutput(), []);
});

Deno.test("receiver core: a write failure fails the file at END, ahead of the core's own verdict", () => {
  const s = admitted();
  const disk = new MemoryDisk();
  const body = bytesOf(10);
  disk.answer(
    s.core,
    s.core.receive(concat([s.peer.file("w.bin", 10), s.peer.start()])),
  );
  s.core.diskFailed({ code: "disk_error", message: "disk full" });
  const events = s.core.receive(
    concat([s.peer.data(body), s.peer.end("w.bin", 10, sha256(body))]),
  );
  assert.deepEqual(types(events), ["data", "end"]);
  const [file] = s.core.finishFile({});
  assert.equal(
    (file as { file: { error: { code: string } } }).file.error.code,
    "disk_error",
  );
  assert.equal(codeOf(replies(s.core, s.peer).at(-1)!), "disk_error");
});

Deno.test("receiver core: a decision out of turn is a driver bug; after the end it is a no-op", () => {
  const s = admitted();
  assert.throws(() => s.core.accept(), TypeError);
  assert.throws(() => s.core.admit(), TypeError);
  s.core.eof();
  assert.deepEqual(s.core.accept(), []);
  assert.deepEqual(s.core.admit(), []);
});

Deno.test("receiver core: messages for the peer go through peerText", () => {
  const s = admitted({ peerText: (m) => m.replaceAll("secret", "***") });
  s.core.receive(s.peer.file("a", 1));
  s.core.refuseEntry({ code: "disk_error", message: "cannot open /secret/a" });
  const status = decodeStatus(replies(s.core, s.peer)[0]!.payload);
  assert.equal(status.message, "cannot open /***/a");
});

Deno.test("receiver core: the DATA header's size check counts the seal's tag out", () => {
  // Exactly the announced size in one frame is fine.
  const s = admitted();
  const disk = new MemoryDisk();
  const body = bytesOf(DIGEST_BYTES);
  const events = disk.answer(
    s.core,
    s.core.receive(concat([
      s.peer.file("x", body.length),
      s.peer.start(),
      s.peer.data(body),
      s.peer.end("x", body.length, sha256(body)),
    ])),
  );
  assert.equal(types(events).at(-1), "file");
  assert.deepEqual(disk.files.get("x"), body);
});
