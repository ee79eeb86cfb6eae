// Real packets on loopback (root): netkit's capture of one connection,
// checked against itself (relative numbers, states), against tcpdump and
// tshark reading netkit's pcap, and against a tcpdump capture of the same
// traffic taken at the same time. Other programs may use loopback meanwhile:
// packets are picked by the exact address pair of the test's connection.

import assert from "node:assert/strict";
import {
  createTraceAnalyzer,
  decodeFrame,
  formatPacket,
  readPcap,
  startTrace,
  type TracePacket,
  type Tracer,
} from "../../../tcp/trace/mod.ts";
import { writeAll } from "../../../_io.ts";
import {
  IN_CI,
  LineSplitter,
  missingIpv6,
  missingPeer,
  runProgram,
  WAIT_MS,
  waitFor,
  withTimeout,
} from "../../_helpers.ts";

const NOT_ROOT = Deno.uid() !== 0 && !IN_CI;

/** Reads packets until `done` holds for them (bounded). */
async function collect(
  tracer: Tracer,
  keep: (p: TracePacket) => boolean,
  done: (packets: TracePacket[]) => boolean,
  lines?: string[],
): Promise<TracePacket[]> {
  const packets: TracePacket[] = [];
  const deadline = performance.now() + WAIT_MS;
  let start: number | undefined;
  while (!done(packets)) {
    if (performance.now() > deadline) {
      throw new Error(
        `the capture did not show the whole connection: ${
          packets.map((p) => formatPacket(p)).join("\n")
        }`,
      );
    }
    if (
      tracer.poll((p) => {
        if (!keep(p)) return;
        start ??= p.timeMs;
        packets.push(p);
        lines?.push(formatPacket(p, { startMs: start }));
      }) === 0
    ) await tracer.wait(50);
  }
  return packets;
}

/** connect, send "hello", get "world", half-close, close: on `host`. */
async function conversation(
  listener: Deno.TcpListener,
  host: string,
): Promise<number> {
  const client = await Deno.connect({
    hostname: host,
    port: listener.addr.port,
  });
  const server = await listener.accept();
  const cport = client.localAddr.port;
  try {
    await writeAll(client, new TextEncoder().encode("hello"));
    assert.equal(await server.read(new Uint8Array(16)), 5);
    await writeAll(server, new TextEncoder().encode("world"));
    assert.equal(await client.read(new Uint8Array(16)), 5);
    await client.closeWrite();
    assert.equal(await server.read(new Uint8Array(16)), null);
  } finally {
    server.close();
  }
  assert.equal(await client.read(new Uint8Array(16)), null);
  client.close();
  return cport;
}

/** The connection is over once the client's ACK of the server's FIN is seen. */
const closed = (packets: TracePacket[]) =>
  packets.some((p) => p.states?.server === "CLOSED");

interface Row {
  from: string;
  to: string;
  flags: string;
  seq?: number;
  ack?: number;
  length: number;
}

/** Parses `tcpdump -n` lines (and netkit's, which use the same words). */
function parseTcpdump(text: string): Row[] {
  const rows: Row[] = [];
  for (const line of text.split("\n")) {
    const m =
      / IP6? (\S+) > (\S+): Flags \[([^\]]+)\](?:, seq (\d+)(?::\d+)?)?(?:, ack (\d+))?, win .*length (\d+)/
        .exec(line);
    if (!m) continue;
    rows.push({
      from: m[1]!,
      to: m[2]!,
      flags: m[3]!,
      seq: m[4] === undefined ? undefined : Number(m[4]),
      ack: m[5] === undefined ? undefined : Number(m[5]),
      length: Number(m[6]),
    });
  }
  return rows;
}

