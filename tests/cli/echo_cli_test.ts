import assert from "node:assert/strict";
import { udpRequest } from "../../udp/mod.ts";
import {
  cliCommand,
  cliDirectCommand,
  closedByPeer,
  connectTo,
  missingIpv6,
  missingPeer,
  readAllWithin,
  readExactly,
  runCli,
  runProgram,
  startCli,
  startSocatEcho,
  WAIT_MS,
  waitFor,
  withTimeout,
} from "../_helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function run(
  cmd: string,
  args: string[],
  stdin: string,
): Promise<{ code: number; out: string }> {
  const r = await runProgram(cmd, args, { stdin });
  return { code: r.code, out: r.stdout };
}

Deno.test("echo serve: both transports on one port, listening lines first, summary on SIGTERM", async () => {
  await using server = await startCli(["echo", "serve", "--port", "0"], {
    expect: 2,
  });
  assert.match(server.listening[0]!, /^listening tcp 127\.0\.0\.1:\d+$/);
  assert.match(server.listening[1]!, /^listening udp 127\.0\.0\.1:\d+$/);
  assert.equal(server.ports.tcp, server.ports.udp);
  const conn = await connectTo({
    transport: "tcp",
    hostname: "127.0.0.1",
    port: server.ports.tcp!,
  });
  await conn.write(enc.encode("abc"));
  await conn.closeWrite();
  assert.equal(dec.decode(await readAllWithin(conn)), "abc");
  conn.close();
  const datagram = enc.encode("datagram");
  assert.deepEqual(
    await udpRequest(`127.0.0.1:${server.ports.udp}`, datagram),
    datagram,
  );
  const r = await server.stop("SIGTERM");
  assert.equal(r.code, 0);
  assert.match(
    r.stderr,
    /^echo\/tcp: served 1, refused 0, 3 bytes in, 3 bytes out, 0 accept back-offs/m,
  );
  assert.match(
    r.stderr,
    /^echo\/udp: served 1, refused 0, 8 bytes in, 8 bytes out$/m,
  );
});

Deno.test("echo serve: SIGINT also stops gracefully", async () => {
  await using server = await startCli([
    "echo",
    "serve",
    "--tcp",
    "--port",
    "0",
  ]);
  const r = await server.stop("SIGINT");
  assert.equal(r.code, 0);
  assert.match(r.stderr, /echo\/tcp: served 0/);
});

Deno.test("echo serve: a port in use is one clear line, exit 1", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const r = await runCli([
    "echo",
    "serve",
    "--tcp",
    "--port",
    String(listener.addr.port),
  ]);
  listener.close();
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr.trim(),
    `netkit: cannot listen on 127.0.0.1:${listener.addr.port}: address already in use (another program has port ${listener.addr.port}: choose another with --port (--port 0 picks a free one))`,
  );
});

Deno.test("echo serve: nc, socat (TCP and UDP) and ncat (TCP) are served", {
  ignore: missingPeer("nc", "socat", "ncat"),
}, async () => {
  await using server = await startCli(["echo", "serve", "--port", "0"], {
    expect: 2,
  });
  const port = String(server.ports.tcp);
  try {
    const nc = await run("nc", ["-N", "127.0.0.1", port], "hello");
    assert.equal(nc.out, "hello");
    const socat = await run(
      "socat",
      ["-", `TCP:127.0.0.1:${port}`],
      "via socat\n",
    );
    assert.equal(socat.out, "via socat\n");
    const udp = await run(
      "socat",
      ["-T", "2", "-", `UDP:127.0.0.1:${port}`],
      "udp hi\n",
    );
    assert.equal(udp.out, "udp hi\n");
    const ncu = await run(
      "nc",
      ["-u", "-w", "1", "127.0.0.1", port],
      "nc udp\n",
    );
    assert.equal(ncu.out, "nc udp\n");
    const ncat = await run("ncat", ["127.0.0.1", port], "via ncat\n");
    assert.equal(ncat.out, "via ncat\n");
  } finally {
    await server.stop();
  }
});

