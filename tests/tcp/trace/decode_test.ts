// The decoder on hand-built frames: every field, and hostile input
// (truncated, malformed, random) that must never throw.

import assert from "node:assert/strict";
import { decodeFrame, tcpFlagText } from "../../../tcp/trace/mod.ts";
import {
  ACK,
  ipFrame,
  PSH,
  SYN,
  synOptions,
  tcpFrame,
  udpFrame,
} from "./_frames.ts";

Deno.test("decodeFrame: an IPv4 SYN with Linux's options, every field", () => {
  const frame = tcpFrame({
    src: "127.0.0.1",
    dst: "127.0.0.2",
    sport: 41172,
    dport: 8080,
    seq: 0xfffffff0,
    flags: SYN,
    window: 65495,
    options: synOptions(7, 1234),
  });
  const p = decodeFrame(frame);
  assert.equal(p.problem, undefined);
  assert.equal(p.etherType, 0x0800);
  assert.equal(p.ipVersion, 4);
  assert.equal(p.src, "127.0.0.1");
  assert.equal(p.dst, "127.0.0.2");
  assert.equal(p.protocol, 6);
  assert.equal(p.ttl, 64);
  assert.equal(p.capturedLength, frame.length);
  const tcp = p.tcp!;
  assert.equal(tcp.srcPort, 41172);
  assert.equal(tcp.dstPort, 8080);
  assert.equal(tcp.seq, 0xfffffff0);
  assert.equal(tcp.flags, SYN);
  assert.equal(tcp.flagText, "S");
  assert.equal(tcp.window, 65495);
  assert.equal(tcp.headerLength, 40);
  assert.equal(tcp.payloadLength, 0);
  assert.deepEqual(tcp.options, {
    order: ["mss", "sackOK", "TS", "nop", "wscale"],
    mss: 65495,
    sackPermitted: true,
    timestamp: { value: 1234, echo: 0 },
    windowScale: 7,
  });
});

Deno.test("decodeFrame: IPv6 data, the payload length from the IP header, not the capture", () => {
  const frame = tcpFrame({
    src: "::1",
    dst: "2001:db8:0:0:1:0:0:1",
    sport: 5000,
    dport: 6000,
    seq: 10,
    ack: 20,
    flags: PSH | ACK,
    payload: 300,
  });
  // The capture kept only the headers (a small snap length).
  const p = decodeFrame(frame.subarray(0, 14 + 40 + 20), {
    wireLength: frame.length,
  });
  assert.equal(p.problem, undefined);
  assert.equal(p.ipVersion, 6);
  assert.equal(p.src, "::1");
  assert.equal(p.dst, "2001:db8::1:0:0:1");
  assert.equal(p.wireLength, frame.length);
  assert.equal(p.tcp?.flagText, "P.");
  assert.equal(p.tcp?.payloadLength, 300);
  assert.equal(p.tcp?.payloadOffset, 14 + 40 + 20);
});

