// The library client's keep-alive (ping interval, ping timeout, RTT) and
// reconnects with back-off (`retry`, reconnectWebSocket), against netkit's
// server and a server that stops answering. Every wait is bounded.

import assert from "node:assert/strict";
import {
  backoffDelayMs,
  connectWebSocket,
  reconnectWebSocket,
  serveWebSocket,
  type WsClient,
  WsError,
} from "../../ws/mod.ts";
import { startBrokenServer } from "./_broken_servers.ts";
import { freePort, WAIT_MS, waitFor, withTimeout } from "../_helpers.ts";

Deno.test("keep-alive: a ping every interval, each round trip reported", async () => {
  await using server = serveWebSocket({ port: 0 });
  const rtts: number[] = [];
  await using client = await connectWebSocket(
    `ws://127.0.0.1:${server.addr.port}/ws`,
    {
      pingIntervalMs: 10,
      // Generous: a loaded machine may take longer than the interval to pong.
      pingTimeoutMs: WAIT_MS,
      onPong: (rtt) => rtts.push(rtt),
    },
  );
  // Traffic does not stop the pings (interval keep-alive).
  client.send("busy");
  await waitFor("three keep-alive round trips", () => rtts.length >= 3);
  assert.ok(rtts.every((rtt) => rtt >= 0), String(rtts));
});

Deno.test("keep-alive: a peer that stops answering is closed as a ping timeout", async () => {
  await using server = startBrokenServer("mute");
  const client = await connectWebSocket(server.url, {
    pingIntervalMs: 20,
    pingTimeoutMs: 40,
  });
  const info = await withTimeout(client.closed, WAIT_MS, "the ping timeout");
  assert.deepEqual(info, {
    code: 1006,
    reason: "ping timeout",
    wasClean: false,
  });
  assert.throws(() => client.ping(), { code: "closed" });
});

Deno.test("retry: back-off doubles to the cap, with jitter in the upper half", () => {
  assert.deepEqual(
    [1, 2, 3, 4].map((a) => backoffDelayMs(a, {}, 0)),
    [125, 250, 500, 1000],
  );
  assert.equal(backoffDelayMs(1, {}, 0.9999), 250);
  assert.equal(backoffDelayMs(40, {}, 0), 15_000);
  assert.equal(backoffDelayMs(40, {}, 0.99999), 30_000);
  assert.equal(backoffDelayMs(3, { baseDelayMs: 10, maxDelayMs: 30 }, 0), 15);
  for (let i = 0; i < 100; i++) {
    const wait = backoffDelayMs(5);
    assert.ok(wait >= 2000 && wait <= 4000, String(wait));
  }
});

Deno.test("retry: a refused connect is tried again, then given up with the reason", async () => {
  const port = freePort();
  const attempts: number[] = [];
  const error = await withTimeout(
    connectWebSocket(`ws://127.0.0.1:${port}/`, {
      retry: {
        tries: 2,
        baseDelayMs: 1,
        onRetry: ({ attempt, why }) => {
          attempts.push(attempt);
          assert.ok(why instanceof WsError && why.code === "connect_failed");
        },
      },
    }).catch((e) => e),
    WAIT_MS,
    "the retries",
  );
  assert.deepEqual(attempts, [1, 2]);
  assert.ok(error instanceof WsError);
  assert.equal(error.code, "connect_failed");
  assert.match(error.message, /^gave up after 2 retries: .*refused/);
  // A bad URL is never retried.
  await assert.rejects(
    connectWebSocket("ftp://127.0.0.1/", { retry: { baseDelayMs: 1 } }),
    { code: "bad_url" },
  );
});

Deno.test("retry: the connect succeeds once the server is up", async () => {
  const port = freePort();
  let server: ReturnType<typeof serveWebSocket> | undefined;
  const client = await withTimeout(
    connectWebSocket(`ws://127.0.0.1:${port}/ws`, {
      retry: {
        baseDelayMs: 1,
        onRetry: ({ attempt }) => {
          if (attempt === 2) server = serveWebSocket({ port });
        },
      },
    }),
    WAIT_MS,
    "the connect after the server came up",
  );
  await client.close();
  await server!.shutdown();
});

Deno.test("reconnectWebSocket: a dropped connection is replaced, the retry says why", async () => {
  await using server = serveWebSocket({ port: 0 });
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  const whys: string[] = [];
  const seen: WsClient[] = [];
  for await (
    const client of reconnectWebSocket(url, {
      retry: {
        baseDelayMs: 1,
        onRetry: ({ why }) => whys.push((why as Error).message),
      },
    })
  ) {
    seen.push(client);
    client.send(`hello ${seen.length}`);
    for await (const message of client) {
      assert.equal(message, `hello ${seen.length}`);
      break;
    }
    if (seen.length === 2) {
      await client.close();
      break;
    }
    // The network "drops" it: the next iteration is a new connection.
    await client.close(4000, "dropped");
  }
  assert.equal(seen.length, 2);
  assert.notEqual(seen[0], seen[1]);
  assert.deepEqual(whys, [
    'the connection ended: 4000 (private use) "dropped"',
  ]);
});

Deno.test("reconnectWebSocket: gives up after the tries when the server is gone", async () => {
  const server = serveWebSocket({ port: 0 });
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  const clients = reconnectWebSocket(url, {
    retry: { tries: 2, baseDelayMs: 1 },
  });
  const first = await clients.next();
  assert.ok(!first.done);
  await server.shutdown();
  await withTimeout(first.value.closed, WAIT_MS, "the shutdown's close");
  await assert.rejects(
    withTimeout(clients.next(), WAIT_MS, "giving up"),
    (error: Error) =>
      error instanceof WsError && error.code === "connect_failed" &&
      /^gave up after 2 retries/.test(error.message),
  );
});
