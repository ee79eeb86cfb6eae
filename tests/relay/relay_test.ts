import assert from "node:assert/strict";
import { relay, type RelayReport } from "../../relay/mod.ts";
import { serveEcho } from "../../tcp/mod.ts";
import { serveUdpEcho } from "../../udp/mod.ts";
import tls from "node:tls";
import {
  hasPeer,
  PROJECT_ROOT,
  readAll,
  seededBytes,
  testTls,
  waitFor,
} from "../_helpers.ts";
import { reportCollector, resettingTarget, within } from "./_peers.ts";
import { startHttpProxy } from "../_proxies.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function port(server: { addr: Deno.Addr }): number {
  return (server.addr as Deno.NetAddr).port;
}

function connect(server: { addr: Deno.Addr }): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port: port(server) });
}

/**
 * A target that reads until EOF, then answers with how much it got: the
 * answer can only reach the client if the relay passed the FIN on and
 * kept the other direction open.
 */
function answerAfterEof(): Deno.TcpListener & { served: Promise<string> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    const got = await readAll(conn);
    const answer = `server saw EOF after ${got.length} bytes\n`;
    await conn.write(enc.encode(answer));
    conn.close();
    return answer;
  })();
  return Object.assign(listener, { served });
}

Deno.test(
  "relay: nc -N half-closes; the target sees EOF and the client still receives its answer",
  {
    ignore: !hasPeer("nc"),
  },
  async () => {
    using target = answerAfterEof();
    const reports = reportCollector();
    await using server = relay(
      "tcp://127.0.0.1:0",
      `tcp://127.0.0.1:${target.addr.port}`,
      { onConnection: reports.onConnection },
    );
    const nc = new Deno.Command("nc", {
      args: ["-N", "127.0.0.1", String(port(server))],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = nc.stdin.getWriter();
    await writer.write(enc.encode("hello relay\n"));
    await writer.close();
    const result = await within("nc through the relay", nc.output());
    const answer = await within("the target's answer", target.served);
    assert.equal(dec.decode(result.stdout), answer);
    assert.equal(answer, "server saw EOF after 12 bytes\n");
    const r = await reports.next("the nc connection");
    assert.equal(r.closedFirst, "client");
    assert.equal(r.how, "fin");
    assert.equal(r.halfClose, true);
    assert.equal(r.bytesToTarget, 12);
    assert.equal(r.bytesToClient, answer.length);
  },
);

Deno.test("relay: 100 MiB round trip through the relay to an echo is byte-exact", async () => {
  await using echo = serveEcho({ port: 0 });
  const reports = reportCollector();
  await using server = relay(
    "tcp://127.0.0.1:0",
    `tcp://127.0.0.1:${echo.addr.port}`,
    { onConnection: reports.onConnection },
  );
  const total = 100 * 1024 * 1024;
  // A period that is no power of two, so a reordered or dropped block shows.
  const block = seededBytes(1024 * 1024 + 7, 11);
  const conn = await connect(server);
  const writing = (async () => {
    for (let sent = 0; sent < total;) {
      const off = sent % block.length;
      const n = Math.min(block.length - off, total - sent, 256 * 1024);
      sent += await conn.write(block.subarray(off, off + n));
    }
    await conn.closeWrite();
  })();
  const buf = new Uint8Array(256 * 1024);
  let got = 0;
  let mismatch = -1;
  await within(
    "the 100 MiB echo",
    (async () => {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        for (let i = 0; i < n && mismatch < 0; i++) {
          if (buf[i] !== block[(got + i) % block.length]) mismatch = got + i;
        }
        got += n;
      }
      await writing;
    })(),
    120_000,
  );
  conn.close();
  assert.equal(mismatch, -1, `first wrong byte at ${mismatch}`);
  assert.equal(got, total);
  const r = await reports.next("the 100 MiB connection");
  assert.equal(r.bytesToTarget, total);
  assert.equal(r.bytesToClient, total);
});

Deno.test(
  "relay: a target's reset reaches the client as a reset and is reported",
  {
    ignore: !hasPeer("python3"),
  },
  async () => {
    await using target = await resettingTarget();
    const reports = reportCollector();
    await using server = relay(
      "tcp://127.0.0.1:0",
      `tcp://127.0.0.1:${target.port}`,
      { onConnection: reports.onConnection },
    );
    const conn = await connect(server);
    await conn.write(enc.encode("x"));
    const outcome = await within(
      "the client's read",
      conn.read(new Uint8Array(16)),
    ).then(
      (n) => `read ${n}`,
      (e) => e instanceof Deno.errors.ConnectionReset ? "reset" : String(e),
    );
    conn.close();
    const r = await reports.next("the reset connection");
    assert.equal(r.closedFirst, "target");
    assert.equal(r.how, "reset");
    // On Linux with FFI (the tests run with --allow-all) the RST is passed on.
    assert.equal(r.resetPassedOn, true);
    assert.equal(outcome, "reset");
  },
);

Deno.test(
  "relay: a target's reset after the client's half-close still reaches the client",
  {
    ignore: !hasPeer("python3"),
  },
  async () => {
    await using target = await resettingTarget();
    const reports = reportCollector();
    await using server = relay(
      "tcp://127.0.0.1:0",
      `tcp://127.0.0.1:${target.port}`,
      { onConnection: reports.onConnection },
    );
    const conn = await connect(server);
    await conn.write(enc.encode("x"));
    await conn.closeWrite();
    const outcome = await within("the client's read", readAll(conn)).then(
      () => "eof",
      (e) => e instanceof Deno.errors.ConnectionReset ? "reset" : String(e),
    );
    conn.close();
    const r = await reports.next("the reset after a half-close");
    // The client's FIN and the target's RST race; either may come first.
    assert.equal(r.resetBy, "target");
    assert.equal(r.resetPassedOn, true);
    assert.equal(outcome, "reset");
  },
);

Deno.test("relay: a client's reset reaches the target as a reset", {
  ignore: !hasPeer("python3"),
}, async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const targetSaw = (async () => {
    const conn = await listener.accept();
    try {
      // The client waits for this byte, so the relay is piping before the
      // reset (a reset before accept() never reaches the relay).
      await conn.write(enc.encode("!"));
      await readAll(conn);
      return "eof";
    } catch (e) {
      return e instanceof Deno.errors.ConnectionReset ? "reset" : String(e);
    } finally {
      conn.close();
    }
  })();
  const reports = reportCollector();
  await using server = relay(
    "tcp://127.0.0.1:0",
    `tcp://127.0.0.1:${listener.addr.port}`,
    { onConnection: reports.onConnection },
  );
  // python3 sends a pure RST (SO_LINGER 0) once the target has greeted it.
  const py = await new Deno.Command("/usr/bin/python3", {
    args: [
      "-c",
      `import socket,struct,sys
c=socket.create_connection(("127.0.0.1",${port(server)}))
c.sendall(b"y")
c.recv(1)
c.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,struct.pack("ii",1,0))
c.close()`,
    ],
  }).output();
  assert.ok(py.success, dec.decode(py.stderr));
  const r = await reports.next("the client's reset");
  assert.equal(await within("the target's read", targetSaw), "reset");
  listener.close();
  assert.equal(r.closedFirst, "client");
  assert.equal(r.how, "reset");
  assert.equal(r.resetPassedOn, true);
});

