// The sender's session core (tcp/file/_sender_session.ts) driven with
// bytes and time only: fake receivers that break each rule, forged
// verdicts, resume decisions, the frames it builds in place, and its
// no-progress deadline passed as `now`.

import assert from "node:assert/strict";
import {
  codeToWire,
  decodeFileEntry,
  decodeHello,
  decodeU64,
  encodeFrame,
  encodeHello,
  endMac,
  FLAG_NO_RESUME,
  HELLO_BYTES,
  HELLO_FLAG_PLAIN_OVER_TLS,
  MessageType,
} from "../../../tcp/file/protocol.ts";
import {
  CONTENT_AT,
  CONTENT_BUFFER_BYTES,
  type EntryOffer,
  type SenderEvent,
  type SenderSession,
} from "../../../tcp/file/_sender_session.ts";
import {
  bytesOf,
  concat,
  enc,
  type Frame,
  readFrames,
  ReceiverPeer,
  senderCore,
  sha256,
  types,
} from "./_session_harness.ts";

function failedWith(events: SenderEvent[], code: string): string {
  const last = events.at(-1);
  assert.equal(last?.type, "failed", JSON.stringify(events));
  assert.equal((last as { failure: { code: string } }).failure.code, code);
  return (last as { failure: { message: string } }).failure.message;
}

/** A sender core past the handshake, and the receiver peer it talks to. */
function authenticated(
  options: { timeoutMs?: number } = {},
): { core: SenderSession; peer: ReceiverPeer } {
  const core = senderCore(options);
  const peer = new ReceiverPeer();
  core.takeOutput();
  assert.deepEqual(types(core.receive(peer.opening(), 0)), ["authenticated"]);
  core.takeOutput();
  return { core, peer };
}

/** The sender's sealed frames queued since the last call. */
function sent(core: SenderSession, peer: ReceiverPeer): Frame[] {
  return readFrames(concat(core.takeOutput()), peer.cipher);
}

const FILE: EntryOffer = {
  kind: "file",
  path: "a/b.bin",
  mode: 0o644,
  size: 1200,
  resume: true,
};

Deno.test("sender core: hello first, AUTH once the receiver's hello is in, then AUTH_OK is checked", () => {
  const core = senderCore();
  const [hello] = core.takeOutput();
  assert.equal(hello!.length, HELLO_BYTES);
  assert.equal(decodeHello(hello!).code, 0);
  const peer = new ReceiverPeer();
  const opening = peer.opening();
  assert.deepEqual(core.receive(opening.subarray(0, 43), 0), []);
  assert.deepEqual(core.takeOutput(), [], "no AUTH before the whole hello");
  assert.deepEqual(core.receive(opening.subarray(43, 50), 0), []);
  const [auth] = readFrames(concat(core.takeOutput()));
  assert.equal(auth!.type, MessageType.AUTH);
  assert.deepEqual(auth!.payload, peer.keys.senderProof);
  assert.deepEqual(types(core.receive(opening.subarray(50), 0)), [
    "authenticated",
  ]);
});

Deno.test("sender core: over verified TLS the hello asks for unsealed frames", () => {
  const core = senderCore({ plainOverTls: true });
  const hello = decodeHello(core.takeOutput()[0]!);
  assert.equal(hello.code, HELLO_FLAG_PLAIN_OVER_TLS);
  const peer = new ReceiverPeer({ flags: HELLO_FLAG_PLAIN_OVER_TLS });
  assert.deepEqual(types(core.receive(peer.opening(), 0)), ["authenticated"]);
  core.takeOutput();
  core.finish();
  // DONE in clear.
  assert.deepEqual(concat(core.takeOutput()), encodeFrame(MessageType.DONE));
});

Deno.test("sender core: a receiver that is not one, or refuses in its hello, ends the session", () => {
  const cases: [Uint8Array, string, RegExp][] = [
    [enc.encode("ok"), "bad_hello", /--basic/],
    [
      encodeHello(new Uint8Array(32), { version: 1 }),
      "version_mismatch",
      /version 1/,
    ],
    [encodeHello(new Uint8Array(32), { code: 3 }), "protocol_error", /refused/],
    [
      encodeHello(new Uint8Array(32), { code: codeToWire("busy") }),
      "busy",
      /refused/,
    ],
    [
      encodeHello(new Uint8Array(32), { code: 999 }),
      "protocol_error",
      /refused/,
    ],
  ];
  for (const [bytes, code, message] of cases) {
    const core = senderCore();
    assert.match(failedWith(core.receive(bytes, 0), code), message);
    assert.equal(core.finished, true);
  }
});

