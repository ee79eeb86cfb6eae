// Scenarios of the end of a connection: close, close-wait, time-wait, reset.

import { type Recorder, startRecorder } from "./_recorder.ts";
import { connect, find, listen, stateOf } from "./_sockets.ts";
import { closeQuietly, writeAll } from "../../_io.ts";
import { readProcText } from "../../_proc.ts";
import { readSocketOwners } from "../proc/mod.ts";
import type { LabOptions, LabReport } from "./types.ts";
import { nft, variant, type Where } from "./_child.ts";

const enc = new TextEncoder();

/** The four-way close, with a half-close in the middle. */
export async function closeScenario(
  options: LabOptions,
  where: Where,
): Promise<LabReport> {
  const rec = await startRecorder("close", options);
  await closePlain(rec);
  await variant(rec, where, {
    prefix: "[ACKs held] ",
    what:
      "FIN_WAIT1 and LAST_ACK held long enough to see (nftables dropping ACKs in a private namespace)",
    run: () => closeHeld(rec),
  });
  return await rec.finish({
    why:
      "TCP closes each direction separately. The side that sends the first FIN (the active closer) goes FIN_WAIT1 → FIN_WAIT2 when it is ACKed, and may keep reading: that is a half-close. The other side sits in CLOSE_WAIT until its application calls close(), then LAST_ACK until its FIN is ACKed. The active closer then waits in TIME_WAIT for 2×MSL (60 s on Linux) so late segments of this connection cannot be taken for a new one with the same ports.",
    change:
      "Nothing here is a fault. Use shutdown(SHUT_WR) (Deno: closeWrite()) to say 'no more requests' while still reading replies, and read with conn.read() loops, not conn.readable, which closes the whole socket at EOF. CLOSE_WAIT that lasts means the application forgot close() (see close-wait); TIME_WAIT belongs to whoever closes first (see time-wait).",
  });
}

/** The four-way close with a half-close, on plain loopback. */
async function closePlain(rec: Recorder): Promise<void> {
  using listener = listen();
  const port = listener.addr.port;
  rec.watch(port);
  const client = await connect(port);
  const server = await listener.accept();
  const cport = client.localAddr.port;
  rec.name(cport, "client");
  try {
    await rec.waitFor(
      (s) =>
        stateOf(s, cport, port) === "ESTABLISHED" &&
        stateOf(s, port, cport) === "ESTABLISHED",
      "both ends ESTABLISHED",
    );
    await rec.step("connected and accepted: both ends ESTABLISHED");

    await client.closeWrite();
    await rec.waitFor(
      (s) =>
        stateOf(s, cport, port) === "FIN_WAIT2" &&
        stateOf(s, port, cport) === "CLOSE_WAIT",
      "client FIN_WAIT2 and server CLOSE_WAIT",
    );
    await rec.step(
      "client shutdown(SHUT_WR): its FIN was sent and ACKed (FIN_WAIT1 lasts one round trip, too short to see on loopback): client FIN_WAIT2, server CLOSE_WAIT",
    );

    const eof = await server.read(new Uint8Array(16));
    rec.outcome(eof === null ? "server read EOF" : "server read data");
    await writeAll(server, enc.encode("still talking after your FIN\n"));
    const got = await client.read(new Uint8Array(64));
    rec.outcome(
      got !== null && got > 0
        ? "half-close: client read after its FIN"
        : "half-close failed",
    );
    await rec.step(
      `half-close: the server read EOF, then wrote ${
        got ?? 0
      } bytes that the client (FIN_WAIT2) still read`,
    );

    server.close();
    const end = await rec.waitFor(
      (s) =>
        stateOf(s, cport, port) === "TIME_WAIT" &&
        find(s, port, cport) === undefined,
      "client TIME_WAIT and the server's socket gone",
    );
    await rec.step(
      "server close(): its FIN went out (LAST_ACK until the client's ACK, one round trip); client TIME_WAIT, server's socket gone",
    );
    rec.fact("clientTimeWait", find(end, cport, port)?.state === "TIME_WAIT");
    rec.fact(
      "timeWaitRemainingMs",
      find(end, cport, port)?.timer.remainingMs ?? 0,
    );
  } finally {
    closeQuietly(client);
    closeQuietly(server);
  }
}

/**
 * In the lab's namespace: the ACKs of each FIN are dropped for a while, so
 * the states that last one round trip on loopback (FIN_WAIT1, LAST_ACK) stay.
 */