Deno.test("relay: TLS listen with the committed certificate in front of a plain echo", async () => {
  const { cert, key } = await testTls();
  await using echo = serveEcho({ port: 0 });
  await using server = relay(
    "tls://127.0.0.1:0",
    `tcp://127.0.0.1:${echo.addr.port}`,
    { tls: { cert, key } },
  );
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: port(server),
    caCerts: [cert],
  });
  await conn.write(enc.encode("over tls"));
  await conn.closeWrite();
  const echoed = await within("the echo", readAll(conn));
  conn.close();
  assert.equal(dec.decode(echoed), "over tls");
});

Deno.test("relay: a client that fails the TLS handshake is reported and the target never contacted", async () => {
  const { cert, key } = await testTls();
  await using echo = serveEcho({ port: 0 });
  const reports = reportCollector();
  await using server = relay(
    "tls://127.0.0.1:0",
    `tcp://127.0.0.1:${echo.addr.port}`,
    { tls: { cert, key }, onConnection: reports.onConnection },
  );
  const conn = await connect(server);
  await conn.write(enc.encode("GET / HTTP/1.0\r\n\r\n"));
  await within("the close", readAll(conn).catch(() => {}));
  conn.close();
  const r = await reports.next("the failed handshake");
  assert.equal(r.closedFirst, "client");
  assert.equal(r.how, "error");
  assert.match(r.error ?? "", /^TLS handshake failed/);
  assert.equal(echo.stats().served, 0);
});

