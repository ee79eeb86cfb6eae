// What someone without the token can do to a receiver: nothing that ends
// a --once receiver, blocks a real sender or holds resources past the
// deadline; wrong proofs get slower; the folder is checked at start; a
// stopping receiver says so.

import assert from "node:assert/strict";
import {
  decodeHello,
  decodeNotice,
  deriveKeys,
  encodeFrame,
  encodeHello,
  HELLO_BYTES,
  MessageType,
} from "../../../tcp/file/protocol.ts";
import {
  FileTransferError,
  type ReceiveSession,
  sendFiles,
  serveFileReceiver,
} from "../../../tcp/mod.ts";
import { peerText } from "../../../tcp/file/_failure.ts";
import {
  readAll,
  readAllWithin,
  seededBytes,
  testTls,
  waitFor,
} from "../../_helpers.ts";
import { formatAddress } from "../../../address.ts";
import {
  connectFrom,
  endOf,
  socketFds,
  type SourcedConn,
} from "../../_strangers.ts";
import {
  GLOBAL_FAILED_PROOFS,
  GLOBAL_WINDOW_MS,
} from "../../../tcp/file/_pre_auth.ts";
import type { StrangerSummary } from "../../../tcp/file/types.ts";
import { enc, entries, RawClient, startReceiver } from "./_raw.ts";

async function sourceFile(
  bytes: Uint8Array,
): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "netkit-strangers-" });
  const path = `${dir}/real.bin`;
  await Deno.writeFile(path, bytes);
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

