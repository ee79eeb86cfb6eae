// permessage-deflate in the engine: netkit's client and server negotiate
// it, compress with RSV1 only when it was negotiated, count compressed
// bytes as they arrive, limit the inflated size while inflating (a zip
// bomb gets 1009) and check UTF-8 after inflating; and both interoperate
// with python3-websockets.

import assert from "node:assert/strict";
import zlib from "node:zlib";
import {
  connectWebSocket,
  createPerMessageDeflate,
  type DeflateOptions,
  OPCODE,
  serveWebSocket,
  type WsClient,
  type WsMessage,
} from "../../ws/mod.ts";
import { openRaw, type RawEvent } from "./_raw.ts";
import { hasPythonWebsockets, PYTHON, startPythonEcho } from "./_python.ts";

const HAS_PYTHON = hasPythonWebsockets();
const WAIT_MS = 10_000;
const enc = new TextEncoder();

const JSON_TEXT = JSON.stringify({
  rows: Array.from({ length: 2000 }, (_, i) => ({
    id: i,
    name: `item ${i}`,
    ok: i % 3 === 0,
  })),
});
const MESSAGES: WsMessage[] = [
  "Hello",
  "Hello",
  JSON_TEXT,
  "",
  "ünïcödé ✓ ".repeat(100),
  new Uint8Array([0, 1, 2, 255]),
  new Uint8Array(200_000).fill(7),
];

/** Sends every message and collects as many echoes. */
async function echoAll(
  client: WsClient,
  messages: WsMessage[],
): Promise<WsMessage[]> {
  for (const message of messages) client.send(message);
  const got: WsMessage[] = [];
  for await (const message of client) {
    got.push(message);
    if (got.length === messages.length) break;
  }
  return got;
}

