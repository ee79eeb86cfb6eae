// Codes on real sockets: a transfer with a code, wrong codes refused
// without a byte written and counted, the code ended by its last wrong
// attempt (and guesses sent at once held to the same limit), what a
// recording of the wire shows (no form of the code, nothing to test a
// guess against, fresh messages every session), and senders and
// receivers of different kinds.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  type FileReceiver,
  FileTransferError,
  generateCode,
  type ReceiveSession,
  sendFiles,
  serveFileReceiver,
} from "../../../tcp/file/mod.ts";
import {
  FRAME_HEADER_BYTES,
  HELLO_BYTES,
  MessageType,
} from "../../../tcp/file/protocol.ts";
import { calculateGenerator, lvCat } from "../../../tcp/file/_cpace.ts";
import { normalizeCode } from "../../../tcp/file/code.ts";
import { readAll, seededBytes } from "../../_helpers.ts";
import { joined, startRelay } from "./_relay.ts";

const enc = new TextEncoder();

interface Setup {
  receiver: FileReceiver;
  code: string;
  dir: string;
  source: string;
  sessions: ReceiveSession[];
  nextSession(): Promise<ReceiveSession>;
  [Symbol.asyncDispose](): Promise<void>;
}

async function codeReceiver(
  options: { code?: string; token?: string; basic?: boolean } = {},
): Promise<Setup> {
  const dir = await Deno.makeTempDir({ prefix: "netkit-code-dst-" });
  const source = await Deno.makeTempFile({ prefix: "netkit-code-src-" });
  await Deno.writeFile(source, seededBytes(200_000, 7));
  const code = options.code ?? generateCode();
  const sessions: ReceiveSession[] = [];
  let wake: (() => void) | undefined;
  const receiver = serveFileReceiver({
    port: 0,
    dir,
    ...(options.token || options.basic
      ? { token: options.token, basic: options.basic }
      : { code }),
    onSession: (session) => {
      sessions.push(session);
      wake?.();
    },
  });
  let taken = 0;
  return {
    receiver,
    code,
    dir,
    source,
    sessions,
    async nextSession() {
      while (sessions.length <= taken) {
        await new Promise<void>((resolve) => wake = resolve);
      }
      return sessions[taken++]!;
    },
    async [Symbol.asyncDispose]() {
      await receiver.shutdown();
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(source);
    },
  };
}

async function listing(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names;
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  message?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof FileTransferError, String(error));
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

/** A code of the right shape that is not `code`. */
function otherCode(code: string): string {
  const [n, ...words] = code.split("-");
  return [Number(n) % 99 + 1, ...words].join("-");
}

Deno.test("file code: a transfer with a code stores the file, and the code serves one sender", async () => {
  await using s = await codeReceiver();
  const report = await sendFiles(s.receiver.addr, [s.source], {
    code: s.code.toUpperCase().replaceAll("-", " "),
  });
  assert.equal(report.ok, true, JSON.stringify(report));
  assert.equal(report.files[0]!.status, "stored");
  const session = await s.nextSession();
  assert.equal(session.ok, true);
  const name = s.source.split("/").pop()!;
  assert.deepEqual(
    await Deno.readFile(`${s.dir}/${name}`),
    seededBytes(200_000, 7),
  );
  // Used: the receiver ends after that session, as `once` does.
  await s.receiver.finished;
  assert.equal(s.receiver.stats().codeAttemptsLeft, 3);
});

Deno.test("file code: a wrong code is refused, writes nothing, and is counted", async () => {
  await using s = await codeReceiver();
  await rejectsWith(
    sendFiles(s.receiver.addr, [s.source], { code: otherCode(s.code) }),
    "auth_failed",
    /wrong code/,
  );
  const session = await s.nextSession();
  assert.equal(session.error?.code, "auth_failed");
  assert.equal(session.authenticated, false);
  assert.deepEqual(await listing(s.dir), []);
  const stats = s.receiver.stats();
  assert.equal(stats.authFailures, 1);
  assert.equal(stats.codeAttemptsLeft, 2);
  // The right code still works after a wrong one.
  const report = await sendFiles(s.receiver.addr, [s.source], {
    code: s.code,
  });
  assert.equal(report.ok, true);
});

