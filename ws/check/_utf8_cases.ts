// Category 6: UTF-8 in text messages (RFC 6455 §5.6, §8.1), after Autobahn
// 6.1–6.4, with invalid sequences from Markus Kuhn's decoder test.

import { encodeFrame, OPCODE } from "../frame.ts";
import { concatBytes } from "../../_bytes.ts";
import type { CaseContext, CheckCase, Outcome } from "./_session.ts";
import {
  closeNormally,
  expectFailure,
  pass,
  readEcho,
  textMessage,
} from "./_expect.ts";
import { echoAndClose } from "./_framing_cases.ts";

const encoder = new TextEncoder();
const KOSME = encoder.encode("κόσμε");
const EDITED = encoder.encode("edited");

/** Multi-byte text: 2-, 3- and 4-byte sequences, U+FFFD and a noncharacter. */
const VALID = "Hello-µ@ßöäüàá-UTF-8!! κόσμε € 𝄞 😀 \uFFFD \uFFFF end";

const INVALID: Array<{ name: string; bytes: number[] }> = [
  { name: "overlong '/' (C0 AF)", bytes: [0xc0, 0xaf] },
  { name: "overlong 3-byte '/' (E0 80 AF)", bytes: [0xe0, 0x80, 0xaf] },
  { name: "lone surrogate U+D800 (ED A0 80)", bytes: [0xed, 0xa0, 0x80] },
  {
    name: "surrogate pair U+D800 U+DC00 (CESU-8)",
    bytes: [0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80],
  },
  {
    name: "U+110000, above U+10FFFF (F4 90 80 80)",
    bytes: [0xf4, 0x90, 0x80, 0x80],
  },
  {
    name: "5-byte form (F8 88 80 80 80)",
    bytes: [0xf8, 0x88, 0x80, 0x80, 0x80],
  },
  { name: "stray continuation byte (80)", bytes: [0x80] },
  { name: "impossible bytes (FE FF)", bytes: [0xfe, 0xff] },
];

function withInvalid(bytes: number[], truncated = false): Uint8Array {
  return truncated
    ? concatBytes([KOSME, new Uint8Array(bytes)])
    : concatBytes([KOSME, new Uint8Array(bytes), EDITED]);
}

function textFrame(payload: Uint8Array, fin = true, first = true) {
  return encodeFrame({
    opcode: first ? OPCODE.text : OPCODE.continuation,
    fin,
    payload,
    mask: true,
  });
}

async function expectInvalid(
  context: CaseContext,
  bytes: Uint8Array,
): Promise<Outcome> {
  const session = await context.open();
  await session.write(textFrame(bytes));
  return await expectFailure(session, [1007]);
}

/**
 * Fragment 1 valid, fragment 2 invalidating, then a pause before fragment
 * 3: failing during the pause is PASS, only after fragment 3 NON-STRICT
 * (Autobahn 6.4). With `chops`, the three parts are TCP writes of one frame.
 */
async function failFast(
  context: CaseContext,
  parts: [Uint8Array, Uint8Array, Uint8Array],
  chops: boolean,
): Promise<Outcome> {
  const session = await context.open();
  const [first, bad, rest] = parts;
  let tail: Uint8Array;
  if (chops) {
    // The masked frame keeps the payload's byte positions, so the chops
    // are: header + first part, the invalid bytes, the rest.
    const frame = textFrame(concatBytes(parts));
    const badAt = frame.length - bad.length - rest.length;
    await session.write(frame.subarray(0, badAt));
    await session.write(frame.subarray(badAt, badAt + bad.length));
    tail = frame.subarray(badAt + bad.length);
  } else {
    await session.write(textFrame(first, false));
    await session.write(textFrame(bad, false, false));
    tail = textFrame(rest, true, false);
  }
  const unit = chops ? "TCP chop" : "fragment";
  const event = await session.next(context.windowMs);
  if (event.type === "timeout" && !session.expired) {
    await session.write(tail);
    const outcome = await expectFailure(session, [1007]);
    if (outcome.verdict === "FAIL") return outcome;
    return {
      verdict: "NON-STRICT",
      observed:
        `nothing within ${context.windowMs} ms of the invalid ${unit}; ` +
        `after the final one: ${outcome.observed}`,
    };
  }
  const outcome = await expectFailure(session, [1007], { first: event });
  if (outcome.verdict === "FAIL") return outcome;
  return {
    ...outcome,
    observed: `${outcome.observed}, before the final ${unit}`,
  };
}

