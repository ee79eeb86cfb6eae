// Strangers at the TLS doors of the real CLI: silent connections (no
// ClientHello) are reset at the deadline and the server's fds come back,
// and under a low open-file limit a real client still gets through while
// they are held.

import assert from "node:assert/strict";
import {
  cliCommand,
  connectTo,
  missingPeer,
  runCli,
  startCli,
  testTls,
  WAIT_MS,
  waitFor,
  withTimeout,
} from "../_helpers.ts";
import { connectFrom, endOf, listenerPid, socketFds } from "../_strangers.ts";
import { fileProtocol } from "../../tcp/mod.ts";

const SILENT = 50;

/**
 * Opens `n` connections at once that never send a byte. A server that
 * caps its unfinished handshakes may reset some before their connect()
 * has returned; the others are held.
 */
async function silent(port: number, n: number): Promise<Deno.TcpConn[]> {
  const addr = { transport: "tcp" as const, hostname: "127.0.0.1", port };
  const settled = await withTimeout(
    Promise.allSettled(Array.from({ length: n }, () => connectTo(addr))),
    WAIT_MS,
    `${n} silent connections`,
  );
  const conns = settled.flatMap((s) =>
    s.status === "fulfilled" ? [s.value] : []
  );
  for (const s of settled) {
    if (s.status === "rejected") {
      assert.ok(s.reason instanceof Deno.errors.ConnectionReset, s.reason);
    }
  }
  return conns;
}

/**
 * Holds SILENT silent connections to `port` until the server ends them,
 * each by a reset, then waits until the server holds no more sockets than
 * before they came.
 */
async function resetAndFreed(port: number): Promise<void> {
  const pid = await listenerPid(port);
  const before = socketFds(pid);
  const conns = await silent(port, SILENT);
  try {
    const ends = await Promise.all(
      conns.map((c) => endOf(c, "the server to end a silent connection")),
    );
    assert.deepEqual(new Set(ends), new Set(["reset"]));
    await waitFor(
      "the server's socket fds to come back",
      () => socketFds(pid) === before,
    );
  } finally {
    for (const c of conns) c.close();
  }
}

