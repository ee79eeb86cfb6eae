import assert from "node:assert/strict";
import { formatAddress, isLoopback, parseAddress } from "../address.ts";
import { NetkitError } from "../errors.ts";

const badAddress = (e: unknown) =>
  e instanceof NetkitError && e.code === "bad_address";

Deno.test("parseAddress: HOST:PORT, [IPv6]:PORT, :PORT and a bare PORT", () => {
  assert.deepEqual(parseAddress("example.org:80"), {
    hostname: "example.org",
    port: 80,
  });
  assert.deepEqual(parseAddress("[::1]:7007"), { hostname: "::1", port: 7007 });
  assert.deepEqual(parseAddress("[fe80::1%lo]:9"), {
    hostname: "fe80::1%lo",
    port: 9,
  });
  assert.deepEqual(parseAddress(":0"), { hostname: "127.0.0.1", port: 0 });
  assert.deepEqual(parseAddress("8080"), { hostname: "127.0.0.1", port: 8080 });
  assert.deepEqual(parseAddress("65535"), {
    hostname: "127.0.0.1",
    port: 65535,
  });
});

Deno.test("parseAddress: defaultHost and defaultPort fill what is missing", () => {
  assert.deepEqual(parseAddress(":1", { defaultHost: "::1" }), {
    hostname: "::1",
    port: 1,
  });
  assert.deepEqual(parseAddress("example.org", { defaultPort: 443 }), {
    hostname: "example.org",
    port: 443,
  });
  assert.deepEqual(parseAddress("[::1]", { defaultPort: 80 }), {
    hostname: "::1",
    port: 80,
  });
});

Deno.test("parseAddress: bad addresses are bad_address errors that say why", () => {
  const cases: [string, RegExp][] = [
    ["::1:80", /IPv6 addresses need brackets/],
    ["example.org", /missing port/],
    ["[::1]", /missing port/],
    ["host:port", /port 'port' is not a number/],
    ["host:65536", /port 65536 is above 65535/],
    ["host:123456", /port '123456' is not a number/],
    ["host:-1", /is not a number/],
  ];
  for (const [text, why] of cases) {
    assert.throws(
      () => parseAddress(text),
      (e) => badAddress(e) && why.test((e as Error).message),
      text,
    );
  }
});

Deno.test("formatAddress: IPv6 hosts in brackets, others as they are", () => {
  assert.equal(formatAddress({ hostname: "::1", port: 80 }), "[::1]:80");
  assert.equal(
    formatAddress({ hostname: "127.0.0.1", port: 7007 }),
    "127.0.0.1:7007",
  );
  assert.equal(
    formatAddress({ hostname: "localhost", port: 0 }),
    "localhost:0",
  );
  // Round trip through the parser.
  for (const text of ["[::1]:1", "10.0.0.1:65535", "host:0"]) {
    assert.equal(formatAddress(parseAddress(text)), text);
  }
});

Deno.test("isLoopback: one rule for 127.0.0.0/8, ::1, localhost and mapped 127.x", () => {
  for (
    const host of [
      "localhost",
      "LocalHost",
      "127.0.0.1",
      "127.3.0.1",
      "127.255.255.254",
      "::1",
      "[::1]",
      "0:0:0:0:0:0:0:1",
      "0000:0000:0000:0000:0000:0000:0000:0001",
      "::0:1",
      "::ffff:127.0.0.1",
      "[::FFFF:127.9.8.7]",
      "0:0:0:0:0:ffff:127.0.0.1",
      "::ffff:7f00:1",
    ]
  ) assert.ok(isLoopback(host), `${host} is loopback`);
  for (
    const host of [
      "",
      "10.0.0.1",
      "128.0.0.1",
      "126.255.255.255",
      "127.0.0.256",
      "127.0.0",
      "127.example.com",
      "localhost.example.com",
      "::",
      "::2",
      "1::1",
      "::1:1",
      "::ffff:10.0.0.1",
      "::ffff:8000:1",
      "::127.0.0.1",
      "::ffff:1:127.0.0.1",
      "fe80::1",
      "::1::",
    ]
  ) assert.ok(!isLoopback(host), `${host} is not loopback`);
});
