// Scenarios of the start of a connection: handshake, accept-overflow,
// syn-retries.

import { type Recorder, startRecorder } from "./_recorder.ts";
import { connect, find, listen } from "./_sockets.ts";
import { nft, setSysctl, variant, type Where } from "./_child.ts";
import { closeQuietly, delay, errorMessage, writeAll } from "../../_io.ts";
import { readProcText } from "../../_proc.ts";
import { synRecvTimes, type TcpSocketRecord } from "../proc/mod.ts";
import type { LabOptions, LabPacket, LabReport } from "./types.ts";

/** How long a client that the kernel keeps retrying is left to retry. */
const RETRY_WATCH_MS = 4000;

/** connect() and accept(), step by step. */
export async function handshakeScenario(
  options: LabOptions,
  where: Where,
): Promise<LabReport> {
  const rec = await startRecorder("handshake", options);
  await handshakePlain(rec);
  await variant(rec, where, {
    prefix: "[packets held] ",
    what:
      "the slowed-down handshake (SYN_SENT, SYN_RECV): on loopback it completes in microseconds, and holding it needs nftables in a private namespace",
    run: () => handshakeHeld(rec),
  });
  return await rec.finish({
    why:
      "The kernel runs the three-way handshake by itself: a SYN creates a half-open request (SYN_RECV) in the listener's SYN queue, the final ACK turns it into a full ESTABLISHED socket in the accept queue, and only then does accept() have anything to take. connect() returns as soon as the client has the SYN-ACK. So a connection can be 'up' for the client while the server's application has never seen it; and when the accept queue is full the kernel drops new SYNs, leaving clients in SYN_SENT.",
    change:
      "Judge a server's health by its accept queue ('netkit tcp states --state LISTEN': accept queue against backlog), not by whether clients connect. Accept promptly (a dedicated accept loop), and size the backlog for bursts.",
  });
}

/** The handshake on plain loopback: queued before accept(), a full queue leaves SYN_SENT. */
async function handshakePlain(rec: Recorder): Promise<void> {
  using listener = listen(4);
  const port = listener.addr.port;
  rec.watch(port);
  await rec.step(
    `listen(127.0.0.1:${port}, backlog 4): one LISTEN socket, accept queue 0`,
  );
  const client = await connect(port);
  const cport = client.localAddr.port;
  rec.name(cport, "client");
  const conns: Deno.Conn[] = [client];
  const pending = new AbortController();
  try {
    await rec.waitFor(
      (s) => s.find((x) => x.state === "LISTEN")?.acceptQueue === 1,
      "the connection in the accept queue",
    );
    await rec.step(
      "client connect() returned: SYN → SYN-ACK → ACK is done, in the kernel. The server's end is ESTABLISHED and waits in the accept queue (Recv-Q 1); the server has not called accept()",
    );
    rec.outcome("connected before accept()");
    conns.push(await listener.accept());
    await rec.waitFor(
      (s) => s.find((x) => x.state === "LISTEN")?.acceptQueue === 0,
      "an empty accept queue",
    );
    await rec.step(
      "accept() returned the connection the kernel had completed; the accept queue is empty again",
    );

    // A listener with backlog 0 holds one connection; the next SYN is dropped.
    using full = listen(0);
    const fport = full.addr.port;
    rec.watch(fport);
    const filler = await connect(fport);
    conns.push(filler);
    rec.name(filler.localAddr.port, "client 1 (fills the queue)");
    const waiting = connect(fport, pending.signal);
    waiting.catch(() => {});
    const seen = await rec.waitFor(
      (s) => s.some((x) => x.state === "SYN_SENT" && x.remote.port === fport),
      "a client in SYN_SENT",
    );
    const synSent = seen.find((x) => x.state === "SYN_SENT")!;
    rec.name(synSent.local.port, "client 2");
    await rec.step(
      `client 2 connect()s to a second listener (backlog 0) whose accept queue already holds its 1 connection: the kernel dropped the SYN, so client 2 sits in SYN_SENT and will retransmit it`,
    );
    rec.outcome("SYN_SENT (SYN dropped, queue full)");
    pending.abort();
    await waiting.catch(() => {});
    rec.fact("synSentSeen", true);
  } finally {
    pending.abort();
    for (const c of conns) closeQuietly(c);
  }
}