Deno.test("relay: a TLS client that never handshakes is dropped after the timeout", async () => {
  const { cert, key } = await testTls();
  await using echo = serveEcho({ port: 0 });
  const reports = reportCollector();
  await using server = relay(
    "tls://127.0.0.1:0",
    `tcp://127.0.0.1:${echo.addr.port}`,
    {
      tls: { cert, key },
      onConnection: reports.onConnection,
      connectTimeoutMs: 150,
    },
  );
  const conn = await connect(server);
  await within("the close", readAll(conn).catch(() => {}));
  conn.close();
  const r = await reports.next("the silent TLS client");
  assert.equal(r.error, "TLS handshake timed out after 150 ms");
  assert.equal(echo.stats().served, 0);
});

Deno.test("relay: tcp -> tls target with caCerts", async () => {
  const { cert, key } = await testTls();
  await using echo = serveEcho({ port: 0, tls: { cert, key } });
  await using server = relay(
    "tcp://127.0.0.1:0",
    `tls://127.0.0.1:${echo.addr.port}`,
    { caCerts: [cert] },
  );
  const conn = await connect(server);
  await conn.write(enc.encode("to tls"));
  await conn.closeWrite();
  const echoed = await within("the echo", readAll(conn));
  conn.close();
  assert.equal(dec.decode(echoed), "to tls");
});

Deno.test("relay: tcp -> tls target with insecure: a self-signed server, no CA", async () => {
  const { cert, key } = await testTls();
  await using echo = serveEcho({ port: 0, tls: { cert, key } });
  const reports = reportCollector();
  // Without a CA and without insecure the certificate is refused.
  {
    await using strict = relay(
      "tcp://127.0.0.1:0",
      `tls://127.0.0.1:${echo.addr.port}`,
      { onConnection: reports.onConnection },
    );
    const conn = await connect(strict);
    await within("the close", readAll(conn).catch(() => {}));
    conn.close();
    const r = await reports.next("the refused certificate");
    assert.equal(r.how, "error");
    assert.match(r.error ?? "", /^TLS handshake with 127\.0\.0\.1 failed/);
  }
  await using server = relay(
    "tcp://127.0.0.1:0",
    `tls://127.0.0.1:${echo.addr.port}`,
    { insecure: true, onConnection: reports.onConnection },
  );
  const conn = await connect(server);
  await conn.write(enc.encode("unverified but encrypted"));
  await conn.closeWrite();
  const echoed = await within("the echo", readAll(conn));
  conn.close();
  assert.equal(dec.decode(echoed), "unverified but encrypted");
  const r = await reports.next("the insecure connection");
  assert.deepEqual([r.closedFirst, r.how], ["client", "fin"]);
});

Deno.test("relay: tcp and tls targets through an HTTP CONNECT proxy", async () => {
  const { cert, key } = await testTls();
  await using echo = serveEcho({ port: 0 });
  await using tlsEcho = serveEcho({ port: 0, tls: { cert, key } });
  const proxy = startHttpProxy();
  try {
    for (
      const target of [
        `tcp://127.0.0.1:${echo.addr.port}`,
        `tls://127.0.0.1:${tlsEcho.addr.port}`,
      ]
    ) {
      const reports = reportCollector();
      await using server = relay("tcp://127.0.0.1:0", target, {
        proxy: proxy.url,
        caCerts: [cert],
        onConnection: reports.onConnection,
      });
      const conn = await connect(server);
      await conn.write(enc.encode(`via proxy to ${target}`));
      await conn.closeWrite();
      const echoed = await within("the echo", readAll(conn));
      conn.close();
      assert.equal(dec.decode(echoed), `via proxy to ${target}`);
      const r = await reports.next("the proxied connection");
      assert.match(r.target, /^127\.0\.0\.1:\d+ via proxy$/);
    }
    assert.deepEqual(proxy.requests, [
      `127.0.0.1:${echo.addr.port}`,
      `127.0.0.1:${tlsEcho.addr.port}`,
    ]);
  } finally {
    await proxy.close();
  }
  assert.throws(
    () => relay("tcp://127.0.0.1:0", "unix:/tmp/x.sock", { proxy: proxy.url }),
    /not unix:/,
  );
});

