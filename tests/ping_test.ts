import assert from "node:assert/strict";
import { type PingProbe, summarizePings } from "../ping.ts";

const probe = (seq: number, rttMs: number | null): PingProbe => ({
  seq,
  rttMs,
  bytes: 64,
});

Deno.test("summarizePings: lost probes count as loss, RTT stats cover replies only", () => {
  // Known times, out of order, with two of five probes lost.
  const s = summarizePings([
    probe(1, 4),
    probe(2, null),
    probe(3, 1),
    probe(4, null),
    probe(5, 7),
  ]);
  assert.deepEqual(s, {
    sent: 5,
    received: 3,
    lossPercent: 40,
    minMs: 1,
    avgMs: 4,
    maxMs: 7,
    p99Ms: 7,
  });
});

Deno.test("summarizePings: p99 is the nearest-rank 99th percentile, not the max or min", () => {
  // 200 replies of 1..200 ms: nearest rank ceil(0.99 × 200) = 198.
  const probes = Array.from({ length: 200 }, (_, i) => probe(i + 1, 200 - i));
  const s = summarizePings(probes);
  assert.equal(s.p99Ms, 198);
  assert.equal(s.minMs, 1);
  assert.equal(s.maxMs, 200);
  assert.equal(s.avgMs, 100.5);
  assert.equal(s.lossPercent, 0);
});

Deno.test("summarizePings: every probe lost is 100% loss and no RTT", () => {
  assert.deepEqual(summarizePings([probe(1, null), probe(2, null)]), {
    sent: 2,
    received: 0,
    lossPercent: 100,
    minMs: null,
    avgMs: null,
    maxMs: null,
    p99Ms: null,
  });
});

Deno.test("summarizePings: no probes is no loss and no RTT", () => {
  assert.deepEqual(summarizePings([]), {
    sent: 0,
    received: 0,
    lossPercent: 0,
    minMs: null,
    avgMs: null,
    maxMs: null,
    p99Ms: null,
  });
});
