import assert from "node:assert/strict";
import { type LoadDriver, runLoad } from "../../load/mod.ts";

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
