// Interop with python3-websockets (Debian): its client against
// `netkit ws serve`, and `netkit ws connect` against its server.

import assert from "node:assert/strict";
import { hasPeer, LineSplitter, runCli, startCli } from "../_helpers.ts";

const PYTHON = "/usr/bin/python3";

function hasWebsockets(): boolean {
  if (!hasPeer("python3")) return false;
  const probe = new Deno.Command(PYTHON, {
    args: ["-c", "import websockets"],
    stdout: "null",
    stderr: "null",
  }).outputSync();
  if (probe.success) return true;
  if (Deno.env.get("CI") === "true") {
    throw new Error(
      "python3-websockets is missing in CI: .ci/run must install it",
    );
  }
  console.warn("SKIP: python3-websockets is not installed");
  return false;
}

const PY_CLIENT = `
import asyncio, sys, websockets

async def main(url):
    async with websockets.connect(url, subprotocols=["chat"]) as ws:
        print("protocol", ws.subprotocol)
        await ws.send("hello from python")
        print("text", await ws.recv())
        await ws.send(bytes([0, 1, 2, 255]))
        reply = await ws.recv()
        print("binary", type(reply).__name__, reply.hex())
        await ws.send("x" * 200000)
        print("large", len(await ws.recv()))
    print("close", ws.close_code)

asyncio.run(main(sys.argv[1]))
`;

Deno.test("interop: python websockets client against netkit ws serve", async () => {
  if (!hasWebsockets()) return;
  const server = await startCli([
    "ws",
    "serve",
    "--port",
    "0",
    "--protocol",
    "chat",
  ]);
  try {
    const result = await new Deno.Command(PYTHON, {
      args: ["-c", PY_CLIENT, `ws://127.0.0.1:${server.ports.ws}/ws`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(result.stdout);
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
    assert.equal(
      stdout,
      [
        "protocol chat",
        "text hello from python",
        "binary bytes 000102ff",
        "large 200000",
        "close 1000",
        "",
      ].join("\n"),
    );
  } finally {
    const stopped = await server.stop();
    assert.equal(stopped.code, 0);
  }
});

const PY_SERVER = `
import asyncio, websockets

async def echo(ws, path=None):
    async for message in ws:
        await ws.send(message)

async def main():
    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()

asyncio.run(main())
`;

Deno.test("interop: netkit ws connect against a python websockets echo server", async () => {
  if (!hasWebsockets()) return;
  const python = new Deno.Command(PYTHON, {
    args: ["-c", PY_SERVER],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = python.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
    new LineSplitter(),
  );
  const reader = lines.getReader();
  try {
    const first = await reader.read();
    const port = Number(first.value);
    assert.ok(port > 0, `python printed '${first.value}' instead of a port`);
    const text = await runCli(["ws", "connect", `ws://127.0.0.1:${port}/`], {
      stdin: "one\ntwo\nthree\n",
    });
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, "one\ntwo\nthree\n");
    assert.match(text.stderr, /closed 1000 normal closure/);
    const binary = await runCli([
      "ws",
      "connect",
      `ws://127.0.0.1:${port}/`,
      "--binary",
    ], {
      stdin: "hi\n",
    });
    assert.equal(binary.code, 0, binary.stderr);
    assert.equal(binary.stdout, "6869\n");
  } finally {
    python.kill("SIGTERM");
    await reader.cancel();
    await python.status;
  }
});
