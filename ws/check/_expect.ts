// What the conformance cases expect from a server, as reusable steps. A step
// either returns a short note of what happened or throws CaseFailure with
// the observation that made the case fail.

import { encodeClose, OPCODE } from "../frame.ts";
import {
  CaseFailure,
  type Outcome,
  type ServerEvent,
  type Session,
} from "./_session.ts";

/** A message the server is expected to echo. */
export interface Expected {
  type: "text" | "binary";
  bytes: Uint8Array;
  /** The decoded text, for text messages. */
  text?: string;
}

const encoder = new TextEncoder();

/** A text message to send and expect back. */
export function textMessage(data: string): Expected {
  return { type: "text", bytes: encoder.encode(data), text: data };
}

/** A binary message to send and expect back. */
export function binaryMessage(bytes: Uint8Array): Expected {
  return { type: "binary", bytes };
}

/** `125 B`, `64 KiB`, `1 MiB`: sizes as the catalogue names them. */
export function formatSize(n: number): string {
  const mib = 1024 * 1024;
  if (n >= mib && n % mib === 0) return `${n / mib} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} B`;
}

/** `text (125 B)`. */
export function label(message: Expected): string {
  return `${message.type} (${formatSize(message.bytes.length)})`;
}

/** One server event in a few words. */
export function describe(event: ServerEvent): string {
  switch (event.type) {
    case "text":
      return `text (${formatSize(event.size)})`;
    case "binary":
      return `binary (${formatSize(event.data.length)})`;
    case "ping":
    case "pong":
      return `${event.type} (${formatSize(event.payload.length)})`;
    case "close":
      return describeClose(event);
    case "eof":
      return event.reset
        ? "TCP reset without close frame"
        : "TCP closed without close frame";
    case "timeout":
      return `timeout after ${event.afterMs} ms`;
    case "bad":
      return `invalid frame from the server (${event.reason})`;
  }
}

