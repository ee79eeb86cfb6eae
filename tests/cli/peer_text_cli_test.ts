// The CLI's own print sites for what a peer chose: a WebSocket server's
// close reason (ws connect), a server's replies (ws verify), a sender's
// file name (file recv). Each comes out through escapeControl.

import assert from "node:assert/strict";
import { generateToken } from "../../tcp/mod.ts";
import { runCli, startCli } from "../_helpers.ts";
import { assertEscaped, HOSTILE } from "../_peer_text.ts";
import { RawClient } from "../tcp/file/_raw.ts";

/** Deno's WebSocket server: replies with HOSTILE (`/text`) or closes with it (`/close`). */
function hostileWsServer(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const { socket, response } = Deno.upgradeWebSocket(request);
      const path = new URL(request.url).pathname;
      socket.onmessage = () => {
        if (path === "/close") socket.close(1000, HOSTILE);
        else socket.send(HOSTILE);
      };
      return response;
    },
  );
}

Deno.test("peer text cli: ws connect shows a server's close reason escaped", async () => {
  await using server = hostileWsServer();
  const result = await runCli(
    ["ws", "connect", `ws://127.0.0.1:${server.addr.port}/close`],
    { stdin: "hi\n" },
  );
  assert.match(result.stderr, /closed 1000 normal closure: /);
  assertEscaped(result.stderr, "ws connect stderr");
});

Deno.test("peer text cli: ws verify prints a server's echo escaped", async () => {
  await using server = hostileWsServer();
  const result = await runCli([
    "ws",
    "verify",
    `ws://127.0.0.1:${server.addr.port}/text`,
  ]);
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stdout, /✗ echo mismatch/);
  assertEscaped(result.stdout, "ws verify stdout");
});

Deno.test("peer text cli: file recv names a sender's hostile file name escaped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "netkit-peer-text-cli-" });
  const token = generateToken();
  await using recv = await startCli([
    "file",
    "recv",
    "--port",
    "0",
    "--dir",
    dir,
    "--token",
    token,
  ]);
  try {
    const client = await RawClient.open(recv.ports.tcp!);
    try {
      await client.authenticate(token);
      await client.offer(`${HOSTILE}.txt`, 5);
      await client.frame().catch(() => {});
    } finally {
      client.close();
    }
    const line = await recv.waitForStderr(/(refused|stored) .* from .*\n/);
    assertEscaped(line, "file recv's session line");
    assertEscaped(recv.stderr(), "file recv's stderr");
  } finally {
    await recv.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
