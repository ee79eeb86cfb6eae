// The classic flow's cores (tcp/file/_basic_session.ts) with bytes and
// time only: how a name ends (newline, pause, EOF), its limits, the
// content's, the receiver stopping, the sender's reading of replies, and
// every split of a whole exchange.

import assert from "node:assert/strict";
import {
  BASIC_NAME_PAUSE_MS,
  BasicReceiver,
  type BasicReceiverEvent,
  BasicSender,
} from "../../../tcp/file/_basic_session.ts";
import { bytesOf, concat, enc, sha256, types } from "./_session_harness.ts";

const text = (chunks: Uint8Array[]) => new TextDecoder().decode(concat(chunks));

function named(events: BasicReceiverEvent[]): string {
  const name = events.find((e) => e.type === "name");
  assert.ok(name, JSON.stringify(events));
  return (name as { path: string }).path;
}

function fileOf(events: BasicReceiverEvent[]) {
  const file = events.find((e) => e.type === "file");
  assert.ok(file, JSON.stringify(events));
  return (file as Extract<BasicReceiverEvent, { type: "file" }>).file;
}

Deno.test("basic receiver: a newline ends the name; what follows is content; exactly 'ok'", () => {
  const core = new BasicReceiver();
  assert.equal(
    named(core.receive(enc.encode("photo.jpg\nhel"), 0)),
    "photo.jpg",
  );
  assert.deepEqual(core.takeOutput(), []);
  const events = core.accept();
  assert.equal(text(core.takeOutput()), "ok");
  assert.deepEqual(types(events), ["data"]);
  assert.deepEqual(types(core.receive(enc.encode("lo"), 1)), ["data"]);
  assert.deepEqual(types(core.eof()), ["end"]);
  const file = fileOf(core.finish({ storedAs: "photo.jpg" }));
  assert.equal(file.status, "stored");
  assert.equal(file.bytes, 5);
  assert.equal(file.sha256, sha256(enc.encode("hello")).toHex());
  assert.equal(core.finished, true);
});

Deno.test("basic receiver: a CR before the newline is dropped", () => {
  const core = new BasicReceiver();
  assert.equal(named(core.receive(enc.encode("crlf.txt\r\n"), 0)), "crlf.txt");
});

Deno.test("basic receiver: without a newline the name ends when the sender pauses, a deadline passed in", () => {
  const core = new BasicReceiver();
  assert.equal(core.pollTimeout(), undefined, "no pause before the first byte");
  assert.deepEqual(core.receive(enc.encode("photo"), 1_000), []);
  assert.equal(core.pollTimeout(), 1_000 + BASIC_NAME_PAUSE_MS);
  assert.deepEqual(core.handleTimeout(1_149), []);
  // More bytes move the pause.
  assert.deepEqual(core.receive(enc.encode(".jpg"), 1_100), []);
  assert.deepEqual(core.handleTimeout(1_249), []);
  assert.equal(named(core.handleTimeout(1_250)), "photo.jpg");
});

Deno.test("basic receiver: EOF ends the name (no content) or, before any byte, the session", () => {
  const core = new BasicReceiver();
  core.receive(enc.encode("n"), 0);
  assert.equal(named(core.eof()), "n");
  assert.deepEqual(types(core.accept()), ["end"]);
  const empty = new BasicReceiver();
  const events = empty.eof();
  assert.deepEqual(types(events), ["failed"]);
  assert.equal(
    (events[0] as { failure: { code: string } }).failure.code,
    "connection_closed",
  );
});

Deno.test("basic receiver: a name over 4096 bytes is refused as the 4097th byte arrives", () => {
  const core = new BasicReceiver();
  const long = enc.encode("n".repeat(4097));
  assert.deepEqual(core.receive(long.subarray(0, 4096), 0), []);
  const file = fileOf(core.receive(long.subarray(4096), 0));
  assert.equal(file.error?.code, "unsafe_path");
  assert.equal(
    text(core.takeOutput()),
    "error: the name is longer than 4096 bytes\n",
  );
});

Deno.test("basic receiver: unsafe names and invalid UTF-8 are refused in text", () => {
  for (const name of ["../x", "/etc/passwd", "a\\b", ".x.netkit-part"]) {
    const core = new BasicReceiver();
    const file = fileOf(core.receive(enc.encode(`${name}\n`), 0));
    assert.equal(file.error?.code, "unsafe_path", name);
    assert.match(text(core.takeOutput()), /^error: unsafe path/);
  }
  const core = new BasicReceiver();
  const file = fileOf(core.receive(Uint8Array.of(0x61, 0xff, 0x0a), 0));
  assert.equal(file.error?.code, "unsafe_path");
});