Deno.test("relay: tls target that requires a client certificate: refused without, echoes with", async () => {
  const dir = `${PROJECT_ROOT}tests/fixtures/tls/`;
  const read = (name: string) => Deno.readTextFile(dir + name);
  const { cert, key } = await testTls();
  // node:tls, because Deno's TLS server cannot ask for client certificates.
  const sockets = new Set<tls.TLSSocket>();
  const target = tls.createServer({
    cert,
    key,
    ca: await read("client_ca.pem"),
    requestCert: true,
    rejectUnauthorized: true,
  }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.pipe(socket);
  });
  target.on("tlsClientError", () => {});
  await new Promise<void>((resolve) =>
    target.listen(0, "127.0.0.1", () => resolve())
  );
  const targetPort = (target.address() as { port: number }).port;
  try {
    const clientCert = await read("client_cert.pem");
    const clientKey = await read("client_key.pem");
    const reports = reportCollector();
    for (const withCert of [false, true]) {
      await using server = relay(
        "tcp://127.0.0.1:0",
        `tls://127.0.0.1:${targetPort}`,
        {
          caCerts: [cert],
          ...(withCert ? { clientCert, clientKey } : {}),
          onConnection: reports.onConnection,
        },
      );
      const conn = await connect(server);
      await conn.write(enc.encode("with a certificate"));
      await conn.closeWrite();
      const echoed = await within(
        "the echo or the close",
        readAll(conn).catch(() => new Uint8Array(0)),
      );
      conn.close();
      const r = await reports.next("the connection");
      // Deno.startTls (without) and node:tls (with) both name the peer.
      assert.equal(r.target, `127.0.0.1:${targetPort}`);
      // TLS 1.3: the client's handshake ends before the server checks the
      // certificate, so the refusal shows as nothing echoed.
      assert.equal(
        dec.decode(echoed),
        withCert ? "with a certificate" : "",
      );
    }
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => target.close(resolve));
  }
});

