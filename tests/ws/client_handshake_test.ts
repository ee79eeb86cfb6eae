// The client handshake core against recorded responses: no sockets. The
// key is RFC 6455 §1.3's sample, so the recorded Sec-WebSocket-Accept
// values are the ones real servers sent for it (python3-websockets 10.4
// and Deno 2.9.6's upgradeWebSocket, captured with nc), edited one header
// at a time for each way a response can be wrong.

import assert from "node:assert/strict";
import {
  ClientHandshake,
  type HttpResponseHead,
  parseResponseHead,
  WsError,
} from "../../ws/mod.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/** python3-websockets 10.4, offered chat.v1, chat.v2 and permessage-deflate. */
const PYTHON_101 = "HTTP/1.1 101 Switching Protocols\r\n" +
  "Upgrade: websocket\r\n" +
  "Connection: Upgrade\r\n" +
  `Sec-WebSocket-Accept: ${ACCEPT}\r\n` +
  "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12; client_max_window_bits=12\r\n" +
  "Sec-WebSocket-Protocol: chat.v2\r\n" +
  "Date: Mon, 07 Dec 2026 01:36:44 GMT\r\n" +
  "Server: Python/3.11 websockets/10.4\r\n\r\n";

/** Deno 2.9.6 upgradeWebSocket, nothing offered (lower-case names). */
const DENO_101 = "HTTP/1.1 101 Switching Protocols\r\n" +
  "upgrade: websocket\r\n" +
  "connection: Upgrade\r\n" +
  `sec-websocket-accept: ${ACCEPT}\r\n` +
  "date: Mon, 07 Dec 2026 01:36:54 GMT\r\n\r\n";

/** python3-websockets 10.4 refusing a foreign Origin. */
const PYTHON_403 = "HTTP/1.1 403 Forbidden\r\n" +
  "Date: Mon, 07 Dec 2026 01:36:53 GMT\r\n" +
  "Server: Python/3.11 websockets/10.4\r\n" +
  "Content-Length: 84\r\n" +
  "Content-Type: text/plain\r\n" +
  "Connection: close\r\n\r\n";
const PYTHON_403_BODY =
  "Failed to open a WebSocket connection: invalid Origin header: https://evil.example.";

function head(text: string): HttpResponseHead {
  return parseResponseHead(new TextEncoder().encode(text))!.head;
}

/** `text` with header `name` replaced by `line` (or removed when null). */
function edit(text: string, name: string, line: string | null): string {
  const lines = text.split("\r\n");
  const at = lines.findIndex((l) =>
    l.toLowerCase().startsWith(name.toLowerCase() + ":")
  );
  if (at < 0) lines.splice(1, 0, line!);
  else if (line === null) lines.splice(at, 1);
  else lines[at] = line;
  return lines.join("\r\n");
}

function codes(handshake: ClientHandshake, response: string): string[] {
  return handshake.check(head(response)).map((p) => p.code);
}

function failure(fn: () => unknown): WsError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof WsError, String(error));
    assert.equal(error.code, "handshake_failed");
    return error;
  }
  assert.fail("accepted a response it should have refused");
}

const offerAll = () =>
  new ClientHandshake("ws://127.0.0.1:8765/chat", {
    key: KEY,
    protocols: ["chat.v1", "chat.v2"],
    deflate: true,
  });

Deno.test("client handshake: the request, byte for byte", () => {
  assert.equal(
    offerAll().request,
    "GET /chat HTTP/1.1\r\n" +
      "Host: 127.0.0.1:8765\r\n" +
      "Upgrade: websocket\r\n" +
      "Connection: Upgrade\r\n" +
      `Sec-WebSocket-Key: ${KEY}\r\n` +
      "Sec-WebSocket-Version: 13\r\n" +
      "Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n" +
      "sec-websocket-extensions: permessage-deflate; client_max_window_bits\r\n" +
      "\r\n",
  );
  // The one URL rule: http:// is ws://, the fragment never leaves.
  const plain = new ClientHandshake("http://[::1]/a?b=1#frag", {
    key: KEY,
    headers: { Origin: "https://app.example" },
  });
  assert.equal(plain.url.href, "ws://[::1]/a?b=1");
  assert.ok(plain.request.startsWith("GET /a?b=1 HTTP/1.1\r\nHost: [::1]\r\n"));
  assert.match(plain.request, /\r\norigin: https:\/\/app\.example\r\n/);
  assert.throws(() => new ClientHandshake("ftp://x/"), { code: "bad_url" });
  assert.notEqual(new ClientHandshake("ws://x/").key, KEY);
});

