import assert from "node:assert/strict";
import { type VerifyReport, verifyServer } from "../../ws/mod.ts";
import { serveWebSocket } from "../../ws/server.ts";
import { type Breakage, startBrokenServer } from "./_broken_servers.ts";
import { runCli, testTls } from "../_helpers.ts";
import { hasPythonWebsockets, startPythonEcho } from "./_python.ts";
import { openRaw } from "./_raw.ts";
import { OPCODE } from "../../ws/mod.ts";

/** The accept value for `key`, computed with WebCrypto (not acceptKey). */
async function acceptFor(key: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-1",
    new TextEncoder().encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
  );
  return new Uint8Array(digest).toBase64();
}

function lines(stdout: string): string[] {
  return stdout.split("\n").filter((l) => l !== "");
}

function assertAllPassed(stdout: string) {
  const all = lines(stdout);
  assert.ok(all.length >= 9, stdout);
  for (const line of all) assert.match(line, /^✓ /);
  assert.ok(all.includes("✓ status 101 Switching Protocols"), stdout);
  assert.ok(all.includes("✓ Sec-WebSocket-Accept matches the key"), stdout);
  assert.ok(all.some((l) => /^✓ echo: /.test(l)), stdout);
  assert.ok(
    all.includes("✓ close: server answered with 1000 normal closure"),
    stdout,
  );
  assert.ok(
    all.includes("✓ server closed TCP after the close handshake"),
    stdout,
  );
}

function failedNames(report: VerifyReport): string[] {
  return report.checks.filter((c) => !c.ok).map((c) => c.name);
}

Deno.test("ws verify: a wrong Sec-WebSocket-Accept fails with expected and actual", async () => {
  await using server = startBrokenServer("wrong_accept");
  const result = await runCli(["ws", "verify", server.url]);
  assert.equal(result.code, 1, result.stderr);
  const key = server.keys[0]!;
  const expected = await acceptFor(key);
  const actual = await acceptFor("wrong" + key);
  assert.ok(
    lines(result.stdout).includes(
      `✗ Sec-WebSocket-Accept mismatch: expected ${expected}, got ${actual}`,
    ),
    result.stdout,
  );
  assert.ok(lines(result.stdout).includes("✓ status 101 Switching Protocols"));
});

Deno.test("ws verify: a 200 status fails", async () => {
  await using server = startBrokenServer("status_200");
  const result = await runCli(["ws", "verify", server.url]);
  assert.equal(result.code, 1, result.stderr);
  assert.ok(
    lines(result.stdout).includes(
      "✗ status mismatch: expected 101 Switching Protocols, got 200 OK",
    ),
    result.stdout,
  );
  // No frames are sent after a failed upgrade.
  assert.doesNotMatch(result.stdout, /echo/);
});

Deno.test("ws verify: a missing Upgrade header fails", async () => {
  await using server = startBrokenServer("no_upgrade");
  const result = await runCli(["ws", "verify", server.url]);
  assert.equal(result.code, 1, result.stderr);
  assert.ok(
    lines(result.stdout).includes(
      "✗ Upgrade header missing: expected websocket",
    ),
    result.stdout,
  );
});

Deno.test("ws verify: every check passes against Deno.upgradeWebSocket", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      const { socket, response } = Deno.upgradeWebSocket(request);
      socket.onmessage = (event) => socket.send(event.data);
      return response;
    },
  );
  const url = `ws://127.0.0.1:${server.addr.port}/`;
  const result = await runCli(["ws", "verify", url]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assertAllPassed(result.stdout);

  const json = await runCli(["ws", "verify", url, "--json"]);
  assert.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout) as VerifyReport;
  assert.equal(report.ok, true);
  assert.equal(report.url, url);
  assert.deepEqual(report.checks.map((c) => c.name), [
    "status",
    "upgrade",
    "connection",
    "accept",
    "protocol",
    "extensions",
    "echo",
    "close_echo",
    "tcp_close",
  ]);
});

Deno.test("ws verify: every check passes against netkit's serveWebSocket", async () => {
  await using server = serveWebSocket({ port: 0, path: "/ws" });
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  const report = await verifyServer(url, { timeoutMs: 5000 });
  assert.deepEqual(failedNames(report), [], JSON.stringify(report));
  assert.equal(report.ok, true);
  assert.equal(report.checks.length, 9);
});