Deno.test("relay: unix listen -> unix target", async () => {
  const dir = await Deno.makeTempDir();
  const targetPath = `${dir}/target.sock`;
  const listener = Deno.listen({ transport: "unix", path: targetPath });
  const served = (async () => {
    const conn = await listener.accept();
    const got = await readAll(conn);
    await conn.write(got.reverse());
    conn.close();
  })();
  const reports = reportCollector();
  const relayPath = `${dir}/relay.sock`;
  const server = relay(`unix:${relayPath}`, `unix:${targetPath}`, {
    onConnection: reports.onConnection,
  });
  const conn = await Deno.connect({ transport: "unix", path: relayPath });
  await conn.write(enc.encode("abc"));
  await conn.closeWrite();
  const back = await within("the reversed bytes", readAll(conn));
  conn.close();
  await within("the unix target", served);
  listener.close();
  await server.shutdown();
  assert.equal(dec.decode(back), "cba");
  const r = await reports.next("the unix connection");
  assert.equal(r.target, `unix:${targetPath}`);
  assert.equal(r.how, "fin");
  await assert.rejects(Deno.stat(relayPath), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("relay: exec:cat echoes and the program's exit is reported", async () => {
  const reports = reportCollector();
  await using server = relay("tcp://127.0.0.1:0", "exec:cat", {
    onConnection: reports.onConnection,
  });
  const conn = await connect(server);
  const data = seededBytes(300_000, 5);
  const writing = (async () => {
    for (let off = 0; off < data.length;) {
      off += await conn.write(data.subarray(off));
    }
    await conn.closeWrite();
  })();
  const [echoed] = await within(
    "cat's output",
    Promise.all([readAll(conn), writing]),
  );
  conn.close();
  assert.equal(echoed.length, data.length);
  assert.ok(echoed.every((b, i) => b === data[i]), "cat's output differs");
  const r = await reports.next("exec:cat");
  assert.equal(r.exit, "exit 0");
  assert.equal(r.closedFirst, "client");
  assert.match(r.target, /^exec:cat\[\d+\]$/);
});

Deno.test("relay: a program that exits early ends the connection with its answer", async () => {
  const reports = reportCollector();
  await using server = relay(
    "tcp://127.0.0.1:0",
    `exec:sh -c "head -c 3; echo ' bye'"`,
    { onConnection: reports.onConnection },
  );
  const conn = await connect(server);
  await conn.write(enc.encode("abcdef"));
  const answer = await within("the program's answer", readAll(conn)); // no closeWrite: the program ends it
  conn.close();
  assert.equal(dec.decode(answer), "abc bye\n");
  const r = await reports.next("the early exit");
  assert.equal(r.closedFirst, "target");
  assert.equal(r.how, "fin");
  assert.equal(r.exit, "exit 0");
});

Deno.test("relay: a program still running when the client leaves is killed and reaped", async () => {
  const reports = reportCollector();
  // The client's close is only a FIN to the relay; the program, which
  // never reads, would keep the connection half-open until the idle
  // timeout ends it.
  await using server = relay("tcp://127.0.0.1:0", "exec:sleep 60", {
    onConnection: reports.onConnection,
    idleTimeoutMs: 200,
  });
  const conn = await connect(server);
  await conn.write(enc.encode("z"));
  conn.close();
  const r = await reports.next("the killed program");
  assert.equal(r.exit, "killed by signal SIGTERM");
  assert.deepEqual([r.closedFirst, r.how], ["client", "fin"]);
  const pid = Number(/\[(\d+)\]$/.exec(r.target)![1]);
  await assert.rejects(Deno.stat(`/proc/${pid}`), Deno.errors.NotFound);
});

Deno.test("relay: maxConnections refuses the connection beyond the limit", async () => {
  await using echo = serveEcho({ port: 0 });
  await using server = relay(
    "tcp://127.0.0.1:0",
    `tcp://127.0.0.1:${echo.addr.port}`,
    { maxConnections: 1 },
  );
  const held = await connect(server);
  const buf = new Uint8Array(1);
  await held.write(enc.encode("1"));
  assert.equal(await within("the held echo", held.read(buf)), 1); // relayed, so counted as open
  const extra = await connect(server);
  const got = await within(
    "the refused connection's close",
    extra.read(buf).catch(() => null),
  );
  extra.close();
  assert.equal(got, null, "the extra connection must be closed at once");
  assert.equal(server.stats().refused, 1);
  held.close();
});

Deno.test("relay: idle timeout and shutdown are reported as the relay closing first", async () => {
  await using echo = serveEcho({ port: 0 });
  const reports = reportCollector();
  const server = relay(
    "tcp://127.0.0.1:0",
    `tcp://127.0.0.1:${echo.addr.port}`,
    {
      onConnection: reports.onConnection,
      idleTimeoutMs: 150,
      gracePeriodMs: 0,
    },
  );
  const idle = await connect(server);
  assert.equal(
    await within(
      "the idle close",
      idle.read(new Uint8Array(1)).catch(() => null),
    ),
    null,
  );
  idle.close();
  const r1 = await reports.next("the idle connection");
  assert.deepEqual([r1.closedFirst, r1.how], ["relay", "idle_timeout"]);
  const busy = await connect(server);
  await busy.write(enc.encode("q"));
  assert.equal(await within("the busy echo", busy.read(new Uint8Array(1))), 1);
  await server.shutdown();
  busy.close();
  const r2 = await reports.next("the connection open at shutdown");
  assert.deepEqual([r2.closedFirst, r2.how], ["relay", "shutdown"]);
});

Deno.test("relay: a graceful shutdown lets an open connection finish on its own", async () => {
  await using echo = serveEcho({ port: 0 });
  const reports = reportCollector();
  const server = relay(
    "tcp://127.0.0.1:0",
    `tcp://127.0.0.1:${echo.addr.port}`,
    { onConnection: reports.onConnection, gracePeriodMs: 20_000 },
  );
  const conn = await connect(server);
  await conn.write(enc.encode("a"));
  assert.equal(await within("the first echo", conn.read(new Uint8Array(1))), 1);
  const stopping = server.shutdown();
  // Refused now: the listener is closed.
  await assert.rejects(connect(server));
  await conn.write(enc.encode("bc"));
  await conn.closeWrite();
  assert.equal(dec.decode(await within("the rest", readAll(conn))), "bc");
  conn.close();
  await within("the shutdown", stopping);
  const r = await reports.next(
    "the connection that finished in the grace period",
  );
  assert.deepEqual([r.closedFirst, r.how, r.bytesToTarget], [
    "client",
    "fin",
    3,
  ]);
});

Deno.test("relay: a refused target is reported as an error", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = closed.addr.port;
  closed.close();
  const reports = reportCollector();
  await using server = relay(
    "tcp://127.0.0.1:0",
    `tcp://127.0.0.1:${deadPort}`,
    { onConnection: reports.onConnection },
  );
  const conn = await connect(server);
  assert.equal(
    await within(
      "the close after a refused target",
      conn.read(new Uint8Array(1)).catch(() => null),
    ),
    null,
  );
  conn.close();
  const r = await reports.next("the refused target");
  assert.equal(r.closedFirst, "target");
  assert.equal(r.how, "error");
  assert.match(r.error ?? "", /refused/i);
});

Deno.test("relay: a target that never answers the handshake times out and is reported", async () => {
  // A listener that never accepts, with its queue full (backlog 1 holds two):
  // the kernel drops further SYNs, so a connect just waits.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 1 });
  const queued = [
    await Deno.connect({ hostname: "127.0.0.1", port: silent.addr.port }),
    await Deno.connect({ hostname: "127.0.0.1", port: silent.addr.port }),
  ];
  const reports = reportCollector();
  try {
    await using server = relay(
      "tcp://127.0.0.1:0",
      `tcp://127.0.0.1:${silent.addr.port}`,
      { onConnection: reports.onConnection, connectTimeoutMs: 200 },
    );
    const conn = await connect(server);
    assert.equal(
      await within(
        "the close after the connect timeout",
        conn.read(new Uint8Array(1)).catch(() => null),
      ),
      null,
    );
    conn.close();
    const r = await reports.next("the timed-out connect");
    assert.equal(r.closedFirst, "target");
    assert.equal(r.how, "error");
    assert.match(
      r.error ?? "",
      /^no connection within 200 ms: still connecting to 127\.0\.0\.1:\d+$/,
    );
  } finally {
    for (const c of queued) c.close();
    silent.close();
  }
});

/** One datagram's text, or a failure naming `what` after 10 s. */
async function receiveWithin(
  socket: Deno.DatagramConn,
  what: string,
): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const [data] = await Promise.race([
      socket.receive(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no datagram for ${what} within 10 s`)),
          10_000,
        );
      }),
    ]);
    return dec.decode(data);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("relay: UDP clients are kept apart; over the session limit a new client evicts the longest idle", async () => {
  await using echo = serveUdpEcho({ port: 0 });
  const reports = reportCollector();
  const evictions: string[] = [];
  const server = relay(
    "udp://127.0.0.1:0",
    `udp://127.0.0.1:${echo.addr.port}`,
    {
      maxConnections: 2,
      onConnection: reports.onConnection,
      onError: (e) => evictions.push((e as Error).message),
    },
  );
  const to = {
    transport: "udp" as const,
    hostname: "127.0.0.1",
    port: port(server),
  };
  const a = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const b = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const c = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    for (let i = 0; i < 3; i++) {
      await a.send(enc.encode(`A${i}`), to);
      await b.send(enc.encode(`B${i}`), to);
    }
    const gotA: string[] = [];
    const gotB: string[] = [];
    for (let i = 0; i < 3; i++) {
      gotA.push(await receiveWithin(a, "client A"));
      gotB.push(await receiveWithin(b, "client B"));
    }
    assert.deepEqual(gotA.sort(), ["A0", "A1", "A2"]);
    assert.deepEqual(gotB.sort(), ["B0", "B1", "B2"]);
    // A third client is over the limit: served, the longest idle
    // session made room (and was reported through onError).
    await c.send(enc.encode("C"), to);
    assert.equal(await receiveWithin(c, "client C"), "C");
    assert.equal(server.stats().sessionsEvicted, 1);
    assert.equal(server.stats().served, 3);
    assert.match(
      evictions[0] ?? "",
      /^UDP session from 127\.0\.0\.1:\d+ evicted: the table holds 2, it was the longest idle/,
    );
  } finally {
    a.close();
    b.close();
    c.close();
    await server.shutdown();
  }
  const done = [
    await reports.next("session 1"),
    await reports.next("session 2"),
  ];
  assert.deepEqual(done.map((r) => r.how), ["shutdown", "shutdown"]);
  // Each session counted its own client's bytes only.
  const bytes = done.map((r: RelayReport) => r.bytesToTarget).sort();
  assert.deepEqual(bytes, [1, 6]);
});

Deno.test("relay: a UDP session ends after the idle timeout; hexdump shows its first bytes", async () => {
  const dumps: string[] = [];
  await using echo = serveUdpEcho({ port: 0 });
  const reports = reportCollector();
  await using server = relay(
    "udp://127.0.0.1:0",
    `udp://127.0.0.1:${echo.addr.port}`,
    {
      idleTimeoutMs: 100,
      onConnection: reports.onConnection,
      hexdumpBytes: 1,
      onHexdump: (text) => dumps.push(text),
    },
  );
  const a = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    await a.send(enc.encode("hi"), {
      transport: "udp",
      hostname: "127.0.0.1",
      port: port(server),
    });
    assert.equal(await receiveWithin(a, "the relayed echo"), "hi");
    assert.deepEqual(dumps.map((d) => d.split(" ")[0]), [">", "<"]);
    assert.match(dumps[0]!, /length=1 from=0 to=0\n 68 +h\n--$/);
    const r = await reports.next("the idle session");
    assert.equal(r.how, "idle_timeout");
    assert.equal(r.bytesToTarget, 2);
    assert.equal(r.bytesToClient, 2);
  } finally {
    a.close();
  }
});