/** tcpdump that is capturing (it said so), writing `path`. */
async function startTcpdump(path: string, port: number) {
  const child = new Deno.Command("tcpdump", {
    args: [
      "-i",
      "lo",
      "-n",
      "--immediate-mode",
      "-U",
      "-w",
      path,
      `tcp port ${port}`,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines = child.stderr.pipeThrough(new TextDecoderStream())
    .pipeThrough(new LineSplitter())[Symbol.asyncIterator]();
  const ready = (async () => {
    for (let n = await lines.next(); !n.done; n = await lines.next()) {
      if (/listening on lo/.test(n.value)) return;
    }
    throw new Error("tcpdump exited before it was listening");
  })();
  await withTimeout(ready, WAIT_MS, "tcpdump to listen").catch((e) => {
    child.kill("SIGKILL");
    throw e;
  });
  const drained = (async () => {
    for (let n = await lines.next(); !n.done; n = await lines.next()) {
      // Its summary lines.
    }
  })();
  return {
    async stop() {
      child.kill("SIGINT");
      await child.status;
      await drained;
    },
  };
}

Deno.test({
  name:
    "trace: connect, send, close on 127.0.0.1: SYN, SYN-ACK, ACK, data, FIN/ACK from both sides, numbers consistent; tcpdump and tshark agree",
  ignore: NOT_ROOT || missingPeer("tcpdump", "tshark"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "netkit-trace-" });
    try {
      using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = listener.addr.port;
      const ours = `${dir}/netkit.pcap`;
      const theirs = `${dir}/tcpdump.pcap`;
      const tcpdump = await startTcpdump(theirs, port);
      const tracer = startTrace({ port, write: ours });
      let packets: TracePacket[];
      const lines: string[] = [];
      let cport: number;
      try {
        cport = await conversation(listener, "127.0.0.1");
        const pair = (p: TracePacket) =>
          p.client === `127.0.0.1:${cport}` && p.server === `127.0.0.1:${port}`;
        packets = await collect(tracer, pair, closed, lines);
        // tcpdump writes each packet as it comes; stop it once it has them all.
        await waitFor(
          "tcpdump to write the connection's packets",
          async () =>
            readPcap(await Deno.readFile(theirs)).records.length >=
              packets.length,
        ).catch(() => {});
      } finally {
        await tracer.close();
        await tcpdump.stop();
      }
      const client = `127.0.0.1.${cport}`;
      const server = `127.0.0.1.${port}`;

      // 1. What netkit saw, on its own terms.
      const flags = packets.map((p) => `${p.from}:${p.tcp!.flagText}`);
      assert.deepEqual(
        flags.slice(0, 3),
        ["client:S", "server:S.", "client:."],
        lines.join("\n"),
      );
      assert.deepEqual(
        packets.slice(0, 3).map((p) => [p.relSeq, p.relAck]),
        [[0, undefined], [0, 1], [1, 1]],
      );
      const data = packets.filter((p) => p.tcp!.payloadLength > 0);
      assert.deepEqual(
        data.map((p) => [p.from, p.relSeq, p.tcp!.payloadLength]),
        [["client", 1, 5], ["server", 1, 5]],
      );
      const fins = packets.filter((p) => p.tcp!.flags & 0x01);
      assert.deepEqual(fins.map((p) => [p.from, p.relSeq]), [["client", 6], [
        "server",
        6,
      ]]);
      // Every byte and FIN acknowledged, by the peer, with the next number.
      const acks = (from: string) =>
        packets.filter((p) => p.from === from && p.relAck !== undefined)
          .map((p) => p.relAck!);
      assert.equal(Math.max(...acks("server")), 7);
      assert.equal(Math.max(...acks("client")), 7);
      for (const p of packets) {
        if (p.relAck === undefined) continue;
        const peerSent = packets.filter((q) =>
          q.from !== p.from && q.index <= p.index
        ).map((q) =>
          (q.relSeq ?? 0) + q.tcp!.payloadLength + (q.tcp!.flags & 0x03 ? 1 : 0)
        );
        assert.ok(
          p.relAck <= Math.max(...peerSent),
          `ack past what was sent: ${formatPacket(p)}`,
        );
      }
      assert.deepEqual(packets.at(-1)!.states, {
        client: "TIME_WAIT",
        server: "CLOSED",
      });
      assert.ok(
        packets.some((p) => p.notes.some((n) => n.kind === "time-wait")),
      );

      // 2. netkit's pcap read back by tcpdump and tshark: same count and flags.
      const printed = parseTcpdump(lines.join("\n"));
      assert.equal(printed.length, packets.length);
      const byTcpdump = parseTcpdump(
        (await runProgram("tcpdump", [
          "-r",
          ours,
          "-n",
          `host 127.0.0.1 and port ${cport}`,
        ])).stdout,
      );
      assert.deepEqual(
        byTcpdump.map((r) => [r.from, r.to, r.flags, r.length]),
        printed.map((r) => [r.from, r.to, r.flags, r.length]),
      );
      // tcpdump prints relative numbers too once past the SYNs (and no
      // seq on a bare ACK).
      byTcpdump.slice(2).forEach((r, i) => {
        const mine = printed[i + 2]!;
        if (r.seq !== undefined) assert.equal(r.seq, mine.seq);
        assert.equal(r.ack, mine.ack);
      });
      const tshark = await runProgram("tshark", [
        "-r",
        ours,
        "-T",
        "fields",
        "-E",
        "separator=,",
        "-e",
        "tcp.srcport",
        "-e",
        "tcp.dstport",
        "-e",
        "tcp.flags",
        "-e",
        "tcp.seq",
        "-e",
        "tcp.ack",
        "-e",
        "tcp.len",
        "-Y",
        `tcp.port == ${cport}`,
      ]);
      assert.equal(tshark.code, 0, tshark.stderr);
      const rows = tshark.stdout.trim().split("\n").map((l) =>
        l.split(",").map(Number)
      );
      assert.deepEqual(
        rows,
        packets.map((p) => [
          p.tcp!.srcPort,
          p.tcp!.dstPort,
          p.tcp!.flags,
          p.relSeq,
          p.tcp!.flags & 0x10 ? p.relAck : 0,
          p.tcp!.payloadLength,
        ]),
      );

      // 3. tcpdump's own capture of the same minutes: the same packets of this pair.
      const file = readPcap(await Deno.readFile(theirs));
      const expert = createTraceAnalyzer();
      const seen = file.records.map((r) =>
        expert.add(decodeFrame(r.frame, { wireLength: r.wireLength }), 0)
      ).filter((p) =>
        [client, server].every((end) =>
          [`${p.src}.${p.tcp?.srcPort}`, `${p.dst}.${p.tcp?.dstPort}`].includes(
            end,
          )
        )
      );
      assert.deepEqual(
        seen.map((
          p,
        ) => [
          p.from,
          p.tcp!.flagText,
          p.relSeq,
          p.relAck,
          p.tcp!.payloadLength,
        ]),
        packets.map((
          p,
        ) => [
          p.from,
          p.tcp!.flagText,
          p.relSeq,
          p.relAck,
          p.tcp!.payloadLength,
        ]),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "trace: IPv6 loopback, and a host filter that keeps only ::1",
  ignore: NOT_ROOT || missingIpv6(),
  async fn() {
    using listener = Deno.listen({ hostname: "::1", port: 0 });
    const port = listener.addr.port;
    const tracer = startTrace({ port, host: "0:0:0:0:0:0:0:1" });
    try {
      const cport = await conversation(listener, "::1");
      const packets = await collect(
        tracer,
        (p) => p.client === `[::1]:${cport}`,
        closed,
      );
      assert.ok(packets.every((p) => p.ipVersion === 6 && p.src === "::1"));
      assert.equal(packets[0]!.tcp!.flagText, "S");
      assert.equal(packets.filter((p) => p.tcp!.flags & 0x01).length, 2);
      assert.match(
        formatPacket(packets[0]!),
        / IP6 ::1\.\d+ > ::1\.\d+: Flags \[S\]/,
      );
      assert.equal(tracer.stats().dropped, 0);
    } finally {
      await tracer.close();
    }
  },
});

Deno.test({
  name: "trace: without CAP_NET_RAW the capture fails with one clear line",
  ignore: NOT_ROOT || missingPeer("setpriv"),
  async fn() {
    const script = `import { openCapture } from "${
      new URL("../../../tcp/trace/mod.ts", import.meta.url).href
    }";
try { openCapture(); } catch (e) { console.log(e.code + " " + e.message); }`;
    const result = await runProgram("setpriv", [
      "--bounding-set",
      "-net_raw",
      "--",
      Deno.execPath(),
      "eval",
      script,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split("\n");
    assert.equal(lines.length, 1);
    assert.match(
      lines[0]!,
      /^capture_denied packet capture needs root or CAP_NET_RAW/,
    );
  },
});