function describeClose(
  event: Extract<ServerEvent, { type: "close" }>,
): string {
  if (event.code === null) {
    return event.problem ? `close with ${event.problem}` : "close (no code)";
  }
  let text = `close ${event.code}`;
  if (event.reason) {
    const reason = event.reason.length > 24
      ? `${event.reason.slice(0, 24)}…`
      : event.reason;
    text += ` "${reason}"`;
  }
  if (event.problem) text += ` (${event.problem})`;
  return text;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether `event` is the echo of `message`. */
export function isEcho(event: ServerEvent, message: Expected): boolean {
  if (event.type === "text" && message.type === "text") {
    return event.data === message.text;
  }
  if (event.type === "binary" && message.type === "binary") {
    return sameBytes(event.data, message.bytes);
  }
  return false;
}

/** Why `event` is not the echo of `message`. */
function notEcho(event: ServerEvent, message: Expected): string {
  if (event.type === message.type) {
    return `${describe(event)} that differs from the ${label(message)} sent`;
  }
  return `${describe(event)} instead of the echo of ${label(message)}`;
}

/** Reads the echo of `message`; returns `echoed text (125 B)`. */
export async function readEcho(
  session: Session,
  message: Expected,
): Promise<string> {
  const event = await session.next();
  if (isEcho(event, message)) return `echoed ${label(message)}`;
  throw new CaseFailure(notEcho(event, message));
}

/** Reads a pong that must carry exactly `payload`. */
export async function readPong(
  session: Session,
  payload: Uint8Array,
): Promise<string> {
  const event = await session.next();
  if (event.type === "pong" && sameBytes(event.payload, payload)) {
    return `pong (${formatSize(payload.length)}) identical`;
  }
  if (event.type === "pong") {
    throw new CaseFailure(
      `pong (${formatSize(event.payload.length)}) with a different payload`,
    );
  }
  throw new CaseFailure(`${describe(event)} instead of a pong`);
}

/**
 * Sends a close frame and expects one back whose code is in `accepted`
 * (`null`: a close without code). Returns e.g. `close 1000`.
 */
export async function closeWith(
  session: Session,
  payload: Uint8Array,
  accepted: Array<number | null>,
): Promise<string> {
  await session.send({ opcode: OPCODE.close, payload });
  return await readCloseReply(session, accepted);
}

/** Reads the server's answer to a close frame the client sent. */
export async function readCloseReply(
  session: Session,
  accepted: Array<number | null>,
): Promise<string> {
  const event = await session.next();
  if (
    event.type === "close" && !event.problem && accepted.includes(event.code)
  ) {
    return describe(event);
  }
  const wanted = accepted.map((c) => c === null ? "no code" : String(c))
    .join(" or ");
  if (event.type === "close") {
    throw new CaseFailure(`${describe(event)} (expected ${wanted})`);
  }
  throw new CaseFailure(
    `${describe(event)} instead of a close reply (expected ${wanted})`,
  );
}

/** The usual end of an echo case: close 1000 answered with 1000 (or no code). */
export function closeNormally(session: Session): Promise<string> {
  return closeWith(session, encodeClose(1000), [1000, null]);
}

/**
 * After the close handshake: the server must send nothing more and close
 * TCP (RFC 6455 §5.5.1, §7.1.1). Returns `TCP closed`.
 */
export async function readEof(session: Session): Promise<string> {
  const event = await session.next();
  if (event.type === "eof") return event.reset ? "TCP reset" : "TCP closed";
  if (event.type === "timeout") {
    throw new CaseFailure(
      `TCP still open ${event.afterMs} ms after the close handshake`,
    );
  }
  throw new CaseFailure(`${describe(event)} after the close handshake`);
}

/** Options of {@linkcode expectFailure}. */
export interface FailureOptions {
  /** A valid message sent before the bad frame, which must still be echoed. */
  prior?: Expected;
  /** An event already read (the first thing the server did). */
  first?: ServerEvent;
}

/**
 * The server must fail the connection: a close frame with one of `codes`,
 * or a TCP close. A message, a pong or silence instead is FAIL; a missing
 * echo of the earlier valid message is NON-STRICT (Autobahn 3.2).
 */
export async function expectFailure(
  session: Session,
  codes: number[],
  options: FailureOptions = {},
): Promise<Outcome> {
  let first = options.first;
  let prefix = "";
  // Set when the server failed the connection, but less well than it should.
  let lenient = false;
  const wanted = codes.join(" or ");
  const fail = (observed: string): Outcome => ({
    verdict: "FAIL",
    observed: prefix + observed,
  });
  if (options.prior) {
    const event = first ?? await session.next();
    first = undefined;
    if (isEcho(event, options.prior)) {
      prefix = `echoed ${label(options.prior)}, then `;
    } else if (event.type === "close" || event.type === "eof") {
      lenient = true;
      prefix = "no echo of the earlier message; ";
      first = event;
    } else {
      return fail(
        `${notEcho(event, options.prior)} sent before the bad frame`,
      );
    }
  }
  const event = first ?? await session.next();
  let observed: string;
  switch (event.type) {
    case "close":
      if (event.problem) return fail(describe(event));
      // Autobahn accepts a close without code; it tells the client nothing.
      if (event.code === null) lenient = true;
      else if (!codes.includes(event.code)) {
        return fail(`${describe(event)} (expected ${wanted} or TCP close)`);
      }
      observed = event.code === null
        ? `close (no code, expected ${wanted})`
        : describe(event);
      // Complete the close handshake the server started.
      await session.send({
        opcode: OPCODE.close,
        payload: encodeClose(event.code ?? undefined),
      });
      break;
    case "eof":
      observed = describe(event);
      break;
    case "timeout":
      return fail(
        `connection still open after ${event.afterMs} ms (expected close ${wanted} or TCP close)`,
      );
    default:
      return fail(`${describe(event)} instead of failing the connection`);
  }
  return {
    verdict: lenient ? "NON-STRICT" : "PASS",
    observed: prefix + observed,
  };
}

/** A PASS outcome. */
export function pass(observed: string): Outcome {
  return { verdict: "PASS", observed };
}
