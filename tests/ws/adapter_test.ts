// acceptWebSocket: netkit's handshake checks in a Deno.serve app, frames by
// the runtime. Echo, close both ways, and the refusals.

import assert from "node:assert/strict";
import { acceptWebSocket } from "../../ws/adapter.ts";
import { connectWebSocket } from "../../ws/client.ts";
import { checkServer } from "../../ws/check/check.ts";
import { verifyServer } from "../../ws/verify.ts";
import { dialWebSocket } from "../../ws/dial.ts";

function echoApp() {
  const closes: Array<{ code: number; reason: string }> = [];
  const server = Deno.serve({ port: 0, onListen() {} }, (request) => {
    const { socket, response } = acceptWebSocket(request, {
      protocols: ["echo.v1"],
    });
    if (socket) {
      socket.onmessage = (event) => {
        if (event.data === "close me") socket.close(4000, "as asked");
        else socket.send(event.data);
      };
      socket.onclose = (event) =>
        closes.push({ code: event.code, reason: event.reason });
    }
    return response;
  });
  return { server, closes, url: `ws://127.0.0.1:${server.addr.port}/` };
}

Deno.test("adapter: echo of text and binary through netkit's client, subprotocol chosen", async () => {
  const app = echoApp();
  await using _ = app.server;
  await using client = await connectWebSocket(app.url, {
    protocols: ["other", "echo.v1"],
  });
  assert.equal(client.protocol, "echo.v1");
  client.send("hello");
  client.send(new Uint8Array([1, 2, 3]));
  const got = [];
  for await (const message of client) {
    got.push(message);
    if (got.length === 2) break;
  }
  assert.deepEqual(got, ["hello", new Uint8Array([1, 2, 3])]);
  const report = await verifyServer(app.url);
  assert.ok(report.ok, JSON.stringify(report.checks));
});

Deno.test("adapter: close from the client and from the server", async () => {
  const app = echoApp();
  await using _ = app.server;
  const a = await connectWebSocket(app.url);
  assert.deepEqual(await a.close(1000, "bye"), {
    code: 1000,
    reason: "bye",
    wasClean: true,
  });
  const b = await connectWebSocket(app.url);
  b.send("close me");
  const info = await b.closed;
  assert.equal(info.code, 4000);
  assert.equal(info.reason, "as asked");
  assert.ok(info.wasClean);
});

Deno.test("adapter: malformed upgrades get netkit's answers, not the runtime's 101 or 500", async () => {
  const app = echoApp();
  await using _ = app.server;
  const report = await checkServer(app.url, { cases: "0.*" });
  assert.deepEqual(
    report.results.filter((r) => r.verdict === "FAIL").map((r) => r.id),
    [],
  );
  // POST 405, key "abc" 400, version 14 426 (the runtime alone: 101, 101, 101).
  for (const id of ["0.2", "0.3", "0.7"]) {
    const result = report.results.find((r) => r.id === id)!;
    assert.match(result.observed, /^4\d\d /, id);
  }
});

Deno.test("adapter: the same Origin rule as the server, exact and never a prefix", async () => {
  await using server = Deno.serve({ port: 0, onListen() {} }, (request) => {
    const { socket, response } = acceptWebSocket(request, {
      allowedOrigins: ["https://good.example"],
    });
    if (socket) socket.onopen = () => socket.close(1000);
    return response;
  });
  const url = `ws://127.0.0.1:${server.addr.port}/`;
  const good = await dialWebSocket(url, {
    headers: { Origin: "https://good.example" },
  });
  good.conn.close();
  for (
    const origin of ["https://good.example.evil.net", "https://evil.example"]
  ) {
    await assert.rejects(
      dialWebSocket(url, { headers: { Origin: origin } }),
      (error: Error) =>
        error.message === `HTTP 403 Forbidden: origin ${origin} is not allowed`,
      origin,
    );
  }
  // A plain GET is told what the endpoint is, as serveWebSocket tells it.
  const plain = await fetch(url.replace("ws:", "http:"));
  assert.equal(plain.status, 426);
  assert.equal(plain.headers.get("upgrade"), "websocket");
  await plain.body?.cancel();
});
