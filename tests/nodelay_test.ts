// No-delay (TCP_NODELAY) on every kind of socket netkit writes messages
// to, read back from the kernel with getsockopt (tcp/_sockopt.ts), so a
// change that drops it fails here. Without it a reply that follows a
// partial segment waits for the peer's delayed ACK: the 44 ms of 16–32
// KiB WebSocket messages (issue #26).

import assert from "node:assert/strict";
import { type NoDelayReading, readNoDelay } from "../tcp/_sockopt.ts";
import { serveEcho } from "../tcp/echo.ts";
import { connectTcp } from "../tcp/echo.ts";
import { dial } from "../tcp/dial.ts";
import { loadTcp } from "../tcp/load.ts";
import { serveWebSocket } from "../ws/server.ts";
import { acceptWebSocket } from "../ws/adapter.ts";
import { connectWebSocket } from "../ws/client.ts";
import { loadWebSocket } from "../ws/load.ts";
import { relay } from "../relay/relay.ts";
import {
  generateToken,
  sendFiles,
  serveFileReceiver,
} from "../tcp/file/mod.ts";
import { bounded, testTls, WAIT_MS, withTimeout } from "./_helpers.ts";

/** This process's connected sockets with `port` as their local port. */
function serverSide(port: number): NoDelayReading[] {
  return readNoDelay({ localPort: port }).filter((s) =>
    s.state === "ESTABLISHED"
  );
}

/** This process's connected sockets to `port`. */
function clientSide(port: number): NoDelayReading[] {
  return readNoDelay({ remotePort: port }).filter((s) =>
    s.state === "ESTABLISHED"
  );
}

function assertNoDelay(sockets: NoDelayReading[], what: string, count = 1) {
  assert.ok(
    sockets.length >= count,
    `${what}: expected ${count} socket(s), found ${sockets.length}`,
  );
  for (const s of sockets) {
    assert.ok(
      s.noDelay,
      `${what}: ${s.local.hostname}:${s.local.port} -> ${s.remote.hostname}:${s.remote.port} has Nagle on`,
    );
  }
}

async function roundTrip(
  conn: Pick<Deno.Conn, "read" | "write">,
  text = "ping",
): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  await conn.write(bytes);
  const buf = new Uint8Array(bytes.length);
  let got = 0;
  while (got < bytes.length) {
    const n = await withTimeout(conn.read(buf.subarray(got)), WAIT_MS, "echo");
    if (n === null) throw new Error("closed before the echo");
    got += n;
  }
}

/**
 * A plain listener that, on a client's first bytes, reads that client's
 * socket (in this process) back from the kernel, then echoes.
 */
function probeServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const seen: NoDelayReading[] = [];
  const conns: Deno.Conn[] = [];
  const done = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      void (async () => {
        const buf = new Uint8Array(64 * 1024);
        let first = true;
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            if (first) {
              first = false;
              seen.push(
                ...readNoDelay({
                  localPort: (conn.remoteAddr as Deno.NetAddr).port,
                  remotePort: port,
                }),
              );
            }
            await conn.write(buf.subarray(0, n));
          }
        } catch {
          // The client went away.
        } finally {
          try {
            conn.close();
          } catch {
            // Closed already.
          }
        }
      })();
    }
  })();
  return {
    port,
    seen,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Closed already.
        }
      }
      await done;
    },
  };
}

Deno.test("no-delay: the TCP servers' accepted connections (serveTcp, echo)", async () => {
  await using server = bounded(serveEcho({ port: 0 }));
  using conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  await roundTrip(conn);
  assertNoDelay(serverSide(server.addr.port), "echo server");
});

Deno.test("no-delay: TLS servers' accepted connections, set on the listener", async () => {
  const { cert, key } = await testTls();
  await using server = bounded(serveEcho({ port: 0, tls: { cert, key } }));
  using conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: server.addr.port,
    caCerts: [cert],
  });
  await roundTrip(conn);
  assertNoDelay(serverSide(server.addr.port), "TLS echo server");
  assertNoDelay(
    readNoDelay({ localPort: server.addr.port }).filter((s) =>
      s.state === "LISTEN"
    ),
    "TLS listener",
  );
});

Deno.test("no-delay: the TCP clients (connectTcp, dial with and without TLS)", async () => {
  await using probe = probeServer();
  using a = await connectTcp({ hostname: "127.0.0.1", port: probe.port });
  await roundTrip(a);
  const b = await dial({ hostname: "127.0.0.1", port: probe.port });
  try {
    await roundTrip(b);
    assertNoDelay(probe.seen, "connectTcp and dial", 2);
  } finally {
    b.close();
  }

  const { cert, key } = await testTls();
  await using tls = bounded(serveEcho({ port: 0, tls: { cert, key } }));
  const target = { hostname: "127.0.0.1", port: tls.addr.port };
  // Deno.startTls (verified) and node:tls (insecure) over the dialed socket.
  const verified = await dial(target, { tls: { caCerts: [cert] } });
  const insecure = await dial(target, { tls: { insecure: true } });
  try {
    await roundTrip(verified);
    await roundTrip(insecure);
    assertNoDelay(clientSide(tls.addr.port), "TLS dial", 2);
  } finally {
    verified.close();
    insecure.close();
  }
});

