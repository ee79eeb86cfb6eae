import assert from "node:assert/strict";
import {
  checkUdpPayloadSize,
  MAX_UDP_PAYLOAD_V4,
  MAX_UDP_PAYLOAD_V6,
  pingUdp,
  serveUdpEcho,
  UdpError,
  udpRequest,
} from "../../udp/mod.ts";
import { bounded, seededBytes, WAIT_MS, withTimeout } from "../_helpers.ts";

Deno.test("udp echo: a datagram comes back unchanged", async () => {
  await using server = bounded(serveUdpEcho({ port: 0 }));
  const data = seededBytes(1200, 3);
  const reply = await udpRequest(server.addr, data);
  assert.deepEqual(reply, data);
  const stats = server.stats();
  assert.equal(stats.datagramsIn, 1);
  assert.equal(stats.datagramsOut, 1);
  assert.equal(stats.served, 1);
  assert.equal(stats.bytesIn, 1200);
  assert.equal(stats.bytesOut, 1200);
});

Deno.test("udp echo: 100 concurrent clients each get their own reply", async () => {
  await using server = bounded(serveUdpEcho({ port: 0 }));
  const replies = await Promise.all(
    Array.from({ length: 100 }, async (_, i) => {
      const data = seededBytes(64 + i, i + 1);
      const reply = await udpRequest(server.addr, data, { retries: 3 });
      return reply.every((b, j) => b === data[j]) &&
        reply.length === data.length;
    }),
  );
  assert.equal(replies.filter(Boolean).length, 100);
});

Deno.test("udp echo: 65,507 bytes are accepted, 65,508 refused without truncation", async () => {
  await using server = bounded(serveUdpEcho({ port: 0 }));
  const largest = seededBytes(MAX_UDP_PAYLOAD_V4, 5);
  assert.deepEqual(await udpRequest(server.addr, largest), largest);
  await assert.rejects(
    udpRequest(server.addr, new Uint8Array(MAX_UDP_PAYLOAD_V4 + 1)),
    (e) =>
      e instanceof UdpError && e.code === "payload_too_large" &&
      /65507/.test(e.message),
  );
});

Deno.test("udp client: no server at the port is a clear no_server error", async () => {
  const probe = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  await assert.rejects(
    udpRequest({ hostname: "127.0.0.1", port }, new Uint8Array(4), {
      timeoutMs: 100,
      retries: 0,
    }),
    (e) =>
      e instanceof UdpError && e.code === "no_server" &&
      e.message === `no UDP echo server at 127.0.0.1:${port}`,
  );
});

Deno.test("pingUdp: no loss against a live server", async () => {
  await using server = bounded(serveUdpEcho({ port: 0 }));
  const result = await pingUdp(server.addr, { count: 5, intervalMs: 0 });
  assert.equal(result.received, 5);
  assert.equal(result.probes.length, 5);
  assert.equal(result.lossPercent, 0);
});

Deno.test("udp echo: shutdown ends the server and frees the port", async () => {
  const server = serveUdpEcho({ port: 0 });
  await withTimeout(server.shutdown(), WAIT_MS, "shutdown()");
  await withTimeout(server.finished, WAIT_MS, "the server to finish");
  assert.equal(server.stats().errors, 0);
  // The port is free again: binding it succeeds.
  Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: server.addr.port,
    transport: "udp",
  }).close();
});

Deno.test("checkUdpPayloadSize: 65,527 bytes fit an IPv6 datagram, 65,528 do not", () => {
  assert.equal(MAX_UDP_PAYLOAD_V6, 65_527);
  checkUdpPayloadSize(65_527, "::1");
  assert.throws(
    () => checkUdpPayloadSize(65_528, "::1"),
    (e) =>
      e instanceof UdpError && e.code === "payload_too_large" &&
      /at most 65527 bytes; 65528 refused/.test(e.message),
  );
  assert.throws(
    () => checkUdpPayloadSize(65_508, "127.0.0.1"),
    (e) => e instanceof UdpError && e.code === "payload_too_large",
  );
});

Deno.test("pingUdp: replies that come back altered count as lost", async () => {
  // A peer that answers every datagram with its first byte flipped.
  const socket = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  const answering = (async () => {
    for (;;) {
      const [data, from] = await socket.receive();
      data[0] = data[0]! ^ 0xff;
      await socket.send(data, from);
    }
  })().catch(() => {});
  try {
    const result = await pingUdp(socket.addr as Deno.NetAddr, {
      count: 3,
      intervalMs: 0,
      timeoutMs: 200,
    });
    assert.equal(result.sent, 3);
    assert.equal(result.received, 0);
    assert.equal(result.lossPercent, 100);
  } finally {
    socket.close();
    await answering;
  }
});
