// `netkit ws serve` and `netkit ws connect` as users run them.

import assert from "node:assert/strict";
import { serveWebSocket } from "../../ws/server.ts";
import { connectWebSocket, type WsMessage } from "../../ws/client.ts";
import { cliCommand, PROJECT_ROOT, runCli, startCli } from "../_helpers.ts";
import { startWsServices, wsServeHint } from "../../cli/_ws_serve.ts";

Deno.test("ws serve: prints listening, serves the page and echoes; SIGTERM exits 0 with a summary", async () => {
  const server = await startCli(["ws", "serve", "--port", "0"]);
  let stopped = false;
  try {
    assert.match(server.listening[0]!, /^listening ws 127\.0\.0\.1:\d+$/);
    const port = server.ports.ws!;
    const page = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>netkit ws · echo<\/title>/);
    await using client = await connectWebSocket(`ws://127.0.0.1:${port}/ws`);
    client.send("through the CLI server");
    const got: WsMessage[] = [];
    for await (const message of client) {
      got.push(message);
      break;
    }
    assert.deepEqual(got, ["through the CLI server"]);
    await client.close();
    const result = await server.stop();
    stopped = true;
    assert.equal(result.code, 0);
    assert.equal(result.stdout, "");
    assert.match(
      result.stderr,
      new RegExp(`open http://127\\.0\\.0\\.1:${port}/ in a browser`),
    );
    assert.match(result.stderr, /echo\/ws: served 1, .*1 message in, 1 out/);
  } finally {
    if (!stopped) await server.stop();
  }
});

Deno.test("ws serve: --allow-origin and --mode broadcast are applied", async () => {
  const server = await startCli([
    "ws",
    "serve",
    "--port",
    "0",
    "--mode",
    "broadcast",
    "--allow-origin",
    "https://ok.example",
  ]);
  try {
    const url = `ws://127.0.0.1:${server.ports.ws}/ws`;
    await assert.rejects(
      connectWebSocket(url, { headers: { Origin: "https://evil.example" } }),
      /HTTP 403 Forbidden/,
    );
    await using a = await connectWebSocket(url, {
      headers: { Origin: "https://ok.example" },
    });
    await using b = await connectWebSocket(url);
    a.send("to everyone else");
    for await (const message of b) {
      assert.equal(message, "to everyone else");
      break;
    }
  } finally {
    await server.stop();
  }
});

Deno.test("ws connect: stdin lines go out, echoes come back on stdout, clean close on stderr", async () => {
  await using server = serveWebSocket({ port: 0 });
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  const result = await runCli(["ws", "connect", url], {
    stdin: "hello\nworld\r\nlast line",
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "hello\nworld\nlast line\n");
  assert.match(result.stderr, /^connected to ws:\/\/127\.0\.0\.1:\d+\/ws\n/);
  assert.match(result.stderr, /closed 1000 normal closure\n$/);
  assert.equal(server.stats().messagesIn, 3);
});

Deno.test("ws connect: --binary sends bytes, prints hex or base64; --json gives one object per line", async () => {
  await using server = serveWebSocket({ port: 0 });
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  const hex = await runCli(["ws", "connect", url, "--binary"], {
    stdin: "AB\n",
  });
  assert.equal(hex.code, 0, hex.stderr);
  assert.equal(hex.stdout, "4142\n");
  const b64 = await runCli(["ws", "connect", url, "--binary", "--base64"], {
    stdin: "AB\n",
  });
  assert.equal(b64.stdout, "QUI=\n");
  const json = await runCli(["ws", "connect", url, "--json"], {
    stdin: "a\nb\n",
  });
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(
    json.stdout.trimEnd().split("\n").map((l) => JSON.parse(l)),
    [
      { type: "text", data: "a" },
      { type: "text", data: "b" },
      {
        type: "close",
        code: 1000,
        reason: "",
        wasClean: true,
        sent: 2,
        received: 2,
      },
    ],
  );
});

Deno.test("ws connect: --header and --protocol reach the server", async () => {
  await using server = serveWebSocket({
    port: 0,
    allowedOrigins: ["https://ok.example"],
    protocols: ["chat"],
  });
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  const result = await runCli(
    [
      "ws",
      "connect",
      url,
      "--header",
      "Origin: https://ok.example",
      "--protocol",
      "chat",
    ],
    { stdin: "x\n" },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /\(protocol chat\)/);
  assert.equal(result.stdout, "x\n");
});

Deno.test("ws connect: a failed upgrade prints the HTTP status and body and exits 1", async () => {
  await using server = serveWebSocket({
    port: 0,
    allowedOrigins: ["https://ok.example"],
  });
  const forbidden = await runCli([
    "ws",
    "connect",
    `ws://127.0.0.1:${server.addr.port}/ws`,
    "--header",
    "Origin: https://evil.example",
  ], { stdin: "" });
  assert.equal(forbidden.code, 1);
  assert.equal(
    forbidden.stderr,
    "netkit: HTTP 403 Forbidden: origin https://evil.example is not allowed\n",
  );
  const missing = await runCli([
    "ws",
    "connect",
    `ws://127.0.0.1:${server.addr.port}/nope`,
  ], {
    stdin: "",
  });
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /^netkit: HTTP 404 Not Found: not found: the WebSocket endpoint is \/ws\n$/,
  );
});

