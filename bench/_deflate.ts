// permessage-deflate codec: netkit's (ws/deflate.ts, zlib's sync handle)
// against python's zlib, which is what python3-websockets compresses with,
// on the same JSON-like messages with context takeover, in the same run.
// Then end to end: netkit's client and server (`ws serve --deflate`)
// against python3-websockets' client and server, both with compression,
// echoing the same messages: MB/s, and bytes on the wire counted by a
// forwarder in a separate, untimed pass (both passes of each client: a
// warm-up and the timed one).

import {
  connectWebSocket,
  createPerMessageDeflate,
  type DeflateParams,
} from "../ws/mod.ts";
import { median } from "./_stats.ts";
import { type BenchContext, netkitCommand } from "./_runner.ts";
import { type ServerSpec, withServer } from "./_servers.ts";
import type { BenchRow } from "./_table.ts";

const PARAMS: DeflateParams = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

// Same settings both sides: level 6, 15-bit window, memLevel 8 (zlib's
// defaults, and node's).
const PYTHON = `
import json, sys, time, zlib
messages = [m.encode() for m in json.load(sys.stdin)]
c = zlib.compressobj(6, zlib.DEFLATED, -15, 8)
d = zlib.decompressobj(-15)
t = time.perf_counter()
payloads = [(c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH))[:-4] for m in messages]
compress_s = time.perf_counter() - t
t = time.perf_counter()
for p in payloads:
    d.decompress(p + b"\\x00\\x00\\xff\\xff")
decompress_s = time.perf_counter() - t
print(json.dumps({"compress_s": compress_s, "decompress_s": decompress_s,
                  "wire": sum(len(p) for p in payloads)}))
`;

/** JSON-like text messages: a feed of records with repeating keys. */
function messages(count: number): string[] {
  let seed = 7;
  const rand = () =>
    (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      type: "update",
      seq: i,
      items: Array.from({ length: 40 }, (_, j) => ({
        id: Math.floor(rand() * 1e6),
        name: `item-${j}-${Math.floor(rand() * 1000)}`,
        price: Math.round(rand() * 10000) / 100,
        tags: ["alpha", "beta", "gamma"].slice(0, 1 + (j % 3)),
        active: rand() > 0.5,
      })),
    }));
}

interface Figures {
  compressS: number;
  decompressS: number;
  wire: number;
}

async function netkit(texts: string[]): Promise<Figures> {
  const input = texts.map((t) => new TextEncoder().encode(t));
  using sender = createPerMessageDeflate(PARAMS, "server");
  using receiver = createPerMessageDeflate(PARAMS, "client");
  let t = performance.now();
  const payloads: Uint8Array[] = [];
  for (const m of input) payloads.push(await sender.compress(m));
  const compressS = (performance.now() - t) / 1000;
  t = performance.now();
  for (const p of payloads) await receiver.decompress(p);
  const decompressS = (performance.now() - t) / 1000;
  return {
    compressS,
    decompressS,
    wire: payloads.reduce((n, p) => n + p.length, 0),
  };
}

async function python(texts: string[]): Promise<Figures> {
  const child = new Deno.Command("/usr/bin/python3", {
    args: ["-c", PYTHON],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(texts)));
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  return { compressS: r.compress_s, decompressS: r.decompress_s, wire: r.wire };
}

const WINDOW = 8;

const PY_SERVER = `
import asyncio, signal, websockets
async def echo(ws, *_):
    try:
        async for m in ws:
            await ws.send(m)
    except websockets.ConnectionClosed:
        pass
async def main():
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=2**25, compression="deflate") as server:
        print(f"listening ws 127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}", flush=True)
        await stop
asyncio.run(main())
`;

// Batches of WINDOW sent, then WINDOW echoes read: the same pattern as
// the netkit client below.
const PY_CLIENT = `
import asyncio, json, sys, time, websockets
async def main():
    messages = json.load(sys.stdin)
    async with websockets.connect(sys.argv[1], compression="deflate", max_size=2**25) as ws:
        for timed in (False, True):
            t = time.perf_counter()
            for i in range(0, len(messages), ${WINDOW}):
                batch = messages[i:i + ${WINDOW}]
                for m in batch:
                    await ws.send(m)
                for m in batch:
                    assert await ws.recv() == m, "echo differs"
        print(json.dumps({"seconds": time.perf_counter() - t}), flush=True)
asyncio.run(main())
`;

const SERVERS: ServerSpec[] = [
  {
    name: "netkit",
    transport: "tcp",
    cmd: netkitCommand([
      "ws",
      "serve",
      "--port",
      "0",
      "--grace",
      "0",
      "--no-page",
      "--deflate",
    ]),
  },
  {
    name: "python",
    transport: "tcp",
    cmd: ["/usr/bin/python3", "-c", PY_SERVER],
  },
];

async function netkitEcho(port: number, texts: string[]): Promise<number> {
  await using client = await connectWebSocket(`ws://127.0.0.1:${port}/ws`, {
    deflate: true,
  });
  if (!client.deflate) throw new Error("permessage-deflate not negotiated");
  const messages = client[Symbol.asyncIterator]();
  let t = 0;
  // The first pass warms both ends (and JITs) and is not timed.
  for (const timed of [false, true]) {
    t = performance.now();
    for (let i = 0; i < texts.length; i += WINDOW) {
      const batch = texts.slice(i, i + WINDOW);
      for (const m of batch) client.send(m);
      for (const m of batch) {
        const next = await messages.next();
        if (next.done || next.value !== m) throw new Error("echo differs");
      }
    }
    if (timed) break;
  }
  return (performance.now() - t) / 1000;
}