/**
 * In the lab's namespace: the handshake slowed down by nftables so every
 * state can be seen: SYN-ACKs dropped (client SYN_SENT, server SYN_RECV),
 * then final ACKs dropped (client ESTABLISHED, server still SYN_RECV), then
 * nothing dropped (the server's end joins the accept queue), then accept().
 */
async function handshakeHeld(rec: Recorder): Promise<void> {
  using listener = listen(4);
  const port = listener.addr.port;
  rec.watch(port);
  const rule = (match: string) =>
    `table inet netkit_lab {
  chain input {
    type filter hook input priority 0;
    ${match}
  }
}
`;
  await nft(
    rule(`tcp sport ${port} tcp flags & (syn | ack) == syn | ack drop`),
  );
  const conns: Deno.Conn[] = [];
  const connecting = connect(port);
  connecting.catch(() => {});
  try {
    const seen = await rec.waitFor(
      (s) =>
        s.some((x) => x.state === "SYN_SENT") &&
        s.some((x) => x.state === "SYN_RECV"),
      "SYN_SENT and SYN_RECV",
    );
    rec.name(seen.find((x) => x.state === "SYN_SENT")!.local.port, "client");
    await rec.step(
      "connect(): the SYN arrived (the server holds a half-open SYN_RECV request) but nftables drops the SYN-ACK: the client waits in SYN_SENT",
    );
    await nft(
      "delete table inet netkit_lab\n" +
        rule(`tcp dport ${port} tcp flags & (syn | ack) == ack drop`),
    );
    const client = await connecting;
    conns.push(client);
    await rec.waitFor(
      (s) => s.some((x) => x.state === "SYN_RECV"),
      "the server still in SYN_RECV",
    );
    await rec.step(
      "the client retransmitted its SYN (about 1 s), got the SYN-ACK and connect() returned: client ESTABLISHED; its final ACK is dropped, so the server is still SYN_RECV and accept() has nothing",
    );
    await nft("delete table inet netkit_lab\n");
    await writeAll(client, new TextEncoder().encode("hello\n"));
    await rec.waitFor(
      (s) => s.find((x) => x.state === "LISTEN")?.acceptQueue === 1,
      "the connection in the accept queue",
    );
    await rec.step(
      "nothing dropped any more: the client's data carries the ACK, the server's end becomes ESTABLISHED and joins the accept queue (recv-Q 1)",
    );
    conns.push(await listener.accept());
    await rec.step("accept() takes it: the accept queue is empty again");
    rec.outcome("states seen: SYN_SENT, SYN_RECV, ESTABLISHED");
  } finally {
    await nft("delete table inet netkit_lab\n").catch(() => {});
    await connecting.catch(() => {});
    for (const c of conns) closeQuietly(c);
  }
}

/** A listener that never accepts. */
export async function acceptOverflowScenario(
  options: LabOptions,
  where: Where,
): Promise<LabReport> {
  const backlog = options.backlog ?? 2;
  const clients = options.clients ?? backlog + 4;
  const rec = await startRecorder("accept-overflow", options);
  await acceptOverflowPlain(rec, backlog, clients);
  await variant(rec, where, {
    prefix: "[tcp_abort_on_overflow=1] ",
    what: "the tcp_abort_on_overflow=1 variant",
    run: () => abortOnOverflow(rec, backlog),
  });
  return await rec.finish({
    why:
      `The accept queue holds connections the kernel has completed and the application has not accept()ed. Its limit is the listen() backlog (capped by net.core.somaxconn), and it is full only when it holds MORE than the backlog, so backlog ${backlog} holds ${
        backlog + 1
      }. With the queue full the kernel drops new SYNs (ListenOverflows and ListenDrops count them) and the clients retransmit them after 1, 2, 4… s: connect() hangs. Clients already queued connected fine, but nobody reads their requests: they hang too. With net.ipv4.tcp_abort_on_overflow=1 a handshake that completes into a full queue is answered with RST instead: 'connection reset by peer'.`,
    change:
      "Accept faster than connections arrive (a dedicated accept loop, no blocking work before accept()), raise the backlog (Deno.listen({tcpBacklog}), default 511) and net.core.somaxconn together, and watch 'netkit tcp states --state LISTEN' (accept queue vs backlog) and TcpExtListenOverflows. Keep tcp_abort_on_overflow=0 unless clients should fail fast rather than retry.",
  });
}

