// permessage-deflate against python3-websockets, over real sockets: the
// negotiation helpers and the codec of ws/deflate.ts, driven by a minimal
// hand-written WebSocket endpoint (the engine wires them in later).

import assert from "node:assert/strict";
import {
  acceptKey,
  acceptPerMessageDeflate,
  buildClientRequest,
  createPerMessageDeflate,
  type DeflateOptions,
  encodeFrame,
  type Frame,
  FrameDecoder,
  generateKey,
  negotiatePerMessageDeflate,
  offerPerMessageDeflate,
  parseResponseHead,
  type PerMessageDeflate,
} from "../../ws/mod.ts";
import { hasPythonWebsockets, PYTHON } from "./_python.ts";
import { concatBytes } from "../../_bytes.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const HAS_PEER = hasPythonWebsockets();

const MESSAGES: string[] = [
  "Hello",
  "Hello",
  JSON.stringify({
    rows: Array.from({ length: 2000 }, (_, i) => ({ id: i, ok: i % 3 === 0 })),
  }),
  "",
  "ünïcödé ✓ ".repeat(100),
];

/** Reads frames from `conn` one at a time. */
function frameReader(
  conn: Deno.Conn,
  decoder: FrameDecoder,
  first: Uint8Array,
) {
  const ready: Frame[] = [];
  let pending: Uint8Array | undefined = first;
  const buf = new Uint8Array(64 * 1024);
  return async (): Promise<Frame> => {
    while (ready.length === 0) {
      let bytes: Uint8Array;
      if (pending) {
        bytes = pending;
        pending = undefined;
      } else {
        const n = await conn.read(buf);
        if (n === null) throw new Error("EOF while waiting for a frame");
        bytes = buf.subarray(0, n);
      }
      for (const item of decoder.push(bytes)) {
        if (!("opcode" in item)) {
          throw new Error(`protocol error: ${JSON.stringify(item)}`);
        }
        ready.push(item);
      }
    }
    return ready.shift()!;
  };
}

/** Reads one whole data message (fragments joined); RSV1 on the first frame says compressed. */
async function readMessage(
  next: () => Promise<Frame>,
  codec: PerMessageDeflate,
): Promise<{ opcode: number; data: Uint8Array; compressed: boolean } | null> {
  const first = await next();
  if (first.opcode === 8) return null;
  const parts = [first.payload];
  let frame = first;
  while (!frame.fin) {
    frame = await next();
    assert.equal(frame.opcode, 0);
    assert.equal(frame.rsv, 0, "RSV1 only on the first fragment");
    parts.push(frame.payload);
  }
  const joined = concatBytes(parts);
  const compressed = (first.rsv & 4) !== 0;
  return {
    opcode: first.opcode,
    data: compressed ? await codec.decompress(joined) : joined,
    compressed,
  };
}

async function readHead(
  conn: Deno.Conn,
): Promise<{ head: string; rest: Uint8Array }> {
  let bytes: Uint8Array = new Uint8Array(0);
  const buf = new Uint8Array(8192);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("EOF in the handshake");
    bytes = concatBytes([bytes, buf.subarray(0, n)]);
    const end = dec.decode(bytes).indexOf("\r\n\r\n");
    if (end >= 0) {
      const cut = enc.encode(dec.decode(bytes).slice(0, end + 4)).length;
      return {
        head: dec.decode(bytes.subarray(0, cut)),
        rest: bytes.slice(cut),
      };
    }
  }
}

const PY_SERVER = `
import asyncio, websockets
async def echo(ws, *_):
    try:
        async for message in ws:
            await ws.send(message)
    except Exception:
        pass
async def main():
    async with websockets.serve(echo, "127.0.0.1", 0, compression="deflate", max_size=2**24) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
`;

