import { counterDeltas } from "../../tcp/proc/counters.ts";
import assert from "node:assert/strict";
import {
  checkLoadTarget,
  classifyLoadError,
  emptyLoadResult,
  LatencyHistogram,
  loadCounterDeltas,
  type LoadDriver,
  type LoadResult,
  mergeLoadResults,
  readKernelCountersOrNone,
  runLoad,
} from "../../load/mod.ts";
import { seededBytes } from "../_helpers.ts";

function samples(count: number, seed: number): number[] {
  const bytes = seededBytes(count * 2, seed);
  // 0.01 ms .. ~650 ms, spread over many decades.
  return Array.from(
    { length: count },
    (_, i) => ((bytes[2 * i]! << 8 | bytes[2 * i + 1]!) + 1) ** 1.4 / 1000,
  );
}

function exactPercentile(values: number[], percent: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(percent / 100 * sorted.length) - 1)]!;
}

Deno.test("histogram: percentiles within 3 % of the exact ones, max exact", () => {
  const values = samples(20_000, 3);
  const h = new LatencyHistogram();
  for (const v of values) h.record(v);
  for (const p of [50, 90, 99, 99.9]) {
    const exact = exactPercentile(values, p);
    const got = h.percentileMs(p);
    assert.ok(
      got >= exact - 0.001 && got <= exact * 1.035 + 0.001,
      `p${p}: ${got} vs exact ${exact}`,
    );
  }
  assert.equal(h.maxMs, Math.round(Math.max(...values) * 1000) / 1000);
  assert.equal(h.count, values.length);
});

Deno.test("histogram: two halves added equal the whole, through JSON too", () => {
  const values = samples(5000, 9);
  const whole = new LatencyHistogram();
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  values.forEach((v, i) => {
    whole.record(v);
    (i % 2 ? a : b).record(v);
  });
  const merged = LatencyHistogram.fromJSON(
    JSON.parse(JSON.stringify(a.toJSON())),
  );
  merged.add(JSON.parse(JSON.stringify(b)));
  assert.deepEqual(merged.toJSON(), whole.toJSON());
});

Deno.test("histogram: a malformed JSON form is refused", () => {
  assert.throws(
    () => LatencyHistogram.fromJSON({ unit: "ms" } as never),
    { code: "bad_histogram" },
  );
  assert.throws(
    () =>
      LatencyHistogram.fromJSON({
        unit: "us",
        count: 1,
        sumUs: 1,
        minUs: 1,
        maxUs: 1,
        buckets: [[-5, 1]],
      }),
    { code: "bad_histogram" },
  );
});

function resultWith(
  requests: number,
  latencies: number[],
  extra: Partial<LoadResult> = {},
): LoadResult {
  const h = new LatencyHistogram();
  for (const l of latencies) h.record(l);
  return {
    ...emptyLoadResult("tcp", "127.0.0.1:1", "echo"),
    requests,
    sent: requests,
    rate: requests,
    histogram: h.toJSON(),
    ...extra,
  };
}

Deno.test("merge: counts, errors, kernel deltas and histograms add", () => {
  const a = resultWith(3, [1, 2, 3], { kernel: { TcpExtListenOverflows: 2 } });
  a.errors.timeout = 1;
  const b = resultWith(2, [50, 60], {
    kernel: { TcpExtListenOverflows: 1, TW: 4 },
  });
  b.errors.timeout = 2;
  b.errors.reset = 5;
  const m = mergeLoadResults([a, b]);
  assert.equal(m.requests, 5);
  assert.equal(m.rate, 5);
  assert.equal(m.loops, 2);
  assert.equal(m.errors.timeout, 3);
  assert.equal(m.errors.reset, 5);
  assert.deepEqual(m.kernel, { TcpExtListenOverflows: 3, TW: 4 });
  assert.equal(m.histogram.count, 5);
  assert.equal(m.latencyMs.max, 60);
  // The top of the 3 % bucket holding the third sample (3 ms).
  assert.ok(
    m.latencyMs.p50 >= 3 && m.latencyMs.p50 <= 3.1,
    `${m.latencyMs.p50}`,
  );
  assert.throws(() => mergeLoadResults([]), { code: "bad_result" });
  assert.throws(
    () => mergeLoadResults([{ hello: 1 } as never]),
    { code: "bad_result" },
  );
});

Deno.test("targets: loopback allowed, anything else refused without allowRemote", () => {
  for (const h of ["127.0.0.1", "127.8.9.10", "::1", "localhost"]) {
    checkLoadTarget(h);
  }
  for (const h of ["10.0.0.1", "192.0.2.1", "example.com", "::"]) {
    assert.throws(() => checkLoadTarget(h), { code: "remote_target" }, h);
  }
  checkLoadTarget("192.0.2.1", { allowRemote: true });
});

Deno.test("classifyLoadError names the causes", () => {
  assert.equal(
    classifyLoadError(new Deno.errors.ConnectionRefused("x")),
    "refused",
  );
  assert.equal(
    classifyLoadError(new Deno.errors.ConnectionReset("x")),
    "reset",
  );
  assert.equal(classifyLoadError(new Deno.errors.BrokenPipe("x")), "closed");
  assert.equal(classifyLoadError(new Deno.errors.UnexpectedEof("x")), "closed");
  assert.equal(
    classifyLoadError(new Error("Too many open files (os error 24)")),
    "emfile",
  );
  assert.equal(
    classifyLoadError(new DOMException("t", "TimeoutError")),
    "timeout",
  );
  assert.equal(classifyLoadError(new Error("weird")), "other");
  assert.deepEqual(counterDeltas({ a: 1, b: 2 }, { a: 1, b: 7 }), { b: 5 });
});

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

Deno.test("loadCounterDeltas: TCP and UDP counters that moved, gauges and IP left out", () => {
  const moved = loadCounterDeltas(
    {
      TcpExtListenOverflows: 1,
      TcpActiveOpens: 10,
      UdpInErrors: 0,
      TcpCurrEstab: 3,
      IpInReceives: 100,
      TcpExtTCPSynRetrans: 7,
    },
    {
      TcpExtListenOverflows: 5,
      TcpActiveOpens: 30,
      UdpInErrors: 2,
      TcpCurrEstab: 9,
      IpInReceives: 400,
      TcpExtTCPSynRetrans: 7,
    },
  );
  assert.deepEqual(moved, {
    TcpExtListenOverflows: 4,
    TcpActiveOpens: 20,
    UdpInErrors: 2,
  });
});

Deno.test({
  name: "readKernelCountersOrNone: nstat names from tcp/proc's reader",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const counters = await readKernelCountersOrNone();
    for (
      const name of [
        "TcpExtListenOverflows",
        "TcpExtTCPSynRetrans",
        "UdpInErrors",
      ]
    ) {
      assert.equal(typeof counters[name], "number", name);
    }
    assert.equal(counters.ListenOverflows, undefined);
  },
});
