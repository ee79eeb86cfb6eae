// The expert on hand-built conversations: relative numbers, window scale,
// each annotation and the states after every packet.

import assert from "node:assert/strict";
import {
  createTraceAnalyzer,
  decodeFrame,
  type TraceAnalyzer,
  type TraceNoteKind,
  type TracePacket,
} from "../../../tcp/trace/mod.ts";
import {
  ACK,
  FIN,
  PSH,
  RST,
  type SegmentSpec,
  SYN,
  synOptions,
  tcpFrame,
  udpFrame,
} from "./_frames.ts";

const C = 41172; // client port
const S = 8080; // server port
const CI = 1_000_000; // client ISN
const SI = 0xfffffff8; // server ISN: its numbers wrap around 2^32 mid-connection

/** A conversation driver: `c(...)` and `s(...)` send from client and server. */
function conversation(analyzer: TraceAnalyzer = createTraceAnalyzer()) {
  const send = (from: "c" | "s") =>
  (
    t: number,
    flags: number,
    seq: number,
    ack: number,
    extra: Partial<SegmentSpec> = {},
  ): TracePacket =>
    analyzer.add(
      decodeFrame(tcpFrame({
        sport: from === "c" ? C : S,
        dport: from === "c" ? S : C,
        flags,
        seq: (seq + (from === "c" ? CI : SI)) >>> 0,
        ack: (ack + (from === "c" ? SI : CI)) >>> 0,
        ...extra,
      })),
      t,
    );
  return { c: send("c"), s: send("s"), analyzer };
}

function kinds(p: TracePacket): TraceNoteKind[] {
  return p.notes.map((n) => n.kind);
}

Deno.test("expert: a whole connection, relative numbers and both states after each packet", () => {
  const { c, s } = conversation();
  const steps: [TracePacket, number, number | undefined, string, string][] = [];
  const at = (p: TracePacket, client: string, server: string) =>
    steps.push([p, p.relSeq!, p.relAck, client, server]);
  at(c(0, SYN, 0, 0, { options: synOptions() }), "SYN_SENT", "LISTEN");
  at(
    s(1, SYN | ACK, 0, 1, { options: synOptions() }),
    "ESTABLISHED",
    "SYN_RECV",
  );
  at(c(2, ACK, 1, 1), "ESTABLISHED", "ESTABLISHED");
  at(c(3, PSH | ACK, 1, 1, { payload: 5 }), "ESTABLISHED", "ESTABLISHED");
  at(s(4, ACK, 1, 6), "ESTABLISHED", "ESTABLISHED");
  at(c(5, FIN | ACK, 6, 1), "FIN_WAIT1", "CLOSE_WAIT");
  at(s(6, ACK, 1, 7), "FIN_WAIT2", "CLOSE_WAIT");
  at(s(7, PSH | ACK, 1, 7, { payload: 10 }), "FIN_WAIT2", "CLOSE_WAIT");
  at(c(8, ACK, 7, 11), "FIN_WAIT2", "CLOSE_WAIT");
  at(s(9, FIN | ACK, 11, 7), "TIME_WAIT", "LAST_ACK");
  at(c(10, ACK, 7, 12), "TIME_WAIT", "CLOSED");
  const [syn, synAck, ack, data, , fin, finAck, , , fin2, last] = steps.map((
    x,
  ) => x[0]);
  assert.deepEqual(
    steps.map(([p, seq, ack, cs, ss]) => [p.index, seq, ack, cs, ss]),
    [
      [1, 0, undefined, "SYN_SENT", "LISTEN"],
      [2, 0, 1, "ESTABLISHED", "SYN_RECV"],
      [3, 1, 1, "ESTABLISHED", "ESTABLISHED"],
      [4, 1, 1, "ESTABLISHED", "ESTABLISHED"],
      [5, 1, 6, "ESTABLISHED", "ESTABLISHED"],
      [6, 6, 1, "FIN_WAIT1", "CLOSE_WAIT"],
      [7, 1, 7, "FIN_WAIT2", "CLOSE_WAIT"],
      [8, 1, 7, "FIN_WAIT2", "CLOSE_WAIT"],
      [9, 7, 11, "FIN_WAIT2", "CLOSE_WAIT"],
      [10, 11, 7, "TIME_WAIT", "LAST_ACK"],
      [11, 7, 12, "TIME_WAIT", "CLOSED"],
    ].map(([i, seq, ack, cs, ss]) => [i, seq, ack, cs, ss]),
  );
  for (const [p, , , cs, ss] of steps) {
    assert.deepEqual(p.states, { client: cs, server: ss });
  }
  assert.equal(syn!.notes[0]!.text, "handshake 1/3 (SYN)");
  assert.equal(synAck!.notes[0]!.text, "handshake 2/3 (SYN-ACK)");
  assert.equal(ack!.notes[0]!.text, "handshake 3/3 (ACK)");
  assert.deepEqual(kinds(data!), []);
  assert.equal(syn!.from, "client");
  assert.equal(synAck!.from, "server");
  assert.equal(syn!.client, `127.0.0.1:${C}`);
  assert.equal(syn!.server, `127.0.0.1:${S}`);
  assert.deepEqual(kinds(fin!), ["fin"]);
  assert.match(fin!.notes[0]!.text, /FIN from the client/);
  assert.deepEqual(kinds(finAck!), ["fin-acked"]);
  assert.deepEqual(kinds(fin2!), ["fin", "time-wait"]);
  assert.match(fin2!.notes[1]!.text, /TIME_WAIT begins on the client/);
  assert.deepEqual(kinds(last!), ["fin-acked"]);
});

