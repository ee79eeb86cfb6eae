import {
  decodeClose,
  type Frame,
  isProtocolError,
  OPCODE,
  type ProtocolError,
} from "./frame.ts";
import { concatBytes } from "../_bytes.ts";

const WHOLE_TEXT = new TextDecoder("utf-8", { fatal: true });

/**
 * What a {@linkcode MessageAssembler} makes of frames: whole messages,
 * control frames, or the protocol error that must fail the connection.
 */
export type WsEvent =
  | {
    type: "text";
    data: string;
    /** The UTF-8 bytes, only with `keepTextBytes`. */
    bytes?: Uint8Array;
  }
  | { type: "binary"; data: Uint8Array }
  | { type: "ping"; payload: Uint8Array }
  | { type: "pong"; payload: Uint8Array }
  /**
   * A data message whose first frame had RSV1 set (an extension such as
   * permessage-deflate negotiated it): the payload as received, not
   * decoded, for the extension to transform. `opcode` says text or binary.
   */
  | { type: "compressed"; opcode: 1 | 2; payload: Uint8Array }
  | { type: "close"; code: number | null; reason: string }
  | ProtocolError;

/**
 * Options of {@linkcode MessageAssembler}.
 */
export interface MessageAssemblerOptions {
  /** Largest message, all fragments together. Default 64 MiB; larger is 1009. */
  maxMessageSize?: number;
  /**
   * Keep text messages as their UTF-8 bytes (`bytes`), so an echo or relay
   * sends them on without encoding again and a message is held once, not
   * also as a string; `data` is then decoded when read.
   */
  keepTextBytes?: boolean;
}

const CLOSE_NAMES: Record<number, string> = {
  1000: "normal closure",
  1001: "going away",
  1002: "protocol error",
  1003: "unsupported data",
  1004: "reserved",
  1005: "no status code",
  1006: "abnormal closure (no close frame)",
  1007: "invalid payload data",
  1008: "policy violation",
  1009: "message too big",
  1010: "mandatory extension missing",
  1011: "internal error",
  1012: "service restart",
  1013: "try again later",
  1014: "bad gateway",
  1015: "TLS handshake failure",
};

/**
 * A close code with its meaning, for logs and terminal output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeCloseCode } from "@netkit/netkit/ws";
 *
 * assert.ok(describeCloseCode(1000) === "1000 normal closure");
 * assert.ok(describeCloseCode(null) === "no status code");
 * ```
 */
export function describeCloseCode(code: number | null): string {
  if (code === null) return "no status code";
  const name = CLOSE_NAMES[code];
  if (name) return `${code} ${name}`;
  if (code >= 3000 && code <= 3999) return `${code} (registered)`;
  if (code >= 4000 && code <= 4999) return `${code} (private use)`;
  return `${code} (invalid)`;
}

/**
 * Turns decoded frames into messages: joins fragments (continuation
 * sequencing is enforced), validates text as UTF-8 fragment by fragment
 * (so the error comes with the fragment that breaks it), parses Close
 * payloads, and enforces `maxMessageSize` before buffering more. Violations
 * come back as a {@linkcode ProtocolError} event, after which the assembler
 * reports nothing more.
 *
 * @example Reassemble a fragmented text message
 * ```ts
 * import assert from "node:assert/strict";
 * import { MessageAssembler, OPCODE } from "@netkit/netkit/ws";
 *
 * const bytes = new TextEncoder().encode("héllo");
 * const assembler = new MessageAssembler();
 * const frame = (opcode: number, fin: boolean, payload: Uint8Array) =>
 *   ({ fin, rsv: 0, opcode, masked: false, payload });
 * assert.ok(
 *   assembler.push(frame(OPCODE.text, false, bytes.subarray(0, 2))).length === 0,
 * );
 * const [event] = assembler.push(frame(OPCODE.continuation, true, bytes.subarray(2)));
 * if (!event || !("type" in event) || event.type !== "text") throw new Error();
 * assert.ok(event.data === "héllo");
 * ```
 */