/** Raw DEFLATE of `data` as permessage-deflate sends it (tail removed). */
function deflatePayload(data: Uint8Array): Uint8Array {
  const out = zlib.deflateRawSync(data, {
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
  assert.equal(out.subarray(out.length - 4).toString("hex"), "0000ffff");
  return new Uint8Array(out.buffer, out.byteOffset, out.length - 4);
}

/** The client's inflater for a connection with default parameters. */
function clientInflater(): (payload: Uint8Array) => string {
  const codec = createPerMessageDeflate({
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
  }, "client");
  return (payload) =>
    new TextDecoder().decode(codec.decompress(payload) as Uint8Array);
}

/** The next frame that is not a timeout, failing after WAIT_MS. */
async function nextFrame(raw: { next(ms: number): Promise<RawEvent> }) {
  const event = await raw.next(WAIT_MS);
  if ("kind" in event && event.kind === "timeout") {
    throw new Error(`no frame within ${WAIT_MS} ms`);
  }
  return event;
}

function closeCodeOf(event: RawEvent): number | undefined {
  if (!("opcode" in event) || event.opcode !== OPCODE.close) return undefined;
  return (event.payload[0]! << 8) | event.payload[1]!;
}

Deno.test("deflate: netkit client and server negotiate and round-trip text and binary, with and without context takeover", async () => {
  for (
    const [serverOptions, clientOptions] of [
      [true, true],
      [{ serverNoContextTakeover: true, clientMaxWindowBits: 10 }, true],
      [true, { serverNoContextTakeover: true, clientMaxWindowBits: 9 }],
    ] as [boolean | DeflateOptions, boolean | DeflateOptions][]
  ) {
    await using server = serveWebSocket({ port: 0, deflate: serverOptions });
    await using client = await connectWebSocket(
      `ws://127.0.0.1:${server.addr.port}/ws`,
      { deflate: clientOptions },
    );
    assert.ok(client.deflate, "not negotiated");
    const wanted = {
      ...(serverOptions as object),
      ...(clientOptions as object),
    };
    assert.equal(
      client.deflate.serverNoContextTakeover,
      Boolean((wanted as DeflateOptions).serverNoContextTakeover),
    );
    const bits = (wanted as DeflateOptions).clientMaxWindowBits;
    assert.equal(
      client.deflate.clientMaxWindowBits,
      typeof bits === "number" ? bits : 15,
    );
    assert.deepEqual(await echoAll(client, MESSAGES), MESSAGES);
  }
});

Deno.test("deflate: not negotiated unless both ends want it; then RSV1 is never sent and a frame with RSV1 is refused with 1002", async () => {
  {
    await using server = serveWebSocket({ port: 0 });
    await using client = await connectWebSocket(
      `ws://127.0.0.1:${server.addr.port}/ws`,
      { deflate: true },
    );
    assert.equal(client.deflate, null);
    assert.deepEqual(await echoAll(client, ["plain"]), ["plain"]);
  }
  await using server = serveWebSocket({ port: 0, deflate: true });
  const url = new URL(`ws://127.0.0.1:${server.addr.port}/ws`);
  // A client that offers nothing gets no extension and plain frames.
  const plain = await openRaw(url, { timeoutMs: WAIT_MS });
  try {
    assert.equal(plain.response.headers.get("sec-websocket-extensions"), null);
    await plain.send({
      opcode: OPCODE.text,
      payload: enc.encode("x".repeat(500)),
    });
    const echo = await nextFrame(plain);
    assert.ok(
      "opcode" in echo && echo.rsv === 0 && echo.payload.length === 500,
    );
    // RSV1 without the extension: the server fails the connection.
    await plain.send({
      opcode: OPCODE.text,
      rsv: 4,
      payload: deflatePayload(enc.encode("hi")),
    });
    assert.equal(closeCodeOf(await nextFrame(plain)), 1002);
  } finally {
    plain.close();
  }
  // With the offer: replies carry RSV1 and inflate to the message.
  const offered = await openRaw(url, {
    timeoutMs: WAIT_MS,
    headers: { "sec-websocket-extensions": "permessage-deflate" },
    rsv1: true,
  });
  try {
    assert.equal(
      offered.response.headers.get("sec-websocket-extensions"),
      "permessage-deflate",
    );
    await offered.send({
      opcode: OPCODE.text,
      rsv: 4,
      payload: deflatePayload(enc.encode(JSON_TEXT)),
    });
    const echo = await nextFrame(offered);
    assert.ok("opcode" in echo && echo.rsv === 4, JSON.stringify(echo));
    assert.ok(echo.payload.length < JSON_TEXT.length / 4);
    const inflate = clientInflater();
    assert.equal(
      inflate(echo.payload),
      JSON_TEXT,
    );
    // A fragmented compressed message: RSV1 on the first frame only.
    const payload = deflatePayload(enc.encode("fragmented ".repeat(50)));
    const half = payload.length >> 1;
    await offered.send({
      opcode: OPCODE.text,
      rsv: 4,
      fin: false,
      payload: payload.slice(0, half),
    });
    await offered.send({
      opcode: OPCODE.continuation,
      payload: payload.slice(half),
    });
    const joined = await nextFrame(offered);
    assert.ok("opcode" in joined && joined.rsv === 4);
    assert.equal(
      inflate(joined.payload),
      "fragmented ".repeat(50),
    );
    // RSV1 on a continuation frame is a protocol error.
    await offered.send({
      opcode: OPCODE.text,
      rsv: 4,
      fin: false,
      payload: payload.slice(0, half),
    });
    await offered.send({
      opcode: OPCODE.continuation,
      rsv: 4,
      payload: payload.slice(half),
    });
    assert.equal(closeCodeOf(await nextFrame(offered)), 1002);
  } finally {
    offered.close();
  }
});

Deno.test("deflate: a zip bomb gets 1009 while inflating; invalid UTF-8 after inflating gets 1007; compressed bytes count as they arrive", async () => {
  const maxMessageSize = 1024 * 1024;
  await using server = serveWebSocket({
    port: 0,
    deflate: true,
    maxMessageSize,
  });
  const url = new URL(`ws://127.0.0.1:${server.addr.port}/ws`);
  const open = () =>
    openRaw(url, {
      timeoutMs: WAIT_MS,
      headers: { "sec-websocket-extensions": "permessage-deflate" },
      rsv1: true,
    });
  // 64 MiB of zeros deflate to ~64 KiB: far below the limit on the wire.
  const bomb = deflatePayload(new Uint8Array(64 * 1024 * 1024));
  assert.ok(bomb.length < maxMessageSize / 8);
  for (
    const [payload, opcode, code] of [
      [bomb, OPCODE.binary, 1009],
      [deflatePayload(new Uint8Array([0xff, 0xfe, 0x41])), OPCODE.text, 1007],
      [new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff]), OPCODE.binary, 1002],
    ] as const
  ) {
    const raw = await open();
    try {
      await raw.send({ opcode, rsv: 4, payload });
      assert.equal(closeCodeOf(await nextFrame(raw)), code, `case ${code}`);
    } finally {
      raw.close();
    }
  }
  // A compressed frame announcing more than the limit: 1009 from its header.
  const raw = await open();
  try {
    const header = new Uint8Array([
      0xc2,
      0xff,
      0,
      0,
      0,
      0,
      0,
      0x20,
      0,
      0,
      1,
      2,
      3,
      4,
    ]);
    await raw.sendRaw(header);
    assert.equal(closeCodeOf(await nextFrame(raw)), 1009);
  } finally {
    raw.close();
  }
  assert.ok(server.stats().served >= 4);
});