/** The overflow itself: backlog+1 queued, the later SYNs dropped. */
async function acceptOverflowPlain(
  rec: Recorder,
  backlog: number,
  clients: number,
): Promise<void> {
  using listener = listen(backlog);
  const port = listener.addr.port;
  rec.watch(port);
  rec.fact("backlog", backlog);
  rec.fact("clients", clients);
  const somaxconn = Number(
    (await readProcText("/proc/sys/net/core/somaxconn"))?.trim() ?? NaN,
  );
  if (Number.isFinite(somaxconn)) rec.fact("somaxconn", somaxconn);
  const effective = Number.isFinite(somaxconn)
    ? Math.min(backlog, somaxconn)
    : backlog;
  await rec.step(
    `listen(backlog ${backlog}) and never accept(): LISTEN, Send-Q shows the backlog`,
  );
  const abort = new AbortController();
  const conns: Deno.TcpConn[] = [];
  const attempts: Promise<unknown>[] = [];
  try {
    // One client at a time, each settled before the next: connected clients
    // fill the accept queue to backlog+1, and every later SYN finds it full
    // and is dropped. All at once, a busy machine can let several SYNs in
    // before any handshake completes; then the final ACKs that meet the full
    // queue are dropped instead, and which clients end up where is chance.
    const isClient = (x: TcpSocketRecord) =>
      x.remote.port === port && x.state !== "TIME_WAIT";
    for (let i = 1; i <= clients; i++) {
      if (i <= effective + 1) {
        const c = await connect(port, abort.signal);
        conns.push(c);
        rec.name(c.localAddr.port, `client ${i}`);
        await rec.waitFor(
          (s) => s.find((x) => x.state === "LISTEN")?.acceptQueue === i,
          `client ${i} in the accept queue`,
        );
        continue;
      }
      const before = new Set(
        (await rec.sockets()).filter(isClient).map((x) => x.local.port),
      );
      const attempt = connect(port, abort.signal).then((c) => {
        conns.push(c);
        return c;
      });
      attempt.catch(() => {});
      attempts.push(attempt);
      const seen = await rec.waitFor(
        (s) =>
          s.some((x) =>
            isClient(x) && x.state === "SYN_SENT" && !before.has(x.local.port)
          ),
        `client ${i} in SYN_SENT`,
      );
      const mine = seen.find((x) =>
        isClient(x) && x.state === "SYN_SENT" && !before.has(x.local.port)
      )!;
      rec.name(mine.local.port, `client ${i}`);
    }
    const settled = await rec.waitFor(
      (s) =>
        s.find((x) => x.state === "LISTEN")?.acceptQueue === effective + 1 &&
        s.filter(isClient).length === clients,
      `${effective + 1} connections in the accept queue and ${clients} clients`,
    );
    const queued = settled.find((x) => x.state === "LISTEN")!.acceptQueue!;
    rec.fact("acceptQueue", queued);
    await rec.step(
      `${clients} clients connect()ed one after another: ${queued} = backlog+1 completed and wait in the accept queue (Recv-Q ${queued}, Send-Q ${effective}); the SYNs of the rest found it full and were dropped: SYN_SENT`,
    );
    for (const c of conns) {
      await writeAll(c, new TextEncoder().encode("hello?\n")).catch(() => {});
    }
    const retried = await rec.waitFor(
      (s) =>
        s.filter((x) => x.state === "SYN_SENT").every((x) => x.retransmits > 0),
      "every dropped SYN retransmitted",
      RETRY_WATCH_MS,
    );
    const synSent = retried.filter((x) => x.state === "SYN_SENT").length;
    if (rec.capturing) {
      await rec.waitForPackets(
        (p) => ignoredSyns([p]) === 1,
        synSent,
        `retransmitted SYNs of ${synSent} clients`,
        { key: (p) => p.client },
      );
    }
    const established = retried.filter((x) =>
      isClient(x) && x.state === "ESTABLISHED"
    );
    const orphaned = established.filter((x) =>
      find(retried, port, x.local.port) === undefined
    ).length;
    await rec.step(
      `about 1 s later: the dropped SYNs were retransmitted (SYN_SENT with a retransmit count); the connected clients' "hello?" sits unread in the server's queued sockets: their requests hang`,
    );
    rec.outcome(
      "connected, queued, never served",
      established.length - orphaned,
    );
    if (orphaned > 0) {
      rec.outcome("connected, but the server dropped its final ACK", orphaned);
    }
    rec.outcome("connect() still retrying (SYN dropped)", synSent);
    if (rec.capturing) {
      rec.fact("synsIgnoredOnTheWire", ignoredSyns(rec.packets()));
    }
  } finally {
    abort.abort();
    await Promise.allSettled(attempts);
    for (const c of conns) closeQuietly(c);
  }
}

