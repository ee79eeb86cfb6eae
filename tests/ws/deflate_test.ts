import assert from "node:assert/strict";
import {
  acceptPerMessageDeflate,
  createPerMessageDeflate,
  type DeflateParams,
  formatExtensions,
  negotiatePerMessageDeflate,
  offerPerMessageDeflate,
  parseExtensions,
  WsError,
} from "../../ws/mod.ts";
import { createRawContext } from "../../ws/_zlib.ts";
import { hasPeer, seededBytes } from "../_helpers.ts";

const PYTHON = "/usr/bin/python3";
const enc = new TextEncoder();
const dec = new TextDecoder();
const hex = (s: string) => Uint8Array.fromHex(s.replace(/\s|0x/g, ""));

const TAKEOVER: DeflateParams = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

function isWsError(code: string) {
  return (error: unknown) => {
    assert.ok(error instanceof WsError, `expected WsError, got ${error}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

// --- RFC 7692 §7.2.3 examples ----------------------------------------------

Deno.test("deflate: RFC 7692 §7.2.3.1/2 'Hello' compressed, then again sharing the window", async () => {
  using server = createPerMessageDeflate(TAKEOVER, "server");
  assert.ok(server.sync, "Deno 2.9 exposes zlib's sync handle");
  assert.equal(
    (await server.compress(enc.encode("Hello"))).toHex(),
    "f248cdc9c90700",
  );
  assert.equal(
    (await server.compress(enc.encode("Hello"))).toHex(),
    "f200110000",
  );
});

Deno.test("deflate: RFC 7692 §7.2.3 payloads inflate to 'Hello'", async () => {
  const cases: [string, string[]][] = [
    ["compressed", ["f2 48 cd c9 c9 07 00"]],
    ["window shared with the previous message", [
      "f2 48 cd c9 c9 07 00",
      "f2 00 11 00 00",
    ]],
    ["no compression", ["00 05 00 fa ff 48 65 6c 6c 6f 00"]],
    ["BFINAL set, then another message", [
      "f3 48 cd c9 c9 07 00 00",
      "f2 48 cd c9 c9 07 00",
    ]],
    ["two blocks", ["f2 48 05 00 00 00 ff ff ca c9 c9 07 00"]],
  ];
  for (const [what, payloads] of cases) {
    using client = createPerMessageDeflate(TAKEOVER, "client");
    for (const payload of payloads) {
      assert.equal(
        dec.decode(await client.decompress(hex(payload))),
        "Hello",
        what,
      );
    }
  }
});

// --- round trips -------------------------------------------------------------

Deno.test("deflate: round trips in both directions, every context rule and window", async () => {
  const messages = [
    enc.encode(""),
    enc.encode("Hello"),
    enc.encode(
      JSON.stringify({
        users: Array.from({ length: 50 }, (_, i) => ({ i, name: `n${i}` })),
      }),
    ),
    seededBytes(70_000, 7), // incompressible, larger than one output chunk
    new Uint8Array(300_000).fill(0x61), // compresses ~1000:1
    enc.encode(""),
    enc.encode("Hello"),
  ];
  for (const bits of [8, 9, 12, 15]) {
    for (const serverReset of [false, true]) {
      for (const clientReset of [false, true]) {
        const params: DeflateParams = {
          serverNoContextTakeover: serverReset,
          clientNoContextTakeover: clientReset,
          serverMaxWindowBits: bits,
          clientMaxWindowBits: 23 - bits,
        };
        using server = createPerMessageDeflate(params, "server");
        using client = createPerMessageDeflate(params, "client");
        for (const message of messages) {
          const up = await client.compress(message);
          assert.deepEqual(await server.decompress(up), message);
          const down = await server.compress(message);
          assert.deepEqual(await client.decompress(down), message);
        }
      }
    }
  }
});

Deno.test("deflate: no context takeover compresses a repeated message the same way each time", async () => {
  using server = createPerMessageDeflate(
    { ...TAKEOVER, serverNoContextTakeover: true },
    "server",
  );
  const first = await server.compress(enc.encode("Hello"));
  const second = await server.compress(enc.encode("Hello"));
  assert.equal(first.toHex(), "f248cdc9c90700");
  assert.equal(second.toHex(), first.toHex());
});

// --- limits and bad data ----------------------------------------------------

/** A raw DEFLATE stream of `size` zero bytes, built without holding them. */
function bomb(size: number): Uint8Array {
  const context = createRawContext({ mode: "deflate", windowBits: 15 });
  const zeros = new Uint8Array(1024 * 1024);
  const parts = Array.from({ length: size / zeros.length }, () => zeros);
  const out = context.run(parts, Number.MAX_SAFE_INTEGER) as Uint8Array;
  context.close();
  return out.subarray(0, out.length - 4);
}

Deno.test("deflate: a zip bomb stops at the inflated-size limit (message_too_large, close 1009)", async () => {
  const payload = bomb(512 * 1024 * 1024);
  assert.ok(payload.length < 1024 * 1024, `bomb is ${payload.length} bytes`);
  using client = createPerMessageDeflate(TAKEOVER, "client", {
    maxInflatedSize: 1024 * 1024,
  });
  const before = Deno.memoryUsage().rss;
  assert.throws(
    () => client.decompress(payload),
    isWsError("message_too_large"),
  );
  // Inflating all of it before checking would have taken 512 MiB.
  const grown = Deno.memoryUsage().rss - before;
  assert.ok(grown < 128 * 1024 * 1024, `RSS grew by ${grown} bytes`);
  // Exactly at the limit is allowed.
  using exact = createPerMessageDeflate(TAKEOVER, "client", {
    maxInflatedSize: 1024 * 1024,
  });
  using sender = createPerMessageDeflate(TAKEOVER, "server");
  const atLimit = await sender.compress(new Uint8Array(1024 * 1024));
  assert.equal((await exact.decompress(atLimit)).length, 1024 * 1024);
});

Deno.test("deflate: data that is not DEFLATE is protocol_error", () => {
  using client = createPerMessageDeflate(TAKEOVER, "client");
  assert.throws(
    () => client.decompress(hex("ff ff ff 00")),
    isWsError("protocol_error"),
  );
});

Deno.test("deflate: the stream fallback (no zlib handle) round trips and stops a bomb at the limit", async () => {
  const deflater = createRawContext({
    mode: "deflate",
    windowBits: 15,
    forceStream: true,
  });
  const inflater = createRawContext({
    mode: "inflate",
    windowBits: 15,
    forceStream: true,
  });
  try {
    assert.equal(deflater.sync, false);
    const tail = hex("00 00 ff ff");
    for (const text of ["Hello", "Hello", "a".repeat(100_000)]) {
      const out = await deflater.run([enc.encode(text)], Infinity);
      assert.equal(out.subarray(-4).toHex(), "0000ffff");
      assert.equal(
        dec.decode(await inflater.run([out.subarray(0, -4), tail], Infinity)),
        text,
      );
    }
    await assert.rejects(
      Promise.resolve(
        inflater.run([bomb(64 * 1024 * 1024), tail], 1024 * 1024),
      ),
      (e) => e instanceof Error && e.constructor.name === "LimitExceeded",
    );
    await assert.rejects(
      Promise.resolve(inflater.run([hex("ff ff ff 00"), tail], Infinity)),
      (e) => e instanceof Error && e.constructor.name === "CorruptData",
    );
    // BFINAL ends the peer's stream; the next message starts a new one.
    assert.equal(
      dec.decode(
        await inflater.run([hex("f3 48 cd c9 c9 07 00 00"), tail], Infinity),
      ),
      "Hello",
    );
    assert.equal(
      dec.decode(
        await inflater.run([hex("f2 48 cd c9 c9 07 00"), tail], Infinity),
      ),
      "Hello",
    );
  } finally {
    deflater.close();
    inflater.close();
  }
});

// --- python3 zlib cross-check -------------------------------------------------

const PY_INFLATE = `
import sys, zlib
d = zlib.decompressobj(wbits=-15)
for line in sys.stdin:
    print(d.decompress(bytes.fromhex(line.strip()) + b"\\x00\\x00\\xff\\xff").hex(), flush=True)
`;
const PY_DEFLATE = `
import sys, zlib
c = zlib.compressobj(6, zlib.DEFLATED, -int(sys.argv[1]))
for line in sys.stdin:
    out = c.compress(bytes.fromhex(line.strip())) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\\x00\\x00\\xff\\xff")
    print(out[:-4].hex(), flush=True)
`;

async function python(
  script: string,
  args: string[],
  lines: string[],
): Promise<string[]> {
  const output = await new Deno.Command(PYTHON, {
    args: ["-c", script, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = output.stdin.getWriter();
  await writer.write(enc.encode(lines.map((l) => `${l}\n`).join("")));
  await writer.close();
  const result = await output.output();
  assert.ok(result.success, dec.decode(result.stderr));
  return dec.decode(result.stdout).split("\n").slice(0, lines.length);
}

Deno.test({
  name:
    "deflate: python3 zlib inflates what netkit compresses, and the other way round",
  ignore: !hasPeer("python3"),
  async fn() {
    const messages = [
      enc.encode("Hello"),
      enc.encode("Hello"),
      enc.encode(JSON.stringify({ a: [1, 2, 3], b: "x".repeat(500) })),
      seededBytes(40_000, 3),
      new Uint8Array(0),
      enc.encode("Hello again, Hello"),
    ];
    for (const bits of [8, 11, 15]) {
      using ours = createPerMessageDeflate(
        { ...TAKEOVER, clientMaxWindowBits: bits },
        "client",
      );
      const payloads: string[] = [];
      for (const m of messages) payloads.push((await ours.compress(m)).toHex());
      const inflated = await python(PY_INFLATE, [], payloads);
      assert.deepEqual(
        inflated,
        messages.map((m) => m.toHex()),
        `window ${bits}`,
      );
    }
    const fromPython = await python(
      PY_DEFLATE,
      ["15"],
      messages.map((m) => m.toHex()),
    );
    using ours = createPerMessageDeflate(TAKEOVER, "server");
    for (let i = 0; i < messages.length; i++) {
      const payload = fromPython[i]!;
      assert.deepEqual(
        await ours.decompress(Uint8Array.fromHex(payload)),
        messages[i],
      );
    }
  },
});

// --- Sec-WebSocket-Extensions ------------------------------------------------

Deno.test("extensions: parse params, quoting, several offers and joined header lines", () => {
  assert.deepEqual(
    parseExtensions(
      'permessage-deflate ; client_max_window_bits ; server_max_window_bits="10",permessage-deflate, x-foo;a=b',
    ),
    [
      {
        name: "permessage-deflate",
        params: [["client_max_window_bits", true], [
          "server_max_window_bits",
          "10",
        ]],
      },
      { name: "permessage-deflate", params: [] },
      { name: "x-foo", params: [["a", "b"]] },
    ],
  );
  assert.deepEqual(parseExtensions(""), []);
  assert.deepEqual(parseExtensions(' , a; b="c\\d" ,'), [{
    name: "a",
    params: [["b", "cd"]],
  }]);
  for (
    const bad of ['a; b="x', "a b", 'a; b="two words"', "a;", "a; =1", "a; b=@"]
  ) {
    assert.throws(() => parseExtensions(bad), isWsError("bad_http"), bad);
  }
  const round =
    "permessage-deflate; server_no_context_takeover; client_max_window_bits=9";
  assert.equal(formatExtensions(parseExtensions(round)), round);
});

Deno.test("negotiation (server): accepts the first acceptable offer and answers what RFC 7692 requires", () => {
  const accept = (header: string | null, options = {}) =>
    negotiatePerMessageDeflate(header, options);
  assert.equal(accept(null), null);
  assert.equal(accept("x-webkit-deflate-frame"), null);
  // Plain offer, no options: empty answer, everything at defaults.
  assert.deepEqual(accept("permessage-deflate"), {
    params: TAKEOVER,
    response: "permessage-deflate",
  });
  // The first offer is invalid (repeated parameter); the second wins.
  const second = accept(
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover, permessage-deflate; client_max_window_bits",
  )!;
  assert.equal(second.response, "permessage-deflate");
  // server_no_context_takeover in the offer must be granted.
  assert.equal(
    accept("permessage-deflate; server_no_context_takeover")!.response,
    "permessage-deflate; server_no_context_takeover",
  );
  // server_max_window_bits in the offer binds the server's compressor.
  const limited = accept("permessage-deflate; server_max_window_bits=10", {
    serverMaxWindowBits: 12,
  })!;
  assert.equal(limited.params.serverMaxWindowBits, 10);
  assert.equal(
    limited.response,
    "permessage-deflate; server_max_window_bits=10",
  );
  // A server-side limit on its own window is announced even if not offered.
  assert.equal(
    accept("permessage-deflate", { serverMaxWindowBits: 11 })!.response,
    "permessage-deflate; server_max_window_bits=11",
  );
  // The client's window can be limited only if the offer allows it.
  assert.equal(accept("permessage-deflate", { clientMaxWindowBits: 12 }), null);
  const client = accept("permessage-deflate; client_max_window_bits", {
    clientMaxWindowBits: 12,
  })!;
  assert.equal(client.params.clientMaxWindowBits, 12);
  assert.equal(
    client.response,
    "permessage-deflate; client_max_window_bits=12",
  );
  const smaller = accept("permessage-deflate; client_max_window_bits=10", {
    clientMaxWindowBits: 12,
  })!;
  assert.equal(smaller.params.clientMaxWindowBits, 10);
  // The server may ask the client to drop its context.
  const noContext = accept("permessage-deflate", {
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
  })!;
  assert.deepEqual(noContext.params, {
    ...TAKEOVER,
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
  });
  assert.equal(
    noContext.response,
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
  );
  // Invalid offers are declined, not answered.
  for (
    const offer of [
      "permessage-deflate; server_max_window_bits=7",
      "permessage-deflate; server_max_window_bits=08",
      "permessage-deflate; server_max_window_bits",
      "permessage-deflate; client_max_window_bits=16",
      "permessage-deflate; server_no_context_takeover=1",
      "permessage-deflate; mystery",
    ]
  ) assert.equal(accept(offer), null, offer);
  assert.throws(() => accept('permessage-deflate; a="'), isWsError("bad_http"));
  assert.throws(
    () => accept("permessage-deflate", { serverMaxWindowBits: 16 }),
    RangeError,
  );
});

Deno.test("negotiation (client): offers, and validates the server's answer", () => {
  assert.equal(
    offerPerMessageDeflate(),
    "permessage-deflate; client_max_window_bits",
  );
  assert.equal(
    offerPerMessageDeflate({
      clientNoContextTakeover: true,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 11,
    }),
    "permessage-deflate; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11",
  );
  assert.equal(acceptPerMessageDeflate(null), null);
  assert.equal(acceptPerMessageDeflate(""), null);
  assert.deepEqual(acceptPerMessageDeflate("permessage-deflate"), TAKEOVER);
  assert.deepEqual(
    acceptPerMessageDeflate(
      "permessage-deflate; server_max_window_bits=9; client_no_context_takeover",
    ),
    { ...TAKEOVER, serverMaxWindowBits: 9, clientNoContextTakeover: true },
  );
  // Our own limits hold even when the answer does not repeat them.
  assert.equal(
    acceptPerMessageDeflate("permessage-deflate", { clientMaxWindowBits: 10 })!
      .clientMaxWindowBits,
    10,
  );
  const refused: [string, object][] = [
    ["x-other", {}],
    ["permessage-deflate, permessage-deflate", {}],
    ["permessage-deflate; client_max_window_bits", {}],
    ["permessage-deflate; client_max_window_bits=12", {
      clientMaxWindowBits: 10,
    }],
    ["permessage-deflate; server_max_window_bits=12", {
      serverMaxWindowBits: 10,
    }],
    ["permessage-deflate", { serverMaxWindowBits: 10 }],
    ["permessage-deflate", { serverNoContextTakeover: true }],
    ["permessage-deflate; unknown", {}],
    ["permessage-deflate; server_max_window_bits=20", {}],
    ['permessage-deflate; a="', {}],
  ];
  for (const [answer, options] of refused) {
    assert.throws(
      () => acceptPerMessageDeflate(answer, options),
      isWsError("handshake_failed"),
      `${answer} ${JSON.stringify(options)}`,
    );
  }
});

Deno.test("negotiation: a server's answer is accepted by the client that offered", () => {
  for (
    const [client, server] of [
      [{}, {}],
      [{ serverNoContextTakeover: true }, { clientMaxWindowBits: 9 }],
      [{ clientMaxWindowBits: 10, serverMaxWindowBits: 12 }, {
        serverNoContextTakeover: true,
        clientMaxWindowBits: 11,
      }],
    ] as const
  ) {
    const negotiated = negotiatePerMessageDeflate(
      offerPerMessageDeflate(client),
      server,
    )!;
    assert.deepEqual(
      acceptPerMessageDeflate(negotiated.response, client),
      negotiated.params,
    );
  }
});

Deno.test("deflate: the compressor's window stays at 12 bits whatever was negotiated (python websockets' default: faster, and any inflater reads it)", async () => {
  using server = createPerMessageDeflate(TAKEOVER, "server");
  // An 8 KiB random block, then the same block again. A 15-bit window
  // copies the second half with back references 8 KiB long (about half the
  // size); a 4 KiB window cannot see that far, so nothing shrinks.
  const block = seededBytes(8192, 7);
  const message = new Uint8Array(2 * block.length);
  message.set(block, 0);
  message.set(block, block.length);
  const payload = await server.compress(message);
  assert.ok(
    payload.length > message.length,
    `${payload.length} bytes: a reference 8 KiB back was made`,
  );
  using client = createPerMessageDeflate(TAKEOVER, "client");
  assert.deepEqual(await client.decompress(payload), message);
});
