// The checks first done by hand on protocol version 1, as tests on the
// current protocol with the real CLI: two senders of the same name at
// once, a receiver whose disk fills up, a receiver stopped with SIGTERM in
// the middle of a transfer (then resumed). A sender killed with SIGKILL
// and resumed is "file cli: a sender killed midway…" in file_cli_test.ts.

import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import {
  IN_CI,
  runCli,
  seededBytes,
  startCli,
  WAIT_MS,
  waitFor,
  withDirs,
  withTimeout,
} from "../_helpers.ts";

const TOKEN = "a-token-for-the-v2-checks";

function sendArgs(port: number, path: string, ...more: string[]): string[] {
  return [
    "file",
    "send",
    `127.0.0.1:${port}`,
    path,
    "--token",
    TOKEN,
    ...more,
  ];
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) {
    off += await conn.write(bytes.subarray(off));
  }
}

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

Deno.test("file v2: two senders of the same name at once: one file, whole, from one of them; the other is told why", async () => {
  await withDirs("v2", async (src, dst) => {
    const a = seededBytes(24 * 1024 * 1024, 1);
    const b = seededBytes(24 * 1024 * 1024, 2);
    await Deno.mkdir(`${src}/a`);
    await Deno.mkdir(`${src}/b`);
    await Deno.writeFile(`${src}/a/same.bin`, a);
    await Deno.writeFile(`${src}/b/same.bin`, b);
    await using recv = await startCli([
      "file",
      "recv",
      "--port",
      "0",
      "--dir",
      dst,
      "--token",
      TOKEN,
    ]);
    const port = recv.ports.tcp!;
    const [ra, rb] = await Promise.all([
      runCli(sendArgs(port, `${src}/a/same.bin`, "--json")),
      runCli(sendArgs(port, `${src}/b/same.bin`, "--json")),
    ]);
    const codes = [ra.code, rb.code].sort();
    assert.deepEqual(codes, [0, 1], `${ra.stderr}\n${rb.stderr}`);
    const loser = ra.code === 1 ? ra : rb;
    const report = JSON.parse(loser.stdout);
    // At once: busy; one after the other: the file exists.
    assert.match(report.files[0].error.code, /^(busy|exists)$/);
    assert.deepEqual(names(dst), ["same.bin"]);
    const stored = await Deno.readFile(`${dst}/same.bin`);
    assert.ok(
      equal(stored, ra.code === 0 ? a : b),
      "the stored file is the winner's, whole",
    );
  });
});

/**
 * A TCP forwarder that passes the sender's first `limit` bytes to the
 * receiver, then stops reading from the sender (the receiver's replies keep
 * flowing) until `release()`: a transfer held in its middle, by bytes, not
 * by time.
 */
function holdAfter(targetPort: number, limit: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held = Promise.withResolvers<void>();
  const released = Promise.withResolvers<void>();
  const conns: Deno.Conn[] = [];
  const done = (async () => {
    const client = await listener.accept();
    const server = await Deno.connect({
      hostname: "127.0.0.1",
      port: targetPort,
    });
    conns.push(client, server);
    const back = server.readable.pipeTo(client.writable).catch(() => {});
    const buf = new Uint8Array(64 * 1024);
    let passed = 0;
    try {
      while (passed < limit) {
        const n = await client.read(
          buf.subarray(0, Math.min(buf.length, limit - passed)),
        );
        if (n === null) break;
        await writeAll(server, buf.subarray(0, n));
        passed += n;
      }
    } catch {
      // Either side went away.
    }
    held.resolve();
    await released.promise;
    try {
      while (true) {
        const n = await client.read(buf);
        if (n === null) break;
        await writeAll(server, buf.subarray(0, n));
      }
      await server.closeWrite();
    } catch {
      // Either side went away.
    }
    await back;
  })();
  return {
    port: listener.addr.port,
    held: held.promise,
    release: () => released.resolve(),
    async [Symbol.asyncDispose]() {
      released.resolve();
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // Closed already.
        }
      }
      await done.catch(() => {});
    },
  };
}

