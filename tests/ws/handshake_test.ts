import assert from "node:assert/strict";
import {
  acceptKey,
  buildClientRequest,
  checkClientHandshake,
  checkServerHandshake,
  generateKey,
  type HttpResponseHead,
  parseResponseHead,
  WEBSOCKET_GUID,
  WsError,
} from "../../ws/mod.ts";

const encoder = new TextEncoder();

/** base64(SHA-1(key + GUID)) computed with WebCrypto, independently of acceptKey. */
async function expectedAccept(key: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-1",
    encoder.encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
  );
  return new Uint8Array(digest).toBase64();
}

Deno.test("acceptKey matches the RFC 6455 §1.3 sample", () => {
  assert.equal(WEBSOCKET_GUID, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  assert.equal(
    acceptKey("dGhlIHNhbXBsZSBub25jZQ=="),
    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
  );
});

Deno.test("acceptKey matches WebCrypto SHA-1 on more keys", async () => {
  const keys = [
    "dGhlIHNhbXBsZSBub25jZQ==",
    "AAAAAAAAAAAAAAAAAAAAAA==",
    "/////////////////////w==",
    "x3JJHMbDL1EzLkh9GBhXDw==",
    "",
    "not a key at all",
  ];
  for (let i = 0; i < 20; i++) keys.push(generateKey());
  for (const key of keys) {
    assert.equal(acceptKey(key), await expectedAccept(key));
  }
});

Deno.test("generateKey gives 16 random bytes of base64", () => {
  const a = generateKey();
  const b = generateKey();
  assert.notEqual(a, b);
  assert.equal(Uint8Array.fromBase64(a).length, 16);
  const request = validRequest({ "sec-websocket-key": a });
  assert.deepEqual(checkClientHandshake(request), []);
});

function validRequest(
  overrides: Record<string, string | null> = {},
  method = "GET",
): Request {
  const headers: Record<string, string> = {
    host: "127.0.0.1:8080",
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
  };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === null) delete headers[name];
    else headers[name] = value;
  }
  return new Request("http://127.0.0.1:8080/chat", { method, headers });
}

function codes(problems: { code: string }[]): string[] {
  return problems.map((p) => p.code);
}

Deno.test("checkClientHandshake accepts valid requests, tokens case-insensitive", () => {
  assert.deepEqual(checkClientHandshake(validRequest()), []);
  assert.deepEqual(
    checkClientHandshake(validRequest({
      upgrade: "WebSocket",
      connection: "keep-alive, Upgrade",
    })),
    [],
  );
  assert.deepEqual(
    checkClientHandshake(validRequest({ upgrade: "h2c, websocket" })),
    [],
  );
});

Deno.test("checkClientHandshake reports every client problem with its status", () => {
  const cases: Array<
    [Record<string, string | null>, string, string, number]
  > = [
    [{ host: null }, "GET", "missing_host", 400],
    [{ upgrade: null }, "GET", "missing_upgrade", 400],
    [{ upgrade: "h2c" }, "GET", "bad_upgrade", 400],
    [{ connection: null }, "GET", "missing_connection", 400],
    [{ connection: "keep-alive" }, "GET", "bad_connection", 400],
    [{ "sec-websocket-key": null }, "GET", "missing_key", 400],
    [{ "sec-websocket-key": "abc" }, "GET", "bad_key", 400],
    // 15 bytes and 17 bytes of valid base64.
    [{ "sec-websocket-key": "AAAAAAAAAAAAAAAAAAAA" }, "GET", "bad_key", 400],
    [
      { "sec-websocket-key": "AAAAAAAAAAAAAAAAAAAAAAA=" },
      "GET",
      "bad_key",
      400,
    ],
    [
      { "sec-websocket-key": "!!!!!!!!!!!!!!!!!!!!!!==" },
      "GET",
      "bad_key",
      400,
    ],
    [{ "sec-websocket-version": null }, "GET", "missing_version", 426],
    [{ "sec-websocket-version": "8" }, "GET", "bad_version", 426],
    [{}, "POST", "bad_method", 405],
  ];
  for (const [overrides, method, code, status] of cases) {
    const problems = checkClientHandshake(validRequest(overrides, method));
    assert.deepEqual(codes(problems), [code], JSON.stringify(overrides));
    assert.equal(problems[0]!.status, status);
    assert.ok(problems[0]!.message.length > 0);
  }
  const [version] = checkClientHandshake(
    validRequest({ "sec-websocket-version": "8" }),
  );
  assert.equal(version!.expected, "13");
  assert.equal(version!.actual, "8");
});

Deno.test("checkClientHandshake reports several problems at once", () => {
  const problems = checkClientHandshake(
    validRequest({ upgrade: null, "sec-websocket-key": "short" }, "PUT"),
  );
  assert.deepEqual(codes(problems), [
    "bad_method",
    "missing_upgrade",
    "bad_key",
  ]);
});

