import assert from "node:assert/strict";
import tls from "node:tls";
import { Duplex } from "node:stream";
import { dial, type DialConn, serveEcho, TcpError } from "../../tcp/mod.ts";
import { startHttpProxy, startSocks5Proxy } from "../_proxies.ts";
import { WAIT_MS, withTimeout } from "../_helpers.ts";

const FIXTURES = new URL("../fixtures/tls/", import.meta.url).pathname;
const read = (name: string) => Deno.readTextFileSync(FIXTURES + name);
const CERT = read("cert.pem"); // CN=localhost, SAN DNS:localhost IP:127.0.0.1
const KEY = read("key.pem");
const CLIENT_CA = read("client_ca.pem");
const CLIENT_CERT = read("client_cert.pem");
const CLIENT_KEY = read("client_key.pem");

/** Writes `text`, half-closes, and reads everything back until EOF. */
async function roundTrip(conn: DialConn, text: string): Promise<string> {
  const data = new TextEncoder().encode(text);
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
  await conn.closeWrite();
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  conn.close();
  return chunks.map((c) => new TextDecoder().decode(c)).join("");
}

function isTcpError(code: string) {
  return (error: unknown) => {
    assert.ok(error instanceof TcpError, `expected TcpError, got ${error}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

Deno.test("dial: plain TCP, both address forms", async () => {
  await using server = serveEcho({ port: 0 });
  const port = server.addr.port;
  assert.equal(
    await roundTrip(await dial(`127.0.0.1:${port}`), "one"),
    "one",
  );
  assert.equal(
    await roundTrip(await dial({ hostname: "127.0.0.1", port }), "two"),
    "two",
  );
});

Deno.test("dial: nothing listening is connect_failed", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(dial(`127.0.0.1:${port}`), isTcpError("connect_failed"));
});

Deno.test("dial: HTTP CONNECT proxy without credentials", async () => {
  await using server = serveEcho({ port: 0 });
  const proxy = startHttpProxy();
  try {
    const conn = await dial(`localhost:${server.addr.port}`, {
      proxy: proxy.url,
    });
    assert.equal(conn.remoteAddr.transport, "tcp");
    assert.equal((conn.remoteAddr as Deno.NetAddr).port, proxy.addr.port);
    assert.equal(await roundTrip(conn, "through http"), "through http");
    assert.deepEqual(proxy.requests, [`localhost:${server.addr.port}`]);
    assert.deepEqual(proxy.credentials, []);
  } finally {
    await proxy.close();
  }
});

Deno.test("dial: HTTP CONNECT proxy with Basic credentials; wrong or missing ones are refused", async () => {
  await using server = serveEcho({ port: 0 });
  const proxy = startHttpProxy({
    auth: { username: "alice", password: "s3cr:t" },
  });
  const target = `127.0.0.1:${server.addr.port}`;
  const withCreds = (creds: string) =>
    proxy.url.replace("http://", `http://${creds}@`);
  try {
    const conn = await dial(target, { proxy: withCreds("alice:s3cr%3At") });
    assert.equal(await roundTrip(conn, "authorized"), "authorized");
    assert.deepEqual(proxy.credentials, ["alice:s3cr:t"]);
    await assert.rejects(
      dial(target, { proxy: withCreds("alice:wrong") }),
      isTcpError("proxy_auth_required"),
    );
    await assert.rejects(
      dial(target, { proxy: proxy.url }),
      isTcpError("proxy_auth_required"),
    );
  } finally {
    await proxy.close();
  }
});

Deno.test("dial: bytes a CONNECT proxy sends with its reply are not lost", async () => {
  await using server = serveEcho({ port: 0 });
  const proxy = startHttpProxy({ greeting: "early:" });
  try {
    const conn = await dial(`127.0.0.1:${server.addr.port}`, {
      proxy: proxy.url,
    });
    assert.equal(await roundTrip(conn, "late"), "early:late");
  } finally {
    await proxy.close();
  }
});

Deno.test("dial: a CONNECT refusal names the status", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  const proxy = startHttpProxy();
  try {
    await assert.rejects(
      dial(`127.0.0.1:${port}`, { proxy: proxy.url }),
      (error) =>
        isTcpError("proxy_failed")(error) &&
        /HTTP 502/.test((error as Error).message),
    );
  } finally {
    await proxy.close();
  }
});