Deno.test("sender core: a receiver that cannot prove the token gets auth_failed and nothing more", () => {
  for (const proof of [new Uint8Array(32), new Uint8Array(31)]) {
    const core = senderCore();
    const peer = new ReceiverPeer();
    core.takeOutput();
    failedWith(core.receive(peer.opening(proof), 0), "auth_failed");
    // Only AUTH went out: nothing after it, nothing sealed.
    assert.equal(readFrames(concat(core.takeOutput())).length, 1);
    core.offer(FILE);
    core.finish();
    assert.deepEqual(core.takeOutput(), []);
  }
  // Another token: the receiver's proof differs.
  const core = senderCore();
  failedWith(
    core.receive(new ReceiverPeer({ token: "x" }).opening(), 0),
    "auth_failed",
  );
});

Deno.test("sender core: the receiver's ERROR ends the session with its code, its words escaped", () => {
  const core = senderCore();
  const peer = new ReceiverPeer();
  const error = encodeFrame(
    MessageType.ERROR,
    concat([
      Uint8Array.of(0, codeToWire("auth_failed"), 0, 0, 0, 0),
      enc.encode("wrong \x1b[2J"),
    ]),
  );
  const message = failedWith(
    core.receive(concat([peer.hello, error]), 0),
    "auth_failed",
  );
  assert.equal(message, "receiver: wrong \\x1b[2J");
  const s = authenticated();
  s.core.offer(FILE);
  failedWith(s.core.receive(s.peer.error(17, "stopping"), 0), "shutting_down");
  const t = authenticated();
  failedWith(t.core.receive(t.peer.error(0, "ok?"), 0), "protocol_error");
});

Deno.test("sender core: every reply out of turn is a protocol error, checked on its header", () => {
  const replies = [
    MessageType.AUTH_OK,
    MessageType.ACCEPT,
    MessageType.STATUS,
    MessageType.SESSION,
    MessageType.FILE,
    MessageType.DATA,
    0x55,
  ];
  const states: [
    string,
    (s: ReturnType<typeof authenticated>) => void,
    number[],
  ][] = [
    ["ready", () => {}, []],
    [
      "directory offered",
      (s) => s.core.offer({ ...FILE, kind: "directory", size: 0 }),
      [
        MessageType.STATUS,
      ],
    ],
    ["file offered", (s) => s.core.offer(FILE), [
      MessageType.ACCEPT,
      MessageType.STATUS,
    ]],
    ["accepted", (s) => {
      s.core.offer(FILE);
      s.core.receive(s.peer.accept(), 0);
    }, []],
    ["streaming", (s) => {
      s.core.offer(FILE);
      s.core.receive(s.peer.accept(), 0);
      s.core.startContent();
    }, []],
    ["done sent", (s) => s.core.finish(), [MessageType.SESSION]],
  ];
  for (const [name, reach, allowed] of states) {
    for (const type of replies) {
      if (allowed.includes(type)) continue;
      const s = authenticated();
      reach(s);
      // A header alone is enough to refuse it.
      const frame = s.peer.sealed(type, new Uint8Array(40));
      failedWith(s.core.receive(frame.subarray(0, 5), 0), "protocol_error");
      assert.ok(true, `${name}: ${type}`);
    }
  }
  // Before AUTH_OK, too.
  const core = senderCore();
  const peer = new ReceiverPeer();
  failedWith(
    core.receive(
      concat([peer.hello, encodeFrame(MessageType.STATUS, new Uint8Array(68))]),
      0,
    ),
    "protocol_error",
  );
});