/** Runs `args` as root in a private mount namespace with `dir` on a tmpfs of `size`. */
function onSmallDisk(dir: string, size: string, args: string[]) {
  const task = denoJson.tasks.netkit.split(/\s+/).slice(1);
  const netkit = [Deno.execPath(), ...task, ...args]
    .map((w) => `'${w.replaceAll("'", `'\\''`)}'`).join(" ");
  return {
    cmd: "unshare",
    args: [
      "-m",
      "sh",
      "-c",
      `mount -t tmpfs -o size=${size} tmpfs '${dir}' && exec ${netkit}`,
    ],
  };
}

function canMount(): boolean {
  if (Deno.uid() === 0) return true;
  if (IN_CI) throw new Error("the disk-full check needs root (unshare -m)");
  return false;
}

Deno.test({
  name:
    "file v2: a full disk refuses the file with disk_error, leaves no part file, and the receiver serves the next sender",
  ignore: !canMount(),
}, async () => {
  await withDirs("v2", async (src, dst) => {
    await Deno.writeFile(`${src}/big.bin`, seededBytes(8 * 1024 * 1024, 3));
    await Deno.writeFile(`${src}/small.bin`, seededBytes(1000, 4));
    const args = [
      "file",
      "recv",
      "--port",
      "0",
      "--dir",
      dst,
      "--token",
      TOKEN,
    ];
    await using recv = await startCli(args, {
      command: onSmallDisk(dst, "4500k", args),
    });
    const port = recv.ports.tcp!;
    // Held once the fifth 1 MiB frame is in (and less than a frame more,
    // for the hellos, proof and FILE): its write, at 4 MiB, fills the disk
    // and fails while the receiver waits for the sixth. That once took the
    // whole receiver down.
    const frame = 2 ** 20 + 5 + 16;
    await using hold = holdAfter(port, 5 * frame + 1024);
    const sending = runCli(sendArgs(hold.port, `${src}/big.bin`, "--json"));
    await withTimeout(hold.held, WAIT_MS, "5 MiB to reach the receiver");
    const part = `/proc/${recv.process.pid}/root${dst}/.big.bin.netkit-part`;
    await waitFor(
      "the disk to fill",
      async () =>
        (await Deno.stat(part).catch(() => ({ size: 0 }))).size >=
          3.5 * 2 ** 20,
    );
    hold.release();
    const big = await sending;
    assert.equal(big.code, 1, big.stderr);
    assert.ok(big.stdout, `no report on stdout; stderr: ${big.stderr}`);
    const failed = JSON.parse(big.stdout).files[0];
    assert.equal(
      failed.error.code,
      "disk_error",
      `sender: ${big.stdout}\n${big.stderr}\nreceiver: ${recv.stderr()}`,
    );
    assert.match(failed.error.message, /no space left on device/i);
    const small = await runCli(sendArgs(port, `${src}/small.bin`, "--json"));
    assert.equal(small.code, 0, small.stderr);
    // The tmpfs is in the receiver's namespace: list it from there.
    const pid = recv.process.pid;
    assert.deepEqual(names(`/proc/${pid}/root${dst}`), ["small.bin"]);
    const r = await recv.stop();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /refused big\.bin .*disk_error/);
  });
});

Deno.test("file v2: SIGTERM of the receiver mid-transfer: the sender is told, the part file is kept, and the next run resumes to an identical file", async () => {
  await withDirs("v2", async (src, dst) => {
    const data = seededBytes(24 * 1024 * 1024, 5);
    await Deno.writeFile(`${src}/big.bin`, data);
    const args = [
      "file",
      "recv",
      "--port",
      "0",
      "--dir",
      dst,
      "--token",
      TOKEN,
      "--grace",
      "0",
    ];
    const recv = await startCli(args);
    await using hold = holdAfter(recv.ports.tcp!, 8 * 1024 * 1024);
    const sending = runCli(sendArgs(hold.port, `${src}/big.bin`));
    await withTimeout(hold.held, WAIT_MS, "8 MiB to reach the receiver");
    const stopped = await recv.stop("SIGTERM");
    assert.equal(stopped.code, 0, stopped.stderr);
    const sent = await sending;
    assert.equal(sent.code, 1, sent.stderr);
    assert.match(sent.stderr, /shutting_down|the receiver (is )?stop/);
    assert.deepEqual(names(dst), [".big.bin.netkit-part"]);

    await using again = await startCli(args);
    const resumed = await runCli(
      sendArgs(again.ports.tcp!, `${src}/big.bin`, "--json"),
    );
    assert.equal(resumed.code, 0, resumed.stderr);
    const report = JSON.parse(resumed.stdout);
    assert.ok(report.files[0].resumedFrom > 0, JSON.stringify(report));
    assert.ok(equal(await Deno.readFile(`${dst}/big.bin`), data));
    assert.deepEqual(names(dst), ["big.bin"]);
  });
});