Deno.test("dial: SOCKS5 passes domain names to the proxy", async () => {
  await using server = serveEcho({ port: 0 });
  const proxy = startSocks5Proxy();
  try {
    const conn = await dial(`localhost:${server.addr.port}`, {
      proxy: proxy.url,
    });
    assert.equal(await roundTrip(conn, "socks"), "socks");
    const conn4 = await dial(`127.0.0.1:${server.addr.port}`, {
      proxy: proxy.url,
    });
    assert.equal(await roundTrip(conn4, "socks4addr"), "socks4addr");
    assert.deepEqual(proxy.requests, [
      `localhost:${server.addr.port}`,
      `127.0.0.1:${server.addr.port}`,
    ]);
  } finally {
    await proxy.close();
  }
});

Deno.test("dial: SOCKS5 username/password; wrong or missing ones are refused", async () => {
  await using server = serveEcho({ port: 0 });
  const proxy = startSocks5Proxy({
    auth: { username: "bob", password: "hunter2" },
  });
  const target = `127.0.0.1:${server.addr.port}`;
  const withCreds = (creds: string) =>
    proxy.url.replace("socks5://", `socks5://${creds}@`);
  try {
    const conn = await dial(target, { proxy: withCreds("bob:hunter2") });
    assert.equal(await roundTrip(conn, "socks auth"), "socks auth");
    await assert.rejects(
      dial(target, { proxy: withCreds("bob:nope") }),
      isTcpError("proxy_auth_required"),
    );
    await assert.rejects(
      dial(target, { proxy: proxy.url }),
      isTcpError("proxy_auth_required"),
    );
    assert.deepEqual(proxy.credentials, ["bob:hunter2", "bob:nope"]);
  } finally {
    await proxy.close();
  }
});

Deno.test("dial: SOCKS5 refusal to reach the target is proxy_failed", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  const proxy = startSocks5Proxy();
  try {
    await assert.rejects(
      dial(`127.0.0.1:${port}`, { proxy: proxy.url }),
      (error) =>
        isTcpError("proxy_failed")(error) &&
        /connection refused/.test((error as Error).message),
    );
  } finally {
    await proxy.close();
  }
});

Deno.test("dial: TLS with the committed certificate via caCerts, via insecure, refused without either", async () => {
  await using server = serveEcho({ port: 0, tls: { cert: CERT, key: KEY } });
  const port = server.addr.port;
  for (const host of ["localhost", "127.0.0.1"]) {
    const conn = await dial(`${host}:${port}`, { tls: { caCerts: [CERT] } });
    assert.equal(await roundTrip(conn, `ca ${host}`), `ca ${host}`);
  }
  const insecure = await dial(`127.0.0.1:${port}`, { tls: { insecure: true } });
  assert.equal(await roundTrip(insecure, "insecure"), "insecure");
  await assert.rejects(
    dial(`localhost:${port}`, { tls: {} }),
    isTcpError("tls_failed"),
  );
  // The certificate names localhost and 127.0.0.1, not this.
  await assert.rejects(
    dial(`127.0.0.1:${port}`, {
      tls: { caCerts: [CERT], serverName: "example.com" },
    }),
    isTcpError("tls_failed"),
  );
});

Deno.test("dial: TLS runs end to end through both proxies", async () => {
  await using server = serveEcho({ port: 0, tls: { cert: CERT, key: KEY } });
  const http = startHttpProxy();
  const socks = startSocks5Proxy();
  try {
    const target = `localhost:${server.addr.port}`;
    for (const proxy of [http, socks]) {
      const verified = await dial(target, {
        proxy: proxy.url,
        tls: { caCerts: [CERT] },
      });
      assert.equal(await roundTrip(verified, "tunnel ca"), "tunnel ca");
      const insecure = await dial(target, {
        proxy: proxy.url,
        tls: { insecure: true },
      });
      assert.equal(await roundTrip(insecure, "tunnel -k"), "tunnel -k");
      await assert.rejects(
        dial(target, { proxy: proxy.url, tls: {} }),
        isTcpError("tls_failed"),
      );
    }
    assert.equal(http.requests.length, 3);
    assert.equal(socks.requests.length, 3);
  } finally {
    await http.close();
    await socks.close();
  }
});

