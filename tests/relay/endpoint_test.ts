import assert from "node:assert/strict";
import {
  formatEndpoint,
  parseEndpoint,
  RelayError,
  splitCommand,
} from "../../relay/mod.ts";

Deno.test("endpoint: every kind parses and formats back to the same text", () => {
  for (
    const text of [
      "tcp://127.0.0.1:80",
      "tls://[::1]:443",
      "udp://localhost:53",
      "unix:/run/app.sock",
      "exec:grep -v x",
      "ws://127.0.0.1:8080/feed?x=1",
      "wss://[::1]/",
    ]
  ) {
    assert.equal(formatEndpoint(parseEndpoint(text)), text);
  }
  assert.deepEqual(parseEndpoint("tcp://:8080"), {
    kind: "tcp",
    hostname: "127.0.0.1",
    port: 8080,
  });
});

Deno.test("endpoint: ws:// and wss:// keep the URL, with default ports and path", () => {
  assert.deepEqual(parseEndpoint("ws://localhost:9000"), {
    kind: "ws",
    url: "ws://localhost:9000/",
    path: "/",
    hostname: "localhost",
    port: 9000,
  });
  const wss = parseEndpoint("wss://[::1]/chat#x");
  assert.ok(wss.kind === "wss");
  assert.deepEqual([wss.hostname, wss.port, wss.path, wss.url], [
    "::1",
    443,
    "/chat",
    "wss://[::1]/chat",
  ]);
});

Deno.test("endpoint: bad and unsupported endpoints throw with their code", () => {
  for (
    const [text, code] of [
      ["tcp://127.0.0.1", "bad_endpoint"],
      ["tcp://127.0.0.1:99999", "bad_endpoint"],
      ["127.0.0.1:80", "bad_endpoint"],
      ["exec:", "bad_endpoint"],
      ["unix:", "bad_endpoint"],
      ["ws://", "bad_endpoint"],
    ] as const
  ) {
    assert.throws(
      () => parseEndpoint(text),
      (e: unknown) => e instanceof RelayError && e.code === code,
      text,
    );
  }
});

Deno.test("endpoint: exec commands split like a shell's words, with nothing expanded", () => {
  assert.deepEqual(splitCommand(`printf '%s\\n' "$HOME" a\\ b`), [
    "printf",
    "%s\\n",
    "$HOME",
    "a b",
  ]);
  assert.deepEqual(splitCommand(`sh -c "echo \\"hi\\""`), [
    "sh",
    "-c",
    'echo "hi"',
  ]);
  assert.deepEqual(splitCommand("cat ''"), ["cat", ""]);
  assert.throws(() => splitCommand(`echo "open`), RelayError);
  assert.throws(() => splitCommand("   "), RelayError);
});
