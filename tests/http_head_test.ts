// The one HTTP head parser (_http_head.ts): a header line must have a
// colon; a token alone ("X-Foo") is not a field with its own name as the
// value.

import assert from "node:assert/strict";
import { parseRequestHead, parseResponseHead } from "../_http_head.ts";
import { NetkitError } from "../errors.ts";

const enc = new TextEncoder();

function badHttp(error: unknown): boolean {
  return error instanceof NetkitError && error.code === "bad_http" &&
    /bad header line/.test(error.message);
}

Deno.test("http head: a header line without a colon is refused, even without spaces", () => {
  for (const line of ["X-Foo", "Upgrade", "a", "X-Foo\tbar"]) {
    assert.throws(
      () => parseResponseHead(enc.encode(`HTTP/1.1 200 OK\r\n${line}\r\n\r\n`)),
      badHttp,
      line,
    );
    assert.throws(
      () =>
        parseRequestHead(
          enc.encode(`GET / HTTP/1.1\r\nHost: a\r\n${line}\r\n\r\n`),
        ),
      badHttp,
      line,
    );
  }
});

Deno.test("http head: a colon with an empty value is a field", () => {
  const parsed = parseRequestHead(
    enc.encode("GET / HTTP/1.1\r\nX-Empty:\r\nX-Foo: bar\r\n\r\n"),
  );
  assert.ok(parsed);
  assert.equal(parsed.head.headers.get("x-empty"), "");
  assert.equal(parsed.head.headers.get("x-foo"), "bar");
});
