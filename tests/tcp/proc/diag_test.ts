// sock_diag backlogs, socket owners, kernel counter deltas and the extra
// /proc/net/tcp fields: checked against the kernel and against ss.

import assert from "node:assert/strict";
import {
  parseListenDump,
  readListenQueues,
} from "../../../tcp/proc/sock_diag.ts";
import { readSocketOwners } from "../../../tcp/proc/owners.ts";
import {
  counterDeltas,
  readKernelCounters,
} from "../../../tcp/proc/counters.ts";
import { parseProcNetTcp, readTcpSockets } from "../../../tcp/proc/sockets.ts";
import { ProcError } from "../../../errors.ts";
import { hasPeer, IN_CI, ownPairs, ownRows, waitFor } from "../../_helpers.ts";

const FIXTURES = new URL("../../fixtures/proc/", import.meta.url);

Deno.test("parseProcNetTcp: rto, ato, cwnd and ssthresh from a full row; none on short rows", () => {
  const records = parseProcNetTcp(
    Deno.readTextFileSync(new URL("tcp", FIXTURES)),
    { family: 4, byteOrder: "little" },
  );
  // "... 41001 1 0000000000000000 100 0 0 10 0"
  assert.deepEqual(records[0]!.info, {
    rtoMs: 1000,
    atoMs: 0,
    cwnd: 10,
    ssthresh: 0,
  });
  // "... 41003 2 0000000000000000 20 4 30 10 -1": -1 is initial slow start.
  assert.deepEqual(records[2]!.info, {
    rtoMs: 200,
    atoMs: 40,
    cwnd: 10,
    ssthresh: null,
  });
  const synRecv = records.find((r) => r.state === "SYN_RECV")!;
  assert.equal(synRecv.info, undefined);
});

/** One netlink message holding one inet_diag_msg. */
function diagMessage(
  port: number,
  rqueue: number,
  wqueue: number,
  inode: number,
): Uint8Array {
  const buf = new Uint8Array(16 + 72);
  const v = new DataView(buf.buffer);
  v.setUint32(0, buf.length, true);
  v.setUint16(4, 20, true); // SOCK_DIAG_BY_FAMILY
  v.setUint16(16 + 4, port, false);
  v.setUint32(16 + 56, rqueue, true);
  v.setUint32(16 + 60, wqueue, true);
  v.setUint32(16 + 68, inode, true);
  return buf;
}

Deno.test("parseListenDump: inet_diag_msg records, DONE, ERROR and a bad length", () => {
  const one = parseListenDump(diagMessage(8080, 3, 2, 4242));
  assert.deepEqual(one, {
    queues: [{ port: 8080, acceptQueue: 3, backlog: 2, inode: 4242 }],
    done: false,
  });
  const error = new Uint8Array(20);
  new DataView(error.buffer).setUint32(0, 20, true);
  new DataView(error.buffer).setUint16(4, 2, true); // NLMSG_ERROR
  new DataView(error.buffer).setInt32(16, -13, true);
  assert.throws(
    () => parseListenDump(error),
    (e: unknown) =>
      e instanceof ProcError && e.code === "proc_unavailable" &&
      /errno 13/.test(e.message),
  );
  const bad = diagMessage(1, 0, 0, 1);
  new DataView(bad.buffer).setUint32(0, 9999, true);
  assert.throws(
    () => parseListenDump(bad),
    (e: unknown) => e instanceof ProcError && e.code === "proc_parse",
  );
});

Deno.test({
  name:
    "readListenQueues: accept queue and backlog equal ss -ltn's Recv-Q and Send-Q",
  ignore: !hasPeer("ss") && !IN_CI,
  async fn() {
    using listener = Deno.listen({
      hostname: "127.0.0.1",
      port: 0,
      tcpBacklog: 5,
    });
    const port = listener.addr.port;
    const clients = [
      await Deno.connect({ hostname: "127.0.0.1", port }),
      await Deno.connect({ hostname: "127.0.0.1", port }),
    ];
    try {
      // Our listener by its exact address (another program may listen on
      // the same port number on ::1), once both clients are queued.
      const pairs = ownPairs(listener);
      const [row] = await waitFor("2 in the accept queue", async () => {
        const own = ownRows(
          await readTcpSockets({ sport: port, state: "LISTEN" }),
          pairs,
        );
        return own[0]?.acceptQueue === 2 && own;
      });
      const q = readListenQueues().get(row!.inode);
      const ss = await new Deno.Command("ss", {
        args: ["-ltnH", `src 127.0.0.1:${port}`],
        stdout: "piped",
      }).output();
      const f = new TextDecoder().decode(ss.stdout).trim().split(/\s+/);
      assert.deepEqual(
        [q?.acceptQueue, q?.backlog, q?.port],
        [Number(f[1]), Number(f[2]), port],
      );
      assert.equal(q?.backlog, 5);
    } finally {
      for (const c of clients) c.close();
    }
  },
});

Deno.test("readSocketOwners: this process holds its listener and both ends of a connection", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  const server = await listener.accept();
  try {
    // Only ours: a TIME_WAIT socket (no owner) may hold the port too.
    const rows = ownRows(
      await readTcpSockets({ port }),
      ownPairs(listener, client, server),
    );
    const owners = await readSocketOwners();
    assert.equal(rows.length, 3);
    for (const r of rows) {
      assert.deepEqual(
        owners.get(r.inode)?.map((o) => o.pid),
        [Deno.pid],
        `${r.state} ${r.local.port}`,
      );
    }
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("readKernelCounters and counterDeltas: a connection moves TcpActiveOpens and TcpPassiveOpens", async () => {
  const before = await readKernelCounters();
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  const server = await listener.accept();
  client.close();
  server.close();
  const moved = counterDeltas(before, await readKernelCounters());
  assert.ok(moved.TcpActiveOpens! >= 1, JSON.stringify(moved));
  assert.ok(moved.TcpPassiveOpens! >= 1);
  assert.ok(Object.values(moved).every((v) => v !== 0));
});
