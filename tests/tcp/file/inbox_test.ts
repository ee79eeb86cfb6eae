// The cores' receive buffer (tcp/file/_inbox.ts): reads land in it with no
// copy, content is handed out as views of it, and a view stays intact while
// the driver writes it and reads the next bytes.

import assert from "node:assert/strict";
import { Inbox } from "../../../tcp/file/_inbox.ts";
import {
  encodeFileEntry,
  encodeFrame,
  encodeU64,
  EntryKind,
  HELLO_FLAG_PLAIN_OVER_TLS,
  MessageType,
} from "../../../tcp/file/protocol.ts";
import type { ReceiverEvent } from "../../../tcp/file/_receiver_session.ts";
import { admitted, bytesOf, concat, enc, sha256 } from "./_session_harness.ts";
import { endMac } from "../../../tcp/file/protocol.ts";

Deno.test("inbox: reads go into the free end while the item fits, else what is left moves over once", () => {
  const inbox = new Inbox(16);
  let room = inbox.space(5);
  assert.equal(room.length, 16);
  room.set(enc.encode("0123456789"), 0);
  inbox.commit(10);
  const first = inbox.take(8);
  assert.equal(new TextDecoder().decode(first), "01234567");
  // 2 bytes left at 8..10; an item of 8 still fits from 8: same buffer.
  room = inbox.space(8);
  assert.equal(room.length, 6);
  assert.equal(room.buffer, first.buffer);
  // An item of 9 does not: the 2 bytes move to the other buffer's start.
  room = inbox.space(9);
  assert.notEqual(room.buffer, first.buffer);
  assert.equal(room.length, 14);
  assert.equal(new TextDecoder().decode(inbox.buffered), "89");
  // The view handed out before the switch is untouched.
  assert.equal(new TextDecoder().decode(first), "01234567");
});

Deno.test("inbox: grow keeps what is buffered and leaves old views alone", () => {
  const inbox = new Inbox(8);
  inbox.space(1).set(enc.encode("abcdef"), 0);
  inbox.commit(6);
  const ab = inbox.take(2);
  inbox.grow(32);
  assert.equal(inbox.capacity, 32);
  assert.equal(new TextDecoder().decode(inbox.buffered), "cdef");
  assert.equal(new TextDecoder().decode(ab), "ab");
  inbox.grow(4);
  assert.equal(inbox.capacity, 32, "never shrinks");
});

Deno.test("receiver core: unsealed content (verified TLS) is handed out as views of the read buffer, intact while one write is in flight", () => {
  const { core, peer } = admitted({ tls: true }, {
    flags: HELLO_FLAG_PLAIN_OVER_TLS,
  });
  // Bigger than one buffer (1 MiB and a little), so the two alternate.
  const content = bytesOf(2_500_000, 7);
  const frames: Uint8Array[] = [
    encodeFrame(
      MessageType.FILE,
      encodeFileEntry({
        kind: EntryKind.FILE,
        flags: 0,
        mode: 0o644,
        size: content.length,
        path: enc.encode("v.bin"),
      }),
    ),
    encodeFrame(MessageType.START, encodeU64(0)),
  ];
  for (let at = 0; at < content.length; at += 300_000) {
    frames.push(
      encodeFrame(MessageType.DATA, content.subarray(at, at + 300_000)),
    );
  }
  const sha = sha256(content);
  const mac = endMac(peer.keys.sessionKey, {
    index: 0,
    size: content.length,
    path: enc.encode("v.bin"),
    sha256: sha,
  });
  frames.push(encodeFrame(MessageType.END, concat([sha, mac])));
  const wire = concat(frames);
  // A driver: reads of odd sizes straight into the core's buffer; each
  // data view is "written" while the next read happens, and checked when
  // that write would have completed (before the next one starts).
  const sizes = [1, 7, 100, 4096, 299_999, 65_536, 3, 1 << 20];
  let pending: { view: Uint8Array; want: Uint8Array } | undefined;
  const buffers = new Set<ArrayBufferLike>();
  let offset = 0;
  let at = 0;
  let ended = false;
  const handle = (events: ReceiverEvent[]) => {
    for (const event of events) {
      if (event.type === "entry") handle(core.accept());
      if (event.type === "data") {
        if (pending) assert.deepEqual(pending.view, pending.want);
        buffers.add(event.bytes.buffer);
        pending = {
          view: event.bytes,
          want: content.slice(offset, offset + event.bytes.length),
        };
        offset += event.bytes.length;
      }
      if (event.type === "end") {
        assert.equal(event.failure, undefined);
        assert.deepEqual(pending!.view, pending!.want);
        ended = true;
        handle(core.finishFile({ storedAs: "v.bin" }));
      }
    }
  };
  for (let i = 0; at < wire.length; i++) {
    const room = core.space();
    const n = Math.min(room.length, sizes[i % sizes.length]!, wire.length - at);
    room.set(wire.subarray(at, at + n), 0);
    at += n;
    handle(core.commit(n));
  }
  assert.ok(ended);
  assert.equal(offset, content.length);
  // Two buffers for the whole file, taking turns: the content was never
  // copied out.
  assert.equal(buffers.size, 2);
});
