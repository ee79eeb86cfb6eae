// WsProtocol driven without sockets: bytes in, events and bytes out.

import assert from "node:assert/strict";
import { WsProtocol } from "../../ws/protocol.ts";
import {
  encodeClose,
  encodeFrame,
  FrameDecoder,
  type FrameInit,
  OPCODE,
} from "../../ws/frame.ts";
import { concatBytes } from "../../_bytes.ts";

const enc = new TextEncoder();

function masked(init: FrameInit): Uint8Array {
  return encodeFrame({ ...init, mask: true });
}

/** The frames a protocol wrote, decoded as its peer would. */
function written(protocol: WsProtocol, role: "server" | "client") {
  const decoder = new FrameDecoder({ expectMasked: role === "client" });
  return decoder.push(join(protocol.takeOutput() ?? []));
}

function join(chunks: Uint8Array[]): Uint8Array {
  return concatBytes(chunks, chunks.reduce((n, c) => n + c.length, 0));
}

function types(events: ReturnType<WsProtocol["receive"]>) {
  return events.map((e) => "kind" in e ? `error ${e.closeCode}` : e.type);
}

Deno.test("protocol: a fragmented text message with a ping between fragments, fed byte by byte", () => {
  const server = new WsProtocol({ role: "server" });
  const text = enc.encode("héllo wörld");
  const bytes = join([
    masked({ opcode: OPCODE.text, fin: false, payload: text.subarray(0, 2) }),
    masked({ opcode: OPCODE.ping, payload: enc.encode("p") }),
    masked({ opcode: OPCODE.continuation, payload: text.subarray(2) }),
  ]);
  const events = [];
  for (const byte of bytes) {
    events.push(...server.receive(new Uint8Array([byte])));
  }
  assert.deepEqual(types(events), ["ping", "text"]);
  const message = events[1]!;
  assert.ok("type" in message && message.type === "text");
  assert.equal(message.data, "héllo wörld");
  const [pong] = written(server, "server");
  assert.ok(pong && "opcode" in pong && pong.opcode === OPCODE.pong);
});

Deno.test("protocol: the message limit fails with 1009 at the header of the fragment that crosses it", () => {
  const server = new WsProtocol({ role: "server", maxMessageSize: 100 });
  const first = masked({
    opcode: OPCODE.binary,
    fin: false,
    payload: new Uint8Array(60),
  });
  assert.deepEqual(server.receive(first), []);
  // Only the 4-byte header of a 60-byte continuation: already over.
  const second = masked({
    opcode: OPCODE.continuation,
    payload: new Uint8Array(60),
  });
  const events = server.receive(second.subarray(0, 2));
  assert.deepEqual(types(events), ["error 1009"]);
  assert.equal(server.state, "closed");
  const [close] = written(server, "server");
  assert.ok(close && "opcode" in close && close.opcode === OPCODE.close);
  assert.equal(close.payload[0]! << 8 | close.payload[1]!, 1009);
});

Deno.test("protocol: invalid UTF-8 fails when it arrives, inside an unfinished frame", () => {
  const server = new WsProtocol({ role: "server" });
  const frame = masked({
    opcode: OPCODE.text,
    payload: enc.encode("abc\xff".padEnd(40, "x")).map((b, i) =>
      i === 3 ? 0xff : b
    ),
  });
  // Header + mask (6 bytes) and the first 4 payload bytes: "abc" then 0xff.
  assert.deepEqual(types(server.receive(frame.subarray(0, 10))), [
    "error 1007",
  ]);
});

Deno.test("protocol: replies to a read's earlier messages leave before the Close answering its bad frame", () => {
  const server = new WsProtocol({ role: "server" });
  const events = server.receive(join([
    masked({ opcode: OPCODE.text, payload: enc.encode("first") }),
    masked({ opcode: 3 }),
  ]));
  assert.deepEqual(types(events), ["text", "error 1002"]);
  assert.ok(server.sendText("first"), "an echo is still accepted");
  const frames = written(server, "server");
  assert.deepEqual(
    frames.map((f) => "opcode" in f && f.opcode),
    [OPCODE.text, OPCODE.close],
  );
  assert.equal(server.sendText("late"), false);
});

Deno.test("protocol: an unmasked client frame is 1002 on a server; a client masks what it sends", () => {
  const server = new WsProtocol({ role: "server" });
  const bare = encodeFrame({ opcode: OPCODE.text, payload: enc.encode("x") });
  assert.deepEqual(types(server.receive(bare)), ["error 1002"]);
  const client = new WsProtocol({ role: "client" });
  client.sendText("hi");
  const [frame] = written(client, "client");
  assert.ok(frame && "opcode" in frame && frame.masked);
  assert.equal(new TextDecoder().decode(frame.payload), "hi");
});

Deno.test("protocol: RSV1 is 1002 unless negotiated; then the message is delivered compressed", () => {
  const init = {
    opcode: OPCODE.binary,
    rsv: 4,
    payload: new Uint8Array([1, 2]),
  };
  const plain = new WsProtocol({ role: "server" });
  assert.deepEqual(types(plain.receive(masked(init))), ["error 1002"]);
  const deflate = new WsProtocol({ role: "server", rsv1: true });
  const [event] = deflate.receive(masked(init));
  assert.deepEqual(event, {
    type: "compressed",
    opcode: 2,
    payload: new Uint8Array([1, 2]),
  });
  deflate.sendFrame(OPCODE.binary, new Uint8Array([9]), { rsv: 4 });
  const [frame] = written(new WsProtocol({ role: "server" }), "server");
  assert.equal(frame, undefined);
  const out = deflate.takeOutput()!;
  assert.equal(out[0]![0], 0x80 | 0x40 | OPCODE.binary);
});

Deno.test("protocol: the peer's Close is echoed with its code and reason, then nothing more is read", () => {
  const server = new WsProtocol({ role: "server" });
  const events = server.receive(join([
    masked({ opcode: OPCODE.close, payload: encodeClose(4001, "bye") }),
    masked({ opcode: OPCODE.ping }),
  ]));
  assert.deepEqual(events, [{ type: "close", code: 4001, reason: "bye" }]);
  const frames = written(server, "server");
  assert.equal(frames.length, 1);
  const [close] = frames;
  assert.ok(close && "opcode" in close);
  assert.deepEqual(close.payload, encodeClose(4001, "bye"));
  assert.equal(server.state, "closed");
});

Deno.test("protocol: close() refuses reserved codes and cuts long reasons to 123 bytes", () => {
  const server = new WsProtocol({ role: "server" });
  assert.throws(() => server.close(1005), /1005 may not be sent/);
  server.close(1000, "é".repeat(100));
  const [close] = written(server, "server");
  assert.ok(close && "opcode" in close);
  assert.ok(close.payload.length <= 125);
  assert.equal(
    new TextDecoder("utf-8", { fatal: true }).decode(close.payload.subarray(2)),
    "é".repeat(61),
  );
});
