// Scenarios of data in flight: window (flow control) and udp-vs-tcp.

import { type Recorder, startRecorder } from "./_recorder.ts";
import { connect, find, listen, LOOPBACK } from "./_sockets.ts";
import { nft, variant, type Where } from "./_child.ts";
import { closeQuietly, delay, writeAll } from "../../_io.ts";
import type { LabOptions, LabPacket, LabReport } from "./types.ts";
import { TcpError } from "../errors.ts";

/** Upper bound on what the window scenario writes before the receiver reads. */
const WINDOW_MAX_BYTES = 64 * 1024 * 1024;
const CHUNK = 64 * 1024;

/** A receiver that stops reading: flow control. */
export async function windowScenario(
  options: LabOptions = {},
): Promise<LabReport> {
  const rec = await startRecorder("window", options);
  using listener = listen();
  const port = listener.addr.port;
  rec.watch(port);
  const client = await connect(port);
  const server = await listener.accept();
  const cport = client.localAddr.port;
  rec.name(cport, "sender (client)");
  let written = 0;
  let writerDone = false;
  const stop = new AbortController();
  const chunk = new Uint8Array(CHUNK).fill(0x61);
  const writer = (async () => {
    while (written < WINDOW_MAX_BYTES && !stop.signal.aborted) {
      await writeAll(client, chunk);
      written += chunk.length;
    }
    writerDone = true;
  })();
  writer.catch(() => {});
  try {
    await rec.step(
      "the sender writes 64 KiB chunks as fast as it can; the receiver (server) never reads",
    );
    // The kernel's own sign that the window is shut: the sender's timer
    // turns into the zero-window probe (tr 4 in /proc/net/tcp).
    let full = await rec.waitFor(
      (s) =>
        find(s, cport, port)?.timer.kind === "zero_window_probe" &&
        (find(s, port, cport)?.rxQueue ?? 0) > 0,
      "the sender's zero-window probe timer",
      10_000,
    );
    // The probe timer starts as soon as the window is too small for a
    // segment; the wire shows when it is really 0.
    if (rec.capturing) {
      await rec.waitForPackets(
        (p) => p.notes.some((n) => n.kind === "zero-window"),
        1,
        "a zero-window advertisement",
      );
      full = await rec.sockets();
    }
    const recvQ = find(full, port, cport)!.rxQueue;
    const sendQ = find(full, cport, port)!.txQueue;
    const probe = find(full, cport, port)!;
    rec.fact("fullRecvQ", recvQ);
    rec.fact("fullSendQ", sendQ);
    rec.fact("writtenWhenBlocked", written);
    rec.fact("writerBlocked", !writerDone);
    rec.fact("zeroWindowProbeTimer", true);
    await rec.step(
      `full: the receiver's Recv-Q holds ${recvQ} bytes (its receive buffer) and it advertises a zero window; the sender's Send-Q holds ${sendQ} bytes not yet acknowledged, write() is blocked after ${written} bytes, and its timer is a zero-window probe (fires in ${probe.timer.remainingMs} ms, backing off)`,
    );
    if (rec.capturing) await watchProbes(rec);
    stop.abort();
    const buf = new Uint8Array(CHUNK);
    let read = 0;
    const deadline = performance.now() + 10_000;
    while ((!writerDone || read < written) && performance.now() < deadline) {
      const n = await server.read(buf);
      if (n === null) break;
      read += n;
    }
    await writer;
    const drained = await rec.waitFor(
      (s) =>
        (find(s, port, cport)?.rxQueue ?? 1) === 0 &&
        (find(s, cport, port)?.txQueue ?? 1) === 0,
      "both queues empty",
    );
    rec.fact("drained", find(drained, port, cport)?.rxQueue === 0);
    rec.fact("bytesRead", read);
    rec.outcome(read === written ? "every byte delivered" : "bytes missing");
    await rec.step(
      `the receiver reads again: the window opens, the blocked write() returns, ${read} bytes delivered and both queues drain to 0`,
    );
    if (rec.capturing) {
      const seen = rec.packets();
      const count = (kind: string) =>
        seen.filter((p) => p.notes.some((n) => n.kind === kind)).length;
      rec.fact("zeroWindowAdvertisements", count("zero-window"));
      rec.fact("windowProbes", count("window-probe"));
      rec.fact("windowUpdates", count("window-update"));
    }
  } finally {
    stop.abort();
    closeQuietly(client);
    closeQuietly(server);
    await writer.catch(() => {});
  }
  return await rec.finish({
    why:
      "TCP's sliding window: every ACK carries how much more the receiver can buffer. A receiver that stops reading fills its receive buffer (Recv-Q), advertises a window of 0, and the sender stops: unsent data waits in its send buffer, sent-but-unacknowledged data in Send-Q, and once the send buffer is full write() blocks (or returns EAGAIN). The sender then sends zero-window probes at backing-off intervals to learn when the window reopens. Nothing is lost and no error occurs: a slow reader slows its sender down.",
    change:
      "A growing Recv-Q on a server means the application does not read fast enough; a growing Send-Q with a zero-window-probe timer means the peer does not. Read promptly (a read loop per connection), bound what you buffer in the application, and put timeouts on writes so a stalled peer cannot hold a connection forever.",
  });
}

