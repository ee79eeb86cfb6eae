/**
 * Making peer-controlled text safe to print.
 *
 * A file name, a close reason or an HTTP header comes from whoever
 * connected. Printed raw, `ESC ] 0 ; … BEL` retitles the terminal,
 * `ESC [ 2 J` clears it, a bare CR or LF forges log lines and a bidi
 * override reorders what the reader sees. Everything netkit prints that a
 * peer chose goes through {@linkcode escapeControl} first.
 *
 * @module
 */

// Past C0: DEL, C1 controls, bidi embeddings/overrides/isolates and marks,
// zero-width and line/paragraph separators, BOM. One list for both the
// terminal escape and the JSON one, so they cannot drift apart.
const UNSAFE_PAST_C0 =
  "\\u007f-\\u009f\\u061c\\u200b-\\u200f\\u2028-\\u202e\\u2066-\\u2069\\ufeff";
const UNSAFE = new RegExp(`[\\u0000-\\u001f${UNSAFE_PAST_C0}]`, "gu");

/**
 * Returns `text` with every control, bidi and invisible formatting
 * character written as an escape (`\x1b`, `\n`, `\u{202e}`), and
 * backslashes doubled so the result reads unambiguously. Printable text,
 * accents and emoji are kept as they are.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeControl } from "@netkit/netkit";
 *
 * assert.equal(escapeControl("a\x1b]0;pwned\x07.txt"), "a\\x1b]0;pwned\\x07.txt");
 * assert.equal(escapeControl("line\nforged"), "line\\nforged");
 * assert.equal(escapeControl("\u202etxt.exe"), "\\u{202e}txt.exe");
 * assert.equal(escapeControl("ünïcödé ✓"), "ünïcödé ✓");
 * ```
 */
export function escapeControl(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(UNSAFE, (c) => {
    switch (c) {
      case "\n":
        return "\\n";
      case "\r":
        return "\\r";
      case "\t":
        return "\\t";
    }
    const code = c.codePointAt(0)!;
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u{${code.toString(16)}}`;
  });
}

// What escapeControl escapes and JSON.stringify leaves as it is: DEL, C1
// controls, bidi and invisible formatting characters, separators, BOM.
const JSON_UNSAFE = new RegExp(`[${UNSAFE_PAST_C0}]`, "gu");

/**
 * Returns JSON text (from `JSON.stringify`) with every character that
 * {@linkcode escapeControl} would escape and JSON leaves raw written as a
 * `\uXXXX` escape: the value it parses to is the same, and a terminal
 * showing the line sees no C1 control or bidi override. (JSON.stringify
 * already escapes C0 controls.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeJson } from "@netkit/netkit";
 *
 * const line = escapeJson(JSON.stringify({ data: "\u202etxt\u009b2J" }));
 * assert.equal(line, '{"data":"\\u202etxt\\u009b2J"}');
 * assert.deepEqual(JSON.parse(line), { data: "\u202etxt\u009b2J" });
 * ```
 */
export function escapeJson(json: string): string {
  return json.replace(
    JSON_UNSAFE,
    (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, "0")}`,
  );
}

/**
 * Like {@linkcode escapeControl}, for a peer's byte stream shown as lines
 * (what `netkit listen` prints on a terminal): newlines and tabs are kept,
 * everything else that {@linkcode escapeControl} escapes is escaped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeLines } from "@netkit/netkit";
 *
 * assert.equal(escapeLines("one\ttwo\nthree\x1b[2J\r\n"), "one\ttwo\nthree\\x1b[2J\\r\n");
 * ```
 */
export function escapeLines(text: string): string {
  return text.split("\n").map((line) =>
    line.split("\t").map(escapeControl).join("\t")
  ).join("\n");
}