function response(
  key: string,
  overrides: Record<string, string | null> = {},
  status = 101,
  version = "HTTP/1.1",
): HttpResponseHead {
  const headers = new Headers({
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-accept": acceptKey(key),
  });
  for (const [name, value] of Object.entries(overrides)) {
    if (value === null) headers.delete(name);
    else headers.set(name, value);
  }
  return {
    version,
    status,
    reason: status === 101 ? "Switching Protocols" : "OK",
    headers,
  };
}

Deno.test("checkServerHandshake accepts a valid response", async () => {
  const key = generateKey();
  assert.deepEqual(checkServerHandshake(response(key), key), []);
  assert.deepEqual(
    checkServerHandshake(
      response(key, { upgrade: "WebSocket", connection: "upgrade" }),
      key,
    ),
    [],
  );
  // The accept value the server must send is the independently computed one.
  const head = response(key, {
    "sec-websocket-accept": await expectedAccept(key),
  });
  assert.deepEqual(checkServerHandshake(head, key), []);
});

Deno.test("checkServerHandshake reports every server problem with expected/actual", async () => {
  const key = "dGhlIHNhbXBsZSBub25jZQ==";
  const want = await expectedAccept(key);
  const cases: Array<[HttpResponseHead, string, string?, string?]> = [
    [
      response(key, {}, 101, "HTTP/1.0"),
      "bad_http_version",
      "HTTP/1.1",
      "HTTP/1.0",
    ],
    [response(key, {}, 200), "status_not_101", "101", "200 OK"],
    [response(key, { upgrade: null }), "missing_upgrade", "websocket"],
    [response(key, { upgrade: "h2c" }), "bad_upgrade", "websocket", "h2c"],
    [response(key, { connection: null }), "missing_connection", "Upgrade"],
    [
      response(key, { connection: "close" }),
      "bad_connection",
      "Upgrade",
      "close",
    ],
    [response(key, { "sec-websocket-accept": null }), "missing_accept", want],
    [
      response(key, { "sec-websocket-accept": "wrongwrongwrong=" }),
      "accept_mismatch",
      want,
      "wrongwrongwrong=",
    ],
    [
      response(key, { "sec-websocket-protocol": "chat" }),
      "unexpected_protocol",
      "",
      "chat",
    ],
    [
      response(key, { "sec-websocket-extensions": "permessage-deflate" }),
      "unexpected_extension",
      "",
      "permessage-deflate",
    ],
  ];
  for (const [head, code, expected, actual] of cases) {
    const problems = checkServerHandshake(head, key);
    assert.deepEqual(codes(problems), [code]);
    assert.equal(problems[0]!.expected, expected);
    assert.equal(problems[0]!.actual, actual);
  }
  const [mismatch] = checkServerHandshake(
    response(key, { "sec-websocket-accept": "x" }),
    key,
  );
  assert.equal(
    mismatch!.message,
    `Sec-WebSocket-Accept mismatch: expected ${want}, got x`,
  );
});

Deno.test("checkServerHandshake allows what the client offered", () => {
  const key = generateKey();
  const head = response(key, {
    "sec-websocket-protocol": "chat",
    "sec-websocket-extensions":
      "permessage-deflate; server_no_context_takeover",
  });
  assert.deepEqual(
    checkServerHandshake(head, key, {
      protocols: ["superchat", "chat"],
      extensions: ["permessage-deflate; client_max_window_bits"],
    }),
    [],
  );
  assert.deepEqual(
    codes(checkServerHandshake(head, key, { protocols: ["superchat"] })),
    ["unexpected_protocol", "unexpected_extension"],
  );
});

Deno.test("parseResponseHead parses a complete head and finds the body", () => {
  const text = "HTTP/1.1 101 Switching Protocols\r\n" +
    "Upgrade: websocket\r\n" +
    "Connection:Upgrade\r\n" +
    "X-Twice: a\r\n" +
    "x-twice: b\r\n" +
    "X-Space:   padded value \t\r\n" +
    "\r\n";
  const bytes = new Uint8Array([...encoder.encode(text), 0x81, 2, 0x68, 0x69]);
  const parsed = parseResponseHead(bytes);
  assert.ok(parsed);
  assert.equal(parsed.head.version, "HTTP/1.1");
  assert.equal(parsed.head.status, 101);
  assert.equal(parsed.head.reason, "Switching Protocols");
  assert.equal(parsed.head.headers.get("upgrade"), "websocket");
  assert.equal(parsed.head.headers.get("connection"), "Upgrade");
  assert.equal(parsed.head.headers.get("x-twice"), "a, b");
  assert.equal(parsed.head.headers.get("x-space"), "padded value");
  assert.equal(parsed.bodyOffset, text.length);
  assert.deepEqual([...bytes.subarray(parsed.bodyOffset)], [
    0x81,
    2,
    0x68,
    0x69,
  ]);
});

