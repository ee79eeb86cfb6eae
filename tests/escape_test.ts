// escapeControl: every character a peer could use to drive a terminal or
// forge a line comes out as a visible escape, and the escapes cannot be
// forged either (a peer's literal backslash is doubled).

import assert from "node:assert/strict";
import { escapeControl } from "../escape.ts";

/** The code points a terminal or a log reader must never receive raw. */
const UNSAFE: [number, number][] = [
  [0x00, 0x1f], // C0 controls: ESC, BEL, CR, LF, backspace…
  [0x7f, 0x7f], // DEL
  [0x80, 0x9f], // C1 controls: U+009B is CSI, U+0085 NEL, U+009D OSC
  [0x061c, 0x061c], // Arabic letter mark
  [0x200b, 0x200f], // zero-width space/joiners, LRM, RLM
  [0x2028, 0x2029], // line and paragraph separators
  [0x202a, 0x202e], // bidi embeddings and overrides (U+202E RLO)
  [0x2066, 0x2069], // bidi isolates
  [0xfeff, 0xfeff], // BOM / zero-width no-break space
];

Deno.test("escapeControl: every unsafe code point becomes a visible escape", () => {
  for (const [from, to] of UNSAFE) {
    for (let c = from; c <= to; c++) {
      const ch = String.fromCodePoint(c);
      const escaped = escapeControl(`a${ch}b`);
      assert.ok(!escaped.includes(ch), `U+${c.toString(16)} passed raw`);
      const named = { 0x09: "\\t", 0x0a: "\\n", 0x0d: "\\r" }[c];
      const want = named ??
        (c <= 0xff
          ? `\\x${c.toString(16).padStart(2, "0")}`
          : `\\u{${c.toString(16)}}`);
      assert.equal(escaped, `a${want}b`, `U+${c.toString(16)}`);
    }
  }
});

Deno.test("escapeControl: C1 controls, named", () => {
  // CSI (U+009B) starts a control sequence on terminals that take 8-bit
  // controls: "\u009b2J" clears the screen like ESC [ 2 J.
  assert.equal(escapeControl("\u009b2J"), "\\x9b2J");
  assert.equal(escapeControl("one\u0085two"), "one\\x85two"); // NEL: a line break
  assert.equal(escapeControl("\u009d0;title\u009c"), "\\x9d0;title\\x9c"); // OSC … ST
  assert.equal(escapeControl("\u0080\u009f"), "\\x80\\x9f");
  // Right after: printable Latin-1 is kept.
  assert.equal(escapeControl("\u00a0é\u00ff"), "\u00a0é\u00ff");
});

Deno.test("escapeControl: bidi embeddings, overrides and isolates", () => {
  assert.equal(escapeControl("\u202etxt.exe"), "\\u{202e}txt.exe");
  assert.equal(
    escapeControl("\u202a\u202b\u202c\u202d"),
    "\\u{202a}\\u{202b}\\u{202c}\\u{202d}",
  );
  assert.equal(
    escapeControl("\u2066a\u2067b\u2068c\u2069"),
    "\\u{2066}a\\u{2067}b\\u{2068}c\\u{2069}",
  );
  // Neighbours that are ordinary punctuation stay.
  assert.equal(
    escapeControl("\u2027\u202f\u2065\u206a"),
    "\u2027\u202f\u2065\u206a",
  );
});

Deno.test("escapeControl: a peer's backslash is doubled, so escapes cannot be forged", () => {
  const real = escapeControl("\x1b");
  const forged = escapeControl("\\x1b");
  assert.equal(real, "\\x1b");
  assert.equal(forged, "\\\\x1b");
  assert.notEqual(real, forged);
  assert.equal(escapeControl("C:\\path\\n"), "C:\\\\path\\\\n");
  assert.notEqual(escapeControl("a\nb"), escapeControl("a\\nb"));
});

Deno.test("escapeControl: printable text, accents, CJK and emoji are kept", () => {
  for (
    const text of [
      "plain ascii ~!@#$%^&*()",
      "ünïcödé ✓",
      "日本語",
      "👍🏽 🇫🇷",
      "",
    ]
  ) {
    assert.equal(escapeControl(text), text);
  }
});