Deno.test("basic receiver: the driver's refusal goes out through peerText", () => {
  const core = new BasicReceiver({
    peerText: (m) => m.replace("/srv/in/", ""),
  });
  core.receive(enc.encode("a.txt\n"), 0);
  const file = fileOf(
    core.refuse({ code: "exists", message: "'/srv/in/a.txt' exists" }),
  );
  assert.equal(file.error?.code, "exists");
  assert.equal(text(core.takeOutput()), "error: 'a.txt' exists\n");
});

Deno.test("basic receiver: content over --max-size ends the file at the chunk that crosses it", () => {
  const core = new BasicReceiver({ maxSize: 10 });
  core.receive(enc.encode("big\n"), 0);
  core.accept();
  core.takeOutput();
  assert.deepEqual(types(core.receive(bytesOf(10), 0)), ["data"]);
  const events = core.receive(bytesOf(1), 0);
  assert.deepEqual(types(events), ["end"]);
  assert.equal(
    (events[0] as { failure: { code: string } }).failure.code,
    "too_large",
  );
  assert.match(
    text(core.takeOutput()),
    /^error: 'big' is over the receiver's limit of 10 bytes\n$/,
  );
  assert.equal(fileOf(core.finish({})).error?.code, "too_large");
  assert.deepEqual(core.takeOutput(), [], "said once");
});

Deno.test("basic receiver: a cut connection fails the file: a reset is not an end", () => {
  const core = new BasicReceiver();
  core.receive(enc.encode("f\nabc"), 0);
  core.accept();
  const events = core.abort({ code: "connection_closed", message: "reset" });
  assert.deepEqual(types(events), ["end"]);
  assert.equal(fileOf(core.finish({})).status, "failed");
});

Deno.test("basic receiver: a store that fails is told the sender", () => {
  const core = new BasicReceiver();
  core.receive(enc.encode("f\n"), 0);
  core.accept();
  core.takeOutput();
  core.eof();
  const file = fileOf(
    core.finish({ failure: { code: "disk_error", message: "no space" } }),
  );
  assert.equal(file.error?.code, "disk_error");
  assert.equal(text(core.takeOutput()), "error: no space\n");
});

Deno.test("basic receiver: stopping before a name ends at once; during content after the grace period, in text", () => {
  const early = new BasicReceiver();
  early.receive(enc.encode("half"), 0);
  assert.deepEqual(types(early.stop(0, 1_000)), ["failed"]);

  const core = new BasicReceiver();
  core.receive(enc.encode("slow.txt\n"), 0);
  core.accept();
  core.takeOutput();
  assert.deepEqual(core.stop(100, 500), []);
  assert.equal(core.pollTimeout(), 600);
  assert.deepEqual(core.handleTimeout(599), []);
  assert.deepEqual(types(core.receive(enc.encode("some"), 599)), ["data"]);
  assert.deepEqual(types(core.handleTimeout(600)), ["stopping"]);
  assert.equal(text(core.takeOutput()), "error: the receiver is stopping\n");
  // What comes after is dropped, and the clean close is not a whole file.
  assert.deepEqual(core.receive(enc.encode(" more"), 700), []);
  const end = core.eof();
  assert.equal(
    (end[0] as { failure: { code: string } }).failure.code,
    "shutting_down",
  );
});

Deno.test("basic receiver: the same file at every split of the sender's bytes", () => {
  const content = bytesOf(3000, 5);
  const stream = concat([enc.encode("dir/f.bin\n"), content]);
  for (let k = 0; k <= stream.length; k++) {
    const core = new BasicReceiver();
    const got: Uint8Array[] = [];
    const handle = (events: BasicReceiverEvent[]) => {
      for (const e of events) {
        if (e.type === "name") handle(core.accept());
        if (e.type === "data") got.push(e.bytes.slice());
      }
    };
    handle(core.receive(stream.subarray(0, k), 0));
    handle(core.receive(stream.subarray(k), 0));
    handle(core.eof());
    assert.equal(text(core.takeOutput()), "ok", `split at ${k}`);
    assert.deepEqual(concat(got), content, `split at ${k}`);
    assert.equal(
      fileOf(core.finish({ storedAs: "dir/f.bin" })).sha256,
      sha256(content).toHex(),
    );
  }
});