Deno.test("ws connect: the server closing abnormally exits 1 with the code", async () => {
  await using server = serveWebSocket({ port: 0, maxMessageSize: 4 });
  const result = await runCli([
    "ws",
    "connect",
    `ws://127.0.0.1:${server.addr.port}/ws`,
  ], {
    stdin: "far too long\n",
  });
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /closed 1009 message too big: message of 12 bytes is over the 4 byte limit/,
  );
});

Deno.test("ws: usage errors exit 2, --help exits 0", async () => {
  const unknown = await runCli([
    "ws",
    "connect",
    "ws://127.0.0.1:1/",
    "--bogus",
  ]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown option '--bogus'/);
  const badUrl = await runCli(["ws", "connect", "http//nope"]);
  assert.equal(badUrl.code, 2);
  const badMode = await runCli(["ws", "serve", "--mode", "shout"]);
  assert.equal(badMode.code, 2);
  assert.match(badMode.stderr, /--mode takes echo or broadcast/);
  const help = await runCli(["ws", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^ {2}connect +a client like wscat/m);
  const connect = await runCli(["ws", "connect", "--help"]);
  assert.equal(connect.code, 0);
  assert.match(connect.stdout, /^Usage: netkit ws connect URL/);
});

Deno.test("ws connect: a few MB of piped lines all come back, in order", async () => {
  await using server = serveWebSocket({ port: 0 });
  const lines = Array.from(
    { length: 4000 },
    (_, i) => `${i}:${"y".repeat(1000)}`,
  );
  const input = lines.join("\n") + "\n";
  // runCli writes all of stdin before reading stdout; this much data needs
  // both pipes drained at once.
  const { cmd, args } = cliCommand([
    "ws",
    "connect",
    `ws://127.0.0.1:${server.addr.port}/ws`,
  ]);
  const child = new Deno.Command(cmd, {
    args,
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writing = (async () => {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  })();
  const result = await child.output();
  await writing;
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  assert.equal(new TextDecoder().decode(result.stdout), input);
  assert.equal(server.stats().messagesIn, 4000);
});

Deno.test("startWsServices: the WebSocket echo for `netkit serve`, with its hint", async () => {
  const [service] = startWsServices({ hostname: "127.0.0.1", port: 0 });
  assert.ok(service);
  assert.equal(service.kind, "ws");
  const port = service.server.addr.port;
  assert.equal(
    wsServeHint(service.server),
    `try: netkit ws connect ws://127.0.0.1:${port}/ws  or open http://127.0.0.1:${port}/`,
  );
  await using client = await connectWebSocket(`ws://127.0.0.1:${port}/ws`);
  client.send("ping");
  for await (const message of client) {
    assert.equal(message, "ping");
    break;
  }
  await client.close();
  try {
    assert.throws(
      () => startWsServices({ hostname: "127.0.0.1", port }),
      new RegExp(
        `cannot listen on 127\\.0\\.0\\.1:${port}: address already in use`,
      ),
    );
  } finally {
    await service.server.shutdown();
  }
});
