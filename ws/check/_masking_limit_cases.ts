// Category 8 (client masking, RFC 6455 §5.1, which Autobahn cannot test
// because its fuzzer always masks) and category 9 (limits and timing).

import { OPCODE } from "../frame.ts";
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
  formatSize,
  isEcho,
  label,
  textMessage,
} from "./_expect.ts";
import {
  asciiText,
  badFrameCase,
  messageFrame,
  pseudoRandom,
} from "./_framing_cases.ts";

const encoder = new TextEncoder();

const MASKING_CASES: CheckCase[] = [
  badFrameCase({
    id: "8.1",
    title: "An unmasked text frame from the client fails the connection " +
      "(§5.1: the server MUST close).",
    sends: "unmasked text",
    requires: "fail 1002, no echo",
    bad: [{
      opcode: OPCODE.text,
      payload: encoder.encode("unmasked"),
      mask: false,
    }],
  }),
  badFrameCase({
    id: "8.2",
    title: "After a masked text, an unmasked text fails the connection; " +
      "the masked one is still echoed (§5.1).",
    sends: "text, then unmasked text",
    bad: [{
      opcode: OPCODE.text,
      payload: encoder.encode("unmasked"),
      mask: false,
    }],
    prior: true,
    ping: true,
  }),
  badFrameCase({
    id: "8.3",
    title: "An unmasked ping fails the connection and is not answered " +
      "(§5.1).",
    sends: "unmasked ping",
    requires: "fail 1002, no pong",
    bad: [{
      opcode: OPCODE.ping,
      payload: encoder.encode("unmasked"),
      mask: false,
    }],
  }),
];

function rate(bytes: number, ms: number): string {
  if (ms <= 0) return "";
  const mbps = bytes / 1e6 / (ms / 1000);
  return `, ${mbps >= 10 ? mbps.toFixed(0) : mbps.toFixed(1)} MB/s`;
}

/**
 * INFO when the echo matches (with the time it took) or when the server
 * refuses the size with 1009; FAIL on a wrong echo or silence.
 */
async function timedEcho(
  session: Session,
  message: Expected,
): Promise<Outcome> {
  const started = performance.now();
  await session.send(messageFrame(message));
  const event = await session.next();
  const ms = Math.round(performance.now() - started);
  if (isEcho(event, message)) {
    const close = await closeNormally(session);
    return {
      verdict: "INFO",
      observed: `echoed in ${ms} ms${rate(2 * message.bytes.length, ms)}, ` +
        close,
    };
  }
  if (event.type === "close" && event.code === 1009) {
    return { verdict: "INFO", observed: `refused: ${describe(event)}` };
  }
  return {
    verdict: "FAIL",
    observed: `${describe(event)} instead of the echo of ${label(message)}`,
  };
}

async function roundTrips(
  session: Session,
  make: (i: number) => Expected,
  count: number,
): Promise<Outcome> {
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const message = make(i);
    await session.send(messageFrame(message));
    const event = await session.next();
    if (!isEcho(event, message)) {
      throw new CaseFailure(
        `round trip ${i + 1}: ${describe(event)} instead of the echo`,
      );
    }
  }
  const ms = performance.now() - started;
  const each = ms * 1000 / count;
  return {
    verdict: "INFO",
    observed: `${count} round trips in ${Math.round(ms)} ms ` +
      `(${each.toFixed(0)} µs each), ${await closeNormally(session)}`,
  };
}

const MIB = 1024 * 1024;

function bigMessageCase(
  id: string,
  type: "text" | "binary",
  size: number,
): CheckCase {
  return {
    id,
    title: `A ${type} message of ${formatSize(size)} is echoed; the time is ` +
      "reported (INFO; a close 1009 is a size limit, also INFO).",
    sends: `${type} ${formatSize(size)}`,
    requires: "echo (timed)",
    budget: 4,
    async run(context) {
      const message = type === "text"
        ? textMessage(asciiText(size))
        : binaryMessage(pseudoRandom(size, size));
      return await timedEcho(await context.open(), message);
    },
  };
}

const LIMIT_CASES: CheckCase[] = [
  bigMessageCase("9.1.1", "text", 4 * MIB),
  bigMessageCase("9.1.2", "text", 16 * MIB),
  bigMessageCase("9.2.1", "binary", 4 * MIB),
  bigMessageCase("9.2.2", "binary", 16 * MIB),
  {
    id: "9.3.1",
    title: "1,000 round trips of a 16-byte text, one at a time; the time " +
      "is reported (INFO).",
    sends: "1000 × text 16 B",
    requires: "1000 echoes (timed)",
    budget: 4,
    async run(context) {
      return await roundTrips(
        await context.open(),
        (i) => textMessage(`message ${String(i).padStart(8, "0")}`),
        1000,
      );
    },
  },
  {
    id: "9.3.2",
    title: "1,000 round trips of a 4 KiB binary, one at a time; the time " +
      "is reported (INFO).",
    sends: "1000 × binary 4 KiB",
    requires: "1000 echoes (timed)",
    budget: 4,
    async run(context) {
      const bytes = pseudoRandom(4096, 93);
      return await roundTrips(
        await context.open(),
        (i) => {
          const copy = bytes.slice();
          copy[0] = i & 0xff;
          copy[1] = i >>> 8;
          return binaryMessage(copy);
        },
        1000,
      );
    },
  },
];

/** Categories 8 and 9. */
export const MISC_CASES: CheckCase[] = [...MASKING_CASES, ...LIMIT_CASES];