export class MessageAssembler {
  #maxMessageSize: number;
  #keepTextBytes: boolean;
  #failed = false;
  // The data message in progress: its opcode (0 when none), whether its
  // first frame had RSV1 (compressed), and fragments.
  #opcode = 0;
  #compressed = false;
  #size = 0;
  #binary: Uint8Array[] = [];
  #text: string[] = [];
  // A streaming decoder only for text split into fragments; whole
  // messages use the shared one, so idle connections carry none.
  #decoder: TextDecoder | null = null;

  /**
   * Creates an assembler with no message in progress.
   *
   * @param options The message size limit.
   */
  constructor(options: MessageAssemblerOptions = {}) {
    this.#maxMessageSize = options.maxMessageSize ?? 64 * 1024 * 1024;
    this.#keepTextBytes = options.keepTextBytes ?? false;
  }

  /** Consumes one frame and returns the events it completes (zero or one). */
  push(frame: Frame): WsEvent[] {
    if (this.#failed) return [];
    const event = this.#handle(frame);
    if (event === null) return [];
    if ("kind" in event) this.#failed = true;
    return [event];
  }

  #handle(frame: Frame): WsEvent | null {
    const { opcode, payload } = frame;
    switch (opcode) {
      case OPCODE.ping:
        return { type: "ping", payload };
      case OPCODE.pong:
        return { type: "pong", payload };
      case OPCODE.close: {
        const close = decodeClose(payload);
        return isProtocolError(close) ? close : { type: "close", ...close };
      }
      case OPCODE.continuation:
        if (this.#opcode === 0) {
          return fail(1002, "continuation frame with nothing to continue");
        }
        return this.#data(frame);
      case OPCODE.text:
      case OPCODE.binary:
        if (this.#opcode !== 0) {
          return fail(1002, "new data frame inside a fragmented message");
        }
        this.#opcode = opcode;
        this.#compressed = (frame.rsv & 4) !== 0;
        return this.#data(frame);
      default:
        return fail(1002, `reserved opcode ${opcode}`);
    }
  }

  #data(frame: Frame): WsEvent | null {
    const { payload, fin } = frame;
    if (this.#size + payload.length > this.#maxMessageSize) {
      return fail(
        1009,
        `message exceeds the ${this.#maxMessageSize}-byte limit`,
      );
    }
    this.#size += payload.length;
    if (this.#compressed) {
      this.#binary.push(payload);
      if (!fin) return null;
      const opcode = this.#opcode as 1 | 2;
      const data = this.#joined();
      this.#reset();
      return { type: "compressed", opcode, payload: data };
    }
    if (this.#opcode === OPCODE.text) {
      let text: string;
      try {
        if (fin && this.#decoder === null) {
          text = WHOLE_TEXT.decode(payload);
        } else {
          this.#decoder ??= new TextDecoder("utf-8", { fatal: true });
          text = this.#decoder.decode(payload, { stream: !fin });
          if (fin) this.#decoder = null;
        }
      } catch {
        return fail(1007, "invalid UTF-8 in a text message");
      }
      if (this.#keepTextBytes) {
        // Only the bytes are kept (the string was only the validation), so
        // a text message costs its size once; `data` decodes on demand.
        this.#binary.push(payload);
        if (!fin) return null;
        const bytes = this.#joined();
        this.#reset();
        return {
          type: "text",
          bytes,
          get data(): string {
            return WHOLE_TEXT.decode(bytes);
          },
        };
      }
      this.#text.push(text);
      if (!fin) return null;
      const data = this.#text.length === 1
        ? this.#text[0]!
        : this.#text.join("");
      this.#reset();
      return { type: "text", data };
    }
    this.#binary.push(payload);
    if (!fin) return null;
    const data = this.#joined();
    this.#reset();
    return { type: "binary", data };
  }

  #joined(): Uint8Array {
    return this.#binary.length === 1
      ? this.#binary[0]!
      : concatBytes(this.#binary, this.#size);
  }

  #reset(): void {
    this.#opcode = 0;
    this.#compressed = false;
    this.#size = 0;
    // Emptied, not replaced: no garbage per message.
    this.#binary.length = 0;
    this.#text.length = 0;
  }
}

function fail(
  closeCode: ProtocolError["closeCode"],
  reason: string,
): ProtocolError {
  return { kind: "protocol_error", closeCode, reason };
}