Deno.test("parseResponseHead accepts an empty reason phrase", () => {
  for (const line of ["HTTP/1.1 200 ", "HTTP/1.1 200"]) {
    const parsed = parseResponseHead(encoder.encode(line + "\r\n\r\n"));
    assert.equal(parsed?.head.status, 200);
    assert.equal(parsed?.head.reason, "");
  }
});

Deno.test("parseResponseHead returns null on every incomplete prefix", () => {
  const bytes = encoder.encode(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
  );
  for (let n = 0; n < bytes.length; n++) {
    assert.equal(parseResponseHead(bytes.subarray(0, n)), null, `prefix ${n}`);
  }
  assert.ok(parseResponseHead(bytes));
});

function throwsCode(bytes: Uint8Array | string, code: string, options = {}) {
  const input = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
  assert.throws(
    () => parseResponseHead(input, options),
    (e: unknown) => e instanceof WsError && e.code === code,
    typeof bytes === "string" ? JSON.stringify(bytes) : "bytes",
  );
}

Deno.test("parseResponseHead rejects oversize heads before the end arrives", () => {
  // 16 KiB of one header with no end: too large even though incomplete.
  const big = "HTTP/1.1 200 OK\r\nX: " + "a".repeat(16 * 1024);
  throwsCode(big, "head_too_large");
  // Just under the limit but incomplete: wait for more.
  assert.equal(parseResponseHead(encoder.encode(big.slice(0, 16000))), null);
  throwsCode("HTTP/1.1 200 OK\r\nX: 1234567890\r\n\r\n", "head_too_large", {
    maxHeadBytes: 20,
  });
  const many = "HTTP/1.1 200 OK\r\n" + "X: 1\r\n".repeat(101) + "\r\n";
  throwsCode(many, "head_too_large");
  throwsCode("HTTP/1.1 200 OK\r\n" + "X: 1\r\n".repeat(5), "head_too_large", {
    maxHeaders: 3,
  });
  assert.ok(
    parseResponseHead(
      encoder.encode("HTTP/1.1 200 OK\r\n" + "X: 1\r\n".repeat(100) + "\r\n"),
    ),
  );
});

Deno.test("parseResponseHead rejects garbage", () => {
  const garbage = [
    "GET / HTTP/1.1\r\n\r\n",
    "SSH-2.0-OpenSSH_9.6\r\n",
    "\x16\x03\x01\x02\x00",
    "HTTP/1.1 20 OK\r\n\r\n",
    "HTTP/1.1 2000 OK\r\n\r\n",
    "HTTP/1.1  200 OK\r\n\r\n",
    "HTTP/11 200 OK\r\n\r\n",
    "HTTP/1.1 200 OK\nUpgrade: websocket\n\n",
    "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
    "HTTP/1.1 200 OK\r\nSpace before : colon\r\n\r\n",
    "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
    "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
    "HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",
    "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
    "HTTP/1.1 200 O\x01K\r\n\r\n",
  ];
  for (const text of garbage) throwsCode(text, "bad_http");
});

Deno.test("buildClientRequest writes the RFC 6455 request head", () => {
  const key = generateKey();
  const head = buildClientRequest(
    new URL("ws://example.test:9000/chat/room?x=1&y=2"),
    key,
    { protocols: ["chat", "superchat"], headers: { "X-Token": "abc" } },
  );
  const lines = head.split("\r\n");
  assert.equal(lines[0], "GET /chat/room?x=1&y=2 HTTP/1.1");
  assert.ok(head.endsWith("\r\n\r\n"));
  const fields = new Map(
    lines.slice(1, -2).map((l) => {
      const at = l.indexOf(": ");
      return [l.slice(0, at).toLowerCase(), l.slice(at + 2)];
    }),
  );
  assert.equal(fields.get("host"), "example.test:9000");
  assert.equal(fields.get("upgrade"), "websocket");
  assert.equal(fields.get("connection"), "Upgrade");
  assert.equal(fields.get("sec-websocket-key"), key);
  assert.equal(fields.get("sec-websocket-version"), "13");
  assert.equal(fields.get("sec-websocket-protocol"), "chat, superchat");
  assert.equal(fields.get("x-token"), "abc");
});

Deno.test("buildClientRequest lets callers replace defaults for broken handshakes", () => {
  const head = buildClientRequest(new URL("wss://[::1]/"), "k", {
    method: "POST",
    version: "8",
    headers: { Upgrade: "h2c" },
  });
  assert.ok(head.startsWith("POST / HTTP/1.1\r\n"));
  assert.match(head, /\r\nHost: \[::1\]\r\n/);
  assert.match(head, /\r\nSec-WebSocket-Version: 8\r\n/);
  assert.match(head, /\r\nupgrade: h2c\r\n/);
  assert.doesNotMatch(head, /websocket\r\n/i);
  // Header values cannot inject extra lines.
  assert.throws(() =>
    buildClientRequest(new URL("ws://127.0.0.1/"), "k", {
      headers: { "X-A": "a\r\nX-B: b" },
    })
  );
});