Deno.test("file recv --tls-cert: silent TLS connections are reset at --auth-timeout and the receiver's fds come back", async () => {
  const tls = await testTls();
  const dir = await Deno.makeTempDir();
  await using server = await startCli([
    "file",
    "recv",
    "--port",
    "0",
    "--dir",
    dir,
    "--tls-cert",
    tls.caPath,
    "--tls-key",
    tls.caPath.replace("cert.pem", "key.pem"),
    "--auth-timeout",
    "1",
  ]);
  try {
    await resetAndFreed(server.ports.tcp!);
    const r = await server.stop();
    assert.match(r.stderr, new RegExp(`${SILENT} too slow to authenticate`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("relay tls://: silent TLS clients are reset at --connect-timeout and the relay's fds come back", async () => {
  const tls = await testTls();
  using target = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await using server = await startCli([
    "relay",
    "tls://127.0.0.1:0",
    `tcp://127.0.0.1:${target.addr.port}`,
    "--tls-cert",
    tls.caPath,
    "--tls-key",
    tls.caPath.replace("cert.pem", "key.pem"),
    "--connect-timeout",
    "1",
  ]);
  await resetAndFreed(server.ports.tls ?? server.ports.tcp!);
  const r = await server.stop();
  assert.match(
    r.stderr,
    /TLS connection from 127\.0\.0\.1:\d+ reset: handshake not finished within 1 s/,
  );
  assert.match(
    r.stderr,
    new RegExp(`${SILENT} unfinished TLS handshakes reset`),
  );
});

/** A CLI server under `prlimit --nofile=LIMIT`. */
function limited(limit: number, args: string[]) {
  const { cmd, args: full } = cliCommand(args);
  return startCli(args, {
    command: {
      cmd: "prlimit",
      args: [`--nofile=${limit}:${limit}`, cmd, ...full],
    },
  });
}

Deno.test(
  "ws serve --tls-cert under a 300-file limit: 400 silent TLS sockets held, a real ws connect wss:// gets through",
  {
    ignore: missingPeer("prlimit"),
  },
  async () => {
    const tls = await testTls();
    await using server = await limited(300, [
      "ws",
      "serve",
      "--port",
      "0",
      "--no-page",
      "--tls-cert",
      tls.caPath,
      "--tls-key",
      tls.caPath.replace("cert.pem", "key.pem"),
    ]);
    const port = server.ports.ws ?? server.ports.tcp!;
    const held = await silent(port, 400);
    try {
      const r = await runCli([
        "ws",
        "connect",
        `wss://localhost:${port}/ws`,
        "--ca",
        tls.caPath,
      ], { stdin: "through\n" });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), "through");
    } finally {
      for (const c of held) c.close();
    }
  },
);

Deno.test(
  "file recv --tls-cert under a 300-file limit: 400 silent TLS sockets held, a real file send --tls-ca gets through",
  {
    ignore: missingPeer("prlimit"),
  },
  async () => {
    const tls = await testTls();
    const dir = await Deno.makeTempDir();
    const src = await Deno.makeTempFile();
    await Deno.writeFile(src, new Uint8Array(100_000).fill(7));
    try {
      await using server = await limited(300, [
        "file",
        "recv",
        "--port",
        "0",
        "--dir",
        dir,
        "--token",
        "a-token-for-this-test",
        "--tls-cert",
        tls.caPath,
        "--tls-key",
        tls.caPath.replace("cert.pem", "key.pem"),
      ]);
      const port = server.ports.tcp!;
      const held = await silent(port, 400);
      try {
        const r = await runCli([
          "file",
          "send",
          `127.0.0.1:${port}`,
          src,
          "--token",
          "a-token-for-this-test",
          "--tls-ca",
          tls.caPath,
        ]);
        assert.equal(r.code, 0, r.stderr);
      } finally {
        for (const c of held) c.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(src);
    }
  },
);

/** Pids of `sleep MARKER` processes. */
function sleepers(marker: string): number[] {
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

function marker(): string {
  return `700.${crypto.getRandomValues(new Uint32Array(1))[0]}`;
}

Deno.test("relay exec: clients that connect and close (FIN) leave no program running, and each gets a line", async () => {
  const m = marker();
  await using server = await startCli([
    "relay",
    "tcp://127.0.0.1:0",
    `exec:sleep ${m}`,
    "--grace",
    "0.2",
  ]);
  const port = server.ports.tcp!;
  try {
    for (const conn of await silent(port, 30)) conn.close();
    await server.waitForStderr(/(^closed .*\n){30}/m);
    await waitFor("every program to end", () => sleepers(m).length === 0);
    assert.equal(
      server.stderr().match(
        /killed by signal SIGTERM \(still running 0\.2 s after the client's FIN\)/g,
      )?.length,
      30,
      server.stderr(),
    );
  } finally {
    for (const pid of sleepers(m)) Deno.kill(pid, "SIGKILL");
  }
});

Deno.test("relay exec --shell: background jobs of the programs end when the relay is stopped", async () => {
  const m = marker();
  await using server = await startCli([
    "relay",
    "tcp://127.0.0.1:0",
    `exec:sleep ${m} & echo started; wait`,
    "--shell",
    "--grace",
    "0",
  ]);
  const conns = await silent(server.ports.tcp!, 5);
  try {
    for (const conn of conns) {
      const line = new Uint8Array(8);
      assert.equal(await withTimeout(conn.read(line), WAIT_MS, "started"), 8);
    }
    await waitFor("the background sleeps", () => sleepers(m).length === 5);
    const r = await server.stop();
    assert.equal(r.code, 0, r.stderr);
    await waitFor(
      "the background sleeps to end",
      () => sleepers(m).length === 0,
    );
  } finally {
    for (const conn of conns) conn.close();
    for (const pid of sleepers(m)) Deno.kill(pid, "SIGKILL");
  }
});

Deno.test("relay ws:// --allow-origin: a foreign Origin gets 403 by default and with a flag naming another; the named origin gets in", async () => {
  using target = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await using closed = await startCli([
    "relay",
    "ws://127.0.0.1:0/",
    `tcp://127.0.0.1:${target.addr.port}`,
  ]);
  const url = (port: number) => `ws://127.0.0.1:${port}/`;
  const refused = await runCli([
    "ws",
    "connect",
    url(closed.ports.ws!),
    "--header",
    "Origin: https://evil.example",
  ], { stdin: "" });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /HTTP 403/);
  await using open = await startCli([
    "relay",
    "ws://127.0.0.1:0/",
    `tcp://127.0.0.1:${target.addr.port}`,
    "--allow-origin",
    "https://app.example",
  ]);
  const other = await runCli([
    "ws",
    "connect",
    url(open.ports.ws!),
    "--header",
    "Origin: https://app.example.evil.net",
  ], { stdin: "" });
  assert.match(other.stderr, /HTTP 403/);
  const served = target.accept();
  const allowed = runCli([
    "ws",
    "connect",
    url(open.ports.ws!),
    "--header",
    "Origin: https://app.example",
  ], { stdin: "" });
  (await withTimeout(served, WAIT_MS, "the relayed connection")).close();
  assert.equal((await allowed).code, 0, (await allowed).stderr);
  const bad = await runCli([
    "relay",
    "ws://127.0.0.1:0/",
    "tcp://127.0.0.1:1",
    "--allow-origin",
    "https://app.example/path",
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--allow-origin takes an origin/);
});

Deno.test("relay exec --max-programs: the client beyond the limit is refused and logged", async () => {
  await using server = await startCli([
    "relay",
    "tcp://127.0.0.1:0",
    "exec:cat",
    "--max-programs",
    "2",
  ]);
  const port = server.ports.tcp!;
  const running = await silent(port, 2);
  try {
    for (const conn of running) {
      await conn.write(new TextEncoder().encode("x"));
      await withTimeout(conn.read(new Uint8Array(1)), WAIT_MS, "cat's echo");
    }
    const extra = await silent(port, 1);
    assert.equal(await endOf(extra[0]!, "the refusal"), "closed");
    extra[0]!.close();
    await server.waitForStderr(
      /relay closed first \(error: refused: 2 programs are running \(the limit\)\)/,
    );
  } finally {
    for (const conn of running) conn.close();
  }
});

Deno.test("relay udp://: after a flood of one-datagram sources a fresh client is served; evictions logged in bounded lines", async () => {
  const echo = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const echoing = (async () => {
    try {
      for (;;) {
        const [data, from] = await echo.receive();
        await echo.send(data, from);
      }
    } catch {
      // Closed at the end of the test.
    }
  })();
  await using server = await startCli([
    "relay",
    "udp://127.0.0.1:0",
    `udp://127.0.0.1:${(echo.addr as Deno.NetAddr).port}`,
    "--max-conns",
    "16",
  ]);
  const to = {
    transport: "udp" as const,
    hostname: "127.0.0.1",
    port: server.ports.udp!,
  };
  const exchange = async (socket: Deno.DatagramConn, text: string) => {
    await socket.send(new TextEncoder().encode(text), to);
    const [data] = await withTimeout(socket.receive(), WAIT_MS, text);
    return new TextDecoder().decode(data);
  };
  const flood = Array.from({ length: 100 }, (_, i) =>
    Deno.listenDatagram({
      transport: "udp",
      hostname: `127.0.8.${i + 1}`,
      port: 0,
    }));
  const fresh = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    for (const socket of flood) await exchange(socket, "f");
    assert.equal(await exchange(fresh, "fresh"), "fresh");
    const r = await server.stop();
    assert.equal(r.code, 0, r.stderr);
    const each = r.stderr.match(/UDP session from \S+ evicted/g) ?? [];
    assert.ok(each.length <= 10, r.stderr);
    const more = [...r.stderr.matchAll(/(\d+) more UDP sessions evicted/g)]
      .reduce((n, m) => n + Number(m[1]), 0);
    const evicted = Number(/(\d+) sessions evicted/.exec(r.stderr)?.[1]);
    assert.equal(each.length + more, evicted);
    assert.equal(evicted, 101 - 16);
  } finally {
    for (const socket of [...flood, fresh]) socket.close();
    echo.close();
    await echoing;
  }
});

Deno.test("file recv: guesses from many addresses cost a bounded log: a line each for the first, then a summary", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using server = await startCli([
      "file",
      "recv",
      "--port",
      "0",
      "--dir",
      dir,
      "--token",
      "123456",
    ]);
    const port = server.ports.tcp!;
    const guess = new Uint8Array([
      ...fileProtocol.encodeHello(new Uint8Array(32)),
      ...fileProtocol.encodeFrame(
        fileProtocol.MessageType.AUTH,
        new Uint8Array(32),
      ),
    ]);
    for (let i = 1; i <= 40; i++) {
      const conn = await connectFrom(`127.0.30.${i}`, port);
      await conn.write(guess);
      await conn.ended;
    }
    const r = await server.stop();
    assert.equal(r.code, 0, r.stderr);
    const each = r.stderr.match(/^session from .*auth_failed/gm) ?? [];
    assert.ok(each.length <= 20, r.stderr);
    const summarized = [
      ...r.stderr.matchAll(/strangers: (\d+) more sessions ended/g),
    ].reduce((n, m) => n + Number(m[1]), 0);
    assert.equal(each.length + summarized, 40, r.stderr);
    assert.match(r.stderr, /40 wrong tokens/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