Deno.test("relay exec: a program still running gracePeriodMs after its client's FIN is ended, and the report says why", async () => {
  const reports = reportCollector();
  await using server = relay("tcp://127.0.0.1:0", "exec:sleep 60", {
    onConnection: reports.onConnection,
    gracePeriodMs: 100,
  });
  const conn = await connect(server);
  conn.close();
  const r = await reports.next("the ended program");
  assert.equal(
    r.exit,
    "killed by signal SIGTERM (still running 0.1 s after the client's FIN)",
  );
  assert.deepEqual([r.closedFirst, r.how], ["client", "fin"]);
  const pid = Number(/\[(\d+)\]$/.exec(r.target)![1]);
  await assert.rejects(Deno.stat(`/proc/${pid}`), Deno.errors.NotFound);
});

Deno.test("relay exec: a program answering after its client's FIN still answers within the grace", async () => {
  const reports = reportCollector();
  await using server = relay("tcp://127.0.0.1:0", "exec:wc -c", {
    onConnection: reports.onConnection,
  });
  const conn = await connect(server);
  await conn.write(enc.encode("hello"));
  await conn.closeWrite();
  assert.equal(
    dec.decode(await within("wc's answer", readAll(conn))).trim(),
    "5",
  );
  conn.close();
  assert.equal((await reports.next("wc")).exit, "exit 0");
});