Deno.test("expert: windows scaled by each side's shift once both SYNs carried one", () => {
  const { c, s } = conversation();
  const syn = c(0, SYN, 0, 0, { window: 65495, options: synOptions(7) });
  s(1, SYN | ACK, 0, 1, { window: 65483, options: synOptions(9) });
  const ack = c(2, ACK, 1, 1, { window: 512 });
  const back = s(3, ACK, 1, 1, { window: 3 });
  assert.deepEqual([syn.windowBytes, syn.windowShift], [65495, 0]);
  assert.deepEqual([ack.windowBytes, ack.windowShift], [65536, 7]);
  assert.deepEqual([back.windowBytes, back.windowShift], [1536, 9]);
  // Only one SYN with the option: no scaling on either side.
  const other = conversation();
  other.c(0, SYN, 0, 0, { options: synOptions(7) });
  other.s(1, SYN | ACK, 0, 1, { options: [2, 4, 0xff, 0xd7] });
  const plain = other.c(2, ACK, 1, 1, { window: 512 });
  assert.deepEqual([plain.windowBytes, plain.windowShift], [512, 0]);
});

Deno.test("expert: a conversation seen without its SYN: numbers from the first seen, scale unknown, server by port", () => {
  const { c, s } = conversation(createTraceAnalyzer({ serverPorts: [C] }));
  const first = s(0, PSH | ACK, 100, 200, { payload: 10 });
  assert.equal(first.from, "client"); // port C was named as the server's
  assert.equal(first.relSeq, 1);
  assert.equal(first.relAck, 1);
  assert.equal(first.windowShift, undefined);
  assert.deepEqual(first.states, {
    client: "ESTABLISHED",
    server: "ESTABLISHED",
  });
  const reply = c(1, ACK, 200, 110);
  assert.deepEqual([reply.relSeq, reply.relAck], [1, 11]);
  // Without a hint the lower port is the server.
  const guess = conversation();
  assert.equal(guess.s(0, ACK, 5, 5).from, "server");
});

Deno.test("expert: SYN retransmissions with their intervals; no SYN-ACK means the listener ignored them", () => {
  const { c } = conversation();
  c(0, SYN, 0, 0);
  const second = c(1003, SYN, 0, 0);
  const third = c(3010, SYN, 0, 0);
  assert.deepEqual(kinds(second), ["retransmission"]);
  assert.equal(second.notes[0]!.intervalMs, 1003);
  assert.equal(third.notes[0]!.intervalMs, 2007);
  assert.match(
    third.notes[0]!.text,
    /^SYN retransmitted after 2\.007 s: no SYN-ACK came back/,
  );
  assert.deepEqual(third.states, { client: "SYN_SENT", server: "LISTEN" });
  assert.equal(third.relSeq, 0);
});

