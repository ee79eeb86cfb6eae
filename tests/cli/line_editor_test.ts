// The interactive line editor's core: keys in, what to show and lines out.

import assert from "node:assert/strict";
import { CLEAR_LINE, LineEditor } from "../../cli/_line_editor.ts";

const keys = (text: string) => new TextEncoder().encode(text);

Deno.test("LineEditor: typed text is echoed and kept; Enter hands over the line and shows a new prompt", () => {
  const editor = new LineEditor("> ");
  assert.deepEqual(editor.feed(keys("abc")), {
    output: "abc",
    lines: [],
    eof: false,
  });
  assert.equal(editor.render(), "> abc");
  const enter = editor.feed(keys("def\r"));
  assert.deepEqual(enter.lines, ["abcdef"]);
  assert.equal(enter.output, "def\n> ");
  assert.equal(editor.text, "");
  // CR LF is one Enter; a lone LF is one too.
  assert.deepEqual(editor.feed(keys("a\r\nb\n")).lines, ["a", "b"]);
});

Deno.test("LineEditor: Backspace, Ctrl-U and Ctrl-W edit the line and redraw it", () => {
  const editor = new LineEditor("> ");
  editor.feed(keys("one two"));
  assert.equal(editor.feed(keys("\x7f")).output, `${CLEAR_LINE}> one tw`);
  editor.feed(keys("\x17"));
  assert.equal(editor.text, "one ");
  editor.feed(keys("\x15"));
  assert.equal(editor.text, "");
  // A character of several bytes is one Backspace, even split across reads.
  const typed = keys("é😀");
  editor.feed(typed.subarray(0, 3));
  editor.feed(typed.subarray(3));
  assert.equal(editor.text, "é😀");
  editor.feed(keys("\x08"));
  assert.equal(editor.text, "é");
});

Deno.test("LineEditor: arrows and other escape sequences are not typed; up and down recall earlier lines", () => {
  const editor = new LineEditor("> ");
  editor.feed(keys("first\rsecond\r"));
  editor.feed(keys("\x1b[C\x1b[D\x1bOH\x1bx")); // right, left, Home, Alt-x
  assert.equal(editor.text, "");
  editor.feed(keys("\x1b[A"));
  assert.equal(editor.text, "second");
  editor.feed(keys("\x1b[A"));
  assert.equal(editor.text, "first");
  editor.feed(keys("\x1b[B\x1b[B"));
  assert.equal(editor.text, "");
});

Deno.test("LineEditor: Ctrl-D ends input on an empty line only; other control keys do nothing", () => {
  const editor = new LineEditor("> ");
  assert.equal(editor.feed(keys("x\x04")).eof, false);
  assert.equal(editor.feed(keys("\x01\x02\x7f")).output, `${CLEAR_LINE}> `);
  const end = editor.feed(keys("\x04ignored"));
  assert.equal(end.eof, true);
  assert.equal(editor.text, "");
});
