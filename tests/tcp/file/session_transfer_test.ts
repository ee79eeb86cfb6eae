// A whole session between the two cores with bytes only, then the same
// bytes fed to fresh cores split at every byte boundary (and one byte at a
// time): the split must change nothing, not one byte of the answers, not
// one stored byte.

import assert from "node:assert/strict";
import { MessageType } from "../../../tcp/file/protocol.ts";
import {
  bytesOf,
  concat,
  MemoryDisk,
  receiverCore,
  type Recording,
  runPair,
  type ScriptEntry,
  SenderScript,
} from "./_session_harness.ts";
import type { SenderEvent } from "../../../tcp/file/_sender_session.ts";
import type { ReceiverEvent } from "../../../tcp/file/_receiver_session.ts";

// Small enough that a session replays in a millisecond or two, big enough
// for several DATA frames per file (the script sends 500-byte chunks).
const CHUNK = 500;
const RESUMED = bytesOf(800, 2);
const PART = 300;
const ENTRIES: ScriptEntry[] = [
  { kind: "directory", path: "tree" },
  { kind: "file", path: "tree/a.bin", data: bytesOf(1300, 1) },
  { kind: "file", path: "empty.txt", data: new Uint8Array(0) },
  { kind: "file", path: "r.bin", data: RESUMED },
  { kind: "file", path: "../escape", data: bytesOf(3, 3) },
];

function freshDisk(): MemoryDisk {
  const disk = new MemoryDisk();
  disk.parts.set("r.bin", RESUMED.slice(0, PART));
  return disk;
}

function record(): { rec: Recording; disk: MemoryDisk; script: SenderScript } {
  const script = new SenderScript(ENTRIES, { chunk: CHUNK });
  const disk = freshDisk();
  const rec = runPair(script, receiverCore(), disk);
  return { rec, disk, script };
}

function stored(disk: MemoryDisk): Record<string, string> {
  return Object.fromEntries(
    [...disk.files].map(([path, data]) => [path, data.toHex()]),
  );
}

Deno.test("session cores: a whole transfer (folder, files, empty file, resume, refusal) between sender and receiver", () => {
  const { rec, disk, script } = record();
  assert.deepEqual(script.verdicts.map((v) => v.code), [
    "ok",
    "ok",
    "ok",
    "ok",
    "unsafe_path",
  ]);
  assert.equal(script.events.at(-1)?.type, "done");
  assert.deepEqual(disk.files.get("tree/a.bin"), ENTRIES[1]!.data);
  assert.deepEqual(disk.files.get("empty.txt"), new Uint8Array(0));
  assert.deepEqual(disk.files.get("r.bin"), RESUMED);
  assert.ok(disk.directories.has("tree"));
  const start = rec.receiverEvents.filter((e) => e.type === "start");
  assert.deepEqual(start.map((e) => (e as { from: number }).from), [
    0,
    0,
    PART,
  ]);
  // The resumed file's prefix did not cross the wire again.
  const content = rec.receiverEvents.filter((e) => e.type === "data")
    .reduce((n, e) => n + (e as { bytes: Uint8Array }).bytes.length, 0);
  assert.equal(content, 1300 + RESUMED.length - PART);
});

/** Feeds `chunks` to a fresh receiver core; returns what it said and did. */
function receiveIn(chunks: Uint8Array[]): {
  down: Uint8Array;
  disk: MemoryDisk;
  events: ReceiverEvent[];
} {
  const core = receiverCore();
  const disk = freshDisk();
  const events: ReceiverEvent[] = [];
  const down: Uint8Array[] = [];
  for (const chunk of chunks) {
    events.push(...disk.answer(core, core.receive(chunk)));
    down.push(...core.takeOutput().map((b) => b.slice()));
  }
  return { down: concat(down), disk, events };
}

Deno.test("session cores: the receiver answers the same at every split of the sender's bytes", () => {
  const { rec, disk } = record();
  const up = concat(rec.up);
  const down = concat(rec.down);
  const want = stored(disk);
  assert.ok(up.length < 3000, `${up.length} bytes`);
  for (let k = 0; k <= up.length; k++) {
    const got = receiveIn([up.subarray(0, k), up.subarray(k)]);
    assert.deepEqual(got.down, down, `split at ${k}`);
    assert.deepEqual(stored(got.disk), want, `split at ${k}`);
    assert.equal(got.events.at(-1)?.type, "done", `split at ${k}`);
  }
});

Deno.test("session cores: the receiver answers the same fed one byte at a time", () => {
  const { rec, disk } = record();
  const up = concat(rec.up);
  const bytes = Array.from(
    { length: up.length },
    (_, i) => up.subarray(i, i + 1),
  );
  const got = receiveIn(bytes);
  assert.deepEqual(got.down, concat(rec.down));
  assert.deepEqual(stored(got.disk), stored(disk));
  // A sealed DATA frame is opened whole: one event per frame, however
  // its bytes trickled in.
  const frames = (n: number) => Math.ceil(n / CHUNK);
  const data = got.events.filter((e) => e.type === "data");
  assert.equal(data.length, frames(1300) + frames(RESUMED.length - PART));
});

/** Feeds each round of the receiver's answers to a fresh scripted sender, split at `k`. */
function sendWith(
  rec: Recording,
  split: (round: Uint8Array) => Uint8Array[],
): { up: Uint8Array; script: SenderScript } {
  const script = new SenderScript(ENTRIES, { chunk: CHUNK });
  const up: Uint8Array[] = [...script.react([])];
  for (const round of rec.down) {
    for (const piece of split(round)) {
      up.push(...script.react(script.core.receive(piece, 0)));
    }
  }
  return { up: concat(up), script };
}

Deno.test("session cores: the sender sends the same at every split of the receiver's answers", () => {
  const { rec, script } = record();
  const longest = Math.max(...rec.down.map((r) => r.length));
  const up = concat(rec.up);
  for (let k = 0; k <= longest; k++) {
    const got = sendWith(
      rec,
      (round) => [round.subarray(0, k), round.subarray(k)],
    );
    assert.deepEqual(got.up, up, `split at ${k}`);
    assert.deepEqual(got.script.verdicts, script.verdicts, `split at ${k}`);
  }
  const bytewise = sendWith(
    rec,
    (round) =>
      Array.from({ length: round.length }, (_, i) => round.subarray(i, i + 1)),
  );
  assert.deepEqual(bytewise.up, up);
  const done: SenderEvent | undefined = bytewise.script.events.at(-1);
  assert.equal(done?.type, "done");
});

Deno.test("session cores: DONE closes the session: the receiver says SESSION and wants nothing more", () => {
  const { rec } = record();
  const last = rec.down.at(-1)!;
  assert.equal(last[0], MessageType.SESSION);
  const core = receiverCore();
  const disk = freshDisk();
  disk.answer(core, core.receive(concat(rec.up)));
  assert.equal(core.finished, true);
  assert.equal(core.wantsInput, false);
  // Bytes after DONE are dropped, not parsed.
  assert.deepEqual(core.receive(Uint8Array.of(1, 2, 3)), []);
});