/** A TLS echo server that requires a client certificate from client_ca.pem. */
async function startClientCertServer() {
  const subjects: string[] = [];
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({
    cert: CERT,
    key: KEY,
    ca: CLIENT_CA,
    requestCert: true,
    rejectUnauthorized: true,
  }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    subjects.push(String(socket.getPeerCertificate().subject?.CN));
    socket.pipe(socket);
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve())
  );
  return {
    port: (server.address() as { port: number }).port,
    subjects,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Dials and echoes; fails if either the dial or the exchange fails. */
async function tryEcho(
  target: string,
  options: Parameters<typeof dial>[1],
): Promise<string> {
  const conn = await dial(target, options);
  try {
    return await roundTrip(conn, "with cert");
  } finally {
    try {
      conn.close();
    } catch {
      // roundTrip closed it.
    }
  }
}

Deno.test("dial: client certificate to a server that requires one, direct and through a proxy", async () => {
  const server = await startClientCertServer();
  const proxy = startHttpProxy();
  try {
    const target = `localhost:${server.port}`;
    const tlsOptions = { caCerts: [CERT], cert: CLIENT_CERT, key: CLIENT_KEY };
    assert.equal(await tryEcho(target, { tls: tlsOptions }), "with cert");
    assert.equal(
      await tryEcho(target, { tls: tlsOptions, proxy: proxy.url }),
      "with cert",
    );
    assert.deepEqual(server.subjects, [
      "netkit test client",
      "netkit test client",
    ]);
    // The node:tls path still verifies the server: no CA, no connection.
    await assert.rejects(
      dial(target, { tls: { cert: CLIENT_CERT, key: CLIENT_KEY } }),
      isTcpError("tls_failed"),
    );
    await assert.rejects(
      dial(target, {
        tls: {
          caCerts: [CERT],
          cert: CLIENT_CERT,
          key: CLIENT_KEY,
          serverName: "example.com",
        },
      }),
      isTcpError("tls_failed"),
    );
    await assert.rejects(
      dial(target, { tls: { caCerts: [CERT], cert: CLIENT_CERT } }),
      isTcpError("tls_failed"),
    );
    // TLS 1.3 clients finish before the server checks: the refusal may
    // surface at the handshake or at the first read; it must surface.
    await assert.rejects(tryEcho(target, { tls: { caCerts: [CERT] } }));
    assert.equal(server.subjects.length, 2);
  } finally {
    await proxy.close();
    await server.close();
  }
});

Deno.test("dial: Unix socket, plain and with TLS", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/echo.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const tlsPath = `${dir}/tls.sock`;
  const tlsListener = Deno.listen({ transport: "unix", path: tlsPath });
  const serve = async (l: Deno.Listener, wrap: boolean) => {
    for await (const raw of l) {
      if (wrap) await tlsEchoOverUnix(raw);
      else await raw.readable.pipeTo(raw.writable).catch(() => {});
    }
  };
  const serving = [serve(listener, false), serve(tlsListener, true)];
  try {
    const conn = await dial("localhost:0", { unixPath: path });
    assert.equal(conn.remoteAddr.transport, "unix");
    assert.equal(await roundTrip(conn, "over unix"), "over unix");
    const secure = await dial("localhost:0", {
      unixPath: tlsPath,
      tls: { caCerts: [CERT] },
    });
    assert.equal(await roundTrip(secure, "tls over unix"), "tls over unix");
    await assert.rejects(
      dial("localhost:0", { unixPath: `${dir}/missing.sock` }),
      isTcpError("connect_failed"),
    );
  } finally {
    listener.close();
    tlsListener.close();
    await Promise.allSettled(serving);
    await Deno.remove(dir, { recursive: true });
  }
});

