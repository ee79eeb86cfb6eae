import assert from "node:assert/strict";
import {
  HttpResponseParser,
  type HttpResponseParserOptions,
} from "../../http/mod.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** Every response the stream holds, as "status:bodyBytes:close", fed in the given pieces. */
function parse(
  pieces: Uint8Array[],
  options: HttpResponseParserOptions = {},
  eof = false,
): string[] {
  const parser = new HttpResponseParser(options);
  const seen: string[] = [];
  const on = (
    r: { status: number; bodyBytes: number; close: boolean; minor: number },
  ) => seen.push(`${r.status}:${r.bodyBytes}:${r.close ? "close" : "keep"}`);
  for (const p of pieces) parser.receive(p, on);
  if (eof) assert.ok(parser.end(on), "cut short");
  return seen;
}

const STREAM = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello" +
  "HTTP/1.1 100 Continue\r\n\r\n" +
  "HTTP/1.1 404 Not Found\r\ntransfer-encoding: gzip, Chunked\r\n\r\n" +
  "3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nTrailer-X: y\r\n\r\n" +
  "HTTP/1.1 204 No Content\r\nContent-Length: 99\r\n\r\n" +
  "HTTP/1.1 304 Not Modified\r\n\r\n" +
  "HTTP/1.1 503 Busy\r\nContent-Length: 2, 2\r\nConnection: keep-alive, Close\r\n\r\nno";
const EXPECTED = [
  "200:5:keep",
  "404:13:keep",
  "204:0:keep",
  "304:0:keep",
  "503:2:close",
];

Deno.test("HttpResponseParser: lengths, chunks with extensions and trailers, interim and bodiless responses, Connection: close", () => {
  assert.deepEqual(parse([enc(STREAM)]), EXPECTED);
});

Deno.test("HttpResponseParser: the same responses split at every byte boundary, and byte by byte", () => {
  const bytes = enc(STREAM);
  for (let cut = 1; cut < bytes.length; cut++) {
    assert.deepEqual(
      parse([bytes.subarray(0, cut), bytes.subarray(cut)]),
      EXPECTED,
      `cut at ${cut}`,
    );
  }
  assert.deepEqual(
    parse([...bytes].map((b) => new Uint8Array([b]))),
    EXPECTED,
  );
});

Deno.test("HttpResponseParser: a body without length runs to the close; HTTP/1.0 closes unless kept alive", () => {
  assert.deepEqual(
    parse([enc("HTTP/1.1 200 OK\r\n\r\nall of it")], {}, true),
    ["200:9:close"],
  );
  assert.deepEqual(
    parse([enc("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx")]),
    ["200:1:close"],
  );
  assert.deepEqual(
    parse([
      enc(
        "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
      ),
    ]),
    ["200:1:keep"],
  );
  // HEAD: no body whatever the head says.
  assert.deepEqual(
    parse([enc("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n")], {
      noBody: true,
    }),
    ["200:0:keep"],
  );
  // Cut short: end() says so.
  const parser = new HttpResponseParser();
  parser.receive(
    enc("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe"),
    () => {},
  );
  assert.equal(parser.end(() => {}), false);
  assert.equal(new HttpResponseParser().end(() => {}), true);
});

Deno.test("HttpResponseParser: malformed responses are refused with bad_http", () => {
  for (
    const bad of [
      "HTTP/2.0 200 OK\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "http/1.1 200 OK\r\n\r\n",
      "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n",
      "HTTP/1.1 101 Switching Protocols\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\nextra",
    ]
  ) {
    assert.throws(
      () => parse([enc(bad)]),
      { code: "bad_http" },
      JSON.stringify(bad),
    );
  }
});

Deno.test("HttpResponseParser: limits hold where the bytes arrive", () => {
  const big = "HTTP/1.1 200 OK\r\nX: " + "a".repeat(2000) + "\r\n\r\n";
  assert.throws(() => parse([enc(big)], { maxHeadBytes: 1024 }), {
    code: "head_too_large",
  });
  // Split: refused once the limit is passed, without waiting for the end.
  const parser = new HttpResponseParser({ maxHeadBytes: 1024 });
  const bytes = enc(big);
  assert.throws(() => {
    for (let i = 0; i < bytes.length; i += 100) {
      parser.receive(bytes.subarray(i, i + 100), () => {});
    }
  }, { code: "head_too_large" });
  const many = "HTTP/1.1 200 OK\r\n" + "X: y\r\n".repeat(20) + "\r\n";
  assert.throws(() => parse([enc(many)], { maxHeaders: 10 }), {
    code: "head_too_large",
  });
  assert.throws(
    () =>
      parse([enc("HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n")], {
        maxBodyBytes: 1000,
      }),
    { code: "body_too_large" },
  );
  assert.throws(
    () =>
      parse([
        enc(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
            "200\r\n" + "x".repeat(512) + "\r\n400\r\n",
        ),
      ], { maxBodyBytes: 1000 }),
    { code: "body_too_large" },
  );
  assert.throws(
    () =>
      parse([
        enc(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" +
            "e".repeat(5000),
        ),
      ]),
    { code: "bad_http" },
  );
  assert.throws(
    () =>
      parse([
        enc(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" +
            "T: x\r\n".repeat(200),
        ),
      ], { maxHeaders: 100 }),
    { code: "head_too_large" },
  );
});
