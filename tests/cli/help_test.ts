// cli/_help.ts: one layout for every help screen.

import assert from "node:assert/strict";
import { type HelpScreen, renderHelp } from "../../cli/_help.ts";
import { columns } from "../../cli/_text.ts";

const SCREEN: HelpScreen = {
  usage: [
    "demo run HOST:PORT [--count N] [--interval TIME] [--size SIZE] [--verbose]",
  ],
  about: "Runs the demo against a server and reports what happened, with " +
    "enough words that this paragraph needs wrapping at any width.\n\n" +
    "A second paragraph.",
  options: [
    ["-c, --count N", "how many"],
    ["--interval TIME", "time between two runs of the demo against the server"],
    ["--a-very-long-option-name TIME", "text under it"],
  ],
  sections: [{ title: "Notes", rows: [["one", "first"], ["two", "second"]] }],
  examples: ["demo run 127.0.0.1:1 -c 3"],
};

Deno.test("renderHelp: Usage, about, Options (help added), sections, units, Example, in that order", () => {
  const text = renderHelp(SCREEN, 80);
  const order = [
    "Usage: netkit demo run",
    "Runs the demo",
    "Options:",
    "-h, --help",
    "Notes:",
    "TIME is a duration",
    "Example:",
  ];
  let at = -1;
  for (const part of order) {
    const next = text.indexOf(part);
    assert.ok(next > at, `${part} after the previous part:\n${text}`);
    at = next;
  }
  assert.match(text, /^ {2}netkit demo run 127\.0\.0\.1:1 -c 3$/m);
  // Long-only options line up under the short ones.
  assert.match(text, /^ {2}-c, --count N {2,}how many$/m);
  assert.match(text, /^ {6}--interval TIME {2,}time between/m);
  // An option wider than the column puts its text on the next line.
  assert.match(
    text,
    /^ {6}--a-very-long-option-name TIME\n {20,}text under it$/m,
  );
});

Deno.test("renderHelp: every line fits the width (60, 80), never breaking a word", () => {
  const words = new Set(JSON.stringify(SCREEN).match(/[A-Za-z]{4,}/g));
  for (const width of [60, 80]) {
    const text = renderHelp(SCREEN, width);
    for (const line of text.split("\n")) {
      assert.ok(columns(line) <= width, `${width}: ${line}`);
    }
    // Every word of the output is a word of the screen (or of the
    // layout's own text): nothing was cut in two.
    const layout = renderHelp({ usage: [""], about: "", examples: [""] }, 200) +
      " TIME is a duration: 500ms, 2s, 1.5s, 1m, 1h; a bare number is seconds.";
    for (const word of layout.match(/[A-Za-z]{4,}/g) ?? []) words.add(word);
    for (const word of text.match(/[A-Za-z]{4,}/g) ?? []) {
      assert.ok(words.has(word), `'${word}' is a broken word at ${width}`);
    }
  }
});

Deno.test("renderHelp: no unit note without a TIME or SIZE option; one example says Example", () => {
  const text = renderHelp({
    usage: ["x"],
    about: "X.",
    options: [["--n N", "n"]],
    examples: ["x"],
  }, 80);
  assert.doesNotMatch(text, /TIME is|SIZE is/);
  assert.match(text, /^Example:$/m);
});