async function closeHeld(rec: Recorder): Promise<void> {
  using listener = listen();
  const port = listener.addr.port;
  rec.watch(port);
  const client = await connect(port);
  const server = await listener.accept();
  const cport = client.localAddr.port;
  rec.name(cport, "client");
  const dropAcks = (from: number, to: number) =>
    `table inet netkit_lab {
  chain input {
    type filter hook input priority 0;
    tcp sport ${from} tcp dport ${to} tcp flags & (syn | ack | fin) == ack drop
  }
}
`;
  try {
    await nft(dropAcks(port, cport));
    await client.closeWrite();
    await rec.waitFor(
      (s) =>
        stateOf(s, cport, port) === "FIN_WAIT1" &&
        stateOf(s, port, cport) === "CLOSE_WAIT",
      "client FIN_WAIT1 and server CLOSE_WAIT",
    );
    await rec.step(
      "client shutdown(SHUT_WR): its FIN arrived (server CLOSE_WAIT) but the server's ACK is dropped: the client stays in FIN_WAIT1 and retransmits the FIN",
    );
    await nft("delete table inet netkit_lab\n");
    await rec.waitFor(
      (s) => stateOf(s, cport, port) === "FIN_WAIT2",
      "client FIN_WAIT2 after a retransmitted FIN",
    );
    await rec.step(
      "ACKs pass again: the retransmitted FIN is ACKed, the client moves to FIN_WAIT2",
    );
    await nft(dropAcks(cport, port));
    server.close();
    await rec.waitFor(
      (s) =>
        stateOf(s, port, cport) === "LAST_ACK" &&
        stateOf(s, cport, port) === "TIME_WAIT",
      "server LAST_ACK and client TIME_WAIT",
    );
    await rec.step(
      "server close(): its FIN reaches the client (TIME_WAIT) but the client's ACK is dropped: the server stays in LAST_ACK and retransmits its FIN",
    );
    await nft("delete table inet netkit_lab\n");
    await rec.waitFor(
      (s) => find(s, port, cport) === undefined,
      "the server's socket gone",
    );
    await rec.step(
      "ACKs pass again: the client (TIME_WAIT) ACKs the retransmitted FIN and the server's socket is gone",
    );
    rec.outcome(
      "states seen: FIN_WAIT1, FIN_WAIT2, TIME_WAIT; CLOSE_WAIT, LAST_ACK",
    );
  } finally {
    await nft("delete table inet netkit_lab\n").catch(() => {});
    closeQuietly(client);
    closeQuietly(server);
  }
}

/** Connections the server never closes: CLOSE_WAIT, owned by this process. */
export async function closeWaitScenario(
  options: LabOptions = {},
): Promise<LabReport> {
  const count = options.clients ?? 5;
  const rec = await startRecorder("close-wait", options);
  using listener = listen();
  const port = listener.addr.port;
  rec.watch(port);
  const held: Deno.Conn[] = [];
  const fdsBefore = await countFds();
  rec.fact("pid", Deno.pid);
  rec.fact("fdsBefore", fdsBefore);
  try {
    for (let i = 1; i <= count; i++) {
      const client = await connect(port);
      const cport = client.localAddr.port;
      rec.name(cport, `client ${i}`);
      held.push(await listener.accept());
      client.close();
      await rec.waitFor(
        (s) => stateOf(s, port, cport) === "CLOSE_WAIT",
        `server for client ${i} in CLOSE_WAIT`,
      );
      await rec.step(
        `client ${i} closed; the server never calls close(): CLOSE_WAIT, ${await countFds()} descriptors open in pid ${Deno.pid}`,
      );
    }
    const sockets = await rec.sockets();
    const owners = await readSocketOwners();
    const waiting = sockets.filter((s) => s.state === "CLOSE_WAIT");
    const ours = waiting.filter((s) =>
      owners.get(s.inode)?.some((o) => o.pid === Deno.pid)
    );
    rec.outcome("CLOSE_WAIT", waiting.length);
    rec.fact("closeWaitOwnedByLab", ours.length);
    rec.fact("fdsHoldingCloseWait", await countFds());
    for (const conn of held.splice(0)) conn.close();
    await rec.waitFor(
      (s) => !s.some((x) => x.state === "CLOSE_WAIT"),
      "no CLOSE_WAIT after close()",
    );
    rec.fact("fdsAfterClose", await countFds());
    await rec.step(
      "the server finally calls close(): CLOSE_WAIT → LAST_ACK → gone; the clients hold TIME_WAIT",
    );
  } finally {
    for (const conn of held) closeQuietly(conn);
  }
  return await rec.finish({
    why:
      "CLOSE_WAIT means the peer has closed (its FIN arrived) and this side's application has not called close(). The kernel cannot finish the connection on its own: each one keeps a socket, a descriptor and its buffers until the owning process closes it or exits, so the descriptor count only rises and the process ends in EMFILE.",
    change:
      "Find the owner ('netkit tcp states --state CLOSE_WAIT --process') and fix the code path that returns without closing: close on EOF (read() returning null), on errors and on timeouts (try/finally, `using`); add idle timeouts so a forgotten connection is closed anyway.",
  });
}

