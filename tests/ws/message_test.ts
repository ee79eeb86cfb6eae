import assert from "node:assert/strict";
import {
  describeCloseCode,
  encodeClose,
  encodeFrame,
  type Frame,
  FrameDecoder,
  isProtocolError,
  isValidCloseCode,
  MessageAssembler,
  OPCODE,
  type WsEvent,
} from "../../ws/mod.ts";
import { seededBytes } from "../_helpers.ts";

const encoder = new TextEncoder();

function frame(
  opcode: number,
  payload: Uint8Array | string,
  fin = true,
): Frame {
  return {
    fin,
    rsv: 0,
    opcode,
    masked: false,
    payload: typeof payload === "string" ? encoder.encode(payload) : payload,
  };
}

function feed(
  frames: Frame[],
  options?: { maxMessageSize?: number },
): WsEvent[] {
  const assembler = new MessageAssembler(options);
  return frames.flatMap((f) => assembler.push(f));
}

function closeCodeOf(event: WsEvent | undefined): number {
  assert.ok(
    isProtocolError(event),
    `expected a protocol error, got ${JSON.stringify(event)}`,
  );
  return event.closeCode;
}

Deno.test("single text and binary messages, empty ones included", () => {
  const bin = seededBytes(300, 2);
  assert.deepEqual(
    feed([
      frame(OPCODE.text, "hello ✓"),
      frame(OPCODE.text, ""),
      frame(OPCODE.binary, bin),
      frame(OPCODE.binary, new Uint8Array()),
    ]),
    [
      { type: "text", data: "hello ✓" },
      { type: "text", data: "" },
      { type: "binary", data: bin },
      { type: "binary", data: new Uint8Array() },
    ],
  );
});

Deno.test("fragments are joined, with control frames in between", () => {
  const bin = seededBytes(1000, 5);
  assert.deepEqual(
    feed([
      frame(OPCODE.text, "frag", false),
      frame(OPCODE.ping, "p"),
      frame(OPCODE.continuation, "", false),
      frame(OPCODE.pong, ""),
      frame(OPCODE.continuation, "ment"),
      frame(OPCODE.binary, bin.subarray(0, 10), false),
      frame(OPCODE.continuation, bin.subarray(10, 500), false),
      frame(OPCODE.continuation, bin.subarray(500)),
    ]),
    [
      { type: "ping", payload: encoder.encode("p") },
      { type: "pong", payload: new Uint8Array() },
      { type: "text", data: "fragment" },
      { type: "binary", data: bin },
    ],
  );
});

Deno.test("continuation sequencing errors are 1002", () => {
  assert.equal(closeCodeOf(feed([frame(OPCODE.continuation, "x")])[0]), 1002);
  assert.equal(
    closeCodeOf(feed([frame(OPCODE.continuation, "x", false)])[0]),
    1002,
  );
  assert.equal(
    closeCodeOf(
      feed([frame(OPCODE.text, "a", false), frame(OPCODE.text, "b")])[0],
    ),
    1002,
  );
  assert.equal(
    closeCodeOf(
      feed([frame(OPCODE.binary, "a", false), frame(OPCODE.text, "b")])[0],
    ),
    1002,
  );
  // A finished message leaves nothing to continue.
  const events = feed([
    frame(OPCODE.text, "done"),
    frame(OPCODE.continuation, "x"),
  ]);
  assert.deepEqual(events[0], { type: "text", data: "done" });
  assert.equal(closeCodeOf(events[1]), 1002);
});

Deno.test("valid UTF-8 split inside code points, one byte per fragment", () => {
  const text = "κόσμε €𝄞 ok";
  const bytes = encoder.encode(text);
  const frames = [...bytes].map((b, i) =>
    frame(
      i === 0 ? OPCODE.text : OPCODE.continuation,
      new Uint8Array([b]),
      i === bytes.length - 1,
    )
  );
  assert.deepEqual(feed(frames), [{ type: "text", data: text }]);
});

Deno.test("invalid UTF-8 fails with 1007 on the fragment that breaks it", () => {
  // Fragment 1 valid, fragment 2 starts U+110000 (F4 90 ...), fragment 3 never matters.
  const assembler = new MessageAssembler();
  assert.deepEqual(assembler.push(frame(OPCODE.text, "κόσμε", false)), []);
  const events = assembler.push(
    frame(OPCODE.continuation, new Uint8Array([0xf4, 0x90]), false),
  );
  assert.equal(closeCodeOf(events[0]), 1007);
  assert.deepEqual(assembler.push(frame(OPCODE.continuation, "x")), []);

  // Byte-wise: the error comes with the byte that cannot continue a sequence.
  const bad = new Uint8Array([
    0x61,
    0xce,
    0xba,
    0xe1,
    0xbd,
    0xb9,
    0xed,
    0xa0,
    0x80,
    0x62,
  ]);
  const byteWise = new MessageAssembler();
  const failedAt = [...bad].findIndex((b, i) => {
    const out = byteWise.push(
      frame(
        i === 0 ? OPCODE.text : OPCODE.continuation,
        new Uint8Array([b]),
        false,
      ),
    );
    return out.length > 0 && closeCodeOf(out[0]) === 1007;
  });
  assert.equal(
    failedAt,
    7,
    "ED A0 (a UTF-16 surrogate) is invalid at its second byte",
  );
});

