import assert from "node:assert/strict";
import {
  parseProcNetUnix,
  readUnixSockets,
} from "../../../tcp/proc/unix_sockets.ts";
import { readSocketOwners } from "../../../tcp/proc/owners.ts";
import { ProcError } from "../../../errors.ts";
import { waitFor } from "../../_helpers.ts";

const fixture = Deno.readTextFileSync(
  new URL("../../fixtures/proc/unix", import.meta.url),
);

Deno.test("parseProcNetUnix: types, states as ss names them, paths as they are", () => {
  const rows = parseProcNetUnix(fixture);
  assert.deepEqual(
    rows.map((r) => [r.type, r.state, r.path, r.inode]),
    [
      ["stream", "LISTEN", "/run/app.sock", 30001],
      ["stream", "ESTABLISHED", "/run/app.sock", 30002],
      ["stream", "ESTABLISHED", null, 3003],
      ["dgram", "CLOSE", "@abstract@name", 30004],
      ["seqpacket", "LISTEN", "/tmp/with space.sock", 30005],
      // A path with a newline in it continues on the next line.
      ["stream", "LISTEN", "/tmp/evil\nsecond line of its name\x1b[2J", 30006],
      ["stream", "SYN_SENT", null, 30007],
      ["dgram", "CLOSING", null, 30008],
    ],
  );
  assert.equal(rows[1]!.refCount, 3);
});

Deno.test("parseProcNetUnix: a line that is neither a row nor a path's rest names the line", () => {
  const bad = [
    "Num       RefCount Protocol Flags    Type St Inode Path",
    "0000000000000000: 00000002 00000000 00000000 0001 01 30001",
    "garbage",
  ].join("\n");
  assert.throws(
    () => parseProcNetUnix(bad),
    (e: unknown) =>
      e instanceof ProcError && e.code === "proc_parse" &&
      e.message === "/proc/net/unix: line 3: not a socket row: 'garbage'",
  );
  // An unknown socket type is not a row either.
  assert.throws(
    () =>
      parseProcNetUnix(
        "0000000000000000: 00000002 00000000 00000000 0009 01 30001\n",
      ),
    /line 1: not a socket row/,
  );
});

Deno.test("live: this process's Unix listener and connection, by path and inode", async () => {
  const dir = await Deno.makeTempDir({ prefix: "netkit-unix-" });
  const path = `${dir}/s.sock`;
  try {
    using listener = Deno.listen({ transport: "unix", path });
    using _client = await Deno.connect({ transport: "unix", path });
    using _server = await listener.accept();
    const mine = await waitFor("the listener in /proc/net/unix", async () => {
      const rows = (await readUnixSockets()).filter((r) => r.path === path);
      // The listener and the accepted end both carry the bound path.
      return rows.length === 2 && rows;
    });
    // Sorted: LISTEN first.
    assert.deepEqual(mine.map((r) => r.state), ["LISTEN", "ESTABLISHED"]);
    const listening = await readUnixSockets({ state: ["LISTEN"] });
    assert.ok(listening.every((r) => r.state === "LISTEN"));
    assert.ok(listening.some((r) => r.path === path));
    const owners = await readSocketOwners();
    assert.ok(
      owners.get(mine[0]!.inode)?.some((o) => o.pid === Deno.pid),
      "this process holds the listener",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
