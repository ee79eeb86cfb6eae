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

// C0 controls, DEL, C1 controls, bidi embeddings/overrides/isolates and
// marks, zero-width and line/paragraph separators, BOM.
// deno-lint-ignore no-control-regex
const UNSAFE = new RegExp(
  "[\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200b-\\u200f\\u2028-\\u202e\\u2066-\\u2069\\ufeff]",
  "gu",
);

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