/** Category 6. */
export const UTF8_CASES: CheckCase[] = [
  {
    id: "6.1.1",
    title: "An empty text message is echoed (§5.6).",
    sends: "text 0 B",
    requires: "echo empty text",
    async run(context) {
      return await echoAndClose(await context.open(), textMessage(""));
    },
  },
  {
    id: "6.1.2",
    title: "A text message of three empty fragments is echoed as empty text " +
      "(§5.4).",
    sends: "3 empty fragments",
    requires: "echo empty text",
    async run(context) {
      const session = await context.open();
      const empty = new Uint8Array();
      await session.write(concatBytes([
        textFrame(empty, false),
        textFrame(empty, false, false),
        textFrame(empty, true, false),
      ]));
      const echo = await readEcho(session, textMessage(""));
      return pass(`${echo}, ${await closeNormally(session)}`);
    },
  },
  {
    id: "6.2.1",
    title: "Valid multi-byte UTF-8 (2-, 3- and 4-byte sequences, U+FFFD, " +
      "U+FFFF) is echoed intact (§8.1).",
    sends: "multi-byte text",
    requires: "echo",
    async run(context) {
      return await echoAndClose(await context.open(), textMessage(VALID));
    },
  },
  {
    id: "6.2.2",
    title: "Valid multi-byte UTF-8 split into 1-byte fragments, so code " +
      "points straddle fragments, is echoed whole (§5.6).",
    sends: "multi-byte, 1 B fragments",
    requires: "echo whole text",
    async run(context) {
      const session = await context.open();
      const bytes = encoder.encode(VALID);
      const frames = Array.from(
        bytes,
        (_, i) =>
          textFrame(bytes.subarray(i, i + 1), i === bytes.length - 1, i === 0),
      );
      await session.write(concatBytes(frames));
      const echo = await readEcho(session, textMessage(VALID));
      return pass(
        `${echo} from ${bytes.length} fragments, ${await closeNormally(
          session,
        )}`,
      );
    },
  },
  {
    id: "6.2.3",
    title: "A 4-byte code point split 2+2 across two fragments is echoed " +
      "whole (§5.6).",
    sends: "𝄞 split inside, 2 frags",
    requires: "echo whole text",
    async run(context) {
      const session = await context.open();
      const text = "clef: 𝄞!";
      const bytes = encoder.encode(text);
      const at = bytes.indexOf(0xf0) + 2;
      await session.write(concatBytes([
        textFrame(bytes.subarray(0, at), false),
        textFrame(bytes.subarray(at), true, false),
      ]));
      const echo = await readEcho(session, textMessage(text));
      return pass(`${echo}, ${await closeNormally(session)}`);
    },
  },
  {
    id: "6.2.4",
    title: "Valid multi-byte UTF-8 in one frame sent one byte per TCP " +
      "write is echoed (§5.6).",
    sends: "multi-byte, 1 B writes",
    requires: "echo",
    async run(context) {
      return await echoAndClose(await context.open(), textMessage(VALID), 1);
    },
  },
  ...INVALID.map((invalid, i): CheckCase => ({
    id: `6.3.${i + 1}`,
    title: `A text message containing ${invalid.name} fails the connection ` +
      "with 1007 (§8.1).",
    sends: `text with ${invalid.name.replace(/ \(.*\)$/, "")}`,
    requires: "fail 1007",
    run: (context) => expectInvalid(context, withInvalid(invalid.bytes)),
  })),
  {
    id: "6.3.9",
    title: "A text message truncated inside a 3-byte sequence (E2 82 at the " +
      "end) fails the connection with 1007 (§8.1).",
    sends: "text ending in E2 82",
    requires: "fail 1007",
    run: (context) => expectInvalid(context, withInvalid([0xe2, 0x82], true)),
  },
  {
    id: "6.3.10",
    title: "An invalid text (lone surrogate) sent as 1-byte fragments fails " +
      "the connection with 1007 (§8.1).",
    sends: "surrogate, 1 B fragments",
    requires: "fail 1007",
    async run(context) {
      const session = await context.open();
      const bytes = withInvalid([0xed, 0xa0, 0x80]);
      await session.write(concatBytes(Array.from(
        bytes,
        (_, i) =>
          textFrame(bytes.subarray(i, i + 1), i === bytes.length - 1, i === 0),
      )));
      return await expectFailure(session, [1007]);
    },
  },
  {
    id: "6.4.1",
    title: "Fail fast: fragment 2 of 3 holds U+110000; the connection fails " +
      "before fragment 3 is sent (§8.1, Autobahn 6.4.1).",
    sends: "U+110000 in fragment 2/3",
    requires: "fail 1007 before frag 3",
    run: (context) =>
      failFast(context, [
        KOSME,
        new Uint8Array([0xf4, 0x90, 0x80, 0x80]),
        EDITED,
      ], false),
  },
  {
    id: "6.4.2",
    title: "Fail fast: fragment 2 of 3 holds a lone surrogate (ED A0 80); " +
      "the connection fails before fragment 3 (§8.1).",
    sends: "surrogate in fragment 2/3",
    requires: "fail 1007 before frag 3",
    run: (context) =>
      failFast(
        context,
        [KOSME, new Uint8Array([0xed, 0xa0, 0x80]), EDITED],
        false,
      ),
  },
  {
    id: "6.4.3",
    title: "Fail fast: fragment 2 of 3 holds an overlong sequence (C0 AF); " +
      "the connection fails before fragment 3 (§8.1).",
    sends: "overlong in fragment 2/3",
    requires: "fail 1007 before frag 3",
    run: (context) =>
      failFast(context, [KOSME, new Uint8Array([0xc0, 0xaf]), EDITED], false),
  },
  {
    id: "6.4.4",
    title: "Fail fast within a frame: TCP chop 2 of 3 of one text frame " +
      "holds U+110000; the connection fails before chop 3 (Autobahn 6.4.3).",
    sends: "U+110000 in TCP chop 2/3",
    requires: "fail 1007 before chop 3",
    run: (context) =>
      failFast(context, [
        KOSME,
        new Uint8Array([0xf4, 0x90, 0x80, 0x80]),
        EDITED,
      ], true),
  },
];