async function countFds(): Promise<number> {
  let n = 0;
  for await (const _ of Deno.readDir("/proc/self/fd")) n++;
  return n - 1;
}

/** TIME_WAIT lands on the side that closes first. */
export async function timeWaitScenario(
  options: LabOptions = {},
): Promise<LabReport> {
  const rec = await startRecorder("time-wait", options);
  using listener = listen();
  const port = listener.addr.port;
  rec.watch(port);
  for (const closer of ["client", "server"] as const) {
    const client = await connect(port);
    const server = await listener.accept();
    const cport = client.localAddr.port;
    rec.name(cport, `client (${closer} closes first)`);
    try {
      const [first, second] = closer === "client"
        ? [client, server]
        : [server, client];
      first.close();
      await second.read(new Uint8Array(1)).catch(() => null);
      second.close();
      const [closerLocal, closerRemote] = closer === "client"
        ? [cport, port]
        : [port, cport];
      const seen = await rec.waitFor(
        (s) =>
          stateOf(s, closerLocal, closerRemote) === "TIME_WAIT" &&
          find(s, closerRemote, closerLocal) === undefined,
        `TIME_WAIT on the ${closer} only`,
      );
      await rec.step(
        `the ${closer} closed first: TIME_WAIT on the ${closer}'s socket (${closerLocal}→${closerRemote}), nothing left on the other side`,
      );
      rec.outcome(`TIME_WAIT on ${closer}`);
      // Where TIME_WAIT is for this pair: "client:TIME_WAIT server:gone".
      rec.fact(
        `${closer}ClosesFirst`,
        `client:${stateOf(seen, cport, port)} server:${
          stateOf(seen, port, cport)
        }`,
      );
    } finally {
      closeQuietly(client);
      closeQuietly(server);
    }
  }
  const range = (await readProcText("/proc/sys/net/ipv4/ip_local_port_range"))
    ?.trim().split(/\s+/).map(Number) ?? [];
  const reuse = (await readProcText("/proc/sys/net/ipv4/tcp_tw_reuse"))?.trim();
  if (range.length === 2) {
    rec.fact("localPortRange", `${range[0]}-${range[1]}`);
    rec.fact("localPorts", range[1]! - range[0]! + 1);
  }
  if (reuse !== undefined) rec.fact("tcpTwReuse", Number(reuse));
  return await rec.finish({
    why:
      `TIME_WAIT is kept by whichever side sends the first FIN, for 60 s on Linux, so that stray segments of the old connection die before the same four-tuple (addresses and ports) is used again. A client that closes first spends one of its ephemeral ports per connection (net.ipv4.ip_local_port_range${
        range.length === 2
          ? ` = ${range[0]}-${range[1]}, ${range[1]! - range[0]! + 1} ports`
          : ""
      }) toward one server address and port: about ${
        range.length === 2 ? Math.floor((range[1]! - range[0]! + 1) / 60) : 470
      } new connections per second before connect() fails with EADDRNOTAVAIL. A server that closes first holds TIME_WAIT itself, which costs it only memory.`,
    change:
      "Reuse connections (HTTP keep-alive, pools) instead of opening one per request. Let the client close first when it can. net.ipv4.tcp_tw_reuse=1 lets new outgoing connections reuse TIME_WAIT ports safely when TCP timestamps are on (2, the default, does that for loopback only); widen ip_local_port_range for heavy clients. Do not shorten TIME_WAIT with SO_LINGER 0: that sends RST instead of a close.",
  });
}