Deno.test("invalid UTF-8 in whole messages and truncated sequences is 1007", () => {
  const cases = [
    [0xff],
    [0xc0, 0xaf], // overlong "/"
    [0xed, 0xa0, 0x80], // surrogate
    [0xf4, 0x90, 0x80, 0x80], // U+110000
    [0xe2, 0x82], // truncated at the end of the message
  ];
  for (const bytes of cases) {
    assert.equal(
      closeCodeOf(feed([frame(OPCODE.text, new Uint8Array(bytes))])[0]),
      1007,
    );
  }
  // Truncated at the final fragment.
  assert.equal(
    closeCodeOf(
      feed([
        frame(OPCODE.text, new Uint8Array([0x61, 0xe2]), false),
        frame(OPCODE.continuation, new Uint8Array([0x82])),
      ])[0],
    ),
    1007,
  );
  // Noncharacters and U+FFFD are valid.
  assert.deepEqual(feed([frame(OPCODE.text, "\uFFFE\uFFFF\uFFFD")]), [
    { type: "text", data: "\uFFFE\uFFFF\uFFFD" },
  ]);
});

Deno.test("close payloads: empty, code, code + reason", () => {
  assert.deepEqual(feed([frame(OPCODE.close, new Uint8Array())]), [
    { type: "close", code: null, reason: "" },
  ]);
  assert.deepEqual(feed([frame(OPCODE.close, encodeClose(1000))]), [
    { type: "close", code: 1000, reason: "" },
  ]);
  assert.deepEqual(feed([frame(OPCODE.close, encodeClose(4000, "bye ✓"))]), [
    { type: "close", code: 4000, reason: "bye ✓" },
  ]);
});

Deno.test("bad close payloads: 1 byte and invalid codes are 1002, bad reason 1007", () => {
  assert.equal(
    closeCodeOf(feed([frame(OPCODE.close, new Uint8Array([0x03]))])[0]),
    1002,
  );
  for (
    const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]
  ) {
    assert.equal(
      closeCodeOf(feed([frame(OPCODE.close, encodeClose(code))])[0]),
      1002,
      `${code}`,
    );
  }
  const badReason = new Uint8Array([0x03, 0xe8, 0xce, 0xba, 0xff]);
  assert.equal(closeCodeOf(feed([frame(OPCODE.close, badReason)])[0]), 1007);
});

Deno.test("isValidCloseCode follows RFC 6455 §7.4 and the IANA registry", () => {
  const valid = [
    1000,
    1001,
    1002,
    1003,
    1007,
    1008,
    1009,
    1010,
    1011,
    1012,
    1013,
    1014,
    3000,
    3999,
    4000,
    4999,
  ];
  const invalid = [
    0,
    999,
    1004,
    1005,
    1006,
    1015,
    1016,
    2000,
    2999,
    5000,
    65535,
  ];
  for (const code of valid) {
    assert.equal(isValidCloseCode(code), true, `${code}`);
  }
  for (const code of invalid) {
    assert.equal(isValidCloseCode(code), false, `${code}`);
  }
});

Deno.test("describeCloseCode names codes for people", () => {
  assert.equal(describeCloseCode(1000), "1000 normal closure");
  assert.equal(
    describeCloseCode(1006),
    "1006 abnormal closure (no close frame)",
  );
  assert.equal(describeCloseCode(1002), "1002 protocol error");
  assert.equal(describeCloseCode(null), "no status code");
  assert.match(describeCloseCode(4001), /^4001 /);
  assert.match(describeCloseCode(3000), /^3000 /);
  assert.match(describeCloseCode(5000), /invalid/);
});

Deno.test("maxMessageSize is 1009, checked before buffering the fragment", () => {
  const assembler = new MessageAssembler({ maxMessageSize: 10 });
  assert.deepEqual(
    assembler.push(frame(OPCODE.binary, new Uint8Array(6), false)),
    [],
  );
  assert.equal(
    closeCodeOf(
      assembler.push(frame(OPCODE.continuation, new Uint8Array(5)))[0],
    ),
    1009,
  );
  assert.deepEqual(
    feed([frame(OPCODE.text, "0123456789")], { maxMessageSize: 10 }),
    [
      { type: "text", data: "0123456789" },
    ],
  );
  assert.equal(
    closeCodeOf(
      feed([frame(OPCODE.text, "01234567890")], { maxMessageSize: 10 })[0],
    ),
    1009,
  );
  // Control frames do not count toward a message.
  assert.deepEqual(
    feed([
      frame(OPCODE.text, "0123", false),
      frame(OPCODE.ping, "0123456789"),
      frame(OPCODE.continuation, "4"),
    ], {
      maxMessageSize: 5,
    }).map((e) => "type" in e && e.type),
    ["ping", "text"],
  );
});

Deno.test("decoder + assembler: a fragmented text message split byte by byte on the wire", () => {
  const text = "€𝄞 streaming ✓";
  const bytes = encoder.encode(text);
  const wire = [
    encodeFrame({
      opcode: OPCODE.text,
      fin: false,
      payload: bytes.subarray(0, 2),
      mask: true,
    }),
    encodeFrame({
      opcode: OPCODE.ping,
      payload: encoder.encode("hi"),
      mask: true,
    }),
    encodeFrame({
      opcode: OPCODE.continuation,
      fin: false,
      payload: bytes.subarray(2, 5),
      mask: true,
    }),
    encodeFrame({
      opcode: OPCODE.continuation,
      payload: bytes.subarray(5),
      mask: true,
    }),
  ];
  const decoder = new FrameDecoder({ expectMasked: true });
  const assembler = new MessageAssembler();
  const events: WsEvent[] = [];
  for (const part of wire) {
    for (const byte of part) {
      for (const result of decoder.push(new Uint8Array([byte]))) {
        assert.ok(!isProtocolError(result));
        events.push(...assembler.push(result));
      }
    }
  }
  assert.deepEqual(events, [
    { type: "ping", payload: encoder.encode("hi") },
    { type: "text", data: text },
  ]);
});
