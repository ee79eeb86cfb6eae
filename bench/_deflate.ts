// permessage-deflate codec: netkit's (ws/deflate.ts, zlib's sync handle)
// against python's zlib, which is what python3-websockets compresses with,
// on the same JSON-like messages with context takeover, in the same run.
// Codec only (no sockets): the end-to-end row needs the engine's client
// and server (issue 10, phase 2).

import { createPerMessageDeflate, type DeflateParams } from "../ws/mod.ts";
import { median } from "./_stats.ts";
import type { BenchContext } from "./_runner.ts";
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
  ];
}