/** A TLS echo over an accepted Unix connection (node:tls: Deno has no server-side startTls). */
function tlsEchoOverUnix(raw: Deno.Conn): Promise<void> {
  const duplex = new Duplex({
    read() {
      const buf = new Uint8Array(16384);
      raw.read(buf).then(
        (n) => this.push(n === null ? null : buf.subarray(0, n)),
        () => this.push(null),
      );
    },
    write(chunk, _e, cb) {
      raw.write(chunk).then(() => cb(), cb);
    },
    final(cb) {
      raw.closeWrite().then(() => cb(), () => cb());
    },
    destroy(error, cb) {
      try {
        raw.close();
      } catch {
        // Already closed.
      }
      cb(error);
    },
  });
  const socket = new tls.TLSSocket(duplex as never, {
    isServer: true,
    cert: CERT,
    key: KEY,
  });
  const { promise, resolve } = Promise.withResolvers<void>();
  socket.on("error", () => socket.destroy());
  socket.on("data", (d) => socket.write(d));
  socket.on("end", () => socket.end());
  socket.on("close", () => {
    duplex.destroy();
    resolve();
  });
  return promise;
}

Deno.test("dial: a proxy that never answers hits the deadline; abort rejects with the reason", async () => {
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) held.push(conn);
  })();
  try {
    const proxy = `http://127.0.0.1:${silent.addr.port}`;
    await assert.rejects(
      dial("127.0.0.1:9", { proxy, timeoutMs: 200 }),
      (error) =>
        isTcpError("timeout")(error) &&
        /proxy's reply/.test((error as Error).message),
    );
    const controller = new AbortController();
    const pending = dial("127.0.0.1:9", {
      proxy: proxy.replace("http", "socks5"),
      timeoutMs: 0,
      signal: controller.signal,
    });
    const reason = new Error("user gave up");
    setTimeout(() => controller.abort(reason), 50);
    await assert.rejects(pending, (error) => error === reason);
  } finally {
    silent.close();
    await accepting.catch(() => {});
    for (const conn of held) conn.close();
  }
});

Deno.test("dial: a server that never starts TLS hits the deadline, on both TLS paths", async () => {
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) held.push(conn);
  })();
  try {
    const target = `127.0.0.1:${silent.addr.port}`;
    for (const tls of [{ caCerts: [CERT] }, { insecure: true }]) {
      await assert.rejects(
        dial(target, { tls, timeoutMs: 200 }),
        (error) =>
          isTcpError("timeout")(error) &&
          /TLS handshake/.test((error as Error).message),
      );
    }
  } finally {
    silent.close();
    await accepting.catch(() => {});
    for (const conn of held) conn.close();
  }
});

const HAS_IPV6 = (() => {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "dial: SOCKS5 to an IPv6 literal",
  ignore: !HAS_IPV6,
  async fn() {
    await using server = serveEcho({ hostname: "::1", port: 0 });
    const proxy = startSocks5Proxy();
    try {
      const conn = await dial(`[::1]:${server.addr.port}`, {
        proxy: proxy.url,
      });
      assert.equal(await roundTrip(conn, "v6"), "v6");
      assert.deepEqual(proxy.requests, [
        `[0:0:0:0:0:0:0:1]:${server.addr.port}`,
      ]);
    } finally {
      await proxy.close();
    }
  },
});

Deno.test("dial: a proxy reply head past 16 KiB is refused", async () => {
  const liar = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await liar.accept();
    const line = new TextEncoder().encode(`X-Filler: ${"a".repeat(1000)}\r\n`);
    try {
      await conn.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\n"));
      for (let i = 0; i < 64; i++) await conn.write(line);
    } catch {
      // The client hung up once it had seen enough.
    }
    conn.close();
  })();
  try {
    // Bounded: a limit that lets the head outgrow the buffer once made
    // this read loop spin, and the suite ran until its outer timeout.
    await assert.rejects(
      withTimeout(
        dial("127.0.0.1:9", { proxy: `http://127.0.0.1:${liar.addr.port}` }),
        WAIT_MS,
        "dial to refuse the head",
      ),
      (error) =>
        isTcpError("proxy_failed")(error) &&
        /16384 bytes/.test((error as Error).message),
    );
  } finally {
    await serving;
    liar.close();
  }
});

Deno.test("dial: bad proxy URLs are bad_proxy", async () => {
  for (
    const proxy of ["ftp://127.0.0.1:1", "not a url", "https://127.0.0.1:1"]
  ) {
    await assert.rejects(
      dial("127.0.0.1:9", { proxy }),
      isTcpError("bad_proxy"),
    );
  }
  await assert.rejects(
    dial("127.0.0.1:9", { proxy: "http://127.0.0.1:1", unixPath: "/x" }),
    isTcpError("bad_proxy"),
  );
});
