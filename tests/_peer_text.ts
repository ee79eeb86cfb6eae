// A hostile peer's text and the check that it was shown escaped, for the
// tests of every place that prints what a peer chose.

import assert from "node:assert/strict";

/** What a peer may put in UTF-8 text: ESC/OSC, BEL, CSI, NEL, RLO, an isolate, a literal backslash. */
export const HOSTILE = "x\x1b]0;t\x07\u009b2J\u0085\u202e\u2066\\x1b";
/** What a peer may put in an HTTP head (bytes 0x80–0xff read as Latin-1): CSI, NEL, a literal backslash. */
export const HOSTILE_LATIN1 = "x\u009b2J\u0085\\x1b";

/** Code points that must never reach a terminal raw (newline aside). */
// deno-lint-ignore no-control-regex
export const RAW = new RegExp(
  "[\\u0000-\\u0009\\u000b-\\u001f\\u007f-\\u009f\\u061c\\u200b-\\u200f\\u2028-\\u202e\\u2066-\\u2069\\ufeff]",
  "u",
);

/** `text` shows the hostile string escaped: no raw control, CSI as `\x9b`, the peer's backslash doubled. */
export function assertEscaped(text: string, what: string): void {
  assert.doesNotMatch(text, RAW, `${what}: raw control in ${text}`);
  assert.ok(text.includes("\\x9b2J\\x85"), `${what}: C1 not escaped: ${text}`);
  assert.ok(
    text.includes("\\\\x1b"),
    `${what}: backslash not doubled: ${text}`,
  );
}
