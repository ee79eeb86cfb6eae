// The codes a person reads aloud: the project's word list keeps its
// promises (512 words, far apart), generated codes have the documented
// shape and entropy, and a typed code is normalised and checked the way
// the sender's help says.

import assert from "node:assert/strict";
import {
  CODE_BITS,
  codeProblem,
  generateCode,
  normalizeCode,
} from "../../../tcp/file/code.ts";
import { CODE_WORDS } from "../../../tcp/file/_words.ts";

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min(
        prev[j]! + 1,
        row[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      ));
    }
    prev = row;
  }
  return prev[b.length]!;
}

Deno.test("code words: 512 sorted, distinct, 4 to 8 letters, at least 3 edits apart, none a prefix of another", () => {
  assert.equal(CODE_WORDS.length, 512);
  assert.deepEqual([...CODE_WORDS].sort(), CODE_WORDS);
  for (const word of CODE_WORDS) assert.match(word, /^[a-z]{4,8}$/);
  for (let i = 0; i < CODE_WORDS.length; i++) {
    for (let j = i + 1; j < CODE_WORDS.length; j++) {
      const a = CODE_WORDS[i]!;
      const b = CODE_WORDS[j]!;
      assert.ok(distance(a, b) >= 3, `${a} and ${b}`);
      assert.ok(!b.startsWith(a), `${a} begins ${b}`);
    }
  }
});

Deno.test("code: a number from 1 to 99 and three words; about 33.6 bits", () => {
  assert.ok(Math.abs(CODE_BITS - 33.63) < 0.01, String(CODE_BITS));
  const seen = new Set<string>();
  for (let i = 0; i < 300; i++) {
    const code = generateCode();
    const [n, ...words] = code.split("-");
    assert.ok(Number(n) >= 1 && Number(n) <= 99, code);
    assert.equal(String(Number(n)), n);
    assert.equal(words.length, 3);
    for (const w of words) assert.ok(CODE_WORDS.includes(w), code);
    assert.equal(codeProblem(code), undefined);
    assert.equal(normalizeCode(code), code);
    seen.add(code);
  }
  // 300 draws from 2^33.6 codes: a repeat would mean a broken source.
  assert.equal(seen.size, 300);
});

Deno.test("code: what a person types is normalised", () => {
  assert.equal(
    normalizeCode("7-lantern-walnut-cobra"),
    "7-lantern-walnut-cobra",
  );
  assert.equal(
    normalizeCode(" 07 Lantern  WALNUT cobra\n"),
    "7-lantern-walnut-cobra",
  );
  assert.equal(
    normalizeCode("7.lantern_walnut,cobra"),
    "7-lantern-walnut-cobra",
  );
  assert.equal(
    normalizeCode("7--lantern-walnut-cobra-"),
    "7-lantern-walnut-cobra",
  );
});

Deno.test("code: a mistyped code says what is wrong, with a suggestion", () => {
  assert.match(codeProblem("lantern-walnut-cobra")!, /a number and 3 words/);
  assert.match(codeProblem("7-lantern-walnut")!, /a number and 3 words/);
  assert.match(codeProblem("0-lantern-walnut-cobra")!, /from 1 to 99/);
  assert.match(codeProblem("100-lantern-walnut-cobra")!, /from 1 to 99/);
  assert.match(
    codeProblem("7-xylophone-walnut-cobra")!,
    /'xylophone' is not a code word$/,
  );
  // Two neighbouring letters swapped: the commonest slip, one edit away.
  assert.match(
    codeProblem("7-lantren-walnut-cobra")!,
    /'lantren' is not a code word; did you mean 'lantern'\?/,
  );
  assert.match(
    codeProblem("7-lanten-walnut-cobra")!,
    /'lanten' is not a code word; did you mean 'lantern'\?/,
  );
  assert.match(
    codeProblem("7-lantern-walnuts-cobra")!,
    /did you mean 'walnut'\?/,
  );
});
