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
import { endOf, listenerPid, socketFds } from "../_strangers.ts";

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
