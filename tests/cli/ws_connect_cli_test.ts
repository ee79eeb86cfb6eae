// `netkit ws connect` beyond pipes: interactive mode through a real
// pseudo-terminal (script), --reconnect across a server restart, pings.

import assert from "node:assert/strict";
import { acceptKey, serveWebSocket, type WsServer } from "../../ws/mod.ts";
import { cliShellLine, inTerminal, spawnCli } from "./_running.ts";
import {
  hasPeer,
  PROJECT_ROOT,
  runCli,
  startCli,
  testTls,
} from "../_helpers.ts";
import { startSocks5Proxy, startUnixForwarder } from "../_proxies.ts";
import { hasPythonWebsockets, startPythonEcho } from "../ws/_python.ts";

/**
 * A WebSocket server that greets with control characters, echoes, and
 * closes with a hostile reason when asked; it records close frames.
 */
function startHostileServer() {
  const closes: { code: number; reason: string }[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onopen = () => socket.send("evil\x1b]0;pwned\x07 title\u202e");
    socket.onmessage = (event) => {
      if (event.data === "close-evil") {
        socket.close(4001, "bad\x1b[2Jreason");
      } else socket.send(event.data);
    };
    socket.onclose = (event) =>
      closes.push({ code: event.code, reason: event.reason });
    return response;
  });
  return {
    url: `ws://127.0.0.1:${server.addr.port}/`,
    closes,
    shutdown: () => server.shutdown(),
  };
}

Deno.test("ws connect (pipe): peer text stays raw on stdout; the close reason is escaped and the server named as closing first", async () => {
  const server = startHostileServer();
  try {
    const run = spawnCli(["ws", "connect", server.url]);
    await run.write("close-evil\n");
    // Stdin stays open until the server has closed: it closes first.
    await run.waitFor("stderr", /closed 4001/);
    const result = await run.done();
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, "evil\x1b]0;pwned\x07 title\u202e\n");
    assert.match(
      result.stderr,
      /closed 4001 \(private use\): bad\\x1b\[2Jreason \(server closed first\)\n$/,
    );
    assert.ok(!result.stderr.includes("\x1b"), "raw ESC on stderr");
  } finally {
    await server.shutdown();
  }
});

