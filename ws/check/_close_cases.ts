// Category 7: the closing handshake (RFC 6455 §5.5.1, §7), after Autobahn
// 7.1–7.13.

import { encodeClose, type FrameInit, OPCODE } from "../frame.ts";
import { concatBytes } from "../../_bytes.ts";
import type { CaseContext, CheckCase, Outcome } from "./_session.ts";
import {
  describe,
  expectFailure,
  isEcho,
  label,
  readCloseReply,
  readEof,
  textMessage,
} from "./_expect.ts";
import { messageFrame } from "./_framing_cases.ts";

const encoder = new TextEncoder();

function closeFrame(payload: Uint8Array): FrameInit {
  return { opcode: OPCODE.close, payload };
}

/**
 * Sends `frames` (a close among them) and expects a close reply whose code
 * is in `accepted`, nothing else, then the server closing TCP.
 */
async function cleanClose(
  context: CaseContext,
  frames: FrameInit[],
  accepted: Array<number | null>,
  echo?: ReturnType<typeof textMessage>,
): Promise<Outcome> {
  const session = await context.open();
  for (const frame of frames) await session.send(frame);
  const notes: string[] = [];
  let verdict: Outcome["verdict"] = "PASS";
  if (echo) {
    const event = await session.next();
    if (isEcho(event, echo)) {
      notes.push(`echoed ${label(echo)}`);
    } else if (event.type === "close" && !event.problem) {
      // §5.5.1 lets the close be answered "as soon as practical", even
      // before the application sent its reply; Autobahn 7.1.1 expects the
      // echo first.
      verdict = "NON-STRICT";
      notes.push(`no echo of the ${label(echo)} sent before the close`);
      session.unread(event);
    } else {
      return {
        verdict: "FAIL",
        observed: `${describe(event)} instead of the echo of ${label(echo)}`,
      };
    }
  }
  notes.push(await readCloseReply(session, accepted));
  notes.push(await readEof(session));
  return { verdict, observed: notes.join(", ") };
}

async function failingClose(
  context: CaseContext,
  payload: Uint8Array,
  codes: number[],
): Promise<Outcome> {
  const session = await context.open();
  await session.send(closeFrame(payload));
  return await expectFailure(session, codes);
}

const VALID_CODES = [
  1000,
  1001,
  1002,
  1003,
  1007,
  1008,
  1009,
  1010,
  1011,
  3000,
  3999,
  4000,
  4999,
];
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999];

const HELLO = textMessage("Hello, world!");
const CLOSE_1000 = closeFrame(encodeClose(1000));