Deno.test({
  name:
    "deflate interop: netkit's client against a python3-websockets server with compression",
  ignore: !HAS_PYTHON,
  async fn() {
    await using python = await startPythonEcho({ compression: true });
    for (
      const options of [
        true,
        { serverNoContextTakeover: true },
        { clientMaxWindowBits: 10 },
      ] as (true | DeflateOptions)[]
    ) {
      await using client = await connectWebSocket(python.url, {
        deflate: options,
      });
      assert.ok(client.deflate, "python declined");
      assert.deepEqual(await echoAll(client, MESSAGES), MESSAGES);
    }
  },
});

const PY_CLIENT = `
import asyncio, json, sys
try:
    from websockets.asyncio.client import connect
except ImportError:
    from websockets import connect
async def main():
    messages = json.loads(sys.stdin.read())
    async with connect(sys.argv[1], compression="deflate", max_size=2**24) as ws:
        for m in messages:
            await ws.send(m)
            assert await ws.recv() == m, "echo differs"
        await ws.send(bytes(range(256)) * 100)
        assert await ws.recv() == bytes(range(256)) * 100, "binary echo differs"
        print(ws.response.headers.get("Sec-WebSocket-Extensions") if hasattr(ws, "response") else ws.response_headers.get("Sec-WebSocket-Extensions"), flush=True)
asyncio.run(main())
`;

Deno.test({
  name:
    "deflate interop: a python3-websockets client with compression against netkit's server",
  ignore: !HAS_PYTHON,
  async fn() {
    for (
      const options of [
        true,
        { serverNoContextTakeover: true, clientMaxWindowBits: 10 },
      ] as (true | DeflateOptions)[]
    ) {
      await using server = serveWebSocket({ port: 0, deflate: options });
      const child = new Deno.Command(PYTHON, {
        args: ["-c", PY_CLIENT, `ws://127.0.0.1:${server.addr.port}/ws`],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      const texts = MESSAGES.filter((m) => typeof m === "string");
      await writer.write(enc.encode(JSON.stringify(texts)));
      await writer.close();
      const result = await child.output();
      const dec = new TextDecoder();
      assert.ok(result.success, dec.decode(result.stderr));
      const answer = dec.decode(result.stdout).trim();
      assert.match(answer, /^permessage-deflate/);
      if (options !== true) {
        assert.match(answer, /server_no_context_takeover/);
        assert.match(answer, /client_max_window_bits=10/);
      }
      assert.equal(server.stats().messagesIn, texts.length + 1);
    }
  },
});

Deno.test("deflate: the client limits the inflated size too: a small compressed echo of 8 MiB of zeros closes the client with 1009", async () => {
  await using server = serveWebSocket({
    port: 0,
    deflate: true,
    maxMessageSize: 32 * 1024 * 1024,
  });
  const client = await connectWebSocket(
    `ws://127.0.0.1:${server.addr.port}/ws`,
    { deflate: true, maxMessageSize: 1024 * 1024 },
  );
  client.send(new Uint8Array(8 * 1024 * 1024));
  const received: WsMessage[] = [];
  for await (const message of client) received.push(message);
  const info = await client.closed;
  assert.equal(received.length, 0);
  assert.equal(info.code, 1009, JSON.stringify(info));
  assert.equal(server.stats().messagesIn, 1);
});