Deno.test("expert: a lost SYN-ACK, then a lost final ACK, correct the states they had implied", () => {
  const { c, s } = conversation();
  c(0, SYN, 0, 0);
  s(1, SYN | ACK, 0, 1);
  const again = c(1000, SYN, 0, 0);
  assert.match(again.notes[0]!.text, /the SYN-ACK did not reach the client/);
  assert.deepEqual(again.states, { client: "SYN_SENT", server: "SYN_RECV" });
  const answer = s(1001, SYN | ACK, 0, 1);
  assert.match(answer.notes[0]!.text, /answering the retransmitted SYN/);
  c(1002, ACK, 1, 1);
  const repeat = s(2001, SYN | ACK, 0, 1);
  assert.match(
    repeat.notes[0]!.text,
    /SYN-ACK retransmitted after 1\.000 s: no ACK from the client reached the server/,
  );
  assert.deepEqual(repeat.states, {
    client: "ESTABLISHED",
    server: "SYN_RECV",
  });
});

Deno.test("expert: a retransmitted segment and its interval, a partial one too", () => {
  const { c, s } = conversation();
  c(0, SYN, 0, 0);
  s(1, SYN | ACK, 0, 1);
  c(2, ACK, 1, 1);
  c(10, PSH | ACK, 1, 1, { payload: 100 });
  c(11, PSH | ACK, 101, 1, { payload: 100 });
  const again = c(210, PSH | ACK, 1, 1, { payload: 100 });
  assert.deepEqual(kinds(again), ["retransmission"]);
  assert.equal(again.notes[0]!.intervalMs, 200);
  assert.match(
    again.notes[0]!.text,
    /retransmission \(100 bytes\) after 0\.200 s/,
  );
  const part = c(400, PSH | ACK, 151, 1, { payload: 50 });
  assert.equal(part.notes[0]!.intervalMs, 389);
  // A second retransmission is timed from the first one, not the original.
  const twice = c(610, PSH | ACK, 1, 1, { payload: 100 });
  assert.equal(twice.notes[0]!.intervalMs, 400);
  // Acknowledged data is forgotten; a segment past it is new.
  s(401, ACK, 1, 201);
  assert.deepEqual(kinds(c(402, PSH | ACK, 201, 1, { payload: 10 })), []);
});

Deno.test("expert: duplicate ACKs counted while data is missing", () => {
  const { c, s } = conversation();
  c(0, SYN, 0, 0);
  s(1, SYN | ACK, 0, 1);
  c(2, ACK, 1, 1);
  s(3, PSH | ACK, 1, 1, { payload: 100 });
  s(4, PSH | ACK, 101, 1, { payload: 100 });
  s(5, PSH | ACK, 201, 1, { payload: 100 });
  const first = c(6, ACK, 1, 101);
  const dup1 = c(7, ACK, 1, 101);
  const dup2 = c(8, ACK, 1, 101);
  assert.deepEqual(kinds(first), []);
  assert.deepEqual(kinds(dup1), ["duplicate-ack"]);
  assert.equal(
    dup2.notes[0]!.text,
    "duplicate ACK #2: the client is missing bytes",
  );
  // Once everything is acknowledged the same ACK is not a duplicate.
  c(9, ACK, 1, 301);
  assert.deepEqual(kinds(c(10, ACK, 1, 301)), []);
});