Deno.test("file code: the third wrong attempt ends the code; the right one is then refused too", async () => {
  await using s = await codeReceiver();
  for (let i = 1; i <= 3; i++) {
    await rejectsWith(
      sendFiles(s.receiver.addr, [s.source], { code: otherCode(s.code) }),
      "auth_failed",
    );
    assert.equal(s.receiver.stats().codeAttemptsLeft, 3 - i);
  }
  // The receiver stopped: nobody can use the code now.
  await s.receiver.finished;
  await rejectsWith(
    sendFiles(s.receiver.addr, [s.source], { code: s.code }),
    "connection_refused",
  );
  assert.deepEqual(await listing(s.dir), []);
  assert.equal(s.receiver.stats().authFailures, 3);
});

Deno.test("file code: guesses sent at once are held to the same three", async () => {
  await using s = await codeReceiver();
  const guesses = Array.from(
    { length: 8 },
    (_, i) =>
      sendFiles(s.receiver.addr, [s.source], {
        code: otherCode(otherCode(s.code).replace(/^\d+/, String(i + 1))),
      }).then(() => "stored", (e: FileTransferError) => e.code),
  );
  const outcomes = await Promise.all(guesses);
  assert.ok(!outcomes.includes("stored"), outcomes.join());
  await s.receiver.finished;
  // Only three proofs were ever checked against the code.
  const checked = s.sessions.filter((x) => x.error?.message === "wrong code");
  assert.ok(checked.length <= 3, JSON.stringify(s.sessions));
  assert.equal(s.receiver.stats().codeAttemptsLeft, 0);
  assert.deepEqual(await listing(s.dir), []);
});