/**
 * How many clients retransmitted a SYN with no SYN-ACK in between: the
 * listener ignored their SYNs (on a slow machine a client may already be
 * at its second retransmission: it counts once).
 */
function ignoredSyns(packets: LabPacket[]): number {
  return new Set(
    packets.filter((p) =>
      p.tcp && (p.tcp.flags & 0x12) === 0x02 &&
      p.notes.some((n) =>
        n.kind === "retransmission" && /no SYN-ACK came back/.test(n.text)
      )
    ).map((p) => p.client),
  ).size;
}

/**
 * In the lab's namespace, where tcp_abort_on_overflow=1 is safe to set. A
 * reset needs a handshake whose final ACK finds the accept queue full, so:
 * backlog+1 clients are held half-open (nftables drops their final ACKs),
 * backlog+1 more complete (the SYN queue is as long as the backlog, so they
 * get SYN cookies) and fill the accept queue, then the held ACKs are let
 * through into the full queue.
 */
async function abortOnOverflow(rec: Recorder, backlog: number): Promise<void> {
  const held = backlog + 1;
  await setSysctl("net.ipv4.tcp_abort_on_overflow", 1);
  using listener = listen(backlog);
  const port = listener.addr.port;
  rec.watch(port);
  rec.fact("clients", 2 * held);
  await nft(dropFinalAcks("tcp dport " + port));
  const first: Deno.TcpConn[] = [];
  const second: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < held; i++) first.push(await connect(port));
    first.forEach((c, i) => rec.name(c.localAddr.port, `client ${i + 1}`));
    await rec.waitFor(
      (s) => s.filter((x) => x.state === "SYN_RECV").length === held,
      `${held} half-open connections`,
    );
    await rec.step(
      `clients 1-${held} connect()ed: they have the SYN-ACK (ESTABLISHED), but nftables drops their final ACKs: ${held} half-open SYN_RECV requests on the server, accept queue empty`,
    );
    const ports = first.map((c) => c.localAddr.port).join(", ");
    await nft(
      "delete table inet netkit_lab\n" +
        dropFinalAcks(`tcp dport ${port} tcp sport { ${ports} }`),
    );
    for (let i = 0; i < held; i++) second.push(await connect(port));
    second.forEach((c, i) =>
      rec.name(c.localAddr.port, `client ${held + i + 1}`)
    );
    await rec.waitFor(
      (s) => s.find((x) => x.state === "LISTEN")?.acceptQueue === held,
      `a full accept queue (${held})`,
    );
    await rec.step(
      `clients ${held + 1}-${
        2 * held
      } connect()ed normally (SYN cookies: the SYN queue, as long as the backlog, is full of the held requests) and fill the accept queue: ${held} = backlog+1`,
    );
    await nft("delete table inet netkit_lab\n");
    const hello = new TextEncoder().encode("hello?\n");
    await Promise.all(first.map((c) => writeAll(c, hello).catch(() => {})));
    const after = await rec.waitFor(
      (s) => first.every((c) => find(s, c.localAddr.port, port) === undefined),
      `clients 1-${held} reset`,
    );
    rec.fact(
      "acceptQueue",
      after.find((x) => x.state === "LISTEN")!.acceptQueue!,
    );
    await rec.step(
      `the held final ACKs (with "hello?") reach a full accept queue: with tcp_abort_on_overflow=1 the server answers RST, and clients 1-${held} are gone`,
    );
    for (const c of first) {
      rec.outcome(
        await c.read(new Uint8Array(16)).then(
          (n) => n === null ? "EOF" : "data",
          (e) =>
            e instanceof Deno.errors.ConnectionReset
              ? "connection reset by peer"
              : errorMessage(e),
        ),
      );
    }
    rec.outcome("queued, never served", second.length);
    if (rec.capturing) {
      rec.drainPackets();
      rec.fact(
        "resetsFromTheServer",
        rec.packets().filter((p) =>
          p.from === "server" && p.notes.some((n) => n.kind === "reset") &&
          p.server?.endsWith(`:${port}`)
        ).length,
      );
    }
  } finally {
    await nft("delete table inet netkit_lab\n").catch(() => {});
    for (const c of [...first, ...second]) closeQuietly(c);
  }
}