/** Category 7. */
export const CLOSE_CASES: CheckCase[] = [
  {
    id: "7.1.1",
    title: "A text then a close: the text is echoed (NON-STRICT if the " +
      "close is answered first, which §5.5.1 allows), the close answered " +
      "and TCP closed by the server (§7.1.1).",
    sends: "text, close 1000",
    requires: "echo, close 1000, TCP close",
    run: (context) =>
      cleanClose(
        context,
        [messageFrame(HELLO), CLOSE_1000],
        [1000, null],
        HELLO,
      ),
  },
  {
    id: "7.1.2",
    title: "A second close after the first is ignored (§5.5.1).",
    sends: "close 1000 twice",
    requires: "one close, TCP close",
    run: (context) =>
      cleanClose(context, [CLOSE_1000, CLOSE_1000], [1000, null]),
  },
  {
    id: "7.1.3",
    title: "A ping after the close is not answered (§5.5.1).",
    sends: "close 1000, ping",
    requires: "close, no pong",
    run: (context) =>
      cleanClose(context, [
        CLOSE_1000,
        { opcode: OPCODE.ping, payload: encoder.encode("after close") },
      ], [1000, null]),
  },
  {
    id: "7.1.4",
    title: "A text after the close is not echoed (§5.5.1).",
    sends: "close 1000, text",
    requires: "close, no echo",
    run: (context) =>
      cleanClose(context, [CLOSE_1000, messageFrame(HELLO)], [1000, null]),
  },
  {
    id: "7.1.5",
    title: "A close between two fragments of a text is a legal control " +
      "frame (§5.4): answered with a normal close, nothing echoed.",
    sends: "frag, close 1000, frag",
    requires: "close 1000, no echo",
    run: (context) =>
      cleanClose(context, [
        { opcode: OPCODE.text, fin: false, payload: encoder.encode("frag 1") },
        CLOSE_1000,
        { opcode: OPCODE.continuation, payload: encoder.encode("frag 2") },
      ], [1000, null]),
  },
  {
    id: "7.3.1",
    title: "A close without payload is answered by a close (§5.5.1).",
    sends: "close, no payload",
    requires: "close, TCP close",
    run: (context) =>
      cleanClose(context, [closeFrame(new Uint8Array())], [null, 1000]),
  },
  {
    id: "7.3.2",
    title: "A close with a 1-byte payload (half a code) fails the " +
      "connection (§5.5.1).",
    sends: "close, 1-byte payload",
    requires: "1002 or TCP close",
    run: (context) => failingClose(context, new Uint8Array([0x03]), [1002]),
  },
  {
    id: "7.3.3",
    title: "A close with code 1000 only is answered with 1000 (§5.5.1).",
    sends: "close 1000",
    requires: "close 1000, TCP close",
    run: (context) => cleanClose(context, [CLOSE_1000], [1000]),
  },
  {
    id: "7.3.4",
    title: "A close with code 1000 and a reason is answered with 1000 " +
      "(§5.5.1).",
    sends: "close 1000 + reason",
    requires: "close 1000, TCP close",
    run: (context) =>
      cleanClose(context, [closeFrame(encodeClose(1000, "Hello World!"))], [
        1000,
      ]),
  },
  {
    id: "7.3.5",
    title: "A close with a 123-byte reason (payload 125, the maximum) is " +
      "answered with 1000 (§5.5).",
    sends: "close, 125 B payload",
    requires: "close 1000, TCP close",
    run: (context) =>
      cleanClose(context, [closeFrame(encodeClose(1000, "*".repeat(123)))], [
        1000,
      ]),
  },
  {
    id: "7.3.6",
    title: "A close with a 124-byte reason (payload 126) fails the " +
      "connection: control frames carry at most 125 bytes (§5.5).",
    sends: "close, 126 B payload",
    requires: "1002 or TCP close",
    run: (context) =>
      failingClose(context, encodeClose(1000, "*".repeat(124)), [1002]),
  },
  {
    id: "7.5.1",
    title: "A close whose reason is invalid UTF-8 fails the connection " +
      "(§5.5.1, §8.1).",
    sends: "close, invalid UTF-8 reason",
    requires: "1002/1007 or TCP close",
    run: (context) =>
      failingClose(
        context,
        concatBytes([
          encodeClose(1000, "κόσμε"),
          new Uint8Array([0xed, 0xa0, 0x80]),
          encoder.encode("edited"),
        ]),
        [1002, 1007],
      ),
  },
  ...VALID_CODES.map((code, i): CheckCase => ({
    id: `7.7.${i + 1}`,
    title: `A close with valid code ${code} is answered with ${code} or ` +
      "1000 (§7.4).",
    sends: `close ${code}`,
    requires: `close ${code === 1000 ? "1000" : `${code}/1000`}`,
    run: (context) =>
      cleanClose(context, [closeFrame(encodeClose(code))], [code, 1000]),
  })),
  ...INVALID_CODES.map((code, i): CheckCase => ({
    id: `7.9.${i + 1}`,
    title: `A close with invalid code ${code} fails the connection ` +
      `(§7.4.1, §7.4.2${
        code === 1005 || code === 1006 ? ": never sent" : ""
      }).`,
    sends: `close ${code}`,
    requires: "1002 or TCP close",
    run: (context) => failingClose(context, encodeClose(code), [1002]),
  })),
  ...[5000, 65535].map((code, i): CheckCase => ({
    id: `7.13.${i + 1}`,
    title: `A close with out-of-range code ${code}: the RFC does not say; ` +
      "the answer is reported (INFO).",
    sends: `close ${code}`,
    requires: "undefined (INFO)",
    async run(context) {
      const session = await context.open();
      await session.send(closeFrame(encodeClose(code)));
      const event = await session.next();
      const verdict = event.type === "timeout" ? "FAIL" : "INFO";
      return { verdict, observed: describe(event) };
    },
  })),
];