Deno.test({
  name:
    "deflate interop: netkit's offer, answer check and codec against a python3-websockets server",
  ignore: !HAS_PEER,
  async fn() {
    const python = new Deno.Command(PYTHON, {
      args: ["-c", PY_SERVER],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const lines = python.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    try {
      const port = Number((await lines.read()).value?.trim());
      assert.ok(port > 0);
      for (
        const options of [{}, {
          clientNoContextTakeover: true,
          serverMaxWindowBits: 10,
        }] as DeflateOptions[]
      ) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        try {
          const url = new URL(`ws://127.0.0.1:${port}/`);
          const request = buildClientRequest(url, generateKey(), {
            headers: {
              "Sec-WebSocket-Extensions": offerPerMessageDeflate(options),
            },
          });
          await conn.write(enc.encode(request));
          const { head, rest } = await readHead(conn);
          const parsed = parseResponseHead(enc.encode(head))!;
          assert.equal(parsed.head.status, 101);
          const params = acceptPerMessageDeflate(
            parsed.head.headers.get("sec-websocket-extensions"),
            options,
          );
          assert.ok(params, "python3-websockets accepted the offer");
          if (options.serverMaxWindowBits) {
            assert.ok(params.serverMaxWindowBits <= 10);
          }
          using codec = createPerMessageDeflate(params, "client");
          const next = frameReader(
            conn,
            new FrameDecoder({ expectMasked: false, allowedRsv: 4 }),
            rest,
          );
          for (const text of MESSAGES) {
            const payload = await codec.compress(enc.encode(text));
            await conn.write(
              encodeFrame({ opcode: 1, rsv: 4, payload, mask: true }),
            );
            const echo = await readMessage(next, codec);
            assert.equal(dec.decode(echo!.data), text);
            assert.ok(
              echo!.compressed || text === "",
              "python compresses its echo",
            );
          }
          // A compressed message in three fragments; RSV1 on the first only.
          const payload = await codec.compress(enc.encode(MESSAGES[2]!));
          const third = Math.ceil(payload.length / 3);
          for (let i = 0; i < 3; i++) {
            await conn.write(encodeFrame({
              fin: i === 2,
              rsv: i === 0 ? 4 : 0,
              opcode: i === 0 ? 1 : 0,
              payload: payload.subarray(i * third, (i + 1) * third),
              mask: true,
            }));
          }
          assert.equal(
            dec.decode((await readMessage(next, codec))!.data),
            MESSAGES[2],
          );
          await conn.write(
            encodeFrame({
              opcode: 8,
              payload: new Uint8Array([0x03, 0xe8]),
              mask: true,
            }),
          );
          assert.equal(await readMessage(next, codec), null);
        } finally {
          conn.close();
        }
      }
    } finally {
      python.kill();
      await lines.cancel().catch(() => {});
      await python.status;
    }
  },
});

const PY_CLIENT = `
import asyncio, json, sys, websockets
async def main():
    messages = json.loads(sys.stdin.read())
    async with websockets.connect(sys.argv[1], compression="deflate", max_size=2**24) as ws:
        for m in messages:
            await ws.send(m)
            assert await ws.recv() == m, "echo differs"
        print(ws.response_headers.get("Sec-WebSocket-Extensions"), flush=True)
asyncio.run(main())
`;

/** A one-connection WebSocket echo server that negotiates with `options`. */
function startRawServer(options: DeflateOptions) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const offers: (string | null)[] = [];
  const compressedIn: boolean[] = [];
  const served = (async () => {
    const conn = await listener.accept();
    try {
      const { head, rest } = await readHead(conn);
      const header = (name: string) =>
        new RegExp(`^${name}:\\s*(.*?)\\s*$`, "im").exec(head)?.[1] ?? null;
      offers.push(header("sec-websocket-extensions"));
      const negotiated = negotiatePerMessageDeflate(offers[0]!, options);
      assert.ok(negotiated, `no acceptable offer in ${offers[0]}`);
      await conn.write(enc.encode(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${
            acceptKey(header("sec-websocket-key")!)
          }\r\n` +
          `Sec-WebSocket-Extensions: ${negotiated.response}\r\n\r\n`,
      ));
      using codec = createPerMessageDeflate(negotiated.params, "server");
      const next = frameReader(
        conn,
        new FrameDecoder({ expectMasked: true, allowedRsv: 4 }),
        rest,
      );
      for (;;) {
        const message = await readMessage(next, codec);
        if (message === null) {
          await conn.write(
            encodeFrame({ opcode: 8, payload: new Uint8Array([0x03, 0xe8]) }),
          );
          return;
        }
        compressedIn.push(message.compressed);
        const payload = await codec.compress(message.data);
        await conn.write(
          encodeFrame({ opcode: message.opcode, rsv: 4, payload }),
        );
      }
    } finally {
      conn.close();
      listener.close();
    }
  })();
  return { port: listener.addr.port, offers, compressedIn, served };
}

Deno.test({
  name:
    "deflate interop: netkit's server negotiation and codec against a python3-websockets client",
  ignore: !HAS_PEER,
  async fn() {
    for (
      const options of [
        {},
        { serverNoContextTakeover: true, clientMaxWindowBits: 10 },
        { clientNoContextTakeover: true, serverMaxWindowBits: 9 },
      ] as DeflateOptions[]
    ) {
      const server = startRawServer(options);
      const client = new Deno.Command(PYTHON, {
        args: ["-c", PY_CLIENT, `ws://127.0.0.1:${server.port}/`],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = client.stdin.getWriter();
      await writer.write(enc.encode(JSON.stringify(MESSAGES)));
      await writer.close();
      const [result] = await Promise.all([client.output(), server.served]);
      assert.ok(result.success, dec.decode(result.stderr));
      const answer = dec.decode(result.stdout).trim();
      assert.equal(
        answer,
        negotiatePerMessageDeflate(server.offers[0]!, options)!.response,
      );
      // python compresses all but the empty message (it may skip that one).
      assert.ok(
        server.compressedIn.filter(Boolean).length >= MESSAGES.length - 1,
      );
    }
  },
});