function dropFinalAcks(match: string): string {
  return `table inet netkit_lab {
  chain input {
    type filter hook input priority 0;
    ${match} tcp flags & (syn | ack) == ack drop
  }
}
`;
}

/** SYNs and final ACKs lost: retransmits and the half-open lifetime. */
export async function synRetriesScenario(
  options: LabOptions,
  where: Where,
): Promise<LabReport> {
  if (!where.inside) {
    const rec = await startRecorder("syn-retries", options);
    rec.skip(
      `syn-retries needs a private network namespace to drop packets in: ${where.why}`,
    );
    return await rec.finish(synRetriesExplanation());
  }
  await setSysctl("net.ipv4.tcp_syn_retries", RETRIES);
  await setSysctl("net.ipv4.tcp_synack_retries", RETRIES);
  // Linux 6.11+ first retries SYNs this many times at a fixed 1 s (default
  // 4) before doubling; 0 shows the classic exponential back-off.
  const linear = await readProcText(
    "/proc/sys/net/ipv4/tcp_syn_linear_timeouts",
  );
  if (linear !== null) await setSysctl("net.ipv4.tcp_syn_linear_timeouts", 0);
  const rec = await startRecorder("syn-retries", options);
  rec.fact("tcp_syn_retries", RETRIES);
  rec.fact("tcp_synack_retries", RETRIES);
  if (linear !== null) {
    rec.fact("tcp_syn_linear_timeouts", 0);
    rec.fact("defaultTcpSynLinearTimeouts", Number(linear.trim()));
  }
  using noSynAck = listen();
  using noAck = listen();
  const a = noSynAck.addr.port;
  const b = noAck.addr.port;
  rec.watch(a);
  rec.watch(b);
  await nft(`table inet netkit_lab {
  chain input {
    type filter hook input priority 0;
    tcp sport ${a} tcp flags & (syn | ack) == syn | ack drop
    tcp dport ${b} tcp flags & (syn | ack) == ack drop
  }
}
`);
  const start = performance.now();
  const conns: Deno.TcpConn[] = [];
  // On the wire: how long after the previous copy each retransmit went out.
  const wire = (flags: number, port: number) => {
    rec.drainPackets();
    return rec.packets().filter((p) =>
      p.tcp && (p.tcp.flags & 0x12) === flags &&
      p.server?.endsWith(`:${port}`)
    ).flatMap((p) =>
      p.notes.filter((n) => n.kind === "retransmission" && n.intervalMs)
        .map((n) => n.intervalMs!)
    );
  };
  const after = (intervals: number[], sysctl: string) =>
    intervals.length === 0
      ? ""
      : `, ${
        (intervals.at(-1)! / 1000).toFixed(3)
      } s after the previous copy on the wire (${sysctl} = ${RETRIES}; the timeout doubles each time)`;
  try {
    await rec.step(
      `nftables drops the SYN-ACKs of port ${a} and the final ACKs to port ${b}; tcp_syn_retries = tcp_synack_retries = ${RETRIES}`,
    );
    const lostSynAck = connect(a).then(
      (c) => (conns.push(c), "connected"),
      (e) =>
        e instanceof Deno.errors.TimedOut
          ? "connection timed out"
          : errorMessage(e),
    );
    const clientB = await connect(b);
    conns.push(clientB);
    rec.name(clientB.localAddr.port, "client B (final ACK lost)");
    const synTimes: number[] = [];
    const synAckTimes: number[] = [];
    let lastSyn = 0;
    let lastSynAck = 0;
    let outcomeA: string | undefined;
    lostSynAck.then((o) => outcomeA = o);
    const deadline = start + (synRecvTimes(RETRIES).lifetimeSeconds + 4) * 1000;
    let halfOpenGone = false;
    while (
      (outcomeA === undefined || !halfOpenGone) && performance.now() < deadline
    ) {
      const s = await rec.sockets();
      const syn = s.find((x) => x.state === "SYN_SENT" && x.remote.port === a);
      if (syn) {
        rec.name(syn.local.port, "client A (SYN-ACKs lost)");
        if (syn.retransmits > lastSyn) {
          lastSyn = syn.retransmits;
          synTimes.push(performance.now() - start);
          await rec.step(
            `client A retransmitted its SYN (${lastSyn})${
              after(wire(0x02, a), "tcp_syn_retries")
            }`,
          );
        }
      }
      const half = s.find((x) => x.state === "SYN_RECV" && x.local.port === b);
      if (half && half.retransmits > lastSynAck) {
        lastSynAck = half.retransmits;
        synAckTimes.push(performance.now() - start);
        await rec.step(
          `the server retransmitted the SYN-ACK to client B (${lastSynAck})${
            after(wire(0x12, b), "tcp_synack_retries")
          }; client B is ESTABLISHED, the server SYN_RECV`,
        );
      }
      if (!half && synAckTimes.length > 0 && !halfOpenGone) {
        halfOpenGone = true;
        await rec.step(
          `after ${RETRIES} SYN-ACK retransmits the server dropped client B's half-open request`,
        );
      }
      await delay(10);
    }
    const a1 = await lostSynAck;
    rec.outcome(`client A: ${a1}`);
    await rec.step(`client A's connect() ended: ${a1}`);
    await nft("delete table inet netkit_lab\n");
    await writeAll(clientB, new TextEncoder().encode("hello?\n")).catch(
      () => {},
    );
    const b1 = await clientB.read(new Uint8Array(16)).then(
      (n) => n === null ? "EOF" : "data",
      (e) =>
        e instanceof Deno.errors.ConnectionReset
          ? "connection reset by peer"
          : errorMessage(e),
    );
    rec.outcome(`client B: ${b1}`);
    await rec.step(`client B, sure it was connected, sent data: ${b1}`);
    // The wire's intervals when packets were captured, else /proc's
    // retransmit counters as polled (late by up to a poll).
    const synWire = wire(0x02, a);
    const synAckWire = wire(0x12, b);
    const onWire = rec.capturing && synWire.length > 0;
    rec.fact("intervalsMeasured", onWire ? "on the wire" : "by polling /proc");
    rec.fact(
      "synRetransmitIntervalsMs",
      (onWire ? synWire.map(Math.round) : intervals(synTimes)).join(","),
    );
    rec.fact(
      "synAckRetransmitIntervalsMs",
      (onWire ? synAckWire.map(Math.round) : intervals(synAckTimes)).join(","),
    );
    rec.fact("synRetransmits", synTimes.length);
    rec.fact("synAckRetransmits", synAckTimes.length);
    rec.fact(
      "computedHalfOpenLifetimeS",
      synRecvTimes(RETRIES).lifetimeSeconds,
    );
  } finally {
    await nft("delete table inet netkit_lab\n").catch(() => {});
    for (const c of conns) closeQuietly(c);
  }
  return await rec.finish(synRetriesExplanation());
}

