// `netkit ws connect` with the habits wscat and websocat users bring
// (flags, raw output, a URL without scheme), what reaches a terminal from
// a hostile server (through a real pseudo-terminal: script), the line
// editor's redraw, Ctrl-C, and the wording of failed connects.

import assert from "node:assert/strict";
import { serveWebSocket } from "../../ws/mod.ts";
import {
  freePort,
  missingPeer,
  runCli,
  startCli,
  testTls,
} from "../_helpers.ts";
import {
  cliShellLine,
  inTerminal,
  spawn,
  spawnCli,
  waitListening,
} from "./_running.ts";

/** A WebSocket server that records each request's headers and echoes. */
function startRecordingServer(protocol?: string) {
  const requests: Headers[] = [];
  const received: string[] = [];
  const closes: { code: number; reason: string }[] = [];
  const sockets: WebSocket[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, (request) => {
    requests.push(new Headers(request.headers));
    const { socket, response } = Deno.upgradeWebSocket(request, { protocol });
    sockets.push(socket);
    socket.onmessage = (event) => {
      received.push(String(event.data));
      socket.send(event.data);
    };
    socket.onclose = (event) =>
      closes.push({ code: event.code, reason: event.reason });
    return response;
  });
  return {
    port: server.addr.port,
    requests,
    received,
    closes,
    /** Sends to every client connected so far. */
    push(text: string) {
      for (const s of sockets) {
        if (s.readyState === WebSocket.OPEN) s.send(text);
      }
    },
    shutdown: () => server.shutdown(),
  };
}

/** A TCP server that answers every connection with `bytes` and closes. */
function startRawServer(bytes: Uint8Array) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const conn of listener) {
      const buf = new Uint8Array(4096);
      await conn.read(buf).catch(() => null);
      await conn.write(bytes).catch(() => 0);
      conn.close();
    }
  })();
  return {
    port: listener.addr.port,
    async close() {
      listener.close();
      await serving.catch(() => {});
    },
  };
}