Deno.test("no-delay: the WebSocket server (ws and wss) and netkit's client", async () => {
  await using server = bounded(serveWebSocket({ port: 0, page: false }));
  await using client = await connectWebSocket(
    `ws://127.0.0.1:${server.addr.port}/ws`,
  );
  client.send("hi");
  for await (const _ of client) break;
  assertNoDelay(serverSide(server.addr.port), "ws server");
  assertNoDelay(clientSide(server.addr.port), "ws client");

  const { cert, key, caPath } = await testTls();
  await using secure = bounded(
    serveWebSocket({ port: 0, page: false, tls: { cert, key } }),
  );
  await using wss = await connectWebSocket(
    `wss://127.0.0.1:${secure.addr.port}/ws`,
    { caCerts: [await Deno.readTextFile(caPath)] },
  );
  wss.send("hi");
  for await (const _ of wss) break;
  assertNoDelay(serverSide(secure.addr.port), "wss server");
  assertNoDelay(clientSide(secure.addr.port), "wss client");
});

Deno.test("no-delay: the Deno.serve adapter (acceptWebSocket)", async () => {
  await using app = Deno.serve({ port: 0, onListen() {} }, (request) => {
    const { socket, response } = acceptWebSocket(request);
    if (socket) socket.onmessage = (event) => socket.send(event.data);
    return response;
  });
  await using client = await connectWebSocket(
    `ws://127.0.0.1:${app.addr.port}/`,
  );
  client.send("hi");
  for await (const _ of client) break;
  // Deno.serve sets it itself; this holds the runtime to it.
  assertNoDelay(serverSide(app.addr.port), "Deno.serve adapter");
});

Deno.test("no-delay: the relay, both sides (tcp and tls listen)", async () => {
  await using probe = probeServer();
  await using forward = bounded(
    relay("tcp://127.0.0.1:0", `tcp://127.0.0.1:${probe.port}`),
  );
  const port = (forward.addr as Deno.NetAddr).port;
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await roundTrip(conn);
  assertNoDelay(serverSide(port), "relay, client side");
  assertNoDelay(probe.seen, "relay, target side");

  const { cert, key } = await testTls();
  await using secure = bounded(
    relay("tls://127.0.0.1:0", `tcp://127.0.0.1:${probe.port}`, {
      tls: { cert, key },
    }),
  );
  const tlsPort = (secure.addr as Deno.NetAddr).port;
  using tlsConn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: tlsPort,
    caCerts: [cert],
  });
  await roundTrip(tlsConn);
  assertNoDelay(serverSide(tlsPort), "tls relay, client side");
});

Deno.test("no-delay: file transfer, receiver and sender (control frames)", async () => {
  const dir = await Deno.makeTempDir();
  const source = await Deno.makeTempFile();
  try {
    await Deno.writeFile(source, new Uint8Array(256 * 1024));
    const token = generateToken();
    const readings: NoDelayReading[][] = [];
    let port = 0;
    await using receiver = bounded(serveFileReceiver({
      dir,
      token,
      port: 0,
      onProgress() {
        // Both ends are in this process and open while bytes arrive.
        if (readings.length === 0) {
          readings.push(serverSide(port), clientSide(port));
        }
      },
    }));
    port = receiver.addr.port;
    const report = await sendFiles(receiver.addr, [source], { token });
    assert.ok(report.ok, JSON.stringify(report));
    assert.equal(readings.length, 2, "no progress seen during the transfer");
    assertNoDelay(readings[0]!, "file receiver");
    assertNoDelay(readings[1]!, "file sender");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(source);
  }
});

Deno.test("no-delay: the load drivers (TCP echo, WebSocket)", async () => {
  await using echo = bounded(serveEcho({ port: 0 }));
  let tcp: NoDelayReading[] = [];
  await loadTcp(echo.addr, {
    connections: 2,
    requests: 50,
    onWindowEnd() {
      tcp = clientSide(echo.addr.port);
    },
  });
  assertNoDelay(tcp, "TCP load driver", 2);

  await using ws = bounded(serveWebSocket({ port: 0, page: false }));
  let wsSockets: NoDelayReading[] = [];
  await loadWebSocket(`ws://127.0.0.1:${ws.addr.port}/ws`, {
    connections: 2,
    requests: 50,
    onWindowEnd() {
      wsSockets = clientSide(ws.addr.port);
    },
  });
  assertNoDelay(wsSockets, "WebSocket load driver", 2);
});
