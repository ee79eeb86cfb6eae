// `netkit listen`: nc -l and wscat -l, with the real peers (nc, wscat) as
// clients, --keep for many, and what reaches a terminal (script).

import assert from "node:assert/strict";
import {
  missingPeer,
  readAll,
  runCli,
  WAIT_MS,
  withTimeout,
} from "../_helpers.ts";
import {
  cliShellLine,
  inTerminal,
  type Running,
  spawn,
  spawnCli,
} from "./_running.ts";

/** Starts `netkit listen ARGS` and reads its port from the stderr line. */
async function startListen(
  args: string[],
): Promise<{ run: Running; port: number }> {
  const run = spawnCli(["listen", ...args]);
  try {
    await run.waitFor("stderr", /listening \w+ 127\.0\.0\.1:\d+\n/);
  } catch (error) {
    await run.kill();
    throw error;
  }
  const port = Number(
    /listening \w+ [\d.]+:(\d+)/.exec(run.text("stderr"))![1],
  );
  return { run, port };
}

Deno.test({
  name:
    "listen PORT: nc's bytes to stdout, stdin to nc, a second client turned away, the end when nc leaves",
  ignore: missingPeer("nc"),
  async fn() {
    const { run, port } = await startListen(["0"]);
    try {
      const nc = spawn("nc", ["-N", "127.0.0.1", String(port)]);
      await run.waitFor("stderr", /connected 127\.0\.0\.1:\d+/);
      // Only one client: the next connection is closed at once.
      const second = await Deno.connect({ hostname: "127.0.0.1", port });
      const turnedAway = await withTimeout(
        readAll(second),
        WAIT_MS,
        "the second client to be turned away",
      );
      assert.equal(turnedAway.length, 0);
      second.close();
      await run.write("to the client\n");
      await nc.waitFor("stdout", /to the client\n/);
      await nc.write("from nc\n");
      await run.waitFor("stdout", /from nc\n/);
      await nc.closeStdin(); // nc -N: a FIN, and the client is done
      const result = await run.done();
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "from nc\n");
      assert.match(
        result.stderr,
        /closed 127\.0\.0\.1:\d+: 8 B received, 14 B sent/,
      );
      await nc.done();
    } finally {
      await run.kill();
    }
  },
});

Deno.test({
  name:
    "listen --keep: two nc clients at once, both heard, stdin to both; it stays for the next until SIGTERM (exit 0)",
  ignore: missingPeer("nc"),
  async fn() {
    const { run, port } = await startListen(["--keep", "0"]);
    const peers: Running[] = [];
    try {
      for (const _ of [1, 2]) {
        peers.push(spawn("nc", ["-N", "127.0.0.1", String(port)]));
      }
      await run.waitFor("stderr", /(connected 127\.0\.0\.1:\d+\n[^]*){2}/);
      await run.write("to all\n");
      for (const nc of peers) await nc.waitFor("stdout", /to all\n/);
      await peers[0]!.write("one\n");
      await run.waitFor("stdout", /one\n/);
      await peers[1]!.write("two\n");
      await run.waitFor("stdout", /two\n/);
      for (const nc of peers) await nc.closeStdin();
      await run.waitFor("stderr", /(closed 127\.0\.0\.1:\d+: [^\n]*\n[^]*){2}/);
      // Still listening: a third client is heard too.
      const third = await Deno.connect({ hostname: "127.0.0.1", port });
      await third.write(new TextEncoder().encode("three\n"));
      await run.waitFor("stdout", /three\n/);
      third.close();
      await run.kill();
      const result = await run.done();
      assert.equal(result.code, 0, result.stderr);
      assert.equal(
        [...result.stdout.split("\n")].sort().join(","),
        ",one,three,two",
      );
    } finally {
      for (const nc of peers) await nc.kill();
      await run.kill();
    }
  },
});

Deno.test("listen: the end of stdin goes to the client as a FIN, and its bytes are still read", async () => {
  const { run, port } = await startListen(["0"]);
  try {
    await run.closeStdin();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const sent = await withTimeout(readAll(conn), WAIT_MS, "the FIN");
    assert.equal(sent.length, 0);
    await conn.write(new TextEncoder().encode("after the FIN\n"));
    conn.close();
    const result = await run.done();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "after the FIN\n");
  } finally {
    await run.kill();
  }
});

Deno.test("listen -u: another sender is ignored (and said once) unless --keep, which answers the latest sender", async () => {
  for (const keep of [false, true]) {
    const { run, port } = await startListen(["-u", "0", ...keep ? ["-k"] : []]);
    const first = Deno.listenDatagram({
      hostname: "127.0.0.1",
      port: 0,
      transport: "udp",
    });
    const second = Deno.listenDatagram({
      hostname: "127.0.0.1",
      port: 0,
      transport: "udp",
    });
    const to = { hostname: "127.0.0.1", port, transport: "udp" as const };
    const enc = new TextEncoder();
    try {
      await first.send(enc.encode("one\n"), to);
      await run.waitFor("stdout", /one\n/);
      await second.send(enc.encode("two\n"), to);
      if (keep) {
        await run.waitFor("stdout", /two\n/);
        await run.write("back\n");
        const [reply] = await withTimeout(
          second.receive(),
          WAIT_MS,
          "the reply to the latest sender",
        );
        assert.equal(new TextDecoder().decode(reply), "back\n");
      } else {
        await run.waitFor("stderr", /ignored a datagram from 127\.0\.0\.1:\d+/);
        await run.write("back\n");
        const [reply] = await withTimeout(
          first.receive(),
          WAIT_MS,
          "the reply to the first sender",
        );
        assert.equal(new TextDecoder().decode(reply), "back\n");
        assert.doesNotMatch(run.text("stdout"), /two/);
      }
    } finally {
      first.close();
      second.close();
      await run.kill();
    }
  }
});

