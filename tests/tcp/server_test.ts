// serveTcp, the accept loop under every TCP server: grace period, error
// filter, limits, idle sweep, TLS, binding errors.

import assert from "node:assert/strict";
import {
  pingTcp,
  serveEcho,
  serveTcp,
  TcpError,
  type TcpServer,
} from "../../tcp/mod.ts";
import {
  bounded,
  closedByPeer,
  connectTo,
  readAllWithin,
  readExactly,
  testTls,
  WAIT_MS,
  waitFor,
  withTimeout,
} from "../_helpers.ts";
import {
  connectFrom,
  endOf,
  heldBy,
  serverInodes,
  socketFds,
} from "../_strangers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Sends `text` and reads its echo back (bounded). */
async function exchange(conn: Deno.Conn, text: string): Promise<string> {
  await conn.write(enc.encode(text));
  return dec.decode(
    await readExactly(conn, text.length, `the echo of '${text}'`),
  );
}

function refused(server: TcpServer): Promise<boolean> {
  return connectTo(server.addr).then((c) => {
    c.close();
    return false;
  }, (e) => e instanceof Deno.errors.ConnectionRefused);
}

Deno.test("serveTcp: during the grace period a client mid-exchange is still served, new ones are refused", async () => {
  const server = serveEcho({ port: 0, gracePeriodMs: 10 * WAIT_MS });
  const conn = await connectTo(server.addr);
  let shuttingDown: Promise<void> | undefined;
  try {
    assert.equal(await exchange(conn, "hel"), "hel");
    shuttingDown = server.shutdown();
    await waitFor(
      "the listener to close after shutdown()",
      () => refused(server),
    );
    // Still served after shutdown() began: the grace period has not ended.
    assert.equal(await exchange(conn, "lo"), "lo");
    await conn.closeWrite();
    assert.equal((await readAllWithin(conn)).length, 0);
  } finally {
    conn.close();
  }
  // The last client left, so shutdown ends long before the grace period.
  await withTimeout(server.finished, WAIT_MS, "shutdown after the last client");
  await withTimeout(shuttingDown, WAIT_MS, "shutdown() to resolve");
  assert.equal(server.stats().active, 0);
  assert.equal(server.stats().bytesOut, 5);
});

Deno.test("serveTcp: a client still connected when the grace period ends is cut", async () => {
  const server = serveEcho({ port: 0, gracePeriodMs: 100 });
  const conn = await connectTo(server.addr);
  try {
    assert.equal(await exchange(conn, "x"), "x");
    const done = server.shutdown();
    assert.ok(
      await closedByPeer(conn, "the grace period to end the connection"),
    );
    await withTimeout(done, WAIT_MS, "shutdown() after the grace period");
  } finally {
    conn.close();
  }
  assert.equal(server.stats().active, 0);
});

Deno.test("serveTcp: a client that vanishes mid-exchange is not an error", async () => {
  const errors: unknown[] = [];
  await using server = bounded(serveEcho({
    port: 0,
    onError: (e) => errors.push(e),
  }));
  const conn = await connectTo(server.addr);
  // Send far more than all four socket buffers hold, never reading the
  // echo: the server ends up blocked writing to us.
  const chunk = new Uint8Array(1024 * 1024);
  let sent = 0;
  const sending = (async () => {
    for (let i = 0; i < 256; i++) sent += await conn.write(chunk);
  })().catch(() => {});
  let last = -1;
  await waitFor("the echo to stall on our full receive buffer", async () => {
    await new Promise((r) => setTimeout(r, 50));
    const stalled = sent === last && sent > 0 && sent < 256 * chunk.length;
    last = sent;
    return stalled;
  });
  // Closing with the echo unread sends a reset: the server's write fails
  // with EPIPE/ECONNRESET, the way a crashed client looks.
  conn.close();
  await sending;
  await waitFor("the connection to end", () => server.stats().active === 0);
  assert.ok(server.stats().bytesIn > 0);
  assert.deepEqual(errors, []);
  assert.equal(server.stats().errors, 0);
});

Deno.test("serveTcp: a handler failure is counted and reported through onError", async () => {
  const errors: unknown[] = [];
  await using server = bounded(
    serveTcp(() => Promise.reject(new Error("boom")), {
      port: 0,
      onError: (e) => errors.push(e),
    }),
  );
  const conn = await connectTo(server.addr);
  assert.ok(
    await closedByPeer(
      conn,
      "the loop to close the failed handler's connection",
    ),
  );
  conn.close();
  await waitFor("the failure to be counted", () => server.stats().errors === 1);
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as Error).message, "boom");
});

