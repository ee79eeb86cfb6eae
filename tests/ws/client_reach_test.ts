// connectWebSocket reaching servers the runtime client cannot: wss:// with
// a custom CA, without checks (insecure), with a client certificate,
// through HTTP CONNECT and SOCKS5 proxies, and over a Unix socket.

import assert from "node:assert/strict";
import {
  connectWebSocket,
  serveWebSocket,
  type WsClientOptions,
  WsError,
} from "../../ws/mod.ts";
import { PROJECT_ROOT, testTls } from "../_helpers.ts";
import {
  startHttpProxy,
  startSocks5Proxy,
  startUnixForwarder,
} from "../_proxies.ts";
import { hasPythonWebsockets, startPythonEcho } from "./_python.ts";

const TLS_DIR = `${PROJECT_ROOT}tests/fixtures/tls/`;
const HAS_PYTHON = hasPythonWebsockets();

/** Connects, sends one text message and returns the echo. */
async function echoOnce(
  url: string,
  options: WsClientOptions,
  text = "hello",
): Promise<string> {
  await using client = await connectWebSocket(url, {
    timeoutMs: 10_000,
    ...options,
  });
  client.send(text);
  for await (const message of client) return String(message);
  throw new Error("closed before the echo");
}

function isWsError(code: string) {
  return (error: unknown) => {
    assert.ok(error instanceof WsError, String(error));
    assert.equal(error.code, code, error.message);
    return true;
  };
}

Deno.test("connectWebSocket wss://: caCerts and tls.caCerts trust the test certificate; without it the connect fails; insecure skips the checks", async () => {
  const { cert, key } = await testTls();
  await using server = serveWebSocket({ port: 0, tls: { cert, key } });
  const url = `wss://localhost:${server.addr.port}/ws`;
  assert.equal(await echoOnce(url, { caCerts: [cert] }), "hello");
  assert.equal(await echoOnce(url, { tls: { caCerts: [cert] } }), "hello");
  await assert.rejects(echoOnce(url, {}), isWsError("connect_failed"));
  assert.equal(await echoOnce(url, { tls: { insecure: true } }), "hello");
  // insecure means no name check either: the certificate names neither
  // this IP nor this name, and it still connects (like curl -k).
  assert.equal(
    await echoOnce(url, {
      tls: { insecure: true, serverName: "not-the-name.example" },
    }),
    "hello",
  );
  await assert.rejects(
    echoOnce(url, {
      tls: { caCerts: [cert], serverName: "not-the-name.example" },
    }),
    isWsError("connect_failed"),
  );
});

Deno.test("connectWebSocket through HTTP CONNECT (with credentials) and SOCKS5 proxies, ws:// and wss://", async () => {
  const { cert, key } = await testTls();
  await using plain = serveWebSocket({ port: 0 });
  await using secure = serveWebSocket({ port: 0, tls: { cert, key } });
  const auth = { username: "user", password: "p@ss" };
  const http = startHttpProxy({ auth });
  const socks = startSocks5Proxy();
  try {
    const httpUrl = `http://user:p%40ss@127.0.0.1:${http.addr.port}`;
    for (const proxy of [httpUrl, socks.url]) {
      assert.equal(
        await echoOnce(`ws://127.0.0.1:${plain.addr.port}/ws`, { proxy }),
        "hello",
      );
      assert.equal(
        await echoOnce(`wss://localhost:${secure.addr.port}/ws`, {
          proxy,
          caCerts: [cert],
        }),
        "hello",
      );
    }
    assert.deepEqual(http.requests, [
      `127.0.0.1:${plain.addr.port}`,
      `localhost:${secure.addr.port}`,
    ]);
    assert.deepEqual(http.credentials, ["user:p@ss", "user:p@ss"]);
    assert.deepEqual(socks.requests, [
      `127.0.0.1:${plain.addr.port}`,
      `localhost:${secure.addr.port}`,
    ]);
    // Wrong credentials: the proxy refuses and the connect says so.
    await assert.rejects(
      echoOnce(`ws://127.0.0.1:${plain.addr.port}/ws`, {
        proxy: `http://user:wrong@127.0.0.1:${http.addr.port}`,
      }),
      (error) =>
        isWsError("connect_failed")(error) && /407|auth/i.test(
          (error as Error).message,
        ),
    );
  } finally {
    await http.close();
    await socks.close();
  }
});

Deno.test("connectWebSocket over a Unix socket: ws:// and wss:// (TLS named by the URL's host)", async () => {
  const { cert, key } = await testTls();
  await using plain = serveWebSocket({ port: 0 });
  await using secure = serveWebSocket({ port: 0, tls: { cert, key } });
  const toPlain = startUnixForwarder(plain.addr.port);
  const toSecure = startUnixForwarder(secure.addr.port);
  try {
    // The URL's port is never dialled: only the socket is.
    assert.equal(
      await echoOnce("ws://localhost:1/ws", { unixPath: toPlain.path }),
      "hello",
    );
    assert.equal(
      await echoOnce("wss://localhost:1/ws", {
        unixPath: toSecure.path,
        caCerts: [cert],
      }),
      "hello",
    );
    await assert.rejects(
      echoOnce("ws://localhost/ws", { unixPath: `${toPlain.path}.missing` }),
      isWsError("connect_failed"),
    );
  } finally {
    await toPlain.close();
    await toSecure.close();
  }
});

Deno.test({
  name:
    "connectWebSocket presents a client certificate to a python3-websockets server that requires one",
  ignore: !HAS_PYTHON,
  async fn() {
    const caCerts = [await Deno.readTextFile(`${TLS_DIR}cert.pem`)];
    await using python = await startPythonEcho({
      tls: {
        cert: `${TLS_DIR}cert.pem`,
        key: `${TLS_DIR}key.pem`,
        clientCa: `${TLS_DIR}client_ca.pem`,
      },
    });
    const url = `wss://localhost:${python.port}/`;
    const tls = {
      caCerts,
      cert: await Deno.readTextFile(`${TLS_DIR}client_cert.pem`),
      key: await Deno.readTextFile(`${TLS_DIR}client_key.pem`),
    };
    assert.equal(await echoOnce(url, { tls }), "hello");
    assert.deepEqual(python.lines(), ["client-cn netkit test client"]);
    // Without one, the server refuses the TLS handshake (TLS 1.3 may
    // report it at the first read: either way no connection opens).
    await assert.rejects(
      echoOnce(url, { tls: { caCerts } }),
      (error) =>
        error instanceof WsError &&
        ["connect_failed", "bad_http"].includes(error.code),
    );
  },
});