Deno.test({
  name:
    "listen -u: nc -u's datagram to stdout, a stdin line back to it as a datagram",
  ignore: missingPeer("nc"),
  async fn() {
    const { run, port } = await startListen(["-u", "0"]);
    const nc = spawn("nc", ["-u", "127.0.0.1", String(port)]);
    try {
      await nc.write("datagram\n");
      await run.waitFor("stdout", /datagram\n/);
      await run.waitFor("stderr", /datagrams from 127\.0\.0\.1:\d+/);
      await run.write("answer\n");
      await nc.waitFor("stdout", /answer\n/);
      await run.kill();
      const result = await run.done();
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "datagram\n");
    } finally {
      await nc.kill();
      await run.kill();
    }
  },
});

Deno.test({
  name:
    "listen ws://: wscat -c on any path, messages both ways, the end of stdin closes with 1000",
  ignore: missingPeer("wscat"),
  async fn() {
    const { run, port } = await startListen(["ws://127.0.0.1:0"]);
    const wscat = spawn("wscat", [
      "-c",
      `ws://127.0.0.1:${port}/any/path`,
    ]);
    try {
      await run.waitFor("stderr", /connected 127\.0\.0\.1:\d+/);
      await run.write("hello wscat\n");
      await wscat.waitFor("stdout", /hello wscat/);
      await wscat.write("hi listen\n");
      await run.waitFor("stdout", /hi listen\n/);
      const result = await run.done(); // stdin ends: Close 1000
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "hi listen\n");
      assert.match(result.stderr, /closed 127\.0\.0\.1:\d+: 1000/);
      // wscat leaves once the server has closed.
      assert.equal((await wscat.done()).code, 0);
    } finally {
      await wscat.kill();
      await run.kill();
    }
  },
});

const HOSTILE = "evil\x1b]0;pwned\x07\x1b[2J\u009b2J\u202e tail\n";

Deno.test({
  name:
    "listen on a terminal: a client's escape sequences arrive escaped (script); --raw and a pipe keep them",
  ignore: missingPeer("script"),
  async fn() {
    for (const raw of [false, true]) {
      const run = inTerminal(
        cliShellLine(["listen", "0", ...raw ? ["--raw"] : []]),
      );
      try {
        await run.waitFor("stdout", /listening tcp 127\.0\.0\.1:\d+/);
        const port = Number(
          /listening tcp [\d.]+:(\d+)/.exec(run.text("stdout"))![1],
        );
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await conn.write(new TextEncoder().encode(HOSTILE));
        conn.close();
        const result = await run.done();
        assert.equal(result.code, 0, result.stdout);
        if (raw) {
          assert.ok(result.stdout.includes("\x1b]0;pwned"), result.stdout);
        } else {
          assert.ok(!result.stdout.includes("\x1b"), result.stdout);
          assert.ok(
            !/[\u0080-\u009f\u202a-\u202e]/.test(result.stdout),
            result.stdout,
          );
          assert.match(result.stdout, /evil\\x1b\]0;pwned\\x07/);
        }
      } finally {
        await run.kill();
      }
    }
    // To a pipe, the bytes as they are.
    const { run, port } = await startListen(["0"]);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode(HOSTILE));
    conn.close();
    const result = await run.done();
    assert.equal(result.stdout, HOSTILE);
  },
});

Deno.test("ws -l PORT is listen ws://127.0.0.1:PORT, as wscat -l", async () => {
  const run = spawnCli(["ws", "-l", "0"]);
  try {
    await run.waitFor("stderr", /listening ws 127\.0\.0\.1:\d+/);
  } finally {
    await run.kill();
  }
  assert.equal((await run.done()).code, 0);
});

Deno.test("listen ws://: a page from another origin gets 403 unless --allow-origin names it", async () => {
  const { connectWebSocket } = await import("../../ws/mod.ts");
  for (const allow of [[], ["--allow-origin", "https://app.example"]]) {
    const { run, port } = await startListen(["ws://127.0.0.1:0", ...allow]);
    try {
      const url = `ws://127.0.0.1:${port}/`;
      const opening = connectWebSocket(url, {
        headers: { Origin: "https://app.example" },
      });
      if (allow.length === 0) {
        await assert.rejects(opening, /HTTP 403/);
      } else {
        const client = await opening;
        await client.close();
      }
    } finally {
      await run.kill();
    }
  }
});

Deno.test("listen: usage mistakes exit 2", async () => {
  for (
    const [args, message] of [
      [[], /missing PORT/],
      [["wss://127.0.0.1:0"], /needs --tls-cert/],
      [["-u", "ws://127.0.0.1:0"], /--udp with a ws:\/\//],
      [["9000", "--port", "9001"], /give the address once/],
      [["70000"], /port/],
      [["9000", "--allow-origin", "https://a.example"], /for ws:\/\//],
    ] as const
  ) {
    const result = await runCli(["listen", ...args]);
    assert.equal(result.code, 2, `${args}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
});
