import assert from "node:assert/strict";
import { type LoadDriver, LoadSchedule, runLoad } from "../../load/mod.ts";

/** A driver answering in-process: replies after `answer` decides. */
function fakeDriver(
  answer: (n: number) => boolean | "lose",
): LoadDriver & { opened: number } {
  let counter = 0;
  const driver = {
    protocol: "fake",
    target: "here",
    mode: "echo",
    direction: "received" as const,
    opened: 0,
    open: (sink: Parameters<LoadDriver["open"]>[0]) => {
      driver.opened++;
      return Promise.resolve({
        send(count: number) {
          queueMicrotask(() => {
            for (let i = 0; i < count; i++) {
              const a = answer(counter++);
              if (a === "lose") continue;
              sink.received(8);
              sink.reply(a);
            }
          });
        },
        close() {},
      });
    },
  };
  return driver;
}

Deno.test("runLoad: closed loop stops at exactly the requested count", async () => {
  const r = await runLoad(fakeDriver(() => true), {
    connections: 3,
    pipeline: 4,
    requests: 1000,
    kernelCounters: false,
  });
  assert.equal(r.requests, 1000);
  assert.equal(r.sent, 1000);
  assert.equal(r.ended, "requests");
  assert.equal(r.histogram.count, 1000);
});

Deno.test("runLoad: wrong replies count as mismatch, unanswered ones as timeout", async () => {
  const r = await runLoad(
    fakeDriver((n) => n === 7 ? "lose" : n % 10 !== 3),
    {
      connections: 1,
      requests: 100,
      timeoutMs: 100,
      kernelCounters: false,
    },
  );
  assert.equal(r.errors.mismatch, 10);
  assert.equal(r.errors.timeout, 1);
  assert.equal(r.requests, 89);
});

Deno.test("runLoad: an aborted run returns what it measured", async () => {
  const stop = new AbortController();
  let n = 0;
  const r = await runLoad(
    fakeDriver(() => {
      if (++n === 500) stop.abort();
      return true;
    }),
    { durationMs: 60_000, signal: stop.signal, kernelCounters: false },
  );
  assert.equal(r.ended, "aborted");
  assert.ok(r.requests >= 499 && r.requests <= 501, String(r.requests));
});

Deno.test("runLoad: refuses impossible options", async () => {
  await assert.rejects(
    runLoad(fakeDriver(() => true), { connections: 0 }),
    { code: "bad_option" },
  );
});

/** A driver whose channels only record what they are asked to send; the test answers through the sinks. */
function handDriver(mode = "echo", datagrams = false) {
  const sinks: Parameters<LoadDriver["open"]>[0][] = [];
  const sends: number[][] = [];
  const driver: LoadDriver = {
    protocol: "hand",
    target: "here",
    mode,
    direction: "received",
    requests: true,
    datagrams,
    open: (sink) => {
      const i = sinks.length;
      sinks.push(sink);
      sends.push([]);
      return Promise.resolve({
        send: (n) => void sends[i]!.push(n),
        close() {},
      });
    },
  };
  return { driver, sinks, sends };
}

const opened = () => new Promise((r) => setTimeout(r, 0));

Deno.test("LoadSchedule: open loop makes request i due at i / rate, told the time, spread over the connections", async () => {
  const { driver, sends } = handDriver();
  const s = new LoadSchedule(driver, {
    ratePerSecond: 2000,
    connections: 2,
    pipeline: 1000,
    durationMs: 100,
  });
  s.start(1000);
  await opened();
  s.tick(1000); // due at 0 ms
  s.tick(1004.9); // due at 0.5, 1, …, 4.5 ms: 10 in all
  const total = () => sends.flat().reduce((a, b) => a + b, 0);
  assert.equal(total(), 10);
  // The first went to the first connection to open; then turn by turn.
  assert.equal(sends[0]!.reduce((a, b) => a + b, 0), 6);
  assert.equal(sends[1]!.reduce((a, b) => a + b, 0), 4);
  // Nothing falls due after the window, however late the tick.
  s.tick(5000);
  assert.equal(total(), 200);
  s.end(5000);
  assert.equal(s.result().sent, 200);
  assert.equal(s.result().durationMs, 100);
});

Deno.test("LoadSchedule: a stalled connection's queued requests carry their wait (no coordinated omission), without sleeping", async () => {
  const { driver, sinks, sends } = handDriver();
  let t = 0;
  const s = new LoadSchedule(driver, {
    ratePerSecond: 1000,
    pipeline: 1,
    durationMs: 1000,
    clock: () => t,
  });
  s.start(0);
  await opened();
  for (let now = 0; now < 100; now++) s.tick(now);
  // One request in flight (pipeline 1), 99 due and queued behind it.
  assert.deepEqual(sends[0], [1]);
  // The server answers everything at 300 ms: each reply frees the slot
  // for the next queued request, answered at once.
  t = 300;
  for (let i = 0; i < 100; i++) sinks[0]!.reply(true);
  s.end(300);
  const r = s.result();
  assert.equal(r.requests, 100);
  // The first was due at 0 ms, the last at 99 ms: 300 and 201 ms.
  assert.equal(r.latencyMs.max, 300);
  assert.ok(Math.abs(r.histogram.minUs - 201_000) < 1, `${r.histogram.minUs}`);
});