Deno.test("sender core: a STATUS whose MAC is forged or replayed is integrity_failed", () => {
  const s = authenticated();
  s.core.offer({ ...FILE, kind: "directory", size: 0 });
  failedWith(
    s.core.receive(s.peer.status(0, undefined, new Uint8Array(32)), 0),
    "integrity_failed",
  );
  // A verdict meant for entry 0 replayed for entry 1.
  const t = authenticated();
  t.core.offer({ ...FILE, kind: "directory", size: 0 });
  const first = t.peer.status(0);
  assert.deepEqual(types(t.core.receive(first, 0)), ["verdict"]);
  t.core.offer({ ...FILE, kind: "directory", size: 0 });
  t.peer.index = 0;
  failedWith(t.core.receive(t.peer.status(0), 0), "integrity_failed");
});

Deno.test("sender core: a stored verdict must name the digest that was sent", () => {
  const data = bytesOf(1200);
  const buf = new Uint8Array(CONTENT_BUFFER_BYTES);
  const run = (sha: Uint8Array) => {
    const s = authenticated();
    s.core.offer(FILE);
    s.core.receive(s.peer.accept(), 0);
    s.core.startContent();
    buf.set(data, CONTENT_AT);
    s.core.sealContent(buf, data.length);
    s.core.takeOutput();
    return s.core.receive(s.peer.status(0, sha), 0);
  };
  failedWith(run(sha256(bytesOf(5))), "hash_mismatch");
  assert.deepEqual(types(run(sha256(data))), ["verdict"]);
});

Deno.test("sender core: a refusal verdict ends the entry; the next may be offered", () => {
  const s = authenticated();
  s.core.offer(FILE);
  const events = s.core.receive(s.peer.status(codeToWire("exists")), 0);
  assert.deepEqual(events, [{
    type: "verdict",
    verdict: { code: "exists", message: "refused", storedAs: "stored/path" },
  }]);
  s.core.offer({ ...FILE, path: "next" });
  assert.equal(sent(s.core, s.peer).length, 2);
});

Deno.test("sender core: a resume offer is checked against the local prefix", () => {
  const verify = (offset: number, offer: Partial<EntryOffer> = {}) => {
    const s = authenticated();
    s.core.offer({ ...FILE, ...offer });
    const [accept] = s.core.receive(s.peer.accept(offset), 0);
    return (accept as { verify: number }).verify;
  };
  assert.equal(verify(700), 700);
  assert.equal(verify(1200), 1200);
  assert.equal(verify(0), 0);
  assert.equal(verify(1201), 0, "past the file");
  assert.equal(verify(700, { resume: false }), 0, "--no-resume");

  const data = bytesOf(1200, 9);
  const start = (prefix: Uint8Array, offered: Uint8Array, hashed: number) => {
    const s = authenticated();
    s.core.offer(FILE);
    s.core.receive(s.peer.accept(offered.length, sha256(offered)), 0);
    s.core.hashPrefix(prefix.subarray(0, hashed));
    const from = s.core.startContent();
    const buf = new Uint8Array(CONTENT_BUFFER_BYTES);
    buf.set(data.subarray(from), CONTENT_AT);
    s.core.sealContent(buf, data.length - from);
    const frames = sent(s.core, s.peer);
    const offer = decodeFileEntry(frames[0]!.payload);
    assert.equal(offer.flags & FLAG_NO_RESUME, 0);
    assert.equal(decodeU64(frames[1]!.payload), from, "START says where");
    // END's digest is of the whole file either way.
    assert.deepEqual(frames[3]!.payload.subarray(0, 32), sha256(data));
    return from;
  };
  assert.equal(start(data, data.subarray(0, 700), 700), 700);
  const changed = data.slice(0, 700);
  changed[5]! ^= 1;
  assert.equal(start(data, changed, 700), 0, "the file changed");
  assert.equal(
    start(data, data.subarray(0, 700), 699),
    0,
    "the local file is shorter",
  );
});