Deno.test("expert: window full, zero window, window probes and the window opening again", () => {
  const { c, s } = conversation();
  c(0, SYN, 0, 0);
  s(1, SYN | ACK, 0, 1);
  c(2, ACK, 1, 1, { window: 300 });
  s(3, PSH | ACK, 1, 1, { payload: 100 });
  const full = s(4, PSH | ACK, 101, 1, { payload: 200 });
  assert.deepEqual(kinds(full), ["window-full"]);
  const zero = c(5, ACK, 1, 301, { window: 0 });
  assert.deepEqual(kinds(zero), ["zero-window"]);
  assert.match(zero.notes[0]!.text, /client's receive buffer is full/);
  const probe = s(205, ACK, 300, 301);
  assert.deepEqual(kinds(probe), ["window-probe"]);
  const still = c(206, ACK, 1, 301, { window: 0 });
  assert.match(still.notes[0]!.text, /still full/);
  const probe2 = s(605, ACK, 300, 301);
  assert.equal(probe2.notes[0]!.intervalMs, 400);
  const open = c(700, ACK, 1, 301, { window: 300 });
  assert.deepEqual(kinds(open), ["window-update"]);
  assert.match(open.notes[0]!.text, /window opens again/);
  // An open window and the same shape: a keep-alive, not a probe.
  assert.deepEqual(kinds(s(800, ACK, 300, 301)), ["keep-alive"]);
});

Deno.test("expert: RST and who sent it; refused when it answers a SYN", () => {
  const refused = conversation();
  refused.c(0, SYN, 0, 0);
  const rst = refused.s(1, RST | ACK, 0, 1);
  assert.deepEqual(kinds(rst), ["reset"]);
  assert.equal(rst.notes[0]!.text, "RST from the server: connection refused");
  assert.deepEqual(rst.states, { client: "CLOSED", server: "CLOSED" });
  const { c, s } = conversation();
  c(0, SYN, 0, 0);
  s(1, SYN | ACK, 0, 1);
  c(2, ACK, 1, 1);
  const abort = c(3, RST | ACK, 1, 1);
  assert.equal(
    abort.notes[0]!.text,
    "RST from the client: the connection is aborted",
  );
});

Deno.test("expert: a FIN retransmitted because its ACK was lost puts the closer back in FIN_WAIT1", () => {
  const { c, s } = conversation();
  c(0, SYN, 0, 0);
  s(1, SYN | ACK, 0, 1);
  c(2, ACK, 1, 1);
  c(3, FIN | ACK, 1, 1);
  assert.deepEqual(s(4, ACK, 1, 2).states, {
    client: "FIN_WAIT2",
    server: "CLOSE_WAIT",
  });
  const again = c(210, FIN | ACK, 1, 1);
  assert.deepEqual(kinds(again), ["retransmission"]);
  assert.match(
    again.notes[0]!.text,
    /the server's ACK of the FIN did not reach the client/,
  );
  assert.deepEqual(again.states, { client: "FIN_WAIT1", server: "CLOSE_WAIT" });
});

Deno.test("expert: a new SYN with a new ISN on the same ports starts a new conversation", () => {
  const { c, s, analyzer } = conversation();
  c(0, SYN, 0, 0);
  s(1, SYN | ACK, 0, 1);
  c(2, ACK, 1, 1);
  const reuse = analyzer.add(
    decodeFrame(tcpFrame({ sport: C, dport: S, flags: SYN, seq: 777 })),
    60_000,
  );
  assert.deepEqual(kinds(reuse), ["handshake"]);
  assert.equal(reuse.relSeq, 0);
});

Deno.test("expert: conversations are bounded", () => {
  const analyzer = createTraceAnalyzer({ maxConversations: 3 });
  for (let port = 1000; port < 1010; port++) {
    analyzer.add(
      decodeFrame(tcpFrame({ sport: port, dport: 80, flags: SYN })),
      0,
    );
    assert.ok(analyzer.conversations <= 3);
  }
  assert.equal(analyzer.conversations, 3);
});

Deno.test("expert: UDP has ends but no states; a malformed packet says so and goes on", () => {
  const analyzer = createTraceAnalyzer({ serverPorts: [53] });
  const q = analyzer.add(
    decodeFrame(udpFrame(40000, 53, new Uint8Array(3))),
    0,
  );
  assert.equal(q.from, "client");
  assert.equal(q.states, undefined);
  const broken = analyzer.add(decodeFrame(new Uint8Array(5)), 1);
  assert.deepEqual(kinds(broken), ["malformed"]);
  assert.equal(broken.index, 2);
});