/**
 * With packets captured: waits (at most 5 s) for the sender's zero-window
 * probes, which come at its retransmission timeout (200 ms or more on
 * loopback) and back off, and records them as a step.
 */
async function watchProbes(rec: Recorder): Promise<void> {
  const seen = (await rec.waitForPackets(
    (p) => p.notes.some((n) => n.kind === "window-probe"),
    2,
    "two zero-window probes",
  )).flatMap((p) => p.notes.filter((n) => n.kind === "window-probe"));
  const gaps = seen.flatMap((n) =>
    n.intervalMs === undefined ? [] : [`${(n.intervalMs / 1000).toFixed(3)} s`]
  );
  rec.fact(
    "windowProbeIntervalsMs",
    seen.flatMap((n) =>
      n.intervalMs === undefined ? [] : [Math.round(n.intervalMs)]
    ).join(","),
  );
  await rec.step(
    `the sender probes the shut window: ${seen.length} zero-window probes (empty segments with an old sequence number, seq = next − 1, that force an ACK), each answered with window 0${
      gaps.length > 0 ? `; ${gaps.join(", ")} apart, backing off` : ""
    }`,
  );
}

/** How many numbered messages each transport carries. */
const MESSAGES = 100;

/** The same numbered messages over UDP and TCP. */
export async function udpVsTcpScenario(
  options: LabOptions,
  where: Where,
): Promise<LabReport> {
  if (typeof Deno.listenDatagram !== "function") {
    throw new TcpError(
      "lab_failed",
      "udp-vs-tcp needs Deno's UDP API: run with --unstable-net",
    );
  }
  const rec = await startRecorder("udp-vs-tcp", options);
  await udpAndTcp(rec, false);
  rec.skip(
    "reordering: nftables can drop packets but not delay or hold them, and this host has no netem (tc qdisc) to do so; loopback delivers in order, so 'out of order' stays 0 here",
  );
  await variant(rec, where, {
    prefix: "[10% loss] ",
    what: "the lossy run (a private namespace with nftables dropping packets)",
    run: () => udpAndTcp(rec, true),
  });
  return await rec.finish({
    why:
      "UDP hands each datagram to the network once: a lost one is simply missing (and, with reordering on a real path, they may arrive in any order); the application is not told. TCP numbers every byte, the receiver acknowledges what arrived, and the sender retransmits what was not acknowledged (TcpRetransSegs), so the application reads every byte exactly once and in order, paying with delay when a segment is lost.",
    change:
      "Use UDP only when late data is worthless (voice, games, metrics) or when the application adds its own sequence numbers, acknowledgements and retransmission (QUIC does). For anything that must arrive whole, use TCP, and expect loss to show up as latency and TcpRetransSegs, not as errors.",
  });
}

/**
 * 100 numbered datagrams, then 100 numbered lines over TCP; with `lossy`,
 * nftables drops 1 packet in 10 of each (TCP: not SYN or FIN). A datagram
 * seen on the wire but never received is marked lost.
 */
