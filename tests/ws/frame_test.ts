import assert from "node:assert/strict";
import {
  encodeClose,
  encodeFrame,
  type Frame,
  FrameDecoder,
  type FrameDecoderOptions,
  type FrameInit,
  isProtocolError,
  maskInPlace,
  OPCODE,
  type ProtocolError,
} from "../../ws/mod.ts";
import { seededBytes } from "../_helpers.ts";

const encoder = new TextEncoder();
const MASK = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);

function decodeAll(
  chunks: Uint8Array[],
  options?: FrameDecoderOptions,
): Array<Frame | ProtocolError> {
  const decoder = new FrameDecoder(options);
  return chunks.flatMap((c) => decoder.push(c));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function chunked(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    out.push(bytes.subarray(i, i + size));
  }
  return out;
}

function asFrame(x: Frame | ProtocolError | undefined): Frame {
  assert.ok(
    x && !isProtocolError(x),
    `expected a frame, got ${JSON.stringify(x)}`,
  );
  return x;
}

function asError(x: Frame | ProtocolError | undefined): ProtocolError {
  assert.ok(
    isProtocolError(x),
    `expected a protocol error, got ${JSON.stringify(x)}`,
  );
  return x;
}

Deno.test("encodeFrame matches the RFC 6455 §5.7 examples", () => {
  const hello = encoder.encode("Hello");
  assert.deepEqual(
    [...encodeFrame({ opcode: OPCODE.text, payload: hello })],
    [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
  );
  assert.deepEqual(
    [...encodeFrame({ opcode: OPCODE.text, payload: hello, mask: MASK })],
    [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58],
  );
  assert.deepEqual(
    [...encodeFrame({
      opcode: OPCODE.text,
      fin: false,
      payload: hello.subarray(0, 3),
    })],
    [0x01, 0x03, 0x48, 0x65, 0x6c],
  );
  assert.deepEqual(
    [...encodeFrame({
      opcode: OPCODE.continuation,
      payload: hello.subarray(3),
    })],
    [0x80, 0x02, 0x6c, 0x6f],
  );
  assert.deepEqual(
    [...encodeFrame({ opcode: OPCODE.ping, payload: hello })],
    [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
  );
  assert.deepEqual(
    [
      ...encodeFrame({ opcode: OPCODE.binary, payload: new Uint8Array(256) })
        .subarray(0, 4),
    ],
    [0x82, 0x7e, 0x01, 0x00],
  );
  assert.deepEqual(
    [
      ...encodeFrame({ opcode: OPCODE.binary, payload: new Uint8Array(65536) })
        .subarray(0, 10),
    ],
    [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0],
  );
});

Deno.test("encodeFrame uses 7/16/64-bit lengths at the boundaries", () => {
  const cases: Array<[number, number[]]> = [
    [0, [0]],
    [125, [125]],
    [126, [126, 0, 126]],
    [65535, [126, 0xff, 0xff]],
    [65536, [127, 0, 0, 0, 0, 0, 1, 0, 0]],
  ];
  for (const [length, header] of cases) {
    const plain = encodeFrame({
      opcode: OPCODE.binary,
      payload: new Uint8Array(length),
    });
    assert.deepEqual([...plain.subarray(1, 1 + header.length)], header);
    assert.equal(plain.length, 1 + header.length + length);
    const masked = encodeFrame({
      opcode: OPCODE.binary,
      payload: new Uint8Array(length),
      mask: true,
    });
    assert.equal(masked[1], header[0]! | 0x80);
    assert.equal(masked.length, 1 + header.length + 4 + length);
  }
});

Deno.test("encodeFrame sends what it is told without validating", () => {
  const odd = encodeFrame({
    opcode: 0x3,
    rsv: 7,
    fin: false,
    payload: new Uint8Array(1),
  });
  assert.equal(odd[0], 0x73);
  const bigPing = encodeFrame({
    opcode: OPCODE.ping,
    payload: new Uint8Array(126),
  });
  assert.deepEqual([...bigPing.subarray(0, 4)], [0x89, 126, 0, 126]);
  const fragmentedClose = encodeFrame({ opcode: OPCODE.close, fin: false });
  assert.deepEqual([...fragmentedClose], [0x08, 0x00]);
});

Deno.test("encodeFrame with mask: true uses a fresh random key", () => {
  const payload = seededBytes(64, 7);
  const a = encodeFrame({ opcode: OPCODE.binary, payload, mask: true });
  const b = encodeFrame({ opcode: OPCODE.binary, payload, mask: true });
  assert.notDeepEqual(a.subarray(2, 6), b.subarray(2, 6));
  for (const bytes of [a, b]) {
    const frame = asFrame(decodeAll([bytes])[0]);
    assert.equal(frame.masked, true);
    assert.deepEqual(frame.payload, payload);
  }
});

Deno.test("encodeClose builds code + UTF-8 reason", () => {
  assert.deepEqual([...encodeClose()], []);
  assert.deepEqual([...encodeClose(1000)], [0x03, 0xe8]);
  assert.deepEqual([...encodeClose(4999, "é")], [0x13, 0x87, 0xc3, 0xa9]);
});

const LENGTHS = [0, 1, 125, 126, 127, 65535, 65536, 70001];

Deno.test("round trips at every length boundary, masked and unmasked, byte by byte", () => {
  for (const length of LENGTHS) {
    const payload = seededBytes(length, length + 1);
    for (const mask of [undefined, MASK, true] as const) {
      const bytes = encodeFrame({ opcode: OPCODE.binary, payload, mask });
      for (const size of [bytes.length, 1, 2, 3, 7, 1000]) {
        const results = decodeAll(chunked(bytes, size));
        assert.equal(results.length, 1);
        const frame = asFrame(results[0]);
        assert.equal(frame.fin, true);
        assert.equal(frame.rsv, 0);
        assert.equal(frame.opcode, OPCODE.binary);
        assert.equal(frame.masked, mask !== undefined);
        assert.deepEqual(
          frame.payload,
          payload,
          `length ${length} chunk ${size}`,
        );
      }
    }
  }
});

Deno.test("a stream of frames decodes the same at every split point", () => {
  const inits: FrameInit[] = [
    { opcode: OPCODE.text, fin: false, payload: encoder.encode("héllo ") },
    { opcode: OPCODE.ping, payload: encoder.encode("p") },
    { opcode: OPCODE.continuation, payload: seededBytes(126, 3) },
    { opcode: OPCODE.pong },
    { opcode: OPCODE.binary, payload: seededBytes(300, 4) },
    { opcode: OPCODE.close, payload: encodeClose(1000, "bye") },
  ];
  for (const mask of [undefined, MASK]) {
    const stream = concat(inits.map((f) => encodeFrame({ ...f, mask })));
    const whole = decodeAll([stream]);
    assert.equal(whole.length, inits.length);
    whole.forEach((result, i) => {
      const frame = asFrame(result);
      assert.equal(frame.opcode, inits[i]!.opcode);
      assert.equal(frame.fin, inits[i]!.fin ?? true);
      assert.deepEqual(frame.payload, inits[i]!.payload ?? new Uint8Array());
    });
    for (let a = 0; a <= stream.length; a++) {
      const parts = [stream.subarray(0, a), stream.subarray(a)];
      assert.deepEqual(decodeAll(parts), whole, `split at ${a}`);
    }
    for (let a = 0; a < stream.length; a += 37) {
      for (let b = a; b <= stream.length; b += 11) {
        const parts = [
          stream.subarray(0, a),
          stream.subarray(a, b),
          stream.subarray(b),
        ];
        assert.deepEqual(decodeAll(parts), whole, `split at ${a}, ${b}`);
      }
    }
    assert.deepEqual(decodeAll(chunked(stream, 1)), whole);
  }
});

Deno.test("the decoder copies payloads, so the caller may reuse its buffer", () => {
  const payload = seededBytes(200, 9);
  const bytes = encodeFrame({ opcode: OPCODE.binary, payload, mask: MASK });
  const buffer = new Uint8Array(bytes);
  const decoder = new FrameDecoder();
  const head = decoder.push(buffer.subarray(0, 100));
  assert.equal(head.length, 0);
  const rest = bytes.slice(100);
  buffer.fill(0xee);
  buffer.set(rest);
  const frame = asFrame(decoder.push(buffer.subarray(0, rest.length))[0]);
  assert.deepEqual(frame.payload, payload);
});

Deno.test("each malformed frame kind is a 1002 protocol error", () => {
  const cases: Array<[string, Uint8Array, FrameDecoderOptions?]> = [
    ["RSV1", encodeFrame({ opcode: OPCODE.text, rsv: 4 })],
    ["RSV2", encodeFrame({ opcode: OPCODE.text, rsv: 2 })],
    ["RSV3", encodeFrame({ opcode: OPCODE.text, rsv: 1 })],
    ...[3, 4, 5, 6, 7, 11, 12, 13, 14, 15].map((op): [string, Uint8Array] => [
      `opcode ${op}`,
      encodeFrame({ opcode: op }),
    ]),
    [
      "ping of 126 bytes",
      encodeFrame({ opcode: OPCODE.ping, payload: new Uint8Array(126) }),
    ],
    [
      "close of 126 bytes",
      encodeFrame({ opcode: OPCODE.close, payload: new Uint8Array(126) }),
    ],
    [
      "pong of 65536 bytes",
      encodeFrame({ opcode: OPCODE.pong, payload: new Uint8Array(65536) }),
    ],
    ["fragmented ping", encodeFrame({ opcode: OPCODE.ping, fin: false })],
    ["fragmented close", encodeFrame({ opcode: OPCODE.close, fin: false })],
    ["unmasked from a client", encodeFrame({ opcode: OPCODE.text }), {
      expectMasked: true,
    }],
    ["masked from a server", encodeFrame({ opcode: OPCODE.text, mask: true }), {
      expectMasked: false,
    }],
    [
      "64-bit length with MSB",
      new Uint8Array([0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1]),
    ],
  ];
  for (const [name, bytes, options] of cases) {
    for (const size of [bytes.length, 1]) {
      const results = decodeAll(chunked(bytes, size), options);
      assert.equal(results.length, 1, name);
      const error = asError(results[0]);
      assert.equal(error.closeCode, 1002, name);
      assert.ok(
        error.reason.length > 0 && encoder.encode(error.reason).length <= 123,
      );
    }
  }
});

Deno.test("errors are reported as soon as the offending header byte arrives", () => {
  assert.equal(
    asError(new FrameDecoder().push(new Uint8Array([0x83]))[0]).closeCode,
    1002,
  );
  assert.equal(
    asError(new FrameDecoder().push(new Uint8Array([0x89, 126]))[0]).closeCode,
    1002,
  );
  const unmasked = new FrameDecoder({ expectMasked: true }).push(
    new Uint8Array([0x81, 0x05]),
  );
  assert.equal(asError(unmasked[0]).closeCode, 1002);
});

Deno.test("both masking directions are accepted when expectMasked is unset", () => {
  for (const mask of [undefined, MASK]) {
    const frame = asFrame(
      decodeAll([encodeFrame({ opcode: OPCODE.text, mask })])[0],
    );
    assert.equal(frame.masked, mask !== undefined);
  }
});

Deno.test("allowedRsv lets an extension's bits through", () => {
  const bytes = encodeFrame({
    opcode: OPCODE.text,
    rsv: 4,
    payload: new Uint8Array(3),
  });
  const frame = asFrame(decodeAll([bytes], { allowedRsv: 4 })[0]);
  assert.equal(frame.rsv, 4);
  assert.equal(
    asError(decodeAll([bytes], { allowedRsv: 2 })[0]).closeCode,
    1002,
  );
});

Deno.test("maxPayload gives 1009 from the header alone, before allocating", () => {
  // A header claiming 2^52 bytes: allocating that would throw; the decoder
  // answers 1009 from the 10 header bytes.
  const huge = new Uint8Array([0x82, 127, 0x00, 0x10, 0, 0, 0, 0, 0, 0]);
  const results = new FrameDecoder().push(huge);
  assert.equal(asError(results[0]).closeCode, 1009);
  const limited = { maxPayload: 1000 };
  const over = encodeFrame({
    opcode: OPCODE.binary,
    payload: new Uint8Array(1001),
  });
  // Only the 4 header bytes are needed to refuse it.
  assert.equal(
    asError(decodeAll([over.subarray(0, 4)], limited)[0]).closeCode,
    1009,
  );
  const at = encodeFrame({
    opcode: OPCODE.binary,
    payload: new Uint8Array(1000),
  });
  assert.equal(asFrame(decodeAll([at], limited)[0]).payload.length, 1000);
  // 7-bit lengths are limited too.
  const small = encodeFrame({
    opcode: OPCODE.text,
    payload: new Uint8Array(11),
  });
  assert.equal(
    asError(decodeAll([small], { maxPayload: 10 })[0]).closeCode,
    1009,
  );
});

Deno.test("frames before an error are returned, and nothing after it", () => {
  const good = encodeFrame({
    opcode: OPCODE.text,
    payload: encoder.encode("ok"),
  });
  const bad = encodeFrame({ opcode: 0x3 });
  const decoder = new FrameDecoder();
  const results = decoder.push(concat([good, bad, good]));
  assert.equal(results.length, 2);
  assert.deepEqual(asFrame(results[0]).payload, encoder.encode("ok"));
  assert.equal(asError(results[1]).closeCode, 1002);
  assert.deepEqual(decoder.push(good), []);
  assert.deepEqual(decoder.push(new Uint8Array([0x83])), []);
});

/** xorshift32, so a failing input can be reproduced from the seed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

Deno.test("randomized: the decoder returns frames or one ProtocolError and never throws", () => {
  const random = prng(0xc0ffee);
  const int = (n: number) => Math.floor(random() * n);
  let frames = 0;
  let errors = 0;
  for (let round = 0; round < 5000; round++) {
    let input: Uint8Array;
    const style = round % 3;
    if (style === 0) {
      // Pure noise.
      input = seededBytes(int(300), round + 1);
    } else {
      // Valid-looking frames with a few bytes flipped.
      const parts: Uint8Array[] = [];
      for (let k = int(4) + 1; k > 0; k--) {
        parts.push(encodeFrame({
          opcode: [0, 1, 2, 8, 9, 10][int(6)]!,
          fin: random() < 0.8,
          payload: seededBytes([0, 5, 125, 126, 200][int(5)]!, round),
          mask: random() < 0.5 ? true : undefined,
        }));
      }
      input = concat(parts);
      if (style === 2) {
        for (let flips = int(4); flips > 0; flips--) {
          input[int(input.length)] = int(256);
        }
      }
    }
    const decoder = new FrameDecoder({
      maxPayload: 1 << 16,
      expectMasked: [true, false, undefined][int(3)],
    });
    const results: Array<Frame | ProtocolError> = [];
    let at = 0;
    while (at < input.length) {
      const size = 1 + int(input.length - at);
      results.push(...decoder.push(input.subarray(at, at + size)));
      at += size;
    }
    results.push(...decoder.push(seededBytes(16, round)));
    results.forEach((result, i) => {
      if (isProtocolError(result)) {
        assert.equal(i, results.length - 1, "an error is the last report");
        assert.ok([1002, 1009].includes(result.closeCode));
        errors++;
      } else {
        assert.ok(result.opcode >= 0 && result.opcode <= 15);
        assert.ok(result.payload instanceof Uint8Array);
        assert.ok(result.payload.length <= 1 << 16);
        frames++;
      }
    });
  }
  assert.ok(
    frames > 1000 && errors > 1000,
    `${frames} frames, ${errors} errors`,
  );
});

Deno.test("maskInPlace: equals the byte-by-byte rule at every length, alignment and phase", () => {
  const key = new Uint8Array([0, 0x9e, 0x37, 0x79, 0xb9, 0xf1, 0]);
  const reference = (data: Uint8Array, phase: number) =>
    data.map((b, j) => b ^ key[1 + ((phase + j) & 3)]!);
  // Both word paths (32-bit below 256 bytes, 64-bit from there) and the
  // byte runs around them.
  const lengths = [
    ...Array.from({ length: 40 }, (_, i) => i),
    255,
    256,
    257,
    263,
    1000,
    65_537,
  ];
  for (const length of lengths) {
    for (let offset = 0; offset < 8; offset++) {
      for (let phase = 0; phase < 4; phase++) {
        const buffer = new Uint8Array(length + 16);
        for (let i = 0; i < buffer.length; i++) buffer[i] = (i * 31 + 7) & 0xff;
        const data = buffer.subarray(offset, offset + length);
        const want = reference(data, phase);
        maskInPlace(data, key, 1, phase);
        assert.deepEqual(
          data,
          want,
          `length ${length}, offset ${offset}, phase ${phase}`,
        );
        // Nothing around it touched.
        assert.equal(
          buffer[offset + length],
          ((offset + length) * 31 + 7) & 0xff,
        );
      }
    }
  }
});