/** Every form of the code (and of its words) an observer could look for. */
function codeForms(code: string): Uint8Array[] {
  const text = normalizeCode(code);
  const words = text.split("-").slice(1);
  const strings = [
    text,
    text.toUpperCase(),
    text.replaceAll("-", " "),
    enc.encode(text).toHex(),
    enc.encode(text).toBase64(),
    ...words,
  ];
  const utf16 = new Uint8Array(text.length * 2);
  [...text].forEach((c, i) => utf16[2 * i] = c.charCodeAt(0));
  return [
    ...strings.map((x) => enc.encode(x)),
    utf16,
    new Uint8Array(createHash("sha256").update(text).digest()),
    new Uint8Array(createHash("sha512").update(text).digest()).subarray(0, 16),
  ];
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (hay[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}

/** One session through a recording relay; what went up and down. */
async function recorded(s: Setup, code: string) {
  const relay = startRelay(s.receiver.addr as Deno.NetAddr);
  try {
    const report = await sendFiles(
      { hostname: "127.0.0.1", port: relay.port },
      [s.source],
      { code },
    );
    assert.equal(report.ok, true);
    await relay.done;
  } finally {
    relay.close();
  }
  return { up: joined(relay.up), down: joined(relay.down) };
}

Deno.test("file code: a recording of the wire holds no form of the code and nothing to test a guess against", async () => {
  await using s = await codeReceiver();
  const { up, down } = await recorded(s, s.code);
  // The shape: hello, then the receiver's share with its hello; the
  // sender's share and proof.
  assert.equal(down[HELLO_BYTES], MessageType.RECEIVER_SHARE);
  assert.equal(up[HELLO_BYTES], MessageType.SENDER_SHARE);
  assert.equal(
    up[HELLO_BYTES + FRAME_HEADER_BYTES + 32],
    MessageType.AUTH,
  );
  const wire = joined([up, down]);
  for (const form of codeForms(s.code)) {
    assert.ok(!contains(wire, form), `found ${new TextDecoder().decode(form)}`);
  }
  // The generator (the one value made from the code alone and public
  // data) never travels: the shares are it times secret scalars.
  const sid = joined([
    up.subarray(0, HELLO_BYTES),
    down.subarray(0, HELLO_BYTES),
  ]);
  const ci = lvCat(
    enc.encode("netkit-file/3"),
    enc.encode("receiver"),
    enc.encode("sender"),
  );
  const g = calculateGenerator(enc.encode(normalizeCode(s.code)), ci, sid);
  assert.ok(!contains(wire, g));
  // The content is sealed.
  assert.ok(!contains(wire, seededBytes(200_000, 7).subarray(1000, 1032)));
});

Deno.test("file code: two sessions with the same code show different handshakes and keys", async () => {
  const code = generateCode();
  const runs = [];
  for (let i = 0; i < 2; i++) {
    await using s = await codeReceiver({ code });
    runs.push(await recorded(s, code));
  }
  const [a, b] = runs as [{ up: Uint8Array; down: Uint8Array }, {
    up: Uint8Array;
    down: Uint8Array;
  }];
  const at = (bytes: Uint8Array, from: number, n: number) =>
    bytes.subarray(from, from + n).toHex();
  const share = HELLO_BYTES + FRAME_HEADER_BYTES;
  // Hello nonces, both shares and both proofs differ.
  assert.notEqual(at(a.up, 12, 32), at(b.up, 12, 32));
  assert.notEqual(at(a.down, 12, 32), at(b.down, 12, 32));
  assert.notEqual(at(a.down, share, 32), at(b.down, share, 32));
  assert.notEqual(at(a.up, share, 32), at(b.up, share, 32));
  const proof = share + 32 + FRAME_HEADER_BYTES;
  assert.notEqual(at(a.up, proof, 32), at(b.up, proof, 32));
  const authOk = share + 32 + FRAME_HEADER_BYTES;
  assert.notEqual(at(a.down, authOk, 32), at(b.down, authOk, 32));
  // The same file's first sealed bytes differ: different keys.
  const sealedAt = proof + 32;
  assert.notEqual(at(a.up, sealedAt, 64), at(b.up, sealedAt, 64));
});

Deno.test("file code: a token sender at a code receiver, and back, are refused with mode_mismatch", async () => {
  {
    await using s = await codeReceiver();
    await rejectsWith(
      sendFiles(s.receiver.addr, [s.source], { token: "a-token" }),
      "mode_mismatch",
      /the receiver takes a code, not a token: send with --code/,
    );
    const session = await s.nextSession();
    assert.equal(session.error?.code, "mode_mismatch");
    // Not a guess: the code keeps its attempts, the receiver keeps waiting.
    assert.equal(s.receiver.stats().codeAttemptsLeft, 3);
    assert.equal(
      (await sendFiles(s.receiver.addr, [s.source], { code: s.code })).ok,
      true,
    );
  }
  {
    await using s = await codeReceiver({ token: "a-token" });
    await rejectsWith(
      sendFiles(s.receiver.addr, [s.source], { code: generateCode() }),
      "mode_mismatch",
      /the receiver takes a token, not a code: send with --token/,
    );
    assert.equal((await s.nextSession()).error?.code, "mode_mismatch");
    assert.equal(s.receiver.stats().authFailures, 0);
  }
});

Deno.test("file code: a --basic sender at a code receiver gets the hint; a code sender at a --basic receiver gets bad_hello", async () => {
  {
    await using s = await codeReceiver();
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: s.receiver.addr.port,
    });
    await conn.write(enc.encode("photo.jpg\n"));
    const reply = new TextDecoder().decode(await readAll(conn));
    conn.close();
    assert.match(reply, /start it with --basic/);
    assert.equal((await s.nextSession()).error?.code, "bad_hello");
    assert.equal(s.receiver.stats().codeAttemptsLeft, 3);
  }
  {
    await using s = await codeReceiver({ basic: true });
    await rejectsWith(
      sendFiles(s.receiver.addr, [s.source], { code: generateCode() }),
      "bad_hello",
      /--basic/,
    );
  }
});