Deno.test({
  name: "ws verify: every check passes against python3-websockets",
  ignore: !hasPythonWebsockets(),
}, async () => {
  await using python = await startPythonEcho();
  const result = await runCli(["ws", "verify", python.url]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assertAllPassed(result.stdout);
});

Deno.test("ws verify: --no-echo skips the echo check", async () => {
  await using server = startBrokenServer("no_echo");
  const result = await runCli(["ws", "verify", server.url, "--no-echo"]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.doesNotMatch(result.stdout, /echo:/);
  assertAllPassedExceptEcho(result.stdout);
});

function assertAllPassedExceptEcho(stdout: string) {
  for (const line of lines(stdout)) assert.match(line, /^✓ /);
  assert.equal(lines(stdout).length, 8);
}

Deno.test("ws verify: a refused connection is one line and exit 1", async () => {
  // Bind then close to find a port nobody listens on.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const result = await runCli(["ws", "verify", `ws://127.0.0.1:${port}/`]);
  assert.equal(result.code, 1);
  assert.deepEqual(lines(result.stdout), [
    `✗ cannot connect to 127.0.0.1:${port}: connection refused`,
  ]);
});

Deno.test("ws verify: usage mistakes exit 2", async () => {
  for (
    const args of [
      [],
      ["ftp://127.0.0.1/"],
      ["ws://127.0.0.1/", "--header", "no colon"],
      ["ws://127.0.0.1/", "--timeout", "soon"],
    ]
  ) {
    const result = await runCli(["ws", "verify", ...args]);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, /ws verify --help/);
  }
});

Deno.test("verifyServer: each misbehaviour fails the matching check", async () => {
  const cases: Array<[Breakage, string[], RegExp]> = [
    [
      "no_accept",
      ["accept"],
      /^Sec-WebSocket-Accept header missing: expected \S+$/,
    ],
    [
      "no_connection",
      ["connection"],
      /^Connection header missing: expected Upgrade$/,
    ],
    [
      "unoffered_protocol",
      ["protocol"],
      /^Sec-WebSocket-Protocol not offered: expected none, got nobody-asked$/,
    ],
    [
      "unoffered_extension",
      ["extensions"],
      /^Sec-WebSocket-Extensions not offered/,
    ],
    [
      "echo_binary",
      ["echo"],
      /^echo mismatch: expected text ".*", got binary \(\d+ bytes\)$/,
    ],
    [
      "masked_frames",
      ["echo"],
      /^echo mismatch: .* got invalid frame from the server: masked frame/,
    ],
    [
      "close_1002",
      ["close_echo"],
      /^close code mismatch: expected 1000 normal closure, got 1002 protocol error$/,
    ],
    ["keep_tcp_open", ["tcp_close"], /^server did not close TCP within 750 ms/],
    ["ignore_close", ["close_echo"], /^close mismatch: expected a close frame/],
    ["no_echo", ["echo"], /^echo mismatch: .* got nothing within 750 ms$/],
    [
      "silent",
      ["response"],
      /^timed out waiting 750 ms for a handshake response/,
    ],
    ["not_http", ["response"], /^not an HTTP response/],
    [
      "hang_up",
      ["response"],
      /^server closed the connection without a handshake response$/,
    ],
  ];
  for (const [breakage, names, message] of cases) {
    await using server = startBrokenServer(breakage);
    // Short steps only where the failure under test is a timeout, so a
    // loaded machine does not fail the steps that should pass.
    const timeouts: Breakage[] = [
      "keep_tcp_open",
      "ignore_close",
      "no_echo",
      "silent",
    ];
    const timeoutMs = timeouts.includes(breakage) ? 750 : 10_000;
    const report = await verifyServer(server.url, { timeoutMs });
    assert.equal(report.ok, false, breakage);
    assert.deepEqual(
      failedNames(report),
      names,
      `${breakage}: ${JSON.stringify(report.checks)}`,
    );
    const failed = report.checks.find((c) => !c.ok)!;
    assert.match(failed.message, message, breakage);
  }
});

Deno.test("verifyServer: offered subprotocols and extensions are allowed back", async () => {
  await using server = startBrokenServer("unoffered_protocol");
  const report = await verifyServer(server.url, {
    headers: { "Sec-WebSocket-Protocol": "chat, nobody-asked" },
  });
  assert.deepEqual(failedNames(report), []);
  const protocol = report.checks.find((c) => c.name === "protocol")!;
  assert.equal(
    protocol.message,
    "Sec-WebSocket-Protocol: nobody-asked (offered)",
  );
});

Deno.test("verifyServer: a wrong accept carries expected and actual in the report", async () => {
  await using server = startBrokenServer("wrong_accept");
  const report = await verifyServer(new URL(server.url));
  const accept = report.checks.find((c) => c.name === "accept")!;
  assert.equal(accept.ok, false);
  assert.equal(accept.expected, await acceptFor(server.keys[0]!));
  assert.equal(accept.actual, await acceptFor("wrong" + server.keys[0]!));
});

Deno.test("raw client: bytes after the response head are the first frames", async () => {
  await using server = startBrokenServer("greeting");
  const raw = await openRaw(new URL(server.url), { timeoutMs: 5000 });
  try {
    assert.equal(raw.response.status, 101);
    const first = await raw.next(5000);
    assert.ok("opcode" in first && first.opcode === OPCODE.text);
    assert.equal(new TextDecoder().decode(first.payload), "hello");
    // Nothing else is coming: a timeout leaves the connection usable.
    assert.deepEqual(await raw.next(50), { kind: "timeout" });
    await raw.send({
      opcode: OPCODE.text,
      payload: new TextEncoder().encode("again"),
    });
    const echo = await raw.next(5000);
    assert.ok("opcode" in echo && echo.opcode === OPCODE.text && !echo.masked);
    assert.equal(new TextDecoder().decode(echo.payload), "again");
  } finally {
    raw.close();
  }
});

Deno.test("ws verify: wss:// with --ca against Deno.serve over TLS", async () => {
  const { caPath: ca, cert, key } = await testTls();
  {
    await using server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
      (request) => {
        const { socket, response } = Deno.upgradeWebSocket(request);
        socket.onmessage = (event) => socket.send(event.data);
        return response;
      },
    );
    const url = `wss://127.0.0.1:${server.addr.port}/`;
    const report = await verifyServer(url, {
      caCerts: [await Deno.readTextFile(ca)],
    });
    assert.deepEqual(failedNames(report), [], JSON.stringify(report));
    const result = await runCli(["ws", "verify", url, "--ca", ca]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assertAllPassed(result.stdout);
    // Without the CA the TLS handshake fails: one line, exit 1.
    const untrusted = await runCli(["ws", "verify", url]);
    assert.equal(untrusted.code, 1);
    assert.equal(lines(untrusted.stdout).length, 1);
    assert.match(untrusted.stdout, /^✗ .*certificate/);
  }
});