function synRetriesExplanation() {
  const times = synRecvTimes(RETRIES);
  return {
    why:
      `A lost SYN is retransmitted after 1 s, then 2, 4, 8… (the timeout doubles each time) up to net.ipv4.tcp_syn_retries times (default 6: connect() gives up after about 127 s with 'connection timed out'). A server whose SYN-ACK is not answered keeps the request half-open (SYN_RECV) and retransmits the SYN-ACK up to net.ipv4.tcp_synack_retries times (default 5: dropped after 63 s). Linux 6.11 and later first retry a SYN net.ipv4.tcp_syn_linear_timeouts times (default 4) at a fixed 1 s before doubling, and add those retries to tcp_syn_retries. The lab lowered both retry counts to ${RETRIES} (and the linear retries to 0) inside its namespace: last retransmit after ${times.lastRetransmitSeconds} s, given up after ${times.lifetimeSeconds} s. A client whose final ACK was lost believes it is connected; once the server has dropped the request its data is answered with RST.`,
    change:
      "Connect timeouts in clients should be shorter than the kernel's ~2 minutes; lower net.ipv4.tcp_syn_retries where failing fast matters. Many SYN_RECV on a server mean lost ACKs or a SYN flood: lower tcp_synack_retries and keep tcp_syncookies=1. Firewalls that drop (rather than reject) turn refusals into these long retries.",
  };
}

/** Milliseconds between consecutive events, the first from the start. */
function intervals(times: number[]): number[] {
  return times.map((t, i) => Math.round(t - (i === 0 ? 0 : times[i - 1]!)));
}

/** Both retry sysctls are lowered to this inside the namespace, so the run lasts seconds. */
const RETRIES = 2;