async function udpAndTcp(rec: Recorder, lossy: boolean): Promise<void> {
  const udp = Deno.listenDatagram({
    transport: "udp",
    hostname: LOOPBACK,
    port: 0,
  });
  const sender = Deno.listenDatagram({
    transport: "udp",
    hostname: LOOPBACK,
    port: 0,
  });
  using listener = listen();
  const uport = (udp.addr as Deno.NetAddr).port;
  const tport = listener.addr.port;
  rec.watch(tport);
  rec.watch(uport);
  rec.name((sender.addr as Deno.NetAddr).port, "udp sender");
  // Each datagram's number, read off the wire, so a lost one can be named.
  const onWire = new Map<number, LabPacket>();
  rec.inspect((p, frame) => {
    if (p.udp?.dstPort !== uport) return;
    const at = p.udp.payloadOffset;
    const text = new TextDecoder().decode(
      frame.frame.subarray(at, at + Math.min(p.udp.payloadLength, 8)),
    );
    if (/^\d+$/.test(text)) onWire.set(Number(text), p);
  });
  try {
    if (lossy) {
      await nft(`table inet netkit_lab {
  chain input {
    type filter hook input priority 0;
    udp dport ${uport} numgen random mod 10 0 drop
    tcp dport ${tport} tcp flags & (syn | fin) == 0 numgen random mod 10 0 drop
  }
}
`);
      await rec.step(
        "nftables drops 1 in 10 packets at random to the UDP port and 1 in 10 TCP segments (not SYN or FIN) to the TCP port",
      );
    }
    // UDP: send every message, then collect until all arrived or the line is quiet.
    const got: number[] = [];
    const receiving = (async () => {
      for (;;) {
        const [data] = await udp.receive();
        got.push(Number(new TextDecoder().decode(data)));
      }
    })();
    receiving.catch(() => {});
    for (let i = 1; i <= MESSAGES; i++) {
      await sender.send(new TextEncoder().encode(String(i)), {
        transport: "udp",
        hostname: LOOPBACK,
        port: uport,
      });
    }
    for (let quiet = 0; got.length < MESSAGES && quiet < 20; quiet++) {
      const before = got.length;
      await delay(10);
      if (got.length > before) quiet = 0;
    }
    const reordered = got.filter((n, i) => i > 0 && n < got[i - 1]!).length;
    rec.outcome("UDP delivered", got.length);
    rec.outcome("UDP lost", MESSAGES - got.length);
    rec.outcome("UDP out of order", reordered);
    rec.fact("udpSent", MESSAGES);
    rec.fact("udpReceived", got.length);
    if (rec.capturing) {
      rec.drainPackets();
      const arrived = new Set(got);
      let marked = 0;
      for (const [n, p] of onWire) {
        if (arrived.has(n)) continue;
        p.notes.push({
          kind: "lost",
          text:
            `datagram ${n} was on the wire but never reached the receiver (nftables dropped it); nobody was told`,
        });
        marked++;
      }
      rec.fact("udpSeenOnTheWire", onWire.size);
      rec.fact("udpLostOnTheWire", marked);
    }
    await rec.step(
      `UDP: ${MESSAGES} datagrams sent, ${got.length} arrived, ${
        MESSAGES - got.length
      } lost without anyone being told, ${reordered} out of order`,
    );

    // TCP: one message per segment (no Nagle), read back in order.
    const client = await connect(tport);
    client.setNoDelay(true);
    const server = await listener.accept();
    rec.name(client.localAddr.port, "tcp client");
    try {
      const reading = (async () => {
        let text = "";
        const buf = new Uint8Array(4096);
        while (text.split("\n").length <= MESSAGES) {
          const n = await server.read(buf);
          if (n === null) break;
          text += new TextDecoder().decode(buf.subarray(0, n));
        }
        return text.split("\n").filter((l) => l !== "").map(Number);
      })();
      for (let i = 1; i <= MESSAGES; i++) {
        await writeAll(client, new TextEncoder().encode(`${i}\n`));
        // Separate segments, so the loss rule has many packets to choose from.
        await delay(2);
      }
      const lines = await reading;
      const inOrder = lines.every((n, i) => n === i + 1);
      rec.outcome("TCP delivered", lines.length);
      rec.outcome("TCP lost", MESSAGES - lines.length);
      rec.fact("tcpInOrder", inOrder && lines.length === MESSAGES);
      if (rec.capturing) {
        rec.drainPackets();
        rec.fact(
          "tcpRetransmissionsOnTheWire",
          rec.packets().filter((p) =>
            p.tcp && p.server?.endsWith(`:${tport}`) &&
            p.notes.some((n) => n.kind === "retransmission")
          ).length,
        );
      }
      await rec.step(
        `TCP: ${MESSAGES} messages written, ${lines.length} read, ${
          inOrder ? "all in order" : "NOT in order"
        }`,
      );
    } finally {
      closeQuietly(client);
      closeQuietly(server);
    }
    const moved = await rec.counters();
    rec.fact("tcpRetransSegs", moved.TcpRetransSegs ?? 0);
  } finally {
    if (lossy) await nft("delete table inet netkit_lab\n").catch(() => {});
    closeQuietly(udp);
    closeQuietly(sender);
  }
}
