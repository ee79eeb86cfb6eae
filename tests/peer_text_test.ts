// Every place that reports a string a peer chose (a reason phrase, a
// header, a close reason, an echoed message) shows it through
// escapeControl: a hostile peer's ESC, C1 controls (CSI U+009B, NEL
// U+0085), bidi overrides and literal backslashes come out as visible,
// unforgeable escapes. One hostile peer per place, on 127.0.0.1.

import assert from "node:assert/strict";
import { dial } from "../tcp/dial.ts";
import {
  checkServer,
  connectWebSocket,
  serveWebSocket,
  verifyServer,
} from "../ws/mod.ts";
import { readAllWithin, withTimeout } from "./_helpers.ts";
import { assertEscaped, HOSTILE, HOSTILE_LATIN1, RAW } from "./_peer_text.ts";

const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** A TCP server that reads one request head and answers with `response` (a head in Latin-1, or bytes), then closes. */
function answerOnce(response: string | Uint8Array): {
  port: number;
  done: Promise<void>;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const done = (async () => {
    try {
      const conn = await listener.accept();
      try {
        const buf = new Uint8Array(16 * 1024);
        let head = "";
        while (!head.includes("\r\n\r\n")) {
          const n = await conn.read(buf);
          if (n === null) break;
          head += new TextDecoder().decode(buf.subarray(0, n));
        }
        await conn.write(
          typeof response === "string" ? latin1(response) : response,
        );
      } finally {
        conn.close();
      }
    } finally {
      listener.close();
    }
  })();
  return { port: listener.addr.port, done };
}

async function messageOf(promise: Promise<unknown>): Promise<string> {
  const error = await withTimeout(
    promise.then(() => undefined, (e: unknown) => e),
    20_000,
    "the call to fail",
  );
  assert.ok(error instanceof Error, `expected an error, got ${error}`);
  return error.message;
}

Deno.test("peer text: an HTTP proxy's refusal reason", async () => {
  const proxy = answerOnce(`HTTP/1.1 403 ${HOSTILE_LATIN1}\r\n\r\n`);
  const message = await messageOf(
    dial("127.0.0.1:9", { proxy: `http://127.0.0.1:${proxy.port}` }),
  );
  await proxy.done;
  assertEscaped(message, "dial through a proxy");
});

Deno.test("peer text: a WebSocket server's refusal: status reason and body", async () => {
  // The body is UTF-8 text: the same controls as code points.
  const body = new TextEncoder().encode(`no ${HOSTILE}`);
  const head = latin1(
    `HTTP/1.1 403 ${HOSTILE_LATIN1}\r\ncontent-length: ${body.length}\r\n\r\n`,
  );
  const server = answerOnce(new Uint8Array([...head, ...body]));
  const message = await messageOf(
    connectWebSocket(`ws://127.0.0.1:${server.port}/`),
  );
  await server.done;
  assertEscaped(message, "connectWebSocket refused");
  assert.equal(message.split("\\x9b2J").length, 3, message); // reason and body
});

Deno.test("peer text: a WebSocket server that picks a subprotocol nobody offered", async () => {
  const server = answerOnce(
    "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
      `sec-websocket-accept: x\r\nsec-websocket-protocol: ${HOSTILE_LATIN1}\r\n\r\n`,
  );
  const message = await messageOf(
    connectWebSocket(`ws://127.0.0.1:${server.port}/`),
  );
  await server.done;
  assertEscaped(message, "connectWebSocket handshake problems");
});

/** Sends `request` (Latin-1) and returns the whole response as text. */
async function rawRequest(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(latin1(request));
    return new TextDecoder().decode(await readAllWithin(conn));
  } finally {
    conn.close();
  }
}

const bodyOf = (response: string) =>
  response.slice(response.indexOf("\r\n\r\n") + 4);

const UPGRADE =
  "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" +
  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
  "Sec-WebSocket-Version: 13\r\n";

Deno.test("peer text: the WebSocket server's 403 names a refused Origin escaped", async () => {
  await using server = serveWebSocket({
    port: 0,
    allowedOrigins: ["https://good.example"],
  });
  const response = await rawRequest(
    server.addr.port,
    `${UPGRADE}Origin: https://${HOSTILE_LATIN1}\r\n\r\n`,
  );
  assert.match(response, /^HTTP\/1\.1 403 /);
  assertEscaped(bodyOf(response), "the 403 body");
});

Deno.test("peer text: the WebSocket server's 400 quotes a bad header line escaped", async () => {
  await using server = serveWebSocket({ port: 0 });
  const response = await rawRequest(
    server.addr.port,
    `${UPGRADE}X-${HOSTILE_LATIN1}: 1\r\n\r\n`,
  );
  assert.match(response, /^HTTP\/1\.1 400 /);
  assertEscaped(bodyOf(response), "the 400 body");
});

/**
 * A WebSocket server (Deno's own) that answers every message with the
 * hostile text (`/text`) or closes with it as the reason (`/close`).
 */
function hostileWsServer(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const { socket, response } = Deno.upgradeWebSocket(request);
      const path = new URL(request.url).pathname;
      socket.onmessage = () => {
        if (path === "/close") socket.close(1000, HOSTILE);
        else socket.send(HOSTILE);
      };
      return response;
    },
  );
}

Deno.test("peer text: ws verify reports a server's echo and close reason escaped", async () => {
  await using server = hostileWsServer();
  const base = `ws://127.0.0.1:${server.addr.port}`;
  for (const path of ["/text", "/close"]) {
    const report = await verifyServer(`${base}${path}`, { timeoutMs: 5000 });
    const echo = report.checks.find((c) => c.name === "echo");
    assert.ok(echo && !echo.ok, JSON.stringify(report.checks));
    assertEscaped(echo.message, `verify ${path} message`);
    assertEscaped(echo.actual ?? "", `verify ${path} actual`);
  }
});

Deno.test("peer text: ws check's observed column shows a close reason escaped", async () => {
  await using server = hostileWsServer();
  const report = await checkServer(
    `ws://127.0.0.1:${server.addr.port}/close`,
    { cases: "1.1.1", timeoutMs: 5000 },
  );
  const [result] = report.results;
  assert.ok(result, "one case ran");
  assert.doesNotMatch(result.observed, RAW, result.observed);
  assert.match(result.observed, /\\x1b\]0;t\\x07/, result.observed);
});