Deno.test({
  name:
    "ws connect (interactive, through a pseudo-terminal): prompt, marks, escaping, /binary, //, /close",
  ignore: !hasPeer("script"),
  async fn() {
    const server = startHostileServer();
    try {
      // script gives the CLI a terminal for stdin, stdout and stderr; its
      // own stdout carries everything the terminal shows.
      const run = inTerminal(cliShellLine(["ws", "connect", server.url]));
      await run.waitFor("stdout", /\/help for commands/);
      await run.waitFor(
        "stdout",
        /< evil\\x1b\]0;pwned\\x07 title\\u\{202e\}\r\n/,
      );
      await run.waitFor("stdout", /> $/);
      await run.write("hello\n");
      await run.waitFor("stdout", /> hello\r\n/); // the terminal's echo
      await run.waitFor("stdout", /< hello\r\n/);
      await run.write("/binary 48 69 ff\n");
      await run.waitFor("stdout", /< \[binary 3 B\] 4869ff\r\n/);
      await run.write("//slash\n");
      await run.waitFor("stdout", /< \/slash\r\n/);
      await run.write("/ping hi\n");
      await run.waitFor(
        "stdout",
        /pong in \d+\.\d ms/,
      );
      await run.write("/bogus\n");
      await run.waitFor("stdout", /unknown command \/bogus/);
      await run.write("/binary xyz\n");
      await run.waitFor("stdout", /\/binary takes hex digits/);
      await run.write("/close 4000 bye now\n");
      const result = await run.done();
      assert.equal(result.code, 0, result.stdout);
      assert.match(result.stdout, /closed 4000 \(private use\): bye now\r\n/);
      assert.ok(
        !result.stdout.includes("\x1b]0;"),
        "the peer's escape sequence reached the terminal",
      );
      assert.deepEqual(server.closes, [{ code: 4000, reason: "bye now" }]);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test("ws connect --reconnect: across a server restart, every line arrives once", async () => {
  let first: WsServer | undefined = serveWebSocket({
    port: 0,
    gracePeriodMs: 2000,
  });
  const port = first.addr.port;
  const url = `ws://127.0.0.1:${port}/ws`;
  let second: WsServer | undefined;
  const run = spawnCli([
    "ws",
    "connect",
    url,
    "--reconnect",
    "--reconnect-max-delay",
    "0.2",
    "--reconnect-tries",
    "100",
  ]);
  try {
    await run.waitFor("stderr", /^connected to /);
    await run.write("before\n");
    await run.waitFor("stdout", /^before\n$/);
    await first.shutdown();
    await run.waitFor(
      "stderr",
      /connection lost: closed 1001 .*\(server closed first\)/,
    );
    await run.waitFor(
      "stderr",
      /reconnecting in \d+\.\d s \(attempt 1 of 100\)/,
    );
    // Typed while no server runs: sent once the new one is up.
    await run.write("while down\n");
    second = serveWebSocket({ port });
    await run.waitFor("stderr", /reconnected to /);
    await run.waitFor("stdout", /while down\n/);
    await run.write("after\n");
    await run.waitFor("stdout", /after\n/);
    const result = await run.done();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "before\nwhile down\nafter\n");
    assert.equal(first.stats().messagesIn, 1);
    assert.equal(second.stats().messagesIn, 2);
    assert.match(result.stderr, /closed 1000 normal closure\n$/);
  } finally {
    await run.done().catch(() => {});
    await first?.shutdown();
    await second?.shutdown();
    first = undefined;
  }
});

Deno.test("ws connect --reconnect gives up after --reconnect-tries with exit 1", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const run = spawnCli([
    "ws",
    "connect",
    `ws://127.0.0.1:${port}/ws`,
    "--reconnect",
    "--reconnect-max-delay",
    "0.05",
    "--reconnect-tries",
    "2",
  ]);
  const result = await run.done();
  assert.equal(result.code, 1, result.stderr);
  // The first attempt and two retries failed; the last failure is the error.
  assert.equal(result.stderr.match(/cannot connect: /g)?.length, 2);
  assert.match(result.stderr, /attempt 2 of 2/);
  assert.match(result.stderr, /gave up after 2 retries: .*refused/);
});

Deno.test("ws connect: flag combinations that make no sense are usage errors", async () => {
  for (
    const args of [
      ["--ping-timeout", "1"],
      ["--reconnect-tries", "3"],
      ["--ping-interval", "0"],
      ["--ping-interval", "soon"],
    ]
  ) {
    const result = await spawnCli([
      "ws",
      "connect",
      "ws://127.0.0.1:1/",
      ...args,
    ])
      .done();
    assert.equal(result.code, 2, `${args}: ${result.stderr}`);
  }
  for (
    const args of [
      ["ws://127.0.0.1:1/", "--ca", "x.pem"],
      ["ws://127.0.0.1:1/", "--insecure"],
      ["wss://127.0.0.1:1/", "--ca", "x.pem", "--insecure"],
      ["wss://127.0.0.1:1/", "--cert", "c.pem"],
      ["ws://127.0.0.1:1/", "--proxy", "http://127.0.0.1:1", "--unix", "/x"],
    ]
  ) {
    const result = await spawnCli(["ws", "connect", ...args]).done();
    assert.equal(result.code, 2, `${args}: ${result.stderr}`);
  }
  const help = await spawnCli(["ws", "connect", "--help"]).done();
  assert.equal(help.code, 0);
  assert.match(help.stdout, /\/close \[code \[reason\]\]/);
});

Deno.test({
  name: "ws connect --ping-interval prints each pong's round trip on stderr",
  async fn() {
    await using server = serveWebSocket({ port: 0 });
    const run = spawnCli([
      "ws",
      "connect",
      `ws://127.0.0.1:${server.addr.port}/ws`,
      "--ping-interval",
      "0.05",
      // The pong timeout defaults to the interval: 50 ms is a timing
      // assumption a loaded machine breaks ("no pong within 0.05 s").
      "--ping-timeout",
      "20",
    ]);
    await run.waitFor("stderr", /(pong in \d+\.\d ms\n[^]*){2}/);
    const result = await run.done();
    assert.equal(result.code, 0, result.stderr);
  },
});

Deno.test({
  name: "ws connect --ping-timeout closes a peer that stopped answering",
  async fn() {
    // Completes the handshake, then reads nothing and answers nothing.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const serving = (async () => {
      for await (const conn of listener) {
        held.push(conn);
        const buf = new Uint8Array(4096);
        const n = await conn.read(buf);
        const head = new TextDecoder().decode(buf.subarray(0, n ?? 0));
        const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? "";
        await conn.write(
          new TextEncoder().encode(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
              `Connection: Upgrade\r\nSec-WebSocket-Accept: ${
                acceptKey(key)
              }\r\n\r\n`,
          ),
        );
      }
    })();
    try {
      const run = spawnCli([
        "ws",
        "connect",
        `ws://127.0.0.1:${listener.addr.port}/`,
        "--ping-interval",
        "0.1",
        "--ping-timeout",
        "0.3",
      ]);
      await run.waitFor(
        "stderr",
        /no pong within 300ms: closed the connection/,
      );
      const result = await run.done();
      assert.equal(result.code, 1, result.stderr);
    } finally {
      listener.close();
      await serving.catch(() => {});
      for (const conn of held) conn.close();
    }
  },
});