Deno.test({
  name:
    "echo connect: pipes stdin through a socat echo server and exits after the reply",
  ignore: missingPeer("socat"),
}, async () => {
  const socat = await startSocatEcho("TCP-LISTEN", "fork");
  try {
    const data = "line one\nline two\n".repeat(1000);
    const r = await runCli(["echo", "connect", `127.0.0.1:${socat.port}`], {
      stdin: data,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, data);
  } finally {
    await socat.stop();
  }
});

Deno.test("echo connect --udp: each line is a datagram answered by socat", {
  ignore: missingPeer("socat"),
}, async () => {
  const socat = await startSocatEcho("UDP-LISTEN");
  try {
    const r = await runCli([
      "echo",
      "connect",
      `127.0.0.1:${socat.port}`,
      "--udp",
    ], {
      stdin: "one\ntwo\n",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "one\ntwo\n");
  } finally {
    await socat.stop();
  }
});

Deno.test("echo connect: refused and no-UDP-server are one line, exit 1", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const tcp = await runCli(["echo", "connect", `127.0.0.1:${port}`], {
    stdin: "x",
  });
  assert.equal(tcp.code, 1);
  assert.match(tcp.stderr, /^netkit: connection refused by 127\.0\.0\.1:\d+/);
  const udp = await runCli([
    "echo",
    "connect",
    `127.0.0.1:${port}`,
    "--udp",
    "--timeout",
    "200ms",
  ], {
    stdin: "x\n",
  });
  assert.equal(udp.code, 1);
  assert.equal(
    udp.stderr.trim(),
    `netkit: no UDP echo server at 127.0.0.1:${port}`,
  );
});

Deno.test("echo ping: per-probe lines and a summary, TCP and UDP, human and JSON", async () => {
  await using server = await startCli(["echo", "serve", "--port", "0"], {
    expect: 2,
  });
  const target = `127.0.0.1:${server.ports.tcp}`;
  try {
    const tcp = await runCli(["echo", "ping", target, "-c", "3", "-i", "0"]);
    assert.equal(tcp.code, 0, tcp.stderr);
    assert.equal(
      tcp.stdout.match(/^64 bytes from .* seq=\d time=/gm)?.length,
      3,
    );
    assert.match(tcp.stdout, /3 probes sent, 3 received, 0\.0% loss/);
    assert.match(tcp.stdout, /rtt min\/avg\/max\/p99 = /);
    const udp = await runCli([
      "echo",
      "ping",
      target,
      "--udp",
      "-c",
      "3",
      "-i",
      "0",
      "--json",
    ]);
    assert.equal(udp.code, 0, udp.stderr);
    const lines = udp.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.filter((l) => l.type === "probe").length, 3);
    const summary = lines.at(-1);
    assert.equal(summary.type, "summary");
    assert.equal(summary.transport, "udp");
    assert.equal(summary.received, 3);
    const big = await runCli([
      "echo",
      "ping",
      target,
      "--udp",
      "-s",
      "65508",
      "-c",
      "1",
    ]);
    assert.equal(big.code, 2);
    assert.match(big.stderr, /at most 65507 bytes; 65508 refused/);
  } finally {
    await server.stop();
  }
});

Deno.test("echo serve: survives EMFILE under a low fd limit and serves again", {
  ignore: missingPeer("prlimit"),
}, async () => {
  const { cmd, args } = cliCommand(["echo", "serve", "--tcp", "--port", "0"]);
  await using server = await startCli([], {
    command: { cmd: "prlimit", args: ["--nofile=64:64", cmd, ...args] },
  });
  const port = server.ports.tcp!;
  const addr = { transport: "tcp" as const, hostname: "127.0.0.1", port };
  const conns = await withTimeout(
    Promise.all(Array.from({ length: 120 }, () => connectTo(addr))),
    WAIT_MS,
    "120 connections",
  );
  // Wait (by condition, not time) until the server reports the back-off.
  await server.waitForStderr(
    /accept failed: .*[Tt]oo many open files.*backing off/,
  );
  for (const c of conns) c.close();
  const fresh = await connectTo(addr);
  await fresh.write(enc.encode("still here"));
  await fresh.closeWrite();
  assert.equal(dec.decode(await readAllWithin(fresh)), "still here");
  fresh.close();
  const r = await server.stop();
  assert.equal(r.code, 0);
  const backoffs = Number(/(\d+) accept back-offs?\b/.exec(r.stderr)?.[1]);
  assert.ok(backoffs > 0, r.stderr);
});