Deno.test("decodeFrame: IPv6 addresses in RFC 5952 form", () => {
  const cases: [string, string][] = [
    ["0:0:0:0:0:0:0:1", "::1"],
    ["fe80:0:0:0:0:0:0:0", "fe80::"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    // Two runs of the same length: the first one is shortened.
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["0:0:0:0:0:ffff:7f00:1", "::ffff:127.0.0.1"],
  ];
  for (const [given, want] of cases) {
    const p = decodeFrame(udpFrame(1, 2, new Uint8Array(1), given, "::1"));
    assert.equal(p.src, want);
  }
});

Deno.test("decodeFrame: UDP ports, payload length and where the payload starts", () => {
  const payload = new TextEncoder().encode("42");
  const frame = udpFrame(5353, 9999, payload);
  const p = decodeFrame(frame);
  assert.equal(p.problem, undefined);
  assert.equal(p.udp?.srcPort, 5353);
  assert.equal(p.udp?.dstPort, 9999);
  assert.equal(p.udp?.payloadLength, 2);
  const at = p.udp!.payloadOffset;
  assert.equal(new TextDecoder().decode(frame.subarray(at, at + 2)), "42");
});

Deno.test("decodeFrame: every prefix of a frame decodes without throwing and names what is missing", () => {
  const frame = tcpFrame({
    sport: 1,
    dport: 2,
    flags: SYN,
    options: synOptions(),
  });
  for (let n = 0; n < frame.length; n++) {
    const p = decodeFrame(frame.subarray(0, n));
    assert.ok(p.problem, `prefix ${n} reported no problem`);
    const want = n < 14
      ? /truncated Ethernet header/
      : n < 34
      ? /truncated IPv4 header/
      : n < 54
      ? /truncated TCP header/
      : /truncated TCP options/;
    assert.match(p.problem, want, `prefix ${n}`);
  }
  assert.equal(decodeFrame(frame).problem, undefined);
});

Deno.test("decodeFrame: malformed headers are reported, not trusted", () => {
  const base = () =>
    tcpFrame({ sport: 1, dport: 2, flags: ACK, options: [1, 1, 1, 1] });
  const bad = (edit: (f: Uint8Array) => void) => {
    const f = base();
    edit(f);
    return decodeFrame(f);
  };
  assert.match(bad((f) => f[14] = 0x43).problem!, /bad IPv4 header length 12/);
  assert.match(bad((f) => f[14] = 0x55).problem!, /IP version 5/);
  assert.match(
    bad((f) => new DataView(f.buffer).setUint16(16, 10)).problem!,
    /bad IPv4 total length 10/,
  );
  assert.match(bad((f) => f[46] = 0x30).problem!, /bad TCP header length 12/);
  assert.match(
    bad((f) => f[46] = 0xf0).problem!,
    /TCP header \(60 bytes\) longer than the IP payload \(24\)/,
  );
  // An option whose length is 0, 1, or runs past the header.
  for (const len of [0, 1, 9]) {
    const p = bad((f) => f.set([2, len, 0, 0], 54));
    assert.equal(p.problem, "malformed TCP option", `length ${len}`);
    assert.equal(p.tcp?.options.malformed, true);
  }
  const udp = udpFrame(1, 2, new Uint8Array(4));
  new DataView(udp.buffer).setUint16(38, 4);
  assert.match(decodeFrame(udp).problem!, /bad UDP length 4/);
  new DataView(udp.buffer).setUint16(38, 400);
  assert.match(decodeFrame(udp).problem!, /UDP length 400 past the IP payload/);
});

Deno.test("decodeFrame: a later IPv4 fragment has no transport header to read", () => {
  const f = tcpFrame({ sport: 1, dport: 2, flags: ACK, payload: 8 });
  new DataView(f.buffer).setUint16(20, 185); // offset 185 * 8
  const p = decodeFrame(f);
  assert.equal(p.fragment, true);
  assert.equal(p.tcp, undefined);
  assert.equal(p.problem, undefined);
});

Deno.test("decodeFrame: IPv6 extension headers are followed, a hostile chain is cut off", () => {
  const tcp = tcpFrame({
    src: "::1",
    dst: "::1",
    sport: 7,
    dport: 8,
    flags: SYN,
  })
    .subarray(14 + 40);
  const chain = (count: number) => {
    const ext = new Uint8Array(count * 8 + tcp.length);
    for (let i = 0; i < count; i++) ext[i * 8] = i === count - 1 ? 6 : 60;
    ext.set(tcp, count * 8);
    return ipFrame("::1", "::1", 0, ext);
  };
  const two = decodeFrame(chain(2));
  assert.equal(two.problem, undefined);
  assert.equal(two.tcp?.dstPort, 8);
  assert.match(
    decodeFrame(chain(20)).problem!,
    /more than 8 IPv6 extension headers/,
  );
});

Deno.test("decodeFrame: VLAN tags, raw IP and Linux cooked frames", () => {
  const eth = tcpFrame({ sport: 3, dport: 4, flags: SYN });
  const tagged = new Uint8Array(eth.length + 4);
  tagged.set(eth.subarray(0, 12));
  tagged.set([0x81, 0x00, 0x00, 0x05], 12);
  tagged.set(eth.subarray(12), 16);
  assert.equal(decodeFrame(tagged).tcp?.dstPort, 4);
  assert.equal(
    decodeFrame(eth.subarray(14), { linkType: 101 }).tcp?.dstPort,
    4,
  );
  const cooked = new Uint8Array(eth.length + 2);
  cooked.set([0x08, 0x00], 14);
  cooked.set(eth.subarray(14), 16);
  assert.equal(decodeFrame(cooked, { linkType: 113 }).tcp?.dstPort, 4);
  assert.match(
    decodeFrame(new Uint8Array([0x10]), { linkType: 101 }).problem!,
    /IP version 1/,
  );
});

Deno.test("decodeFrame: an IPv4 total length of 0 (a GSO super-packet) takes the frame's length", () => {
  const f = tcpFrame({ sport: 1, dport: 2, flags: ACK, payload: 1000 });
  new DataView(f.buffer).setUint16(16, 0);
  assert.equal(decodeFrame(f).tcp?.payloadLength, 1000);
});

Deno.test("decodeFrame: random bytes and random damage never throw", () => {
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const valid = [
    tcpFrame({ sport: 1, dport: 2, flags: SYN, options: synOptions() }),
    tcpFrame({
      src: "::1",
      dst: "::1",
      sport: 1,
      dport: 2,
      flags: ACK,
      payload: 9,
    }),
    udpFrame(1, 2, new Uint8Array(20)),
  ];
  for (let i = 0; i < 20_000; i++) {
    let frame: Uint8Array;
    if (i % 2 === 0) {
      frame = new Uint8Array(Math.floor(random() * 120));
      for (let j = 0; j < frame.length; j++) frame[j] = random() * 256;
      // Half of them claim to be IP, so the deeper layers are reached.
      if (frame.length > 14 && random() < 0.5) {
        frame[12] = random() < 0.5 ? 0x08 : 0x86;
        frame[13] = frame[12] === 0x08 ? 0x00 : 0xdd;
      }
    } else {
      frame = valid[i % valid.length]!.slice();
      for (let k = 0; k < 4; k++) {
        frame[Math.floor(random() * frame.length)] = random() * 256;
      }
      frame = frame.subarray(0, Math.floor(random() * (frame.length + 1)));
    }
    const p = decodeFrame(frame, { linkType: i % 7 === 0 ? 101 : 1 });
    assert.equal(typeof p, "object");
    // The catch-all is a last resort: every read is bounds-checked first.
    assert.doesNotMatch(p.problem ?? "", /undecodable/, String(frame));
    assert.ok(p.tcp === undefined || p.tcp.payloadLength >= 0);
    assert.ok(p.udp === undefined || p.udp.payloadLength >= 0);
  }
});

Deno.test("tcpFlagText: tcpdump's letters in tcpdump's order", () => {
  assert.equal(tcpFlagText(0xff), "FSRP.UEW");
  assert.equal(tcpFlagText(0x02), "S");
  assert.equal(tcpFlagText(0x12), "S.");
  assert.equal(tcpFlagText(0x11), "F.");
  assert.equal(tcpFlagText(0x14), "R.");
  assert.equal(tcpFlagText(0x18), "P.");
  assert.equal(tcpFlagText(0), "none");
});