Deno.test("ws connect wss:// to ws serve --tls-cert: with --ca, with --insecure, and without either (exit 1)", async () => {
  const { caPath } = await testTls();
  const server = await startCli([
    "ws",
    "serve",
    "--port",
    "0",
    "--tls-cert",
    caPath,
    "--tls-key",
    caPath.replace(/cert\.pem$/, "key.pem"),
  ]);
  const port = server.ports.wss ?? server.ports.ws;
  const url = `wss://localhost:${port}/ws`;
  try {
    for (const flags of [["--ca", caPath], ["--insecure"]]) {
      const result = await runCli(["ws", "connect", url, ...flags], {
        stdin: "over tls\n",
      });
      assert.equal(result.code, 0, `${flags}: ${result.stderr}`);
      assert.equal(result.stdout, "over tls\n");
    }
    const refused = await runCli(["ws", "connect", url], { stdin: "x\n" });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /certificate/i);
    assert.match(refused.stderr, /--ca FILE; to skip every check: --insecure/);
    assert.equal(refused.stdout, "");
  } finally {
    await server.stop();
  }
});

Deno.test("ws connect --proxy socks5:// and --unix PATH reach the server", async () => {
  await using server = serveWebSocket({ port: 0 });
  const socks = startSocks5Proxy();
  const unix = startUnixForwarder(server.addr.port);
  try {
    const viaProxy = await runCli([
      "ws",
      "connect",
      `ws://127.0.0.1:${server.addr.port}/ws`,
      "--proxy",
      socks.url,
    ], { stdin: "via socks\n" });
    assert.equal(viaProxy.code, 0, viaProxy.stderr);
    assert.equal(viaProxy.stdout, "via socks\n");
    assert.deepEqual(socks.requests, [`127.0.0.1:${server.addr.port}`]);
    const viaUnix = await runCli([
      "ws",
      "connect",
      "ws://localhost/ws",
      "--unix",
      unix.path,
    ], { stdin: "via unix\n" });
    assert.equal(viaUnix.code, 0, viaUnix.stderr);
    assert.equal(viaUnix.stdout, "via unix\n");
  } finally {
    await socks.close();
    await unix.close();
  }
});

Deno.test({
  name:
    "ws connect --cert/--key: a python3-websockets server requiring a client certificate accepts it",
  ignore: !hasPythonWebsockets(),
  async fn() {
    const dir = `${PROJECT_ROOT}tests/fixtures/tls/`;
    await using python = await startPythonEcho({
      tls: {
        cert: `${dir}cert.pem`,
        key: `${dir}key.pem`,
        clientCa: `${dir}client_ca.pem`,
      },
    });
    const url = `wss://localhost:${python.port}/`;
    const result = await runCli([
      "ws",
      "connect",
      url,
      "--ca",
      `${dir}cert.pem`,
      "--cert",
      `${dir}client_cert.pem`,
      "--key",
      `${dir}client_key.pem`,
    ], { stdin: "with cert\n" });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "with cert\n");
    assert.deepEqual(python.lines(), ["client-cn netkit test client"]);
    const without = await runCli([
      "ws",
      "connect",
      url,
      "--ca",
      `${dir}cert.pem`,
    ], {
      stdin: "x\n",
    });
    assert.equal(without.code, 1, without.stderr);
    assert.equal(without.stdout, "");
  },
});

Deno.test("ws serve --deflate and ws connect --deflate: compressed round trip; without --deflate on the server, stderr says it was not accepted", async () => {
  const server = await startCli(["ws", "serve", "--port", "0", "--deflate"]);
  const plain = await startCli(["ws", "serve", "--port", "0"]);
  try {
    const big = JSON.stringify({ rows: Array(300).fill({ k: "value" }) });
    const result = await runCli([
      "ws",
      "connect",
      `ws://127.0.0.1:${server.ports.ws}/ws`,
      "--deflate",
    ], { stdin: `small\n${big}\n` });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `small\n${big}\n`);
    assert.match(result.stderr, /\(permessage-deflate\)/);
    const declined = await runCli([
      "ws",
      "connect",
      `ws://127.0.0.1:${plain.ports.ws}/ws`,
      "--deflate",
    ], { stdin: "x\n" });
    assert.equal(declined.code, 0, declined.stderr);
    assert.equal(declined.stdout, "x\n");
    assert.match(declined.stderr, /permessage-deflate not accepted/);
  } finally {
    await server.stop();
    await plain.stop();
  }
});
