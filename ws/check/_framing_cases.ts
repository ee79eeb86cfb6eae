// Categories 1–5: framing, ping/pong, reserved bits, reserved opcodes and
// fragmentation (RFC 6455 §5.2–§5.5), after the Autobahn cases of the same
// numbers.

import { encodeFrame, type FrameInit, OPCODE } from "../frame.ts";
import { concatBytes } from "../../_bytes.ts";
import {
  CaseFailure,
  type CheckCase,
  type Outcome,
  type Session,
} from "./_session.ts";
import {
  binaryMessage,
  closeNormally,
  describe,
  type Expected,
  expectFailure,
  formatSize,
  isEcho,
  label,
  pass,
  readEcho,
  readPong,
  textMessage,
} from "./_expect.ts";

const encoder = new TextEncoder();
const LOREM = "The quick brown fox jumps over the lazy dog. ";

/** ASCII text of exactly `n` bytes. */
export function asciiText(n: number): string {
  return LOREM.repeat(Math.ceil(n / LOREM.length)).slice(0, n);
}

/** Deterministic pseudo-random bytes (xorshift32). */
export function pseudoRandom(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** The frame that carries `message` whole. */
export function messageFrame(message: Expected): FrameInit {
  return {
    opcode: message.type === "text" ? OPCODE.text : OPCODE.binary,
    payload: message.bytes,
  };
}

/** Sends one message, reads its echo and closes normally. */
export async function echoAndClose(
  session: Session,
  message: Expected,
  chop?: number,
): Promise<Outcome> {
  await session.send(messageFrame(message), chop);
  const echo = await readEcho(session, message);
  return pass(`${echo}, ${await closeNormally(session)}`);
}

const SIZES = [0, 125, 126, 127, 128, 65535, 65536, 1024 * 1024];
const LENGTH_FORM: Record<number, string> = {
  0: "7-bit length",
  125: "largest 7-bit length",
  126: "smallest 16-bit length",
  127: "16-bit length",
  128: "16-bit length",
  65535: "largest 16-bit length",
  65536: "smallest 64-bit length",
  [1024 * 1024]: "64-bit length",
};

function framingCases(): CheckCase[] {
  const cases: CheckCase[] = [];
  const groups = [
    { n: 1, type: "text", chopped: false },
    { n: 2, type: "binary", chopped: false },
    { n: 3, type: "text", chopped: true },
    { n: 4, type: "binary", chopped: true },
  ] as const;
  for (const group of groups) {
    SIZES.forEach((size, i) => {
      // Small frames go byte by byte, header included; big ones in odd
      // chops that never line up with the header or a 4-byte mask word.
      const chop = group.chopped ? (size <= 128 ? 1 : 997) : undefined;
      const what = `${group.type} ${formatSize(size)}`;
      cases.push({
        id: `1.${group.n}.${i + 1}`,
        title: `A ${group.type} message of ${formatSize(size)} ` +
          `(${LENGTH_FORM[size]}, §5.2) is echoed` +
          (chop ? ` when it arrives in ${chop}-byte TCP writes.` : "."),
        sends: chop ? `${what} in ${chop} B writes` : what,
        requires: "echo, close 1000",
        async run(context) {
          const message = group.type === "text"
            ? textMessage(asciiText(size))
            : binaryMessage(pseudoRandom(size, size + 1));
          return await echoAndClose(await context.open(), message, chop);
        },
      });
    });
  }
  return cases;
}

function pingCase(
  id: string,
  title: string,
  sends: string,
  payload: Uint8Array,
  chop?: number,
): CheckCase {
  return {
    id,
    title,
    sends,
    requires: "identical pong",
    async run(context) {
      const session = await context.open();
      await session.send({ opcode: OPCODE.ping, payload }, chop);
      const pong = await readPong(session, payload);
      return pass(`${pong}, ${await closeNormally(session)}`);
    },
  };
}

const PING_CASES: CheckCase[] = [
  pingCase(
    "2.1",
    "A ping without payload is answered by a pong without payload (§5.5.2).",
    "ping 0 B",
    new Uint8Array(),
  ),
  pingCase(
    "2.2",
    "A ping with 125 bytes of binary payload (not UTF-8) is answered by an " +
      "identical pong (§5.5.2, §5.5.3).",
    "ping 125 B (binary)",
    pseudoRandom(125, 22),
  ),
  pingCase(
    "2.3",
    "A 125-byte ping that arrives one byte per TCP write is answered by an " +
      "identical pong.",
    "ping 125 B, 1 B writes",
    pseudoRandom(125, 23),
    1,
  ),
  {
    id: "2.4",
    title: "An unsolicited pong is ignored (§5.5.3); the ping after it is " +
      "answered first.",
    sends: "pong 125 B, then ping",
    requires: "nothing for the pong",
    async run(context) {
      const session = await context.open();
      await session.send({ opcode: OPCODE.pong, payload: pseudoRandom(125) });
      const payload = encoder.encode("after the unsolicited pong");
      await session.send({ opcode: OPCODE.ping, payload });
      const event = await session.next();
      if (event.type === "pong" && event.payload.length === 125) {
        throw new CaseFailure("answered the unsolicited pong");
      }
      const first = event.type === "pong" &&
          new TextDecoder().decode(event.payload) ===
            "after the unsolicited pong"
        ? "pong for the ping only"
        : null;
      if (!first) {
        throw new CaseFailure(`${describe(event)} instead of the ping's pong`);
      }
      return pass(`${first}, ${await closeNormally(session)}`);
    },
  },
  {
    id: "2.5",
    title: "A ping with 126 bytes of payload fails the connection: control " +
      "frames carry at most 125 bytes (§5.5).",
    sends: "ping 126 B",
    requires: "fail 1002, no pong",
    async run(context) {
      const session = await context.open();
      await session.send({ opcode: OPCODE.ping, payload: pseudoRandom(126) });
      return await expectFailure(session, [1002]);
    },
  },
  {
    id: "2.6",
    title: "Ten pings in one TCP write are each answered by a pong; §5.5.3 " +
      "allows answering only the latest (NON-STRICT).",
    sends: "10 pings, one write",
    requires: "10 pongs (≥ the last)",
    async run(context) {
      const session = await context.open();
      const payloads = Array.from(
        { length: 10 },
        (_, i) => encoder.encode(`ping ${i + 1}`),
      );
      const bytes = payloads.map((payload) =>
        encodeFrame({ opcode: OPCODE.ping, payload, mask: true })
      );
      await session.write(concatBytes(bytes));
      const seen = new Set<string>();
      for (;;) {
        const event = await session.next();
        if (event.type !== "pong") {
          throw new CaseFailure(
            `${seen.size} pongs, then ${describe(event)}`,
          );
        }
        const text = new TextDecoder().decode(event.payload);
        if (!/^ping \d+$/.test(text) || seen.has(text)) {
          throw new CaseFailure(`unexpected pong "${text}"`);
        }
        seen.add(text);
        if (text === "ping 10") break;
      }
      const close = await closeNormally(session);
      if (seen.size < 10) {
        return {
          verdict: "NON-STRICT",
          observed: `${seen.size} of 10 pongs (the last included), ${close}`,
        };
      }
      return pass(`10 pongs in order, ${close}`);
    },
  },
];

const PRIOR = textMessage("a valid message before the bad frame");

interface BadFrameCase {
  id: string;
  title: string;
  sends: string;
  requires?: string;
  bad: FrameInit[];
  /** Send a valid text first; it must still be echoed. */
  prior?: boolean;
  /** Send a ping after the bad frame; it must not be answered. */
  ping?: boolean;
  /** Send the bad frames in TCP writes of this size. */
  chop?: number;
  /** Send prior, bad frames and ping in a single TCP write. */
  oneWrite?: boolean;
  codes?: number[];
}

/** A case whose frames must make the server fail the connection. */
export function badFrameCase(spec: BadFrameCase): CheckCase {
  const codes = spec.codes ?? [1002];
  return {
    id: spec.id,
    title: spec.title,
    sends: spec.sends,
    requires: spec.requires ??
      (spec.prior
          ? `echo; fail ${codes.join("/")}`
          : `fail ${codes.join("/")}`) + (spec.ping ? ", no pong" : ""),
    async run(context) {
      const session = await context.open();
      const frames: FrameInit[] = [];
      if (spec.prior) frames.push(messageFrame(PRIOR));
      frames.push(...spec.bad);
      if (spec.ping) {
        frames.push({
          opcode: OPCODE.ping,
          payload: encoder.encode("after the bad frame"),
        });
      }
      if (spec.oneWrite) {
        await session.write(
          concatBytes(
            frames.map((f) => encodeFrame({ ...f, mask: f.mask ?? true })),
          ),
        );
      } else {
        for (const frame of frames) {
          const isBad = spec.bad.includes(frame);
          await session.send(frame, isBad ? spec.chop : undefined);
        }
      }
      return await expectFailure(session, codes, {
        prior: spec.prior ? PRIOR : undefined,
      });
    },
  };
}

const HELLO = encoder.encode("Hello, world!");

const RSV_CASES: CheckCase[] = [
  badFrameCase({
    id: "3.1",
    title: "A text frame with RSV3 set and no extension negotiated fails the " +
      "connection (§5.2).",
    sends: "text, RSV=1",
    bad: [{ opcode: OPCODE.text, rsv: 1, payload: HELLO }],
    ping: true,
  }),
  badFrameCase({
    id: "3.2",
    title: "After a valid text, a text frame with RSV2 set fails the " +
      "connection; the valid text is still echoed (§5.2).",
    sends: "text, then text RSV=2",
    bad: [{ opcode: OPCODE.text, rsv: 2, payload: HELLO }],
    prior: true,
    ping: true,
  }),
  badFrameCase({
    id: "3.3",
    title: "A valid text, a text frame with RSV=3 and a ping in one TCP " +
      "write: echo, then fail (§5.2).",
    sends: "text + RSV=3 text, 1 write",
    bad: [{ opcode: OPCODE.text, rsv: 3, payload: HELLO }],
    prior: true,
    ping: true,
    oneWrite: true,
  }),
  badFrameCase({
    id: "3.4",
    title: "A text frame with RSV1 set, sent byte by byte after a valid " +
      "text, fails the connection (§5.2).",
    sends: "text, then RSV=4 1 B writes",
    bad: [{ opcode: OPCODE.text, rsv: 4, payload: HELLO }],
    prior: true,
    ping: true,
    chop: 1,
  }),
  badFrameCase({
    id: "3.5",
    title: "A binary frame with RSV=5 fails the connection (§5.2).",
    sends: "text, then binary RSV=5",
    bad: [{ opcode: OPCODE.binary, rsv: 5, payload: pseudoRandom(8) }],
    prior: true,
  }),
  badFrameCase({
    id: "3.6",
    title: "A ping with RSV=6 fails the connection and is not answered " +
      "(§5.2).",
    sends: "text, then ping RSV=6",
    requires: "echo; fail 1002, no pong",
    bad: [{ opcode: OPCODE.ping, rsv: 6, payload: HELLO }],
    prior: true,
  }),
  badFrameCase({
    id: "3.7",
    title: "A close frame with RSV=7 fails the connection with 1002, not a " +
      "normal close (§5.2).",
    sends: "text, then close RSV=7",
    bad: [{
      opcode: OPCODE.close,
      rsv: 7,
      payload: new Uint8Array([0x03, 0xe8]),
    }],
    prior: true,
  }),
];

function opcodeCases(): CheckCase[] {
  const cases: CheckCase[] = [];
  const groups = [
    { n: 1, opcodes: [3, 4, 5, 6, 7], kind: "data" },
    { n: 2, opcodes: [11, 12, 13, 14, 15], kind: "control" },
  ];
  for (const group of groups) {
    group.opcodes.forEach((opcode, i) => {
      const payload = i % 2 === 0 ? new Uint8Array() : HELLO;
      cases.push(badFrameCase({
        id: `4.${group.n}.${i + 1}`,
        title: `A frame with reserved ${group.kind} opcode ${opcode} ` +
          `(${payload.length ? "with" : "without"} payload) after a valid ` +
          `text fails the connection (§5.2).`,
        sends: `text, then opcode ${opcode}`,
        bad: [{ opcode, payload }],
        prior: true,
        ping: true,
      }));
    });
  }
  return cases;
}

/**
 * Sends a text in fragments with pings after some of them; each pong must
 * arrive before the next fragment is sent (Autobahn 5.6, 5.19), else
 * NON-STRICT.
 */
async function pingsBetweenFragments(
  session: Session,
  windowMs: number,
  fragments: string[],
  pingAfter: number[],
): Promise<Outcome> {
  const message = textMessage(fragments.join(""));
  const late: Uint8Array[] = [];
  for (let i = 0; i < fragments.length; i++) {
    await session.send({
      opcode: i === 0 ? OPCODE.text : OPCODE.continuation,
      fin: i === fragments.length - 1,
      payload: encoder.encode(fragments[i]),
    });
    if (!pingAfter.includes(i)) continue;
    const payload = encoder.encode(`ping after fragment ${i + 1}`);
    await session.send({ opcode: OPCODE.ping, payload });
    const event = await session.next(windowMs);
    if (event.type === "timeout" && !session.expired) late.push(payload);
    else if (event.type !== "pong" || !isSame(event.payload, payload)) {
      throw new CaseFailure(
        `${describe(event)} instead of the pong between fragments`,
      );
    }
  }
  if (late.length === 0) {
    const echo = await readEcho(session, message);
    const pongs = pingAfter.length === 1 ? "pong" : `${pingAfter.length} pongs`;
    const close = await closeNormally(session);
    return pass(`${pongs} before the next fragment, ${echo}, ${close}`);
  }
  // Late pongs may come before or after the echo.
  let echoed = false;
  while (late.length > 0 || !echoed) {
    const event = await session.next();
    if (!echoed && isEcho(event, message)) {
      echoed = true;
    } else if (
      event.type === "pong" && late[0] && isSame(event.payload, late[0])
    ) {
      late.shift();
    } else {
      throw new CaseFailure(
        `pong not answered within ${windowMs} ms, then ${describe(event)}`,
      );
    }
  }
  return {
    verdict: "NON-STRICT",
    observed:
      `pong only after the final fragment (none within ${windowMs} ms), ` +
      `${label(message)} echoed, ${await closeNormally(session)}`,
  };
}

function isSame(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const FRAGMENTATION_CASES: CheckCase[] = [
  badFrameCase({
    id: "5.1",
    title: "A ping split into two fragments fails the connection: control " +
      "frames must not be fragmented (§5.4, §5.5).",
    sends: "ping in 2 fragments",
    requires: "fail 1002, no pong",
    bad: [
      { opcode: OPCODE.ping, fin: false, payload: encoder.encode("frag1") },
      { opcode: OPCODE.continuation, payload: encoder.encode("frag2") },
    ],
  }),
  badFrameCase({
    id: "5.2",
    title: "A pong split into two fragments fails the connection (§5.4, " +
      "§5.5).",
    sends: "pong in 2 fragments",
    bad: [
      { opcode: OPCODE.pong, fin: false, payload: encoder.encode("frag1") },
      { opcode: OPCODE.continuation, payload: encoder.encode("frag2") },
    ],
  }),
  {
    id: "5.3",
    title: "A text message in two fragments is echoed whole (§5.4).",
    sends: "text in 2 fragments",
    requires: "echo whole message",
    async run(context) {
      return await fragmented(await context.open(), "text", [
        "fragment one, ",
        "fragment two",
      ]);
    },
  },
  {
    id: "5.4",
    title: "A binary message in three fragments is echoed whole (§5.4).",
    sends: "binary in 3 fragments",
    requires: "echo whole message",
    async run(context) {
      const bytes = pseudoRandom(3000, 54);
      return await fragmented(await context.open(), "binary", [
        bytes.subarray(0, 1000),
        bytes.subarray(1000, 2000),
        bytes.subarray(2000),
      ]);
    },
  },
  {
    id: "5.5",
    title: "A text message in two fragments, sent one byte per TCP write, " +
      "is echoed whole (§5.4).",
    sends: "2 fragments, 1 B writes",
    requires: "echo whole message",
    async run(context) {
      return await fragmented(
        await context.open(),
        "text",
        ["fragment one, ", "fragment two"],
        1,
      );
    },
  },
  {
    id: "5.6",
    title: "A ping between two text fragments is answered at once, before " +
      "the final fragment; the text is echoed whole (§5.4, §5.5.2).",
    sends: "frag, ping, frag",
    requires: "pong at once, then echo",
    async run(context) {
      return await pingsBetweenFragments(
        await context.open(),
        context.windowMs,
        ["fragment one, ", "fragment two"],
        [0],
      );
    },
  },
  {
    id: "5.7",
    title: "A text in five fragments with pings after the first and third: " +
      "each pong comes before the next fragment (§5.4).",
    sends: "5 frags, 2 pings between",
    requires: "pongs at once, then echo",
    async run(context) {
      return await pingsBetweenFragments(
        await context.open(),
        context.windowMs,
        ["one, ", "two, ", "three, ", "four, ", "five"],
        [0, 2],
      );
    },
  },
  badFrameCase({
    id: "5.8",
    title: "A final continuation frame with no message to continue fails " +
      "the connection (§5.4).",
    sends: "continuation, FIN=1",
    bad: [{ opcode: OPCODE.continuation, payload: HELLO }],
  }),
  badFrameCase({
    id: "5.9",
    title: "A non-final continuation frame with no message to continue, " +
      "then a valid text, fails the connection (§5.4).",
    sends: "continuation FIN=0, text",
    bad: [
      { opcode: OPCODE.continuation, fin: false, payload: HELLO },
      { opcode: OPCODE.text, payload: HELLO },
    ],
  }),
  badFrameCase({
    id: "5.10",
    title: "A new text frame inside a fragmented text message fails the " +
      "connection (§5.4).",
    sends: "text FIN=0, text FIN=1",
    bad: [
      { opcode: OPCODE.text, fin: false, payload: HELLO },
      { opcode: OPCODE.text, payload: HELLO },
    ],
  }),
  badFrameCase({
    id: "5.11",
    title: "A non-final binary frame inside a fragmented text message " +
      "fails the connection, whatever follows (§5.4).",
    sends: "text FIN=0, binary FIN=0, cont",
    bad: [
      { opcode: OPCODE.text, fin: false, payload: HELLO },
      { opcode: OPCODE.binary, fin: false, payload: HELLO },
      { opcode: OPCODE.continuation, payload: HELLO },
    ],
  }),
  badFrameCase({
    id: "5.12",
    title: "After a complete valid text, a stray continuation frame fails " +
      "the connection; the text is still echoed (§5.4).",
    sends: "text, then continuation",
    bad: [{ opcode: OPCODE.continuation, payload: HELLO }],
    prior: true,
    ping: true,
  }),
];

async function fragmented(
  session: Session,
  type: "text" | "binary",
  parts: Array<string | Uint8Array>,
  chop?: number,
): Promise<Outcome> {
  const bytes = parts.map((p) => typeof p === "string" ? encoder.encode(p) : p);
  const message = type === "text"
    ? textMessage(parts.join(""))
    : binaryMessage(concatBytes(bytes));
  const frames = bytes.map((payload, i) =>
    encodeFrame({
      opcode: i === 0
        ? (type === "text" ? OPCODE.text : OPCODE.binary)
        : OPCODE.continuation,
      fin: i === bytes.length - 1,
      payload,
      mask: true,
    })
  );
  await session.write(concatBytes(frames), chop);
  const echo = await readEcho(session, message);
  return pass(
    `${echo} from ${parts.length} fragments, ${await closeNormally(
      session,
    )}`,
  );
}

/** Categories 1–5. */
export const FRAMING_CASES: CheckCase[] = [
  ...framingCases(),
  ...PING_CASES,
  ...RSV_CASES,
  ...opcodeCases(),
  ...FRAGMENTATION_CASES,
];