Deno.test("relay exec: maxPrograms caps the programs running at once; the client beyond is refused and reported", async () => {
  const reports = reportCollector();
  await using server = relay("tcp://127.0.0.1:0", "exec:cat", {
    onConnection: reports.onConnection,
    maxPrograms: 2,
  });
  const running = [await connect(server), await connect(server)];
  const buf = new Uint8Array(1);
  for (const conn of running) {
    await conn.write(enc.encode("x"));
    assert.equal(await within("cat's echo", conn.read(buf)), 1);
  }
  const extra = await connect(server);
  assert.equal(
    await within("the refusal", extra.read(buf).catch(() => null)),
    null,
  );
  extra.close();
  const refused = await reports.next("the refusal");
  assert.equal(refused.closedFirst, "relay");
  assert.equal(refused.error, "refused: 2 programs are running (the limit)");
  // One ends: the next client gets a program again.
  running[0]!.close();
  assert.equal((await reports.next("the first program")).closedFirst, "client");
  const next = await connect(server);
  await next.write(enc.encode("y"));
  assert.equal(await within("the new cat's echo", next.read(buf)), 1);
  for (const conn of [running[1]!, next]) conn.close();
});

/** Pids of `sleep MARKER` processes. */
function withMarker(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (cmdline === `sleep\0${marker}\0`) pids.push(Number(entry.name));
    } catch {
      // Gone while we looked.
    }
  }
  return pids;
}