async function pythonEcho(port: number, texts: string[]): Promise<number> {
  const child = new Deno.Command("/usr/bin/python3", {
    args: ["-c", PY_CLIENT, `ws://127.0.0.1:${port}/`],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(texts)));
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout)).seconds;
}

/**
 * A forwarder on 127.0.0.1 to `port` that counts the bytes passing both
 * ways; `run` gets its port.
 */
async function countingWire(
  port: number,
  run: (port: number) => Promise<unknown>,
): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let bytes = 0;
  const pipes: Promise<void>[] = [];
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const a of listener) {
      const b = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(a, b);
      const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
        const buf = new Uint8Array(64 * 1024);
        try {
          for (let n; (n = await from.read(buf)) !== null;) {
            bytes += n;
            let off = 0;
            while (off < n) off += await to.write(buf.subarray(off, n));
          }
          await to.closeWrite();
        } catch {
          // One side went away: the pass is over.
        }
      };
      pipes.push(pipe(a, b), pipe(b, a));
    }
  })().catch(() => {});
  try {
    await run(listener.addr.port);
  } finally {
    listener.close();
    await accepting;
    for (const c of conns) {
      try {
        c.close();
      } catch {
        // Already closed.
      }
    }
    await Promise.allSettled(pipes);
  }
  return bytes;
}

async function endToEndRows(
  ctx: BenchContext,
  texts: string[],
  bytes: number,
  size: string,
): Promise<BenchRow[]> {
  const seconds: Record<string, number[]> = { netkit: [], python: [] };
  const wire: Record<string, number> = {};
  const echo = (name: string) => name === "netkit" ? netkitEcho : pythonEcho;
  for (let round = 0; round < ctx.rounds; round++) {
    for (const spec of SERVERS) {
      await withServer(spec, async (server) => {
        const s = await echo(spec.name)(server.port, texts);
        seconds[spec.name]!.push(s);
        ctx.log(
          `deflate end to end · ${spec.name}: ${
            (2 * bytes / s / 1e6).toFixed(1)
          } MB/s`,
        );
        if (round === 0) {
          wire[spec.name] = await countingWire(
            server.port,
            (port) => echo(spec.name)(port, texts),
          );
        }
      });
    }
  }
  // Both directions: each message goes out and comes back.
  const mbps = (name: string) =>
    median(seconds[name]!.map((s) => 2 * bytes / s / 1e6));
  const peerName = "python3-websockets";
  return [
    {
      name: `permessage-deflate echo end to end (client + server), ${size}`,
      netkit: mbps("netkit"),
      peer: mbps("python"),
      peerName,
      unit: "MB/s",
      note:
        `end to end: netkit client ↔ ws serve --deflate vs python client ↔ python server (compression="deflate"), ${WINDOW} in flight; MB/s of uncompressed text both ways`,
    },
    {
      name: `permessage-deflate echo bytes on the wire, ${size}`,
      netkit: wire.netkit!,
      peer: wire.python!,
      peerName,
      unit: "bytes",
      higherIsBetter: false,
    },
  ];
}

/** The deflate section's rows. */
export async function deflateRows(ctx: BenchContext): Promise<BenchRow[]> {
  const texts = messages(ctx.quick ? 200 : 2000);
  const bytes = texts.reduce(
    (n, t) => n + new TextEncoder().encode(t).length,
    0,
  );
  const ours: Figures[] = [];
  const theirs: Figures[] = [];
  for (let round = 0; round < ctx.rounds; round++) {
    ours.push(await netkit(texts));
    theirs.push(await python(texts));
  }
  const mbps = (fs: Figures[], key: "compressS" | "decompressS") =>
    median(fs.map((f) => bytes / f[key] / 1e6));
  const size = `${texts.length} JSON messages of ~${
    Math.round(bytes / texts.length / 1024)
  } KiB`;
  const peerName = "python zlib";
  const note =
    "codec only, context takeover, level 6, 15-bit window; python3-websockets compresses with python's zlib";
  ctx.log(
    `deflate: ${bytes} bytes in, netkit ${ours[0]!.wire} / python ${
      theirs[0]!.wire
    } on the wire`,
  );
  return [
    {
      name: `permessage-deflate compress, ${size}`,
      netkit: mbps(ours, "compressS"),
      peer: mbps(theirs, "compressS"),
      peerName,
      unit: "MB/s",
      note,
    },
    {
      name: `permessage-deflate inflate, ${size}`,
      netkit: mbps(ours, "decompressS"),
      peer: mbps(theirs, "decompressS"),
      peerName,
      unit: "MB/s",
    },
    {
      name: `permessage-deflate bytes on the wire, ${size}`,
      netkit: ours[0]!.wire,
      peer: theirs[0]!.wire,
      peerName,
      unit: "bytes",
      higherIsBetter: false,
    },
    ...await endToEndRows(ctx, texts, bytes, size),
  ];
}