function connect(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

/** What each stranger does; it returns a connection left open, if any. */
const STRANGERS: Record<
  string,
  (port: number) => Promise<Deno.Conn | undefined>
> = {
  "connect and close": async (port) => {
    (await connect(port)).close();
    return undefined;
  },
  "half a hello": async (port) => {
    const conn = await connect(port);
    await conn.write(encodeHello(new Uint8Array(32)).subarray(0, 20));
    conn.close();
    return undefined;
  },
  "hello, then close": async (port) => {
    const conn = await connect(port);
    await conn.write(encodeHello(new Uint8Array(32)));
    const reply = new Uint8Array(HELLO_BYTES);
    let got = 0;
    while (got < HELLO_BYTES) {
      const n = await conn.read(reply.subarray(got));
      assert.ok(n !== null, "the receiver answers a hello with its own");
      got += n;
    }
    conn.close();
    return undefined;
  },
  "hello, then a bad frame": async (port) => {
    const conn = await connect(port);
    await conn.write(encodeHello(new Uint8Array(32)));
    await conn.write(encodeFrame(0x55, enc.encode("garbage")));
    await readAll(conn).catch(() => {});
    conn.close();
    return undefined;
  },
  // Stays connected, one byte sent, while the real sender comes in.
  "trickle": async (port) => {
    const conn = await connect(port);
    await conn.write(encodeHello(new Uint8Array(32)).subarray(0, 1));
    return conn;
  },
};

for (const [name, stranger] of Object.entries(STRANGERS)) {
  Deno.test(`file strangers: '${name}' neither ends nor blocks a --once receiver; the real sender then succeeds`, async () => {
    await using r = await startReceiver({ once: true });
    await using src = await sourceFile(seededBytes(100_000, 9));
    const open = await stranger(r.receiver.addr.port);
    if (!open) {
      const session = await r.nextSession();
      assert.equal(session.authenticated, false);
      assert.ok(session.error, "the stranger's session failed");
    }
    const report = await sendFiles(r.receiver.addr, [src.path], {
      token: r.token,
    });
    assert.equal(report.ok, true, JSON.stringify(report.error));
    // The authenticated session, and only it, ended the receiver.
    await r.receiver.finished;
    assert.deepEqual(
      await Deno.readFile(`${r.dir}/real.bin`),
      seededBytes(100_000, 9),
    );
    open?.close();
  });
}

Deno.test("file strangers: the hello+proof deadline is not extended by trickling", async () => {
  await using r = await startReceiver({ authTimeoutMs: 500, idleTimeoutMs: 0 });
  // A valid hello, then a (wrong) AUTH, one byte every 50 ms: 81 bytes
  // would take 4 s, far past the 500 ms deadline.
  const bytes = new Uint8Array(HELLO_BYTES + 5 + 32);
  bytes.set(encodeHello(new Uint8Array(32)), 0);
  bytes.set(encodeFrame(MessageType.AUTH, new Uint8Array(32)), HELLO_BYTES);
  const conn = await connect(r.receiver.addr.port);
  let sent = 0;
  try {
    for (; sent < bytes.length; sent++) {
      await conn.write(bytes.subarray(sent, sent + 1));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch {
    // The receiver hung up on us: what the test wants.
  }
  conn.close();
  const session = await r.nextSession();
  assert.equal(session.error?.code, "timeout", JSON.stringify(session.error));
  assert.ok(sent < bytes.length, `all ${sent} bytes went out before a close`);
  assert.equal(r.receiver.stats().authTimeouts, 1);
});

Deno.test("file strangers: --max-pending drops the oldest unauthenticated connection for a newcomer", async () => {
  await using r = await startReceiver({
    maxUnauthenticated: 3,
    authTimeoutMs: 0,
    idleTimeoutMs: 0,
  });
  await using src = await sourceFile(seededBytes(5000, 1));
  const idle = [];
  for (let i = 0; i < 3; i++) idle.push(await connect(r.receiver.addr.port));
  // The oldest is dropped when the real sender arrives.
  const report = await sendFiles(r.receiver.addr, [src.path], {
    token: r.token,
  });
  assert.equal(report.ok, true, JSON.stringify(report.error));
  // Which one was dropped: the report names its address at once (waiting
  // for EOF on the wrong one would only end at the bound).
  const dropped = await waitFor(
    "the dropped connection's session",
    () => r.sessions.find((s) => /--max-pending/.test(s.error?.message ?? "")),
  );
  assert.equal(dropped.peer, formatAddress(idle[0]!.localAddr));
  assert.match(dropped.error?.message ?? "", /--max-pending/);
  assert.deepEqual(
    await readAllWithin(idle[0]!, "the dropped connection's EOF"),
    new Uint8Array(0),
  );
  assert.ok(r.receiver.stats().unauthenticatedDropped >= 1);
  for (const c of idle) c.close();
});

Deno.test("file strangers: wrong proofs from one address are answered more and more slowly", async () => {
  await using r = await startReceiver();
  // Six in a row: the hold-back grows to 1.6 s, so even on a loaded
  // machine the later guesses arrive while it lasts.
  const attempts = 6;
  for (let i = 0; i < attempts; i++) {
    const client = await RawClient.open(r.receiver.addr.port);
    await assert.rejects(client.authenticate("wrong"));
    client.close();
  }
  const sessions: ReceiveSession[] = [];
  for (let i = 0; i < attempts; i++) sessions.push(await r.nextSession());
  assert.ok(sessions.every((s) => s.error?.code === "auth_failed"));
  assert.equal(sessions[0]!.authDelayMs, undefined);
  assert.ok(
    sessions.slice(1).some((s) => (s.authDelayMs ?? 0) > 0),
    "later guesses were held back",
  );
  assert.ok(r.receiver.stats().authDelayed >= 1);
  // The right token still works (held back too, not refused).
  const client = await RawClient.open(r.receiver.addr.port);
  await client.authenticate(r.token);
  client.close();
});

Deno.test("file strangers: a stopping receiver tells an authenticated sender shutting_down", async () => {
  await using r = await startReceiver({ gracePeriodMs: 100 });
  const client = await RawClient.open(r.receiver.addr.port);
  await client.authenticate(r.token);
  await client.offer("slow.bin", 1000);
  assert.equal((await client.frame()).type, MessageType.ACCEPT);
  await client.start();
  await client.data(seededBytes(100));
  const stopping = r.receiver.shutdown();
  const notice = await client.frame();
  assert.equal(notice.type, MessageType.ERROR);
  assert.equal(decodeNotice(notice.payload).code, 17); // shutting_down
  client.close();
  await stopping;
  assert.equal(r.sessions[0]?.error?.code, "shutting_down");
});

Deno.test("file strangers: the library sender reports shutting_down, not connection_closed", async () => {
  // No grace: the notice goes out as soon as the receiver stops, however
  // fast the machine would finish the file.
  await using r = await startReceiver({ gracePeriodMs: 0 });
  await using src = await sourceFile(seededBytes(64 * 1024 * 1024, 2));
  const sending = sendFiles(r.receiver.addr, [src.path], {
    token: r.token,
    onProgress: () => void r.receiver.shutdown(),
  });
  const report = await sending;
  assert.equal(report.ok, false);
  assert.equal(report.error?.code, "shutting_down");
});

Deno.test("file strangers: a missing, non-folder or unwritable folder is refused at start with a code", () => {
  const codeOf = (dir: string) => {
    try {
      serveFileReceiver({ dir, token: "t" }).shutdown();
      return "started";
    } catch (error) {
      assert.ok(error instanceof FileTransferError, String(error));
      return error.code;
    }
  };
  assert.equal(codeOf("/nonexistent/netkit-inbox"), "not_found");
  assert.equal(codeOf("/etc/hostname"), "not_found");
  // sysfs takes no new files, not even from root.
  assert.equal(codeOf("/sys/kernel"), "not_writable");
});

Deno.test("file strangers: nothing listening is connection_refused", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await using src = await sourceFile(seededBytes(10, 1));
  const error = await sendFiles(`127.0.0.1:${port}`, [src.path], {
    token: "t",
  }).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof FileTransferError, String(error));
  assert.equal(error.code, "connection_refused");
});

Deno.test("file strangers: an AUTH header announcing a big payload is refused before any of it is awaited", async () => {
  await using r = await startReceiver({ authTimeoutMs: 0, idleTimeoutMs: 0 });
  const conn = await connect(r.receiver.addr.port);
  await conn.write(encodeHello(new Uint8Array(32)));
  const header = new Uint8Array(5);
  header[0] = MessageType.AUTH;
  new DataView(header.buffer).setUint32(1, 60_000);
  await conn.write(header);
  // The receiver answers at once (nothing more is sent): hello, then ERROR.
  const reply = await readAll(conn);
  conn.close();
  assert.equal(reply[HELLO_BYTES], MessageType.ERROR);
  assert.equal((await r.nextSession()).error?.code, "protocol_error");
});

Deno.test("file strangers: messages for the peer never name the receiver's absolute folder", () => {
  const root = "/srv/inbox";
  assert.equal(
    peerText(
      "cannot write: Permission denied: open '/srv/inbox/a/.b.netkit-part'",
      root,
    ),
    "cannot write: Permission denied: open 'a/.b.netkit-part'",
  );
  assert.equal(peerText("cannot read '/srv/inbox'", root), "cannot read '.'");
});

Deno.test("file strangers: a stopping --basic receiver tells its classic sender in text", async () => {
  await using r = await startReceiver({
    basic: true,
    token: undefined,
    gracePeriodMs: 0,
  });
  const conn = await connect(r.receiver.addr.port);
  await conn.write(enc.encode("slow.txt"));
  const ok = new Uint8Array(2);
  assert.equal(await conn.read(ok), 2);
  assert.equal(new TextDecoder().decode(ok), "ok");
  await conn.write(enc.encode("some of the content"));
  const stopping = r.receiver.shutdown();
  const said = new TextDecoder().decode(await readAll(conn));
  conn.close();
  await stopping;
  assert.equal(said, "error: the receiver is stopping\n");
  // Whatever arrived before the sender gave up is not a file.
  assert.deepEqual(await entries(r.dir), []);
});

Deno.test("file strangers: over TLS, clients that never start the handshake are reset at the auth deadline and their fds freed", async () => {
  const tls = await testTls();
  await using r = await startReceiver({
    tls: { cert: tls.cert, key: tls.key },
    authTimeoutMs: 100,
  });
  const port = r.receiver.addr.port;
  // The test's own sockets: the server's side of each silent client
  // must go, the client's side stays until the test closes it.
  const before = socketFds("self");
  const silent = await Promise.all(
    Array.from(
      { length: 5 },
      () => Deno.connect({ hostname: "127.0.0.1", port }),
    ),
  );
  try {
    for (const conn of silent) {
      assert.equal(await endOf(conn, "the auth deadline's reset"), "reset");
    }
    await waitFor(
      "the receiver to let go of every fd",
      () => socketFds("self") <= before + silent.length,
    );
    for (let i = 0; i < 5; i++) {
      const session = await r.nextSession();
      assert.equal(session.error?.code, "timeout");
    }
    assert.equal(r.receiver.stats().authTimeouts, 5);
  } finally {
    for (const conn of silent) conn.close();
  }
});

/** A wrong guess from `source`: hello and proof at once, then the answer. */
async function guessFrom(source: string, port: number): Promise<void> {
  const conn = await connectFrom(source, port);
  const hello = encodeHello(crypto.getRandomValues(new Uint8Array(32)));
  const proof = encodeFrame(
    MessageType.AUTH,
    crypto.getRandomValues(new Uint8Array(32)),
  );
  await conn.write(new Uint8Array([...hello, ...proof]));
  await conn.ended;
}

Deno.test("file strangers: guesses from many addresses are held to the global budget of wrong proofs, and logged in bounded lines", async () => {
  const summaries: StrangerSummary[] = [];
  await using r = await startReceiver({
    onStrangers: (s) => summaries.push(s),
  });
  const port = r.receiver.addr.port;
  // Every guess from its own address (127.0.20.1, 127.0.20.2, …): the
  // per-address slow-down never applies, only the global budget can.
  const guesses = GLOBAL_FAILED_PROOFS + 60;
  const sources = Array.from(
    { length: guesses },
    (_, i) => `127.0.${20 + Math.floor(i / 200)}.${(i % 200) + 1}`,
  );
  const started = performance.now();
  const workers = Array.from({ length: 32 }, async (_, w) => {
    for (let i = w; i < sources.length; i += 32) {
      await guessFrom(sources[i]!, port);
    }
  });
  await Promise.all(workers);
  const elapsed = performance.now() - started;
  const stats = r.receiver.stats();
  assert.equal(stats.authFailures, guesses);
  // Past the budget, checks waited their turn: never more wrong proofs
  // than the budget plus its refill over the time taken.
  assert.ok(stats.authDelayed > 0, "checks past the budget waited");
  assert.ok(
    stats.authFailures <=
      GLOBAL_FAILED_PROOFS +
        Math.ceil(elapsed * GLOBAL_FAILED_PROOFS / GLOBAL_WINDOW_MS),
    `${stats.authFailures} wrong proofs in ${elapsed} ms`,
  );
  await r.receiver.shutdown();
  // One line each for the first sessions, the rest summarized.
  const summarized = summaries.reduce((n, s) => n + s.sessions, 0);
  assert.ok(r.sessions.length <= 20, `${r.sessions.length} sessions reported`);
  assert.equal(r.sessions.length + summarized, guesses);
  assert.equal(
    summaries.reduce((n, s) => n + (s.codes.auth_failed ?? 0), 0),
    summarized,
  );
});

/** `n` connections from `source` that send nothing. */
async function silentFrom(
  source: string,
  port: number,
  n: number,
): Promise<SourcedConn[]> {
  const conns = [];
  for (let i = 0; i < n; i++) conns.push(await connectFrom(source, port));
  return conns;
}

/** A sender that has presented its hello and holds back its proof. */
async function helloOnly(port: number) {
  const client = await RawClient.open(port);
  const mine = encodeHello(crypto.getRandomValues(new Uint8Array(32)));
  await client.write(mine);
  const theirs = (await client.reader.exact(HELLO_BYTES)).slice();
  assert.equal(decodeHello(theirs).code, 0);
  return {
    client,
    async prove(token: string): Promise<number> {
      const keys = deriveKeys(token, mine, theirs);
      await client.write(encodeFrame(MessageType.AUTH, keys.senderProof));
      return (await client.frame()).type;
    },
  };
}

Deno.test("file strangers: a flood of connections from another address does not evict a sender's handshake", async () => {
  await using r = await startReceiver({
    maxUnauthenticated: 8,
    authTimeoutMs: 0,
  });
  const port = r.receiver.addr.port;
  const flood = await silentFrom("127.0.0.2", port, 8);
  const sender = await helloOnly(port);
  try {
    // Five times the limit more, all from 127.0.0.2.
    flood.push(...await silentFrom("127.0.0.2", port, 40));
    await waitFor(
      "the flood's evictions",
      () => r.receiver.stats().unauthenticatedDropped >= 41,
    );
    assert.equal(await sender.prove(r.token), MessageType.AUTH_OK);
  } finally {
    sender.client.close();
    for (const c of flood) c.reset();
  }
});

Deno.test("file strangers: a sender that presented its hello outlasts strangers from its own address that sent nothing", async () => {
  await using r = await startReceiver({
    maxUnauthenticated: 4,
    authTimeoutMs: 0,
  });
  const port = r.receiver.addr.port;
  const sender = await helloOnly(port);
  const flood = await silentFrom("127.0.0.1", port, 20);
  try {
    await waitFor(
      "the flood's evictions",
      () => r.receiver.stats().unauthenticatedDropped >= 17,
    );
    assert.equal(await sender.prove(r.token), MessageType.AUTH_OK);
  } finally {
    sender.client.close();
    for (const c of flood) c.reset();
  }
});