Deno.test("LoadSchedule: requests older than the timeout are counted at the sweep and the channel reopened", async () => {
  const { driver, sends } = handDriver();
  const s = new LoadSchedule(driver, {
    pipeline: 3,
    timeoutMs: 100,
    durationMs: 10_000,
    clock: () => 0,
  });
  s.start(0);
  await opened();
  assert.deepEqual(sends, [[3]]);
  s.sweep(50);
  assert.equal(s.result().errors.timeout, 0);
  s.sweep(101);
  assert.equal(s.result().errors.timeout, 3);
  // Reopened after its pause (25 ms doubling): a second channel.
  s.tick(160);
  await opened();
  assert.equal(sends.length, 2);
});

Deno.test("LoadSchedule: the timeline's intervals add up to the totals and close on the grid", async () => {
  const { driver, sinks } = handDriver();
  let t = 0;
  const seen: number[] = [];
  const s = new LoadSchedule(driver, {
    pipeline: 1,
    durationMs: 2500,
    intervalMs: 1000,
    clock: () => t,
    onProgress: (p) => seen.push(p.interval?.requests ?? -1),
  });
  s.start(0);
  await opened();
  for (t = 1; t <= 2400; t += 1) {
    sinks[0]!.reply(true); // one reply per millisecond
    if (t % 10 === 0) s.tick(t);
  }
  s.end(2600);
  const r = s.result();
  assert.equal(r.timeline!.length, 3);
  assert.deepEqual(r.timeline!.map((i) => i.startMs), [0, 1000, 2000]);
  assert.deepEqual(r.timeline!.map((i) => i.durationMs), [1000, 1000, 500]);
  assert.equal(r.timeline!.reduce((n, i) => n + i.requests, 0), r.requests);
  assert.equal(r.requests, 2400);
  assert.deepEqual(seen, [1000, 1000, 400]);
});

Deno.test("LoadSchedule: datagrams never answered are lost, not timeouts; jitter follows the round trips", async () => {
  const { driver, sinks } = handDriver("stream", true);
  let t = 0;
  const s = new LoadSchedule(driver, {
    ratePerSecond: 1000,
    durationMs: 10,
    timeoutMs: 50,
    clock: () => t,
  });
  s.start(0);
  await opened();
  for (let now = 0; now < 10; now++) s.tick(now);
  // Echoes of 0..5 arrive with round trips alternating 1 and 3 ms; 6..9
  // never come back.
  for (let i = 0; i < 6; i++) {
    t = i + (i % 2 === 0 ? 1 : 3);
    sinks[0]!.reply(true);
  }
  s.sweep(100);
  s.end(100);
  const r = s.result();
  assert.equal(r.errors.timeout, 0);
  assert.equal(r.datagrams!.sent, 10);
  assert.equal(r.datagrams!.received, 6);
  assert.equal(r.datagrams!.lost, 4);
  assert.equal(r.datagrams!.lossPercent, 40);
  // Five differences of 2 ms through J += (|D| − J) / 16.
  const expected = 2 * (1 - (15 / 16) ** 5);
  assert.ok(Math.abs(r.datagrams!.jitterMs - expected) < 0.001);
});

Deno.test("LoadSchedule: status codes are counted by class in the window only", async () => {
  const { driver, sinks } = handDriver();
  const s = new LoadSchedule(driver, {
    pipeline: 8,
    warmupMs: 100,
    durationMs: 1000,
  });
  s.start(0);
  await opened();
  sinks[0]!.status(500); // during the warm-up: not counted
  sinks[0]!.reply(true);
  s.beginWindow(100);
  // A class is the hundreds, however high the rest (299 is 2xx, 451 4xx).
  for (const code of [200, 204, 299, 404, 451, 503]) {
    sinks[0]!.status(code);
    sinks[0]!.reply(true);
  }
  s.end(200);
  assert.deepEqual(s.result().status, { "2xx": 3, "4xx": 2, "5xx": 1 });
});

Deno.test("runLoad: a start time already past is refused; one ahead is waited for", async () => {
  await assert.rejects(
    runLoad(fakeDriver(() => true), {
      requests: 1,
      startAt: Date.now() - 1000,
      kernelCounters: false,
    }),
    { code: "start_passed" },
  );
  const at = Date.now() + 300;
  const r = await runLoad(fakeDriver(() => true), {
    requests: 10,
    startAt: at,
    kernelCounters: false,
  });
  assert.ok(r.startedAt! >= at, `${r.startedAt} < ${at}`);
  assert.equal(r.requests, 10);
});
