// The pcap encoder and reader, and the one-line format.

import assert from "node:assert/strict";
import {
  createTraceAnalyzer,
  decodeFrame,
  formatPacket,
  pcapFileHeader,
  pcapRecordHeader,
  readPcap,
} from "../../../tcp/trace/mod.ts";
import { ACK, PSH, SYN, synOptions, tcpFrame, udpFrame } from "./_frames.ts";

Deno.test("pcap: header and records read back, micro- and nanoseconds, the snap length kept", () => {
  for (const nanoseconds of [false, true]) {
    const frame = tcpFrame({ sport: 1, dport: 2, flags: SYN });
    const file = new Uint8Array([
      ...pcapFileHeader({ snaplen: 96, nanoseconds }),
      ...pcapRecordHeader(
        { seconds: 1_700_000_000, nanoseconds: 123_456_789 },
        40,
        frame.length,
        { nanoseconds },
      ),
      ...frame.subarray(0, 40),
    ]);
    const { info, records } = readPcap(file);
    assert.deepEqual(info, { linkType: 1, snaplen: 96, nanoseconds });
    assert.equal(records.length, 1);
    const r = records[0]!;
    assert.equal(r.seconds, 1_700_000_000);
    assert.equal(r.nanoseconds, nanoseconds ? 123_456_789 : 123_456_000);
    assert.equal(r.wireLength, frame.length);
    assert.deepEqual(r.frame, frame.subarray(0, 40));
  }
});

Deno.test("pcap: a big-endian file reads; a cut-off last record ends the list; not pcap is pcap_invalid", () => {
  const header = pcapFileHeader();
  const big = new Uint8Array(header);
  const v = new DataView(big.buffer);
  v.setUint32(0, 0xa1b2c3d4, false);
  v.setUint16(4, 2, false);
  v.setUint16(6, 4, false);
  v.setUint32(16, 65535, false);
  v.setUint32(20, 1, false);
  assert.equal(readPcap(big).info.snaplen, 65535);
  const frame = new Uint8Array(60);
  const cut = new Uint8Array([
    ...header,
    ...pcapRecordHeader({ seconds: 1, nanoseconds: 0 }, 60, 60),
    ...frame,
    ...pcapRecordHeader({ seconds: 2, nanoseconds: 0 }, 60, 60),
    ...frame.subarray(0, 10),
  ]);
  assert.equal(readPcap(cut).records.length, 1);
  for (const bad of [new Uint8Array(10), new Uint8Array(24)]) {
    assert.throws(() => readPcap(bad), (e: Error & { code?: string }) => {
      assert.equal(e.code, "pcap_invalid");
      return true;
    });
  }
});

Deno.test("pcapRecordHeader reuses the buffer it is given", () => {
  const into = new Uint8Array(16);
  const h = pcapRecordHeader({ seconds: 5, nanoseconds: 7000 }, 10, 20, {
    into,
  });
  assert.equal(h, into);
  const v = new DataView(into.buffer);
  assert.deepEqual(
    [0, 4, 8, 12].map((o) => v.getUint32(o, true)),
    [5, 7, 10, 20],
  );
});

Deno.test("formatPacket: tcpdump's words, relative numbers, the scaled window, notes and states", () => {
  const expert = createTraceAnalyzer();
  const add = (frame: Uint8Array, t: number) =>
    expert.add(decodeFrame(frame), 1000 + t);
  const syn = add(
    tcpFrame({
      sport: 41172,
      dport: 8080,
      seq: 99,
      flags: SYN,
      window: 65495,
      options: synOptions(7, 5),
    }),
    0,
  );
  add(
    tcpFrame({
      sport: 8080,
      dport: 41172,
      seq: 500,
      ack: 100,
      flags: SYN | ACK,
      options: synOptions(7, 6),
    }),
    0.1,
  );
  const data = add(
    tcpFrame({
      sport: 41172,
      dport: 8080,
      seq: 100,
      ack: 501,
      flags: PSH | ACK,
      window: 512,
      payload: 5,
    }),
    1.5,
  );
  assert.equal(
    formatPacket(syn, { startMs: 1000 }),
    "+0.000000 IP 127.0.0.1.41172 > 127.0.0.1.8080: Flags [S], seq 0, win 65495, options [mss 65495,sackOK,TS val 5 ecr 0,nop,wscale 7], length 0 | handshake 1/3 (SYN) | client SYN_SENT, server LISTEN",
  );
  assert.equal(
    formatPacket(data, { startMs: 1000, expert: false }),
    "+0.001500 IP 127.0.0.1.41172 > 127.0.0.1.8080: Flags [P.], seq 1:6, ack 1, win 65536 (512<<7), length 5",
  );
  assert.match(formatPacket(data), /^\d\d:\d\d:01\.001500 IP /);
  const udp = expert.add(
    decodeFrame(udpFrame(5000, 6000, new Uint8Array(3), "::1", "::1")),
    0,
  );
  assert.equal(
    formatPacket(udp, { expert: false, startMs: 0 }),
    "+0.000000 IP6 ::1.5000 > ::1.6000: UDP, length 3",
  );
  const broken = expert.add(
    decodeFrame(tcpFrame({ sport: 1, dport: 2, flags: SYN }).subarray(0, 40)),
    0,
  );
  assert.match(
    formatPacket(broken, { startMs: 0 }),
    /\[truncated TCP header \(6 of 20 bytes\)\]/,
  );
});
