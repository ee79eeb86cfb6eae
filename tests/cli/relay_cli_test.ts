import assert from "node:assert/strict";
import { serveEcho } from "../../tcp/mod.ts";
import { serveWebSocket } from "../../ws/mod.ts";
import type { RelayReport } from "../../relay/mod.ts";
import { reportJson, reportLine } from "../../cli/relay.ts";
import {
  type CliServer,
  hasPeer,
  PROJECT_ROOT,
  readAll,
  runCli,
  startCli,
} from "../_helpers.ts";
import {
  hasPythonWebsockets,
  pythonWsClient,
  resettingTarget,
  within,
} from "../relay/_peers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Waits (at most 20 s) for stderr to match `pattern`. */
async function stderrLine(server: CliServer, pattern: RegExp): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      server.waitForStderr(pattern),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(`no ${pattern} on stderr in 20 s: ${server.stderr()}`),
            ),
          20_000,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function connectPort(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

Deno.test(
  "relay cli: a FIN from the client is logged with bytes, who closed and the half-close",
  {
    ignore: !hasPeer("nc"),
  },
  async () => {
    await using echo = serveEcho({ port: 0 });
    const relay = await startCli([
      "relay",
      "tcp://127.0.0.1:0",
      `tcp://127.0.0.1:${echo.addr.port}`,
    ]);
    try {
      const nc = await new Deno.Command("nc", {
        args: ["-N", "127.0.0.1", String(relay.ports.tcp)],
        stdin: "piped",
        stdout: "piped",
      }).spawn();
      const w = nc.stdin.getWriter();
      await w.write(enc.encode("12345"));
      await w.close();
      const out = await within("nc through the relay", nc.output());
      assert.equal(dec.decode(out.stdout), "12345");
      const line = await stderrLine(relay, /closed #1 .*\n/);
      assert.match(
        line,
        new RegExp(
          `^closed #1 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${echo.addr.port} \\d+ ms, 5 B to target, 5 B to client, client closed first \\(FIN\\)`,
        ),
      );
    } finally {
      const end = await relay.stop();
      assert.equal(end.code, 0, end.stderr);
      assert.match(
        end.stderr,
        /relay\/tcp: served 1, refused 0, 5 bytes in, 5 bytes out/,
      );
    }
  },
);

Deno.test("relay cli: a target's reset is logged as a reset passed on", {
  ignore: !hasPeer("python3"),
}, async () => {
  await using target = await resettingTarget();
  const relay = await startCli([
    "relay",
    "tcp://127.0.0.1:0",
    `tcp://127.0.0.1:${target.port}`,
    "--json",
  ]);
  try {
    const conn = await connectPort(relay.ports.tcp!);
    await conn.write(enc.encode("x"));
    const seen = await within("the client's read", conn.read(new Uint8Array(4)))
      .then(
        () => "data or eof",
        (e) => e instanceof Deno.errors.ConnectionReset ? "reset" : String(e),
      );
    conn.close();
    assert.equal(seen, "reset");
    const line = await stderrLine(relay, /\{"event":"closed".*\}\n/);
    const report = JSON.parse(line);
    assert.equal(report.closedFirst, "target");
    assert.equal(report.how, "reset");
    assert.equal(report.resetPassedOn, true);
    assert.equal(report.bytesToTarget, 1);
  } finally {
    await relay.stop();
  }
});

Deno.test(
  "relay cli: without FFI permission a reset goes on as a FIN, and the log says so",
  {
    ignore: !hasPeer("python3"),
  },
  async () => {
    await using target = await resettingTarget();
    const relay = await startCli([], {
      command: {
        cmd: Deno.execPath(),
        args: [
          "run",
          "--unstable-net",
          "--allow-net",
          "--allow-read",
          "--allow-env",
          "--allow-run",
          `${PROJECT_ROOT}cli/main.ts`,
          "relay",
          "tcp://127.0.0.1:0",
          `tcp://127.0.0.1:${target.port}`,
        ],
      },
    });
    try {
      const conn = await connectPort(relay.ports.tcp!);
      await conn.write(enc.encode("x"));
      const seen = await within("the client's read", readAll(conn)).then(
        () => "eof",
        (e) => e instanceof Deno.errors.ConnectionReset ? "reset" : String(e),
      );
      conn.close();
      assert.equal(seen, "eof");
      await stderrLine(
        relay,
        /closed #1 .*target closed first \(reset, passed on as close \(FIN\)\)/,
      );
    } finally {
      await relay.stop();
    }
  },
);

Deno.test("relay cli: idle timeout, refused target and shutdown each get their line", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = closed.addr.port;
  closed.close();
  const refused = await startCli([
    "relay",
    "tcp://127.0.0.1:0",
    `tcp://127.0.0.1:${deadPort}`,
  ]);
  try {
    const conn = await connectPort(refused.ports.tcp!);
    await within(
      "the close after a refused target",
      readAll(conn).catch(() => {}),
    );
    conn.close();
    await stderrLine(
      refused,
      /closed #1 .* target closed first \(error: cannot connect to 127\.0\.0\.1:\d+: connection refused\)/,
    );
  } finally {
    await refused.stop();
  }

  await using echo = serveEcho({ port: 0 });
  const relay = await startCli([
    "relay",
    "tcp://127.0.0.1:0",
    `tcp://127.0.0.1:${echo.addr.port}`,
    "--idle-timeout",
    "0.2",
    "--grace",
    "0",
  ]);
  const idle = await connectPort(relay.ports.tcp!);
  assert.deepEqual(
    await within("the idle close", readAll(idle)),
    new Uint8Array(),
  );
  idle.close();
  await stderrLine(relay, /closed #1 .*relay closed first \(idle timeout\)/);
  // A connection that keeps talking outlives the idle timeout until SIGTERM.
  const busy = await connectPort(relay.ports.tcp!);
  await busy.write(enc.encode("a"));
  assert.equal(await within("the busy echo", busy.read(new Uint8Array(1))), 1);
  const end = await relay.stop("SIGTERM");
  busy.close();
  assert.equal(end.code, 0);
  assert.match(end.stderr, /closed #2 .*relay closed first \(shutdown\)/);
});

Deno.test("relay cli: --hexdump shows only the first N bytes of each direction", async () => {
  await using echo = serveEcho({ port: 0 });
  const relay = await startCli([
    "relay",
    "tcp://127.0.0.1:0",
    `tcp://127.0.0.1:${echo.addr.port}`,
    "--hexdump",
    "4",
  ]);
  try {
    const conn = await connectPort(relay.ports.tcp!);
    await conn.write(enc.encode("hello\x1b[2J"));
    await conn.closeWrite();
    assert.equal(
      dec.decode(await within("the echo", readAll(conn))),
      "hello\x1b[2J",
    );
    conn.close();
    await stderrLine(relay, /closed #1 .*\n/);
    const text = relay.stderr();
    assert.match(
      text,
      /^> #1 \S+ length=4 from=0 to=3\n 68 65 6c 6c +hell\n--$/m,
    );
    assert.match(
      text,
      /^< #1 \S+ length=4 from=0 to=3\n 68 65 6c 6c +hell\n--$/m,
    );
    assert.ok(
      !text.includes(" 6f") && !text.includes("\x1b"),
      "bytes past the limit or raw escapes were dumped",
    );
  } finally {
    await relay.stop();
  }
});

Deno.test("relay cli: a peer-chosen command line is escaped in the log", async () => {
  const relay = await startCli([
    "relay",
    "tcp://127.0.0.1:0",
    "exec:cat # \x1b]0;owned\x07",
    "--shell",
  ]);
  try {
    const conn = await connectPort(relay.ports.tcp!);
    await conn.write(enc.encode("ok"));
    await conn.closeWrite();
    assert.equal(dec.decode(await within("cat's output", readAll(conn))), "ok");
    conn.close();
    const line = await stderrLine(relay, /closed #1 .*\n/);
    assert.ok(line.includes("\\x1b]0;owned\\x07"), line);
    assert.ok(!line.includes("\x1b"), "a raw ESC reached the log");
    assert.match(line, /program exit 0/);
  } finally {
    await relay.stop();
  }
});

Deno.test("relay cli: --max-conns closes the connection beyond the limit and counts it", async () => {
  await using echo = serveEcho({ port: 0 });
  const relay = await startCli([
    "relay",
    "tcp://127.0.0.1:0",
    `tcp://127.0.0.1:${echo.addr.port}`,
    "--max-conns",
    "1",
  ]);
  const held = await connectPort(relay.ports.tcp!);
  await held.write(enc.encode("1"));
  assert.equal(await within("the held echo", held.read(new Uint8Array(1))), 1);
  const extra = await connectPort(relay.ports.tcp!);
  assert.deepEqual(
    await within("the refused connection's close", readAll(extra)),
    new Uint8Array(),
  );
  extra.close();
  held.close();
  await stderrLine(relay, /closed #1 /);
  const end = await relay.stop();
  assert.match(end.stderr, /relay\/tcp: served 1, refused 1,/);
});

Deno.test("relay cli: --insecure and its old name --tls-insecure reach a self-signed tls:// target; without either, the certificate is refused", async () => {
  const dir = `${PROJECT_ROOT}tests/fixtures/tls/`;
  await using echo = serveEcho({
    port: 0,
    tls: {
      cert: await Deno.readTextFile(`${dir}cert.pem`),
      key: await Deno.readTextFile(`${dir}key.pem`),
    },
  });
  for (const flags of [["--insecure"], ["--tls-insecure"], []]) {
    const relay = await startCli([
      "relay",
      "tcp://127.0.0.1:0",
      `tls://127.0.0.1:${echo.addr.port}`,
      ...flags,
    ]);
    try {
      const conn = await connectPort(relay.ports.tcp!);
      await conn.write(enc.encode("hello tls"));
      await conn.closeWrite();
      const echoed = await within(
        `the echo through ${flags}`,
        readAll(conn).catch(() => new Uint8Array()),
      );
      conn.close();
      if (flags.length === 0) {
        assert.equal(dec.decode(echoed), "");
        await stderrLine(relay, /closed #1 .*error: .*certificate/i);
      } else {
        assert.equal(dec.decode(echoed), "hello tls", `${flags}`);
        await stderrLine(relay, /closed #1 .*client closed first \(FIN\)/);
      }
    } finally {
      const end = await relay.stop();
      assert.equal(end.code, 0, end.stderr);
    }
  }
});

Deno.test("relay cli: - as LISTEN relays stdin to the target and the target to stdout", async () => {
  await using echo = serveEcho({ port: 0 });
  const result = await runCli([
    "relay",
    "-",
    `tcp://127.0.0.1:${echo.addr.port}`,
  ], { stdin: "through stdio\n" });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "through stdio\n");
  assert.match(
    result.stderr,
    /closed #1 stdio -> 127\.0\.0\.1:\d+ .*14 B to target, 14 B to client/,
  );
  assert.doesNotMatch(result.stderr, /listening/);
});

Deno.test({
  name:
    "relay cli: - as TARGET gives the first client stdin and stdout (nc as the client), then ends",
  ignore: !hasPeer("nc"),
  async fn() {
    const { spawn, waitListening } = await import("./_running.ts");
    type Running = ReturnType<typeof spawn>;
    const { cliCommand } = await import("../_helpers.ts");
    const { cmd, args } = cliCommand(["relay", "tcp://127.0.0.1:0", "-"]);
    const relay = spawn(cmd, args);
    let nc: Running | undefined;
    try {
      // The listening line goes to stderr: stdout carries the bytes.
      await relay.waitFor("stderr", /listening tcp 127\.0\.0\.1:\d+/);
      const port = Number(
        /listening tcp 127\.0\.0\.1:(\d+)/.exec(relay.text("stderr"))![1],
      );
      await waitListening(port);
      await relay.write("to the client\n");
      nc = spawn("nc", ["-N", "127.0.0.1", String(port)]);
      await nc.waitFor("stdout", /to the client\n/);
      await nc.write("from the client\n");
      await nc.closeStdin();
      await relay.waitFor("stdout", /from the client\n/);
      await relay.closeStdin();
      const end = await relay.done();
      assert.equal(end.code, 0, end.stderr);
      assert.equal(end.stdout, "from the client\n");
      assert.match(end.stderr, /closed #1 127\.0\.0\.1:\d+ -> stdio /);
      await nc.done();
    } finally {
      await nc?.kill();
      await relay.kill();
    }
  },
});

Deno.test("relay cli: a ws:// target's close code is in the log line", async () => {
  await using ws = serveWebSocket({ port: 0, maxMessageSize: 4 });
  const relay = await startCli([
    "relay",
    "tcp://127.0.0.1:0",
    `ws://127.0.0.1:${ws.addr.port}/ws`,
  ]);
  try {
    const conn = await connectPort(relay.ports.tcp!);
    await conn.write(enc.encode("hi"));
    const buf = new Uint8Array(2);
    assert.equal(await within("the echo", conn.read(buf)), 2);
    assert.equal(dec.decode(buf), "hi");
    await conn.write(enc.encode("too long"));
    assert.equal((await within("the EOF", readAll(conn))).length, 0);
    conn.close();
    const line = await stderrLine(relay, /closed #1 .*\n/);
    assert.match(
      line,
      /-> ws:\/\/127\.0\.0\.1:\d+\/ws .*target closed first \(FIN\), WebSocket target closed 1009/,
    );
  } finally {
    const end = await relay.stop();
    assert.equal(end.code, 0, end.stderr);
  }
});

Deno.test("relay cli: a WebSocket peer's close reason is escaped in the text and JSON lines", () => {
  const report: RelayReport = {
    id: 3,
    client: "127.0.0.1:5000",
    target: "ws://127.0.0.1:80/",
    durationMs: 1,
    bytesToTarget: 0,
    bytesToClient: 0,
    closedFirst: "target",
    how: "fin",
    halfClose: false,
    close: 'target closed 4000 "\x1b[2Jgone"',
  };
  const line = reportLine(report);
  assert.ok(!line.includes("\x1b"), line);
  assert.match(line, /WebSocket target closed 4000 "\\x1b\[2Jgone"$/);
  const json = reportJson(report);
  assert.ok(!json.includes("\\u001b"), json);
  assert.equal(JSON.parse(json).close, 'target closed 4000 "\\x1b[2Jgone"');
});

Deno.test({
  name:
    "relay cli: ws:// LISTEN exposes a TCP echo to python3-websockets, one log line per connection",
  ignore: !hasPythonWebsockets(),
  async fn() {
    await using echo = serveEcho({ port: 0 });
    const relay = await startCli([
      "relay",
      "ws://127.0.0.1:0/",
      `tcp://127.0.0.1:${echo.addr.port}`,
    ]);
    try {
      const data = enc.encode("websocat's headline use\n");
      const { received } = await pythonWsClient(
        `ws://127.0.0.1:${relay.ports.ws}/`,
        data,
      );
      assert.deepEqual(received, data);
      const line = await stderrLine(relay, /closed #1 .*\n/);
      assert.match(
        line,
        new RegExp(
          `^closed #1 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${echo.addr.port} \\d+ ms, ${data.length} B to target, ${data.length} B to client, client closed first \\(FIN\\), WebSocket client closed 1000 "done"`,
        ),
      );
    } finally {
      const end = await relay.stop();
      assert.equal(end.code, 0, end.stderr);
      assert.match(end.stderr, /relay\/ws: served 1, refused 0, 24 bytes in/);
    }
  },
});

Deno.test("relay cli: usage errors exit 2", async () => {
  for (
    const [args, message] of [
      [["relay"], /missing LISTEN and TARGET/],
      [["relay", "tcp://127.0.0.1:0"], /missing TARGET \(/],
      [["relay", "-", "-"], /one side only/],
      [["relay", "gopher://x:1", "tcp://127.0.0.1:1"], /bad endpoint/],
      [["relay", "exec:cat", "tcp://127.0.0.1:1"], /exec: is a target/],
      [["relay", "tls://127.0.0.1:0", "tcp://127.0.0.1:1"], /needs --tls-cert/],
      [["relay", "wss://127.0.0.1:0", "tcp://127.0.0.1:1"], /needs --tls-cert/],
      [
        ["relay", "tcp://127.0.0.1:0", "udp://127.0.0.1:1"],
        /UDP relays to UDP/,
      ],
      [
        ["relay", "tcp://127.0.0.1:0", "tls://127.0.0.1:1", "--cert", "c.pem"],
        /--cert and --key go together/,
      ],
      [
        ["relay", "tcp://127.0.0.1:0", "unix:/tmp/x", "--proxy", "http://h:1"],
        /not unix:/,
      ],
      [
        ["relay", "tcp://127.0.0.1:0", "tcp://127.0.0.1:1", "--buffer", "100"],
        /--buffer takes/,
      ],
    ] as const
  ) {
    const result = await runCli([...args]);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
});

Deno.test("relay cli: a slow reader does not grow the relay's memory (RSS from /proc)", async () => {
  // The target offers 256 MiB as fast as it can; the client reads 48 MiB
  // at its own slow pace. A relay that read ahead without waiting for the
  // client would hold most of the difference in memory.
  const offered = 256 * 1024 * 1024;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const feeding = (async () => {
    const conn = await listener.accept();
    const chunk = new Uint8Array(256 * 1024).fill(0x61);
    try {
      for (let sent = 0; sent < offered;) sent += await conn.write(chunk);
    } catch {
      // The client hung up first: expected.
    } finally {
      conn.close();
    }
  })();
  // The relay itself must be the child, so its pid is the one measured
  // (`deno task` would put a shell in between).
  const args = [
    "relay",
    "tcp://127.0.0.1:0",
    `tcp://127.0.0.1:${listener.addr.port}`,
  ];
  const bin = Deno.env.get("NETKIT_BIN");
  const relay = await startCli([], {
    command: bin ? { cmd: bin, args } : {
      cmd: Deno.execPath(),
      args: [
        "run",
        "--unstable-net",
        "--allow-all",
        `${PROJECT_ROOT}cli/main.ts`,
        ...args,
      ],
    },
  });
  const rssKiB = async () => {
    const status = await Deno.readTextFile(`/proc/${relay.process.pid}/status`);
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]);
  };
  try {
    const conn = await connectPort(relay.ports.tcp!);
    const buf = new Uint8Array(64 * 1024);
    let got = 0;
    let baseline = 0;
    let peak = 0;
    while (got < 48 * 1024 * 1024) {
      const n = await within(`the read after ${got} bytes`, conn.read(buf));
      if (n === null) throw new Error(`EOF after ${got} bytes`);
      got += n;
      if (baseline === 0 && got >= 1024 * 1024) baseline = await rssKiB();
      if (got % (4 * 1024 * 1024) < n) peak = Math.max(peak, await rssKiB());
      // Pacing, not synchronisation: the reader is slower than the writer.
      await new Promise((r) => setTimeout(r, 1));
    }
    conn.close();
    const growthMiB = (peak - baseline) / 1024;
    console.log(
      `relay RSS: baseline ${baseline} kB, peak ${peak} kB, growth ${
        growthMiB.toFixed(1)
      } MiB while the client read 48 MiB of 256 MiB offered`,
    );
    assert.ok(peak > 0 && baseline > 0);
    assert.ok(growthMiB < 32, `relay RSS grew ${growthMiB.toFixed(1)} MiB`);
  } finally {
    await relay.stop();
    await feeding;
    listener.close();
  }
});