Deno.test("basic sender: the bare name, then 'ok' (with or without a newline), content, close", () => {
  for (const reply of ["ok", "ok\n", "ok\r\n"]) {
    const core = new BasicSender({ path: "dir/data.bin", now: 0 });
    assert.equal(text(core.takeOutput()), "dir/data.bin", "no newline");
    const pieces = Array.from(enc.encode(reply), (b) => Uint8Array.of(b));
    const events = pieces.flatMap((p) => core.receive(p, 0));
    assert.deepEqual(types(events), ["ok"]);
    core.content(enc.encode("hello"));
    core.endContent();
    const sent = core.eof();
    assert.deepEqual(sent, [{
      type: "sent",
      sha256: sha256(enc.encode("hello")).toHex(),
    }]);
  }
});

Deno.test("basic sender: anything but 'ok' is the receiver's refusal, in its words", () => {
  const refused = (replies: string[]) => {
    const core = new BasicSender({ path: "x", now: 0 });
    const events = replies.flatMap((r) => core.receive(enc.encode(r), 0));
    events.push(...core.eof());
    const failed = events.at(-1) as {
      type: string;
      failure: { code: string; message: string };
    };
    assert.equal(failed.type, "failed");
    assert.equal(failed.failure.code, "refused");
    return failed.failure.message;
  };
  assert.equal(
    refused(["no th", "anks\n"]),
    "the receiver refused 'x': no thanks",
  );
  assert.equal(
    refused(["error: exists\n"]),
    "the receiver refused 'x': exists",
  );
  assert.equal(refused(["o"]), "the receiver refused 'x': o");
  assert.equal(
    refused([]),
    "the receiver refused 'x': it closed without a reply",
  );
  // After "ok", a complaint before the close.
  const core = new BasicSender({ path: "x", now: 0 });
  core.receive(enc.encode("ok"), 0);
  core.endContent();
  core.receive(enc.encode("error: disk full\n"), 0);
  const [failed] = core.eof();
  assert.deepEqual(failed, {
    type: "failed",
    failure: { code: "refused", message: "receiver: disk full" },
  });
});

Deno.test("basic sender: the no-progress deadline, passed in", () => {
  const core = new BasicSender({ path: "x", now: 0, timeoutMs: 1_000 });
  assert.deepEqual(core.handleTimeout(999), []);
  const [waiting] = core.handleTimeout(1_000);
  assert.deepEqual(waiting, {
    type: "failed",
    failure: { code: "timeout", message: "the receiver did not answer" },
  });
  const later = new BasicSender({ path: "x", now: 0, timeoutMs: 1_000 });
  later.receive(enc.encode("ok"), 500);
  later.progress(1_200);
  assert.deepEqual(later.handleTimeout(2_199), []);
  const [stalled] = later.handleTimeout(2_200);
  assert.equal(
    (stalled as { failure: { message: string } }).failure.message,
    "the receiver stopped answering",
  );
  assert.equal(new BasicSender({ path: "x", now: 0 }).pollTimeout(), undefined);
});

Deno.test('basic sender: without "ok" within the reply deadline it fails at once, naming the wait; after "ok" only the no-progress deadline runs', () => {
  const core = new BasicSender({
    path: "x",
    now: 0,
    timeoutMs: 60_000,
    replyTimeoutMs: 5_000,
  });
  assert.equal(core.pollTimeout(), 5_000);
  core.progress(4_000); // the name went out: progress, but no reply
  assert.deepEqual(core.handleTimeout(4_999), []);
  const [failed] = core.handleTimeout(5_000);
  assert.deepEqual(failed, {
    type: "failed",
    failure: {
      code: "timeout",
      message:
        'the receiver has not answered "ok" within 5 s (a classic receiver answers once it has the name; a plain nc -l never does)',
    },
  });
  const answered = new BasicSender({
    path: "x",
    now: 0,
    timeoutMs: 60_000,
    replyTimeoutMs: 5_000,
  });
  answered.receive(enc.encode("ok"), 100);
  assert.equal(answered.pollTimeout(), 60_100);
  assert.deepEqual(answered.handleTimeout(5_000), []);
});
