// The connection timer core (ws/_timers.ts) driven with made-up times:
// the close linger, keep-alive pings on an interval and when idle, and
// the ping timeout, without a single real wait.

import assert from "node:assert/strict";
import { WsTimers } from "../../ws/_timers.ts";

Deno.test("timers: no keep-alive, no deadline until the close starts; then the linger", () => {
  const timers = new WsTimers({ closeTimeoutMs: 5000 }, 1000);
  assert.equal(timers.nextDeadline(), Infinity);
  assert.equal(timers.handleTimeout(1_000_000), null);
  timers.closing(2000);
  assert.equal(timers.nextDeadline(), 7000);
  assert.equal(timers.handleTimeout(6999), null);
  assert.equal(timers.handleTimeout(7000), "close_timeout");
  // The earliest close deadline wins (a shorter linger after a dead ping).
  const short = new WsTimers({ closeTimeoutMs: 5000 }, 0);
  short.closing(100, 60_000);
  short.closing(200, 300);
  assert.equal(short.nextDeadline(), 500);
  short.closing(300);
  assert.equal(short.nextDeadline(), 500);
});

Deno.test("timers: interval keep-alive pings after each answered ping; only the pong answers", () => {
  const timers = new WsTimers(
    { closeTimeoutMs: 5000, pingIntervalMs: 1000, pingTimeoutMs: 300 },
    0,
  );
  assert.equal(timers.nextDeadline(), 1000);
  // Traffic does not postpone the ping: every interval gives an RTT.
  timers.received(900);
  assert.equal(timers.handleTimeout(999), null);
  assert.equal(timers.handleTimeout(1000), "ping");
  assert.equal(timers.nextDeadline(), 1300);
  timers.received(1100); // data is not the pong
  timers.pong(1250);
  assert.equal(timers.nextDeadline(), 2250);
  assert.equal(timers.handleTimeout(2250), "ping");
  // No pong: gone once, then nothing more from keep-alive.
  assert.equal(timers.handleTimeout(2549), null);
  assert.equal(timers.handleTimeout(2550), "ping_timeout");
  assert.equal(timers.nextDeadline(), Infinity);
  assert.equal(timers.handleTimeout(10_000), null);
  // The close that follows has its own deadline.
  timers.closing(2550, 300);
  assert.equal(timers.handleTimeout(2850), "close_timeout");
});

Deno.test("timers: idle keep-alive pings only a silent peer, and any byte answers", () => {
  const timers = new WsTimers(
    { closeTimeoutMs: 5000, pingIntervalMs: 500, keepAlive: "idle" },
    0,
  );
  timers.received(400);
  assert.equal(timers.handleTimeout(500), null);
  assert.equal(timers.nextDeadline(), 900);
  assert.equal(timers.handleTimeout(900), "ping");
  // The timeout defaults to the interval.
  assert.equal(timers.nextDeadline(), 1400);
  timers.received(1000);
  assert.equal(timers.handleTimeout(1400), null);
  assert.equal(timers.nextDeadline(), 1500);
  assert.equal(timers.handleTimeout(1500), "ping");
  assert.equal(timers.handleTimeout(2000), "ping_timeout");
});

Deno.test("timers: a close stops keep-alive", () => {
  const timers = new WsTimers(
    { closeTimeoutMs: 1000, pingIntervalMs: 100 },
    0,
  );
  timers.closing(50);
  assert.equal(timers.nextDeadline(), 1050);
  assert.equal(timers.handleTimeout(500), null);
  assert.equal(timers.handleTimeout(1050), "close_timeout");
});

Deno.test("timers: a ping timeout of 0 never declares the peer gone; pings go on", () => {
  const timers = new WsTimers(
    { closeTimeoutMs: 5000, pingIntervalMs: 100, pingTimeoutMs: 0 },
    0,
  );
  assert.equal(timers.handleTimeout(100), "ping");
  assert.equal(timers.nextDeadline(), 200);
  assert.equal(timers.handleTimeout(200), "ping");
  timers.pong(250);
  assert.equal(timers.nextDeadline(), 350);
});