Deno.test("echo serve --host ::1: IPv6 addresses in brackets, TCP and UDP", {
  ignore: missingIpv6(),
}, async () => {
  await using server = await startCli([
    "echo",
    "serve",
    "--host",
    "::1",
    "--port",
    "0",
  ], { expect: 2 });
  try {
    assert.match(server.listening[0]!, /^listening tcp \[::1\]:\d+$/);
    const target = `[::1]:${server.ports.tcp}`;
    const tcp = await runCli(["echo", "connect", target], {
      stdin: "over ipv6\n",
    });
    assert.equal(tcp.code, 0, tcp.stderr);
    assert.equal(tcp.stdout, "over ipv6\n");
    const udp = await runCli([
      "echo",
      "ping",
      target,
      "--udp",
      "-c",
      "2",
      "-i",
      "0",
      "--json",
    ]);
    assert.equal(udp.code, 0, udp.stderr);
    assert.equal(JSON.parse(udp.stdout.trim().split("\n").at(-1)!).received, 2);
  } finally {
    await server.stop();
  }
});

/** Sends `text` and reads its echo back (bounded). */
async function exchange(conn: Deno.Conn, text: string): Promise<string> {
  await conn.write(enc.encode(text));
  return dec.decode(await readExactly(conn, text.length, `echo of '${text}'`));
}

const tcpAddr = (port: number) => ({
  transport: "tcp" as const,
  hostname: "127.0.0.1",
  port,
});

/** Waits until nothing listens on `port` any more (the server began shutting down). */
function listenerClosed(port: number): Promise<true> {
  return waitFor(
    `the listener on ${port} to close`,
    () =>
      connectTo(tcpAddr(port)).then((c) => {
        c.close();
        return false;
      }, (e) => e instanceof Deno.errors.ConnectionRefused),
  );
}

Deno.test("echo serve --grace 60: after SIGTERM a client mid-exchange is still served", async () => {
  await using server = await startCli([
    "echo",
    "serve",
    "--tcp",
    "--port",
    "0",
    "--grace",
    "60",
  ]);
  const conn = await connectTo(tcpAddr(server.ports.tcp!));
  try {
    assert.equal(await exchange(conn, "before "), "before ");
    server.process.kill("SIGTERM");
    await listenerClosed(server.ports.tcp!);
    assert.equal(await exchange(conn, "after"), "after");
    await conn.closeWrite();
    assert.equal((await readAllWithin(conn)).length, 0);
  } finally {
    conn.close();
  }
  // The last client left: the server ends by itself, long before 60 s.
  const status = await withTimeout(
    server.process.status,
    WAIT_MS,
    "the server to exit once its last client left",
  );
  assert.equal(status.code, 0);
  const r = await server.stop();
  // A probe of listenerClosed() may be accepted just before shutdown began
  // (served) or just after (turned away, refused); the bytes are this
  // client's alone.
  assert.match(r.stderr, /^echo\/tcp: served \d+, refused \d+, 12 bytes in/m);
});