Deno.test("serveTcp: maxConnections is exactly the number served at once", async () => {
  await using server = bounded(serveEcho({ port: 0, maxConnections: 1 }));
  const first = await connectTo(server.addr);
  try {
    assert.equal(await exchange(first, "a"), "a");
    const second = await connectTo(server.addr);
    assert.ok(
      await closedByPeer(second, "the second connection to be refused"),
    );
    second.close();
    assert.equal(server.stats().refused, 1);
  } finally {
    first.close();
  }
  await waitFor(
    "the first connection to end",
    () => server.stats().active === 0,
  );
  // The slot is free again.
  const third = await connectTo(server.addr);
  assert.equal(await exchange(third, "b"), "b");
  third.close();
  assert.equal(server.stats().refused, 1);
});

Deno.test("serveTcp: traffic keeps a connection alive past the idle timeout", async () => {
  const idleTimeoutMs = 1000;
  await using server = bounded(serveEcho({ port: 0, idleTimeoutMs }));
  const conn = await connectTo(server.addr);
  try {
    // Exchanges 50 ms apart (a twentieth of the timeout, so load cannot
    // stretch a gap past it) until one and a half timeouts have passed.
    const started = performance.now();
    for (let i = 0; performance.now() - started < 1.5 * idleTimeoutMs; i++) {
      assert.equal(await exchange(conn, `${i % 10}`), `${i % 10}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(server.stats().idleClosed, 0);
    // Then silence: the sweep closes it.
    assert.ok(
      await closedByPeer(conn, "the idle timeout to close the connection"),
    );
  } finally {
    conn.close();
  }
  assert.equal(server.stats().idleClosed, 1);
});

Deno.test("serveTcp: an address in use is a bind_failed TcpError naming it", () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    assert.throws(
      () => serveTcp(() => Promise.resolve(), { port: listener.addr.port }),
      (e) =>
        e instanceof TcpError && e.code === "bind_failed" &&
        e.message ===
          `cannot listen on 127.0.0.1:${listener.addr.port}: address already in use`,
    );
  } finally {
    listener.close();
  }
});

Deno.test("serveTcp: with tls, clients speak TLS and a plain client gets no echo", async () => {
  const tls = await testTls();
  await using server = bounded(serveEcho({
    port: 0,
    tls: { cert: tls.cert, key: tls.key },
  }));
  const secure = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: server.addr.port,
    caCerts: [tls.cert],
  });
  try {
    assert.equal(await exchange(secure, "over tls"), "over tls");
  } finally {
    secure.close();
  }
  const plain = await connectTo(server.addr);
  try {
    await plain.write(enc.encode("plain text\r\n\r\n"));
    const reply = await readAllWithin(
      plain,
      "the TLS server to drop a plain client",
    )
      .catch(() => new Uint8Array());
    assert.ok(!dec.decode(reply).includes("plain text"), "no plain echo");
  } finally {
    plain.close();
  }
});

Deno.test("serveTcp: an aborted signal shuts the server down", async () => {
  const controller = new AbortController();
  const server = serveEcho({ port: 0, signal: controller.signal });
  controller.abort();
  await withTimeout(server.finished, WAIT_MS, "the server to finish");
  assert.ok(await refused(server));
});

Deno.test("pingTcp: replies that come back altered count as lost", async () => {
  // An echo that flips one byte: every probe must be lost.
  await using server = bounded(serveTcp(async (conn) => {
    const buf = new Uint8Array(1024);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return;
      buf[n - 1] = buf[n - 1]! ^ 0xff;
      await conn.write(buf.subarray(0, n));
    }
  }, { port: 0 }));
  const result = await pingTcp(server.addr, {
    count: 3,
    intervalMs: 0,
    timeoutMs: 500,
    size: 16,
  });
  assert.equal(result.sent, 3);
  assert.equal(result.received, 0);
  assert.equal(result.lossPercent, 100);
  assert.deepEqual(result.probes.map((p) => p.rttMs), [null, null, null]);
});

Deno.test("pingTcp: a server that never answers makes each probe lost after timeoutMs", async () => {
  await using server = bounded(serveTcp(async (conn, context) => {
    // Read and drop until the client leaves or the server stops.
    const buf = new Uint8Array(1024);
    while (!context.signal.aborted && await conn.read(buf) !== null) {
      // Drop.
    }
  }, { port: 0, gracePeriodMs: 0 }));
  const result = await pingTcp(server.addr, {
    count: 2,
    intervalMs: 0,
    timeoutMs: 100,
  });
  assert.equal(result.received, 0);
  assert.equal(result.lossPercent, 100);
  assert.equal(result.minMs, null);
});

Deno.test("serveTcp: a TLS client that never starts its handshake is reset at handshakeTimeoutMs and its fd freed", async () => {
  const tls = await testTls();
  const reported: string[] = [];
  await using server = bounded(serveEcho({
    port: 0,
    tls: { cert: tls.cert, key: tls.key },
    handshakeTimeoutMs: 100,
    onError: (e) => reported.push((e as Error).message),
  }));
  // The test's own sockets: the server's side of each silent client
  // must go, the client's side stays until the test closes it.
  const before = socketFds("self");
  const silent = await Promise.all(
    Array.from({ length: 5 }, () => connectTo(server.addr)),
  );
  try {
    for (const conn of silent) {
      assert.equal(await endOf(conn, "the deadline's reset"), "reset");
    }
    await waitFor(
      "the server to let go of every fd",
      () => socketFds("self") <= before + silent.length,
    );
    assert.equal(server.stats().handshakeTimeouts, 5);
    assert.ok(
      reported.some((m) =>
        /^TLS connection from 127\.0\.0\.1:\d+ reset: handshake not finished within 0\.1 s$/
          .test(m)
      ),
      reported.join("\n"),
    );
    // A real client is still served.
    const secure = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: server.addr.port,
      caCerts: [tls.cert],
    });
    try {
      assert.equal(await exchange(secure, "still here"), "still here");
    } finally {
      secure.close();
    }
  } finally {
    for (const conn of silent) conn.close();
  }
});

Deno.test("serveTcp: a TLS connection turned away before its handshake (maxConnections) is reset, not left open", async () => {
  const tls = await testTls();
  await using server = bounded(serveEcho({
    port: 0,
    tls: { cert: tls.cert, key: tls.key },
    maxConnections: 1,
  }));
  const held = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: server.addr.port,
    caCerts: [tls.cert],
  });
  try {
    assert.equal(await exchange(held, "first"), "first");
    const extra = await connectTo(server.addr);
    try {
      assert.equal(await endOf(extra, "the refusal"), "reset");
      assert.equal(server.stats().refused, 1);
    } finally {
      extra.close();
    }
  } finally {
    held.close();
  }
});

Deno.test("serveTcp: over maxPendingHandshakes the flooding address's oldest handshake is reset, not another address's", async () => {
  const tls = await testTls();
  await using server = bounded(serveEcho({
    port: 0,
    tls: { cert: tls.cert, key: tls.key },
    maxPendingHandshakes: 4,
    handshakeTimeoutMs: 0,
  }));
  const port = server.addr.port;
  const other = await connectFrom("127.0.0.3", port);
  const flood = [];
  for (let i = 0; i < 3; i++) flood.push(await connectFrom("127.0.0.2", port));
  try {
    await serverInodes(port, [other, ...flood].map((c) => c.localPort));
    // The fifth: the address holding three loses its oldest.
    flood.push(await connectFrom("127.0.0.2", port));
    assert.equal(
      await withTimeout(flood[0]!.ended, WAIT_MS, "a reset"),
      "reset",
    );
    assert.equal(server.stats().handshakesShed, 1);
    // The other address's connection is still there, server side too.
    const [inode] = await serverInodes(port, [other.localPort]);
    assert.equal(heldBy("self", [inode!]), 1);
  } finally {
    for (const c of [other, ...flood]) c.reset();
  }
});

Deno.test("serveTcp: when accept fails (out of fds), unfinished TLS handshakes are shed to make room at once", async () => {
  const tls = await testTls();
  const real = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: tls.cert,
    key: tls.key,
  });
  // The runtime's listener, except that one accept fails as EMFILE does.
  let failNext = false;
  const failed = Promise.withResolvers<void>();
  const listener = new Proxy(real, {
    get(target, key) {
      if (key === "accept") {
        return () => {
          if (!failNext) return target.accept();
          failNext = false;
          failed.resolve();
          return Promise.reject(new Error("Too many open files (os error 24)"));
        };
      }
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  await using server = bounded(serveEcho({ listener, handshakeTimeoutMs: 0 }));
  const silent = await Promise.all(
    Array.from({ length: 4 }, () => connectTo(real.addr)),
  );
  try {
    await serverInodes(real.addr.port, silent.map((c) => c.localAddr.port));
    await waitFor("the four to be accepted", () => server.stats().served === 4);
    // The accept already waiting takes a fifth; the one after fails.
    failNext = true;
    silent.push(await connectTo(real.addr));
    await withTimeout(failed.promise, WAIT_MS, "the failing accept");
    // A quarter of the five (two), the oldest, are reset; the rest kept.
    assert.equal(await endOf(silent[0]!, "the first shed handshake"), "reset");
    assert.equal(await endOf(silent[1]!, "the second shed handshake"), "reset");
    assert.equal(server.stats().handshakesShed, 2);
    // And the loop takes newcomers again.
    silent.push(await connectTo(real.addr));
    await waitFor(
      "the newcomer to be accepted",
      () => server.stats().served === 6,
    );
  } finally {
    for (const conn of silent) conn.close();
  }
});