Deno.test("ws connect takes wscat's flags: -c, -s, -x, -w, -o, -H, --auth; a URL without a scheme is ws://", async () => {
  const server = startRecordingServer("chat");
  try {
    const result = await runCli([
      "ws",
      "connect",
      "-c",
      `127.0.0.1:${server.port}/path`,
      "-s",
      "chat",
      "-x",
      "one",
      "-x",
      "two",
      "-w",
      "2",
      "-o",
      "http://app.test",
      "-H",
      "X-Test: 1",
      "--auth",
      "me:pw",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "one\ntwo\n");
    assert.match(
      result.stderr,
      new RegExp(
        `connected to ws://127\\.0\\.0\\.1:${server.port}/path \\(protocol chat\\)`,
      ),
    );
    assert.deepEqual(server.received, ["one", "two"]);
    const headers = server.requests[0]!;
    assert.equal(headers.get("origin"), "http://app.test");
    assert.equal(headers.get("x-test"), "1");
    assert.equal(headers.get("authorization"), `Basic ${btoa("me:pw")}`);
    assert.equal(headers.get("sec-websocket-protocol"), "chat");
    const help = await runCli(["ws", "connect", "--help"]);
    for (
      const flag of [
        "-c, --connect",
        "-s, --subprotocol",
        "-n, --no-check",
        "-x, --execute",
        "-P, --show-ping-pong",
        "-w, --wait",
        "-H, --header",
        "--raw",
      ]
    ) {
      assert.ok(help.stdout.includes(flag), `${flag} not in the help`);
    }
    const both = await runCli(["ws", "connect", "ws://a/", "-c", "ws://b/"]);
    assert.equal(both.code, 2, both.stderr);
    // wscat's own shape: `netkit ws -c URL`.
    const short = await runCli([
      "ws",
      "-c",
      `127.0.0.1:${server.port}/`,
      "-s",
      "chat",
      "-x",
      "three",
    ]);
    assert.equal(short.code, 0, short.stderr);
    assert.equal(short.stdout, "three\n");
  } finally {
    await server.shutdown();
  }
});

Deno.test("ws connect -n (wscat's --no-check) skips the certificate check of wss://", async () => {
  const { caPath } = await testTls();
  await using server = await startCli([
    "ws",
    "serve",
    "--port",
    "0",
    "--tls-cert",
    caPath,
    "--tls-key",
    caPath.replace(/cert\.pem$/, "key.pem"),
  ]);
  const url = `wss://localhost:${server.ports.wss ?? server.ports.ws}/ws`;
  const checked = await runCli(["ws", "connect", url, "-x", "x"]);
  assert.equal(checked.code, 1, checked.stderr);
  const result = await runCli(["ws", "connect", url, "-n", "-x", "secure"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "secure\n");
});

Deno.test({
  name: "ws connect against wscat -l: messages both ways",
  ignore: missingPeer("wscat"),
  async fn() {
    const port = freePort();
    const wscat = spawn("wscat", ["-l", String(port)]);
    try {
      await waitListening(port);
      const run = spawnCli([
        "ws",
        "connect",
        "-c",
        `127.0.0.1:${port}`,
        "-x",
        "from netkit",
        "-w",
        "10",
      ]);
      await run.waitFor("stderr", /connected to /);
      await wscat.waitFor("stdout", /from netkit/);
      await wscat.write("from wscat\n");
      const result = await run.done();
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "from wscat\n");
    } finally {
      await wscat.kill();
    }
  },
});

Deno.test("ws connect -P shows the server's pings and pongs; --ping-interval prints round trips", async () => {
  // The server pings a client silent for half its idle timeout.
  await using server = serveWebSocket({ port: 0, idleTimeoutMs: 400 });
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  const pinged = spawnCli(["ws", "connect", url, "-P"]);
  try {
    await pinged.waitFor("stderr", /received ping \(\d+ B\)/);
  } finally {
    const result = await pinged.done();
    assert.equal(result.code, 0, result.stderr);
  }
  const ponged = spawnCli([
    "ws",
    "connect",
    url,
    "-P",
    "--ping-interval",
    "0.1",
  ]);
  try {
    await ponged.waitFor(
      "stderr",
      /received pong \(4 B\): [^]*pong in \d+\.\d ms/,
    );
  } finally {
    const result = await ponged.done();
    assert.equal(result.code, 0, result.stderr);
  }
});

Deno.test("ws connect --raw writes binary messages as their bytes; --hex and --base64 as text; one format at a time", async () => {
  await using server = serveWebSocket({ port: 0 });
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  const bytes = new Uint8Array([0, 1, 0xff, 0x0a, 0x1b, 0x80]);
  // -b sends each line as binary: a line without its newline.
  const stdin = new Uint8Array([...bytes.filter((b) => b !== 0x0a), 0x0a]);
  const rawBytes = await rawStdout(
    ["ws", "connect", url, "-b", "--raw"],
    stdin,
  );
  assert.deepEqual(rawBytes, stdin.subarray(0, -1));
  const hex = await runCli(["ws", "connect", url, "-b"], { stdin });
  assert.equal(hex.stdout, "0001ff1b80\n");
  const base64 = await runCli(["ws", "connect", url, "-b", "--base64"], {
    stdin,
  });
  assert.equal(base64.stdout, `${stdin.subarray(0, -1).toBase64()}\n`);
  for (
    const flags of [["--raw", "--base64"], ["--hex", "--raw"], [
      "--raw",
      "--json",
    ]]
  ) {
    const refused = await runCli(["ws", "connect", url, ...flags]);
    assert.equal(refused.code, 2, `${flags}: ${refused.stderr}`);
  }
});

/** The CLI's stdout as bytes (runCli decodes it as text). */
async function rawStdout(args: string[], stdin: Uint8Array) {
  const { cliCommand } = await import("../_helpers.ts");
  const { cmd, args: full } = cliCommand(args);
  const child = new Deno.Command(cmd, {
    args: full,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(stdin);
  await writer.close();
  const output = await child.output();
  assert.equal(output.code, 0);
  return output.stdout;
}

const HOSTILE = "evil\x1b]0;pwned\x07\x1b[2J\u009b2J\u202eright-to-left\u2066";

/** What a terminal must never be sent by netkit on a peer's behalf. */
function assertNothingRaw(shown: string) {
  assert.ok(
    !shown.includes("\x1b]0;"),
    `OSC reached the terminal: ${JSON.stringify(shown)}`,
  );
  assert.ok(
    !shown.includes("\x1b[2J"),
    `CSI reached the terminal: ${JSON.stringify(shown)}`,
  );
  assert.ok(
    !/[\u0080-\u009f\u202a-\u202e\u2066-\u2069]/.test(shown),
    `C1 or bidi reached the terminal: ${JSON.stringify(shown)}`,
  );
}

Deno.test({
  name:
    "ws connect on a terminal: a hostile server's text, close reason and --json never reach it raw (script)",
  ignore: missingPeer("script"),
  async fn() {
    const server = startRecordingServer();
    try {
      const url = `ws://127.0.0.1:${server.port}/`;
      // Pipe mode (stdin a pipe), stdout and stderr the terminal.
      for (const extra of [[], ["--json"]]) {
        const message = JSON.stringify(HOSTILE);
        const run = inTerminal(
          `printf '%s\\n' ${shellWord(message.slice(1, -1))} | ${
            cliShellLine(["ws", "connect", url, ...extra])
          }`,
        );
        const result = await run.done();
        assert.equal(result.code, 0, result.stdout);
        assertNothingRaw(result.stdout);
        assert.match(result.stdout, extra.length ? /\\u202e/ : /\\u\{202e\}/);
      }
      // The same text to a pipe stays as it is.
      const piped = await runCli(["ws", "connect", url], {
        stdin: `${HOSTILE}\n`,
      });
      assert.equal(piped.stdout, `${HOSTILE}\n`);
      // A close reason.
      const closing = startHostileCloser();
      try {
        const run = inTerminal(
          `sleep 5 | ${cliShellLine(["ws", "connect", closing.url])}`,
        );
        const result = await run.done();
        assert.equal(result.code, 1, result.stdout);
        assert.match(result.stdout, /closed 4001/);
        assertNothingRaw(result.stdout);
      } finally {
        await closing.shutdown();
      }
    } finally {
      await server.shutdown();
    }
  },
});

function shellWord(text: string): string {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

/** Sends a hostile text, then closes with a hostile reason. */
function startHostileCloser() {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      const { socket, response } = Deno.upgradeWebSocket(request);
      socket.onopen = () => {
        socket.send(HOSTILE);
        socket.close(4001, "bad\x1b[2J\u009breason\u202e");
      };
      return response;
    },
  );
  return {
    url: `ws://127.0.0.1:${server.addr.port}/`,
    shutdown: () => server.shutdown(),
  };
}

Deno.test({
  name:
    "ws connect on a terminal: a hostile status line and body never reach it raw (script)",
  ignore: missingPeer("script"),
  async fn() {
    const body = `\x1b]0;pwned\x07\u009b2J body \u202e`;
    const heads = [
      // A refusal whose body is hostile.
      [
        `HTTP/1.1 403 No Way\r\nContent-Length: ${
          new TextEncoder().encode(body).length
        }\r\n\r\n${body}`,
        /HTTP 403 No Way: \\x1b\]0;pwned/,
      ],
      // A status line that is not one.
      ["HTTP/1.1 403 No\x1b[2J\u009bWay\u202e\r\n\r\n", /bad status line/],
    ] as const;
    for (const [head, expected] of heads) {
      const server = startRawServer(new TextEncoder().encode(head));
      try {
        const run = inTerminal(cliShellLine([
          "ws",
          "connect",
          `ws://127.0.0.1:${server.port}/`,
          "-x",
          "x",
        ]));
        const result = await run.done();
        assert.equal(result.code, 1, result.stdout);
        assert.match(result.stdout, expected);
        assertNothingRaw(result.stdout);
      } finally {
        await server.close();
      }
    }
  },
});

Deno.test({
  name:
    "ws connect (interactive): a message arriving while typing is printed above, and the typed text is redrawn and sent whole",
  ignore: missingPeer("script"),
  async fn() {
    const server = startRecordingServer();
    try {
      const run = inTerminal(cliShellLine([
        "ws",
        "connect",
        `ws://127.0.0.1:${server.port}/`,
      ]));
      await run.waitFor("stdout", /\/help for commands[^]*> $/);
      await run.write("abc");
      await run.waitFor("stdout", /> abc$/);
      server.push("tick");
      // The line is cleared, the message printed, the prompt and "abc" drawn again.
      // deno-lint-ignore no-control-regex
      await run.waitFor("stdout", /\r\x1b\[K< tick\r\n> abc$/);
      await run.write("def\r");
      await run.waitFor("stdout", /< abcdef\r\n/);
      assert.deepEqual(server.received, ["abcdef"]);
      // Backspace and Ctrl-U edit the line before it is sent.
      await run.write("xy\x7fz\x15kept\r");
      await run.waitFor("stdout", /< kept\r\n/);
      assert.deepEqual(server.received, ["abcdef", "kept"]);
      await run.write("\x04");
      const result = await run.done();
      assert.equal(result.code, 0, result.stdout);
      assert.match(result.stdout, /closed 1000 normal closure/);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "ws connect (interactive): Ctrl-C sends a Close frame, then exits 130",
  ignore: missingPeer("script"),
  async fn() {
    const server = startRecordingServer();
    try {
      const run = inTerminal(cliShellLine([
        "ws",
        "connect",
        `ws://127.0.0.1:${server.port}/`,
      ]));
      await run.waitFor("stdout", /> $/);
      await run.write("\x03");
      const result = await run.done();
      assert.equal(result.code, 130, result.stdout);
      // The client's Close frame, not just the socket closing at exit.
      assert.deepEqual(server.closes, [{ code: 1000, reason: "aborted" }]);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test("ws connect: wss:// to a plain server and a web page instead of an endpoint are said in words", async () => {
  await using plain = serveWebSocket({ port: 0 });
  const tls = await runCli([
    "ws",
    "connect",
    `wss://127.0.0.1:${plain.addr.port}/ws`,
    "-x",
    "x",
  ]);
  assert.equal(tls.code, 1, tls.stderr);
  assert.match(tls.stderr, /did not answer in TLS/);
  assert.match(
    tls.stderr,
    new RegExp(
      `for a plain server: ws://127\\.0\\.0\\.1:${plain.addr.port}/ws`,
    ),
  );
  assert.doesNotMatch(tls.stderr, /InvalidContentType/);
  const html = `<!DOCTYPE html><html><head><title>Welcome</title></head><body>${
    "<p>text</p>".repeat(50)
  }</body></html>`;
  const page = startRawServer(new TextEncoder().encode(
    `HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: ${html.length}\r\n\r\n${html}`,
  ));
  try {
    const result = await runCli([
      "ws",
      "connect",
      `127.0.0.1:${page.port}/`,
      "-x",
      "x",
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(
      result.stderr.trim(),
      'netkit: HTTP 200 OK: a web page ("Welcome"), not a WebSocket upgrade (is the path right?)',
    );
  } finally {
    await page.close();
  }
});
