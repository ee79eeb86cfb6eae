// Interop with python3-websockets (Debian): its client against
// `netkit ws serve`, and `netkit ws connect` against its server.

import assert from "node:assert/strict";
import { runCli, startCli } from "../_helpers.ts";
import { hasPythonWebsockets, PYTHON, startPythonEcho } from "./_python.ts";

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

Deno.test({
  name: "interop: python websockets client against netkit ws serve",
  ignore: !hasPythonWebsockets(),
}, async () => {
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

Deno.test({
  name: "interop: netkit ws connect against a python websockets echo server",
  ignore: !hasPythonWebsockets(),
}, async () => {
  await using python = await startPythonEcho();
  const text = await runCli(["ws", "connect", python.url], {
    stdin: "one\ntwo\nthree\n",
  });
  assert.equal(text.code, 0, text.stderr);
  assert.equal(text.stdout, "one\ntwo\nthree\n");
  assert.match(text.stderr, /closed 1000 normal closure/);
  const binary = await runCli(["ws", "connect", python.url, "--binary"], {
    stdin: "hi\n",
  });
  assert.equal(binary.code, 0, binary.stderr);
  assert.equal(binary.stdout, "6869\n");
});
