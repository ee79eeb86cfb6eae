// What a peer sends, on stdout: one rule for `ws connect` and `listen`.
// Peer bytes reach stdout as they are only when stdout is not a terminal
// (a pipe or a file wants the bytes) or when the user asked (`--raw`); on
// a terminal, controls, bidi overrides and escape sequences are escaped
// (escape.ts), so a hostile peer cannot retitle the window, clear the
// screen or forge lines. `--json` lines escape them too (outJson).

import { escapeControl, escapeLines } from "../escape.ts";
import { outJson, StdoutClosed } from "./_output.ts";

/** How binary messages are written: `--hex` (default), `--base64`, `--raw`. */
export type BinaryFormat = "hex" | "base64" | "raw";

/** How messages are printed. */
export interface MessageFormat {
  /** One JSON object per message. */
  json: boolean;
  /** Binary messages as hex, base64 or the bytes themselves. */
  binary: BinaryFormat;
  /** `--raw`: text unescaped even on a terminal. */
  raw: boolean;
  /** Interactive marks: `< text`, `< [binary 3 B] 4869ff`. */
  marks: boolean;
  /** Whether stdout is a terminal (escape there unless `raw`). */
  terminal: boolean;
}

const encoder = new TextEncoder();

/**
 * The bytes to write to stdout for one message (a line, except raw binary,
 * whose bytes go out as they are); `undefined` when printed as JSON.
 */
export function messageBytes(
  message: string | Uint8Array,
  format: MessageFormat,
): Uint8Array | undefined {
  if (format.json) {
    outJson(
      typeof message === "string" ? { type: "text", data: message } : {
        type: "binary",
        encoding: format.binary,
        data: encodeBinary(message, format.binary),
      },
    );
    return undefined;
  }
  const escape = format.terminal && !format.raw;
  if (typeof message === "string") {
    const text = escape ? escapeControl(message) : message;
    return encoder.encode(`${format.marks ? "< " : ""}${text}\n`);
  }
  const head = format.marks ? `< [binary ${message.length} B] ` : "";
  if (format.binary !== "raw") {
    return encoder.encode(`${head}${encodeBinary(message, format.binary)}\n`);
  }
  if (!format.marks) return message;
  const line = new Uint8Array(head.length + message.length + 1);
  line.set(encoder.encode(head));
  line.set(message, head.length);
  line[line.length - 1] = 0x0a;
  return line;
}

function encodeBinary(data: Uint8Array, format: BinaryFormat): string {
  if (format === "base64") return data.toBase64();
  if (format === "hex") return data.toHex();
  return new TextDecoder().decode(data);
}

/**
 * A byte stream from a peer (`listen` over TCP or UDP) for stdout: the
 * bytes as they are, or, on a terminal without `--raw`, decoded as UTF-8
 * (a character cut between reads waits for its rest) and escaped with
 * newlines and tabs kept.
 */
export function streamForStdout(
  raw: boolean,
  terminal: boolean,
): (bytes: Uint8Array, end?: boolean) => Uint8Array {
  if (raw || !terminal) return (bytes) => bytes;
  const decoder = new TextDecoder();
  return (bytes, end = false) =>
    encoder.encode(escapeLines(decoder.decode(bytes, { stream: !end })));
}

/** Writes all of `data` to stdout now (in order with other output). */
export function writeStdoutSync(data: Uint8Array): void {
  try {
    let off = 0;
    while (off < data.length) off += Deno.stdout.writeSync(data.subarray(off));
  } catch (error) {
    throw error instanceof Deno.errors.BrokenPipe
      ? new StdoutClosed(error)
      : error;
  }
}
