// Category 12: permessage-deflate (RFC 7692), after Autobahn 12/13. The
// extension is optional: a server that does not accept the offer gets INFO
// in every case, never FAIL; one that accepts it must then follow it.

import { OPCODE } from "../frame.ts";
import type { DeflateOptions } from "../deflate.ts";
import type { CaseContext, CheckCase, Outcome, Session } from "./_session.ts";
import {
  binaryMessage,
  closeNormally,
  describe,
  type Expected,
  expectFailure,
  isEcho,
  label,
  pass,
  textMessage,
} from "./_expect.ts";
import { CaseFailure } from "./_session.ts";

const NOT_ACCEPTED: Outcome = {
  verdict: "INFO",
  observed: "permessage-deflate not accepted (optional extension)",
};

/** JSON-like text, what compression is for. */
function jsonText(rows: number): string {
  return JSON.stringify({
    rows: Array.from({ length: rows }, (_, i) => ({
      id: i,
      name: `item ${i}`,
      tags: ["alpha", "beta"],
      ok: i % 3 === 0,
    })),
  });
}

/** Bytes that barely compress (a fixed pseudo-random sequence). */
function noise(length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = 0x2545f491;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Sends each message compressed (in `fragments` frames) and reads its
 * echo; returns how many echoes came back compressed.
 */
async function echoCompressed(
  session: Session,
  messages: Expected[],
  fragments = 1,
): Promise<string> {
  let compressed = 0;
  for (const message of messages) {
    const opcode = message.type === "text" ? OPCODE.text : OPCODE.binary;
    await session.sendCompressed(opcode, message.bytes, fragments);
    const event = await session.next();
    if (!isEcho(event, message)) {
      throw new CaseFailure(
        `${describe(event)} instead of the echo of compressed ${
          label(message)
        }`,
      );
    }
    if ("compressed" in event && event.compressed) compressed++;
  }
  return `${messages.length} echoed (${compressed} compressed)`;
}

/** A case that offers `offer` and, if accepted, runs `body`. */
function deflateCase(
  spec: Omit<CheckCase, "run"> & {
    offer?: DeflateOptions;
    body(session: Session, context: CaseContext): Promise<Outcome>;
  },
): CheckCase {
  const { offer, body, ...info } = spec;
  return {
    ...info,
    async run(context) {
      const opened = await context.openDeflate(offer);
      if (opened === null) return NOT_ACCEPTED;
      return await body(opened.session, context);
    },
  };
}

const COMPRESSION_CASES: CheckCase[] = [
  {
    id: "12.1",
    title: "An offer of permessage-deflate (client_max_window_bits) is " +
      "accepted with a valid answer, or declined (RFC 7692 §5, §7.1).",
    sends: "default offer",
    requires: "valid answer or none",
    async run(context) {
      const opened = await context.openDeflate();
      if (opened === null) return NOT_ACCEPTED;
      const answer = opened.session.response.headers.get(
        "sec-websocket-extensions",
      );
      const closed = await closeNormally(opened.session);
      return pass(`accepted '${answer}', ${closed}`);
    },
  },
  deflateCase({
    id: "12.2",
    title: "Compressed text messages (JSON 1 KiB to 64 KiB, multi-byte, " +
      "empty) are inflated and echoed (§6, §7.2).",
    sends: "compressed text",
    requires: "echo each",
    async body(session) {
      const messages = [
        textMessage(jsonText(10)),
        textMessage(jsonText(600)),
        textMessage("κόσμε € 𝄞 ".repeat(50)),
        textMessage(""),
      ];
      const note = await echoCompressed(session, messages);
      return pass(`${note}, ${await closeNormally(session)}`);
    },
  }),
  deflateCase({
    id: "12.3",
    title: "Compressed binary messages (incompressible 4 KiB, 256 KiB of " +
      "zeros) are inflated and echoed (§7.2).",
    sends: "compressed binary",
    requires: "echo each",
    async body(session) {
      const messages = [
        binaryMessage(noise(4096)),
        binaryMessage(new Uint8Array(256 * 1024)),
      ];
      const note = await echoCompressed(session, messages);
      return pass(`${note}, ${await closeNormally(session)}`);
    },
  }),
  deflateCase({
    id: "12.4",
    title: "A compressed message in 4 fragments, RSV1 on the first frame " +
      "only, is inflated as one message (§6.1).",
    sends: "fragmented compressed text",
    requires: "echo",
    async body(session) {
      const note = await echoCompressed(
        session,
        [textMessage(jsonText(200))],
        4,
      );
      return pass(`${note}, ${await closeNormally(session)}`);
    },
  }),
  deflateCase({
    id: "12.5",
    title: "With context takeover, repeated messages compressed against " +
      "the earlier ones are inflated correctly (§7.2.1).",
    sends: "same text 5 times",
    requires: "echo each",
    async body(session) {
      const message = textMessage(jsonText(20));
      const note = await echoCompressed(session, Array(5).fill(message));
      return pass(`${note}, ${await closeNormally(session)}`);
    },
  }),
  deflateCase({
    id: "12.6",
    title: "An offer asking server_no_context_takeover is declined or " +
      "granted, and then honoured in every reply (§7.1.1.1).",
    sends: "offer, text 5 times",
    requires: "replies inflate alone",
    offer: { serverNoContextTakeover: true },
    async body(session) {
      // The session's inflater resets after each message: a reply that
      // refers to an earlier one fails to inflate.
      const message = textMessage(jsonText(20));
      const note = await echoCompressed(session, Array(5).fill(message));
      return pass(`${note}, ${await closeNormally(session)}`);
    },
  }),
  deflateCase({
    id: "12.7",
    title: "An offer with client_no_context_takeover and " +
      "client_max_window_bits=9 is honoured: 9-bit messages echo (§7.1.2).",
    sends: "offer, text 3 times",
    requires: "echo each",
    offer: { clientNoContextTakeover: true, clientMaxWindowBits: 9 },
    async body(session) {
      const message = textMessage(jsonText(40));
      const note = await echoCompressed(session, Array(3).fill(message));
      return pass(`${note}, ${await closeNormally(session)}`);
    },
  }),
  deflateCase({
    id: "12.8",
    title: "A 64 KiB compressed message that inflates to 64 MiB (a zip " +
      "bomb) fails the connection with 1009, not inflated whole (§8.1).",
    sends: "64 MiB of zeros, compressed",
    requires: "fail 1009",
    budget: 4,
    async body(session) {
      await session.sendCompressed(
        OPCODE.binary,
        new Uint8Array(64 * 1024 * 1024),
      );
      return await expectFailure(session, [1009]);
    },
  }),
];

export { COMPRESSION_CASES };