Deno.test("relay exec --shell: what the program started in the background ends with the relay", async () => {
  const marker = `600.${crypto.getRandomValues(new Uint32Array(1))[0]}`;
  const reports = reportCollector();
  const server = relay(
    "tcp://127.0.0.1:0",
    `exec:sleep ${marker} & echo started; wait`,
    { shell: true, onConnection: reports.onConnection, gracePeriodMs: 0 },
  );
  const conn = await connect(server);
  try {
    const got = new Uint8Array(8);
    assert.equal(await within("the shell's line", conn.read(got)), 8);
    await waitFor(
      "the background sleep to run",
      () => withMarker(marker).length === 1,
    );
    await server.shutdown();
    await waitFor(
      "the background sleep to end",
      () => withMarker(marker).length === 0,
    );
    assert.match((await reports.next("the shell")).exit ?? "", /SIGTERM/);
  } finally {
    conn.close();
    for (const pid of withMarker(marker)) Deno.kill(pid, "SIGKILL");
  }
});

function udpSocket(hostname = "127.0.0.1"): Deno.DatagramConn {
  return Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
}

Deno.test("relay UDP: after a flood of one-datagram sources a fresh client is served and an established session survives", async () => {
  await using echo = serveUdpEcho({ port: 0 });
  const reports = reportCollector();
  const said: string[] = [];
  const server = relay(
    "udp://127.0.0.1:0",
    `udp://127.0.0.1:${echo.addr.port}`,
    {
      maxConnections: 16,
      onConnection: reports.onConnection,
      onError: (e) => said.push((e as Error).message),
    },
  );
  const to = {
    transport: "udp" as const,
    hostname: "127.0.0.1",
    port: port(server),
  };
  const established = udpSocket();
  const fresh = udpSocket();
  // 200 sources on 127.0.9.x, one datagram each (what spoofing costs).
  const flood = Array.from(
    { length: 200 },
    (_, i) => udpSocket(`127.0.9.${i + 1}`),
  );
  try {
    for (const text of ["e1", "e2"]) {
      await established.send(enc.encode(text), to);
      assert.equal(await receiveWithin(established, text), text);
    }
    // One after the other, each answered, so none is lost to a full
    // receive buffer: one datagram per source still.
    for (const socket of flood) {
      await socket.send(enc.encode("f"), to);
      assert.equal(await receiveWithin(socket, "a flood source"), "f");
    }
    await fresh.send(enc.encode("new"), to);
    assert.equal(await receiveWithin(fresh, "the fresh client"), "new");
    await established.send(enc.encode("e3"), to);
    assert.equal(await receiveWithin(established, "e3"), "e3");
    assert.ok(server.stats().sessionsEvicted >= flood.length - 16);
  } finally {
    for (const socket of [established, fresh, ...flood]) socket.close();
    await server.shutdown();
  }
  // One session carried all of the established client's datagrams.
  const closed: RelayReport[] = [];
  for (
    let i = 0;
    i < server.stats().served - server.stats().sessionsEvicted;
    i++
  ) {
    closed.push(await reports.next(`session ${i}`));
  }
  const mine = closed.find((r) =>
    r.client === `127.0.0.1:${(established.addr as Deno.NetAddr).port}`
  );
  assert.equal(mine?.bytesToTarget, 6);
  // Bounded log: a line each for the first evictions, then summaries.
  const each = said.filter((m) => / evicted: the table holds 16/.test(m));
  assert.ok(each.length <= 10, said.join("\n"));
  const summarized = said.map((m) =>
    Number(/^(\d+) more UDP sessions evicted/.exec(m)?.[1] ?? 0)
  ).reduce((a, b) => a + b, 0);
  assert.equal(each.length + summarized, server.stats().sessionsEvicted);
});
