// cli/_text.ts: wrapping prose to a width, never inside a word.

import assert from "node:assert/strict";
import { columns, wrapLine, wrapText } from "../../cli/_text.ts";

const WORDS = "The accept queue held backlog+1 connections; the kernel " +
  "dropped further SYNs (TcpExtListenOverflows), so clients retried after " +
  "one second, then three, then seven.";

Deno.test("wrapText: lines within the width, words whole and in order", () => {
  for (const width of [20, 33, 60, 80, 120]) {
    const lines = wrapText(WORDS, width);
    for (const line of lines) {
      // Only a word wider than the line may pass it, alone.
      assert.ok(columns(line) <= width || !line.includes(" "), line);
    }
    assert.equal(lines.join(" "), WORDS, `width ${width}`);
    // Greedy: the next word would not have fitted on the line before.
    for (let i = 1; i < lines.length; i++) {
      const next = lines[i]!.split(" ")[0]!;
      assert.ok(columns(lines[i - 1]!) + 1 + columns(next) > width);
    }
  }
});

Deno.test("wrapText: indents, a word wider than the line kept whole, newlines kept", () => {
  assert.deepEqual(
    wrapText("why: a b c", 6, { firstIndent: "", indent: "  " }),
    [
      "why: a",
      "  b c",
    ],
  );
  assert.deepEqual(wrapText("a b", 3, { indent: "> " }), ["> a", "> b"]);
  assert.deepEqual(
    wrapText("x supercalifragilistic y", 10, {
      firstIndent: "- ",
      indent: "  ",
    }),
    ["- x", "  supercalifragilistic", "  y"],
  );
  assert.deepEqual(wrapText("one\ntwo three", 7), ["one", "two", "three"]);
  assert.deepEqual(wrapText("", 10), [""]);
  // Multi-byte characters count as one column each.
  assert.deepEqual(wrapText("→ ééé ééé", 7), ["→ ééé", "ééé"]);
});

Deno.test("wrapLine: a line that fits is untouched; a long one continues under its indent", () => {
  assert.deepEqual(wrapLine("  short", 80), ["  short"]);
  assert.deepEqual(wrapLine("   a b c d", 6, "  "), [
    "   a b",
    "     c",
    "     d",
  ]);
});