Deno.test("client handshake: good recorded responses are accepted with what they agreed", () => {
  const accepted = offerAll().accept(head(PYTHON_101));
  assert.equal(accepted.protocol, "chat.v2");
  assert.deepEqual(accepted.deflate, {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 12,
    clientMaxWindowBits: 12,
  });
  const plain = new ClientHandshake("ws://127.0.0.1/", { key: KEY });
  assert.deepEqual(codes(plain, DENO_101), []);
  const denoAccepted = plain.accept(head(DENO_101));
  assert.equal(denoAccepted.protocol, "");
  assert.equal(denoAccepted.deflate, null);
  // Token lists and case are as loose as RFC 6455 allows.
  const loose = edit(
    edit(DENO_101, "connection", "Connection: keep-alive, upgrade"),
    "upgrade",
    "Upgrade: WebSocket",
  );
  assert.deepEqual(codes(plain, loose), []);
  // A declined offer is not an error: no extension, no compression.
  const declined = edit(PYTHON_101, "sec-websocket-extensions", null);
  assert.equal(offerAll().accept(head(declined)).deflate, null);
});

Deno.test("client handshake: a bad Sec-WebSocket-Accept is refused naming both values", () => {
  const wrong = edit(
    PYTHON_101,
    "sec-websocket-accept",
    "Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=",
  );
  const [problem, ...more] = offerAll().check(head(wrong));
  assert.equal(more.length, 0);
  assert.equal(problem!.code, "accept_mismatch");
  assert.equal(problem!.expected, ACCEPT);
  assert.equal(problem!.actual, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
  const error = failure(() => offerAll().accept(head(wrong)));
  assert.match(
    error.message,
    /^WebSocket handshake with 127\.0\.0\.1:8765 failed: /,
  );
  assert.match(error.message, /expected s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/);
  // Missing, and repeated (two values joined are not the one value).
  assert.deepEqual(
    codes(offerAll(), edit(PYTHON_101, "sec-websocket-accept", null)),
    ["missing_accept"],
  );
  const twice = edit(
    PYTHON_101,
    "server",
    `Sec-WebSocket-Accept: ${ACCEPT}`,
  );
  assert.deepEqual(codes(offerAll(), twice), ["accept_mismatch"]);
});

Deno.test("client handshake: a refusal is HTTP status, reason and the body's words", () => {
  const handshake = new ClientHandshake("ws://127.0.0.1/", { key: KEY });
  assert.deepEqual(codes(handshake, PYTHON_403), [
    "status_not_101",
    "missing_upgrade",
    "bad_connection",
    "missing_accept",
  ]);
  const error = failure(() =>
    handshake.accept(head(PYTHON_403), PYTHON_403_BODY)
  );
  assert.equal(error.message, `HTTP 403 Forbidden: ${PYTHON_403_BODY}`);
  // A 200 with no body, and a peer's control bytes escaped.
  const ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  assert.equal(
    failure(() => handshake.accept(head(ok))).message,
    "HTTP 200 OK",
  );
  const hostile = failure(() =>
    handshake.accept(head(PYTHON_403), "\x1b]0;owned\x07")
  );
  assert.ok(!hostile.message.includes("\x1b"), hostile.message);
  assert.ok(!hostile.message.includes("\x07"), hostile.message);
  // 101 on HTTP/1.0 is not an upgrade either.
  const old = DENO_101.replace("HTTP/1.1", "HTTP/1.0");
  assert.deepEqual(codes(handshake, old), ["bad_http_version"]);
});

Deno.test("client handshake: a missing or wrong Upgrade or Connection is refused", () => {
  const handshake = new ClientHandshake("ws://127.0.0.1/", { key: KEY });
  assert.deepEqual(codes(handshake, edit(DENO_101, "upgrade", null)), [
    "missing_upgrade",
  ]);
  assert.deepEqual(
    codes(handshake, edit(DENO_101, "upgrade", "Upgrade: h2c")),
    ["bad_upgrade"],
  );
  assert.deepEqual(codes(handshake, edit(DENO_101, "connection", null)), [
    "missing_connection",
  ]);
  assert.deepEqual(
    codes(handshake, edit(DENO_101, "connection", "Connection: keep-alive")),
    ["bad_connection"],
  );
  failure(() => handshake.accept(head(edit(DENO_101, "upgrade", null))));
});

Deno.test("client handshake: an extension nobody offered is refused", () => {
  const plain = new ClientHandshake("ws://127.0.0.1/", { key: KEY });
  const deflated = edit(
    DENO_101,
    "sec-websocket-extensions",
    "Sec-WebSocket-Extensions: permessage-deflate",
  );
  assert.deepEqual(codes(plain, deflated), ["unexpected_extension"]);
  failure(() => plain.accept(head(deflated)));
  // Offered permessage-deflate, answered with something else as well.
  const extra = edit(
    PYTHON_101,
    "sec-websocket-extensions",
    "Sec-WebSocket-Extensions: permessage-deflate, x-webkit-deflate-frame",
  );
  assert.deepEqual(codes(offerAll(), extra), ["unexpected_extension"]);
});

Deno.test("client handshake: permessage-deflate parameters outside the offer are refused", () => {
  const answers = [
    // A window wider than the offered limit.
    "permessage-deflate; client_max_window_bits=15",
    // Not a window size at all.
    "permessage-deflate; server_max_window_bits=16",
    // The same extension twice.
    "permessage-deflate, permessage-deflate",
  ];
  for (const answer of answers) {
    const handshake = new ClientHandshake("ws://127.0.0.1/", {
      key: KEY,
      deflate: { clientMaxWindowBits: 10 },
    });
    const response = head(
      edit(
        DENO_101,
        "sec-websocket-extensions",
        `Sec-WebSocket-Extensions: ${answer}`,
      ),
    );
    assert.deepEqual(
      handshake.check(response).map((p) => p.code),
      ["bad_extension"],
      answer,
    );
    const error = failure(() => handshake.accept(response));
    assert.match(error.message, /Sec-WebSocket-Extensions is not acceptable/);
  }
});

Deno.test("client handshake: a subprotocol nobody offered is refused; none chosen is fine", () => {
  const plain = new ClientHandshake("ws://127.0.0.1/", { key: KEY });
  const chosen = edit(
    DENO_101,
    "sec-websocket-protocol",
    "Sec-WebSocket-Protocol: chat.v2",
  );
  assert.deepEqual(codes(plain, chosen), ["unexpected_protocol"]);
  const error = failure(() => plain.accept(head(chosen)));
  assert.match(error.message, /Sec-WebSocket-Protocol not offered/);
  const offered = new ClientHandshake("ws://127.0.0.1/", {
    key: KEY,
    protocols: ["chat.v1"],
  });
  assert.deepEqual(codes(offered, chosen), ["unexpected_protocol"]);
  // Two at once is not one of those offered.
  const both = edit(
    DENO_101,
    "sec-websocket-protocol",
    "Sec-WebSocket-Protocol: chat.v1, chat.v2",
  );
  assert.deepEqual(codes(offerAll(), both), ["unexpected_protocol"]);
  // A server may choose none (RFC 6455 §4.2.2).
  assert.equal(offered.accept(head(DENO_101)).protocol, "");
  // Offers made through headers count as offers.
  const viaHeaders = new ClientHandshake("ws://127.0.0.1/", {
    key: KEY,
    headers: { "Sec-WebSocket-Protocol": "chat.v2" },
  });
  assert.deepEqual(viaHeaders.protocols, ["chat.v2"]);
  assert.equal(viaHeaders.accept(head(chosen)).protocol, "chat.v2");
});