Deno.test("echo serve --grace 0: SIGTERM cuts connected clients at once", async () => {
  // Signalled twice (kill, then stop()): run without `deno task`, whose own
  // window turned the second SIGTERM into exit 143 (#22; cliDirectCommand).
  const args = ["echo", "serve", "--tcp", "--port", "0", "--grace", "0"];
  await using server = await startCli(args, {
    command: cliDirectCommand(args),
  });
  const conn = await connectTo(tcpAddr(server.ports.tcp!));
  try {
    assert.equal(await exchange(conn, "x"), "x");
    server.process.kill("SIGTERM");
    await listenerClosed(server.ports.tcp!);
    // The default grace (5 s) would still echo this; a grace of 0 has
    // already closed the connection.
    await conn.write(enc.encode("late")).catch(() => 0);
    assert.ok(await closedByPeer(conn, "the cut after a grace of 0"));
  } finally {
    conn.close();
  }
  const r = await server.stop();
  assert.equal(r.code, 0);
});

Deno.test("echo serve --idle-timeout: a silent client is closed and counted", async () => {
  await using server = await startCli([
    "echo",
    "serve",
    "--tcp",
    "--port",
    "0",
    "--idle-timeout",
    "0.2",
  ]);
  const conn = await connectTo(tcpAddr(server.ports.tcp!));
  try {
    assert.equal(await exchange(conn, "hi"), "hi");
    assert.ok(await closedByPeer(conn, "the idle timeout to close the client"));
  } finally {
    conn.close();
  }
  const r = await server.stop();
  assert.equal(r.code, 0);
  assert.match(r.stderr, /^echo\/tcp: served 1, .*, 1 idle closed$/m);
});

Deno.test("echo serve --max-conns 1: a second client at once is closed and counted as refused", async () => {
  await using server = await startCli([
    "echo",
    "serve",
    "--tcp",
    "--port",
    "0",
    "--max-conns",
    "1",
  ]);
  const first = await connectTo(tcpAddr(server.ports.tcp!));
  try {
    assert.equal(await exchange(first, "one"), "one");
    const second = await connectTo(tcpAddr(server.ports.tcp!));
    const cut = await closedByPeer(second, "the second client to be refused");
    second.close();
    assert.ok(cut, "the second connection must be closed");
    assert.equal(await exchange(first, "still"), "still");
  } finally {
    first.close();
  }
  const r = await server.stop();
  assert.equal(r.code, 0);
  assert.match(r.stderr, /^echo\/tcp: served 1, refused 1,/m);
});

Deno.test("echo serve --backlog 7: the listening socket's backlog is 7", {
  ignore: missingPeer("ss"),
}, async () => {
  const backlogOf = async (args: string[]) => {
    await using server = await startCli([
      "echo",
      "serve",
      "--tcp",
      "--port",
      "0",
      ...args,
    ]);
    try {
      // For a listening socket, ss shows the backlog as Send-Q.
      const ss = await runProgram("ss", [
        "-ltnH",
        `src 127.0.0.1:${server.ports.tcp}`,
      ]);
      assert.equal(ss.code, 0, ss.stderr);
      const fields = ss.stdout.trim().split(/\s+/);
      assert.equal(fields[0], "LISTEN", ss.stdout);
      return Number(fields[2]);
    } finally {
      await server.stop();
    }
  };
  assert.equal(await backlogOf(["--backlog", "7"]), 7);
  assert.notEqual(await backlogOf([]), 7);
});

Deno.test("echo serve: flag values out of range are usage errors, exit 2", async () => {
  const cases: [string[], RegExp][] = [
    [["--max-conns", "0"], /--max-conns takes a whole number of at least 1/],
    [["--backlog", "0"], /--backlog takes a whole number of at least 1/],
    [
      ["--idle-timeout", "soon"],
      /--idle-timeout takes a duration like 5 \(seconds\), 1\.5s or 500ms, not 'soon'/,
    ],
    [["--grace", "-1"], /option '--grace' cannot take '-1'/],
    [["--grace", "5x"], /--grace takes a duration/],
  ];
  for (const [flags, why] of cases) {
    const r = await runCli(["echo", "serve", "--port", "0", ...flags]);
    assert.equal(r.code, 2, flags.join(" "));
    assert.match(r.stderr, why);
  }
});