Deno.test("sender core: content frames are built in place around the chunk: START with the first, END with the last", () => {
  const s = authenticated();
  const data = bytesOf(1200, 3);
  s.core.offer(FILE);
  s.core.receive(s.peer.accept(), 0);
  s.core.startContent();
  sent(s.core, s.peer); // FILE
  const bufs = [
    new Uint8Array(CONTENT_BUFFER_BYTES),
    new Uint8Array(CONTENT_BUFFER_BYTES),
  ];
  const views: Uint8Array[] = [];
  for (const [i, [from, to]] of ([[0, 700], [700, 1200]] as const).entries()) {
    bufs[i]!.set(data.subarray(from, to), CONTENT_AT);
    assert.equal(s.core.streaming, true);
    s.core.sealContent(bufs[i]!, to - from);
    const [view] = s.core.takeOutput();
    // No copy: what goes out is a view of the buffer the chunk was read into.
    assert.equal(view!.buffer, bufs[i]!.buffer);
    views.push(view!);
  }
  assert.equal(s.core.streaming, false);
  const frames = readFrames(concat(views), s.peer.cipher);
  assert.deepEqual(frames.map((f) => f.type), [
    MessageType.START,
    MessageType.DATA,
    MessageType.DATA,
    MessageType.END,
  ]);
  assert.deepEqual(concat([frames[1]!.payload, frames[2]!.payload]), data);
  const end = frames[3]!.payload;
  assert.deepEqual(end.subarray(0, 32), sha256(data));
  assert.deepEqual(
    end.subarray(32),
    endMac(s.peer.keys.sessionKey, {
      index: 0,
      size: 1200,
      path: enc.encode(FILE.path),
      sha256: sha256(data),
    }),
  );
  assert.equal(s.core.digest, sha256(data).toHex());
});

Deno.test("sender core: more content than announced is refused; a short or empty file ends with START and END", () => {
  const s = authenticated();
  s.core.offer({ ...FILE, size: 10 });
  s.core.receive(s.peer.accept(), 0);
  s.core.startContent();
  assert.throws(
    () => s.core.sealContent(new Uint8Array(CONTENT_BUFFER_BYTES), 11),
    (e: unknown) => (e as { code: string }).code === "size_mismatch",
  );
  for (const size of [0, 10]) {
    const t = authenticated();
    t.core.offer({ ...FILE, size });
    t.core.receive(t.peer.accept(), 0);
    t.core.startContent();
    t.core.endContent();
    const [, ...frames] = sent(t.core, t.peer); // FILE, then these
    assert.deepEqual(frames.map((f) => f.type), [
      MessageType.START,
      MessageType.END,
    ]);
    assert.deepEqual(
      frames[1]!.payload.subarray(0, 32),
      sha256(new Uint8Array(0)),
    );
  }
});

Deno.test("sender core: the no-progress deadline is a time passed in, moved by progress", () => {
  const s = authenticated({ timeoutMs: 1_000 });
  // The handshake's bytes arrived at 0.
  assert.equal(s.core.pollTimeout(), 1_000);
  assert.deepEqual(s.core.handleTimeout(999), []);
  s.core.progress(500);
  assert.equal(s.core.pollTimeout(), 1_500);
  assert.deepEqual(s.core.handleTimeout(1_499), []);
  s.core.offer({ ...FILE, kind: "directory", size: 0 });
  s.core.receive(s.peer.status(0), 1_200);
  assert.equal(s.core.pollTimeout(), 2_200);
  const message = failedWith(s.core.handleTimeout(2_200), "timeout");
  assert.match(message, /stopped answering/);
  assert.equal(s.core.pollTimeout(), undefined, "no deadline once failed");
  assert.equal(senderCore({ timeoutMs: 0 }).pollTimeout(), undefined);
});

Deno.test("sender core: the receiver's close ends the session", () => {
  const core = senderCore();
  assert.match(failedWith(core.eof(), "connection_closed"), /before its hello/);
  const s = authenticated();
  s.core.finish();
  assert.deepEqual(
    types(
      s.core.receive(s.peer.sealed(MessageType.SESSION, new Uint8Array(6)), 0),
    ),
    ["done"],
  );
  assert.deepEqual(s.core.eof(), [], "after SESSION a close is the end");
});

Deno.test("sender core: a step out of turn is a driver bug; after the end it is a no-op", () => {
  const s = authenticated();
  assert.throws(() => s.core.startContent(), TypeError);
  assert.throws(() => s.core.endContent(), TypeError);
  s.core.offer(FILE);
  assert.throws(() => s.core.finish(), TypeError);
  s.core.eof();
  s.core.finish();
  assert.equal(s.core.startContent(), 0);
  assert.deepEqual(s.core.takeOutput().length, 1, "only the FILE");
});
