// The wording items of #21: failures said so that a person knows what
// happened and what to do next.

import assert from "node:assert/strict";
import { freePort, missingPeer, runCli } from "../_helpers.ts";
import { spawn, waitListening } from "./_running.ts";

Deno.test("echo connect to a name that does not resolve names it", async () => {
  const result = await runCli(["echo", "connect", "nosuchhost.invalid:7"], {
    stdin: "x\n",
  });
  assert.equal(result.code, 1, result.stderr);
  assert.match(
    result.stderr,
    /cannot connect to nosuchhost\.invalid:7: the name does not resolve/,
  );
});

Deno.test("a server whose port is taken says how out: --port for one server, --any-port for netkit serve", async () => {
  using held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = held.addr.port;
  for (
    const [args, hint] of [
      [["ws", "serve", "--port", String(port)], /--port 0 picks a free one/],
      [["echo", "serve", "--port", String(port)], /--port 0 picks a free one/],
      [["listen", String(port)], /choose another PORT/],
      [
        ["relay", `tcp://127.0.0.1:${port}`, "tcp://127.0.0.1:1"],
        /choose another port in LISTEN/,
      ],
    ] as const
  ) {
    const result = await runCli([...args]);
    assert.equal(result.code, 1, `${args}: ${result.stderr}`);
    assert.match(
      result.stderr,
      new RegExp(`127\\.0\\.0\\.1:${port}: address already in use`),
    );
    assert.match(result.stderr, hint, `${args}`);
  }
  // netkit serve binds fixed ports: hold the first one it takes (7007),
  // unless another program already has it, which fails serve the same way.
  let echoPort: Deno.Listener | undefined;
  try {
    echoPort = Deno.listen({ hostname: "127.0.0.1", port: 7007 });
  } catch {
    // Taken already.
  }
  try {
    const result = await runCli(["serve"]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /address already in use/);
    assert.match(result.stderr, /serve --any-port' puts every server/);
  } finally {
    echoPort?.close();
  }
});

Deno.test({
  name:
    'file send --basic to a plain nc -l says within seconds that no "ok" came, and what to run on the other side',
  ignore: missingPeer("nc"),
  async fn() {
    const port = freePort();
    const nc = spawn("nc", ["-l", "127.0.0.1", String(port)]);
    const dir = await Deno.makeTempDir();
    try {
      await waitListening(port);
      await Deno.writeTextFile(`${dir}/note.txt`, "hello\n");
      // Far below the 60 s no-progress deadline it used to wait out.
      const result = await runCli([
        "file",
        "send",
        `127.0.0.1:${port}`,
        `${dir}/note.txt`,
        "--basic",
      ], { timeoutMs: 30_000 });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /has not answered "ok" within 5 s/);
      assert.match(result.stderr, /file recv --basic --port \d+/);
      assert.match(
        result.stderr,
        new RegExp(`nc 127\\.0\\.0\\.1 ${port} < FILE`),
      );
    } finally {
      await nc.kill();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
