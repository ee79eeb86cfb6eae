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

Deno.test("endpoint: bad and unsupported endpoints throw with their code", () => {
  for (
    const [text, code] of [
      ["tcp://127.0.0.1", "bad_endpoint"],
      ["tcp://127.0.0.1:99999", "bad_endpoint"],
      ["127.0.0.1:80", "bad_endpoint"],
      ["exec:", "bad_endpoint"],
      ["unix:", "bad_endpoint"],
      ["ws://127.0.0.1:80/", "unsupported_endpoint"],
      ["wss://example.com/", "unsupported_endpoint"],
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
