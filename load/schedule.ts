/**
 * The closed- and open-loop scheduler. {@linkcode LoadSchedule} is its
 * core: it is told the time (`tick(now)`, `sweep(now)`) and given a clock
 * for replies, and never reads the wall clock or sets a timer itself, so
 * tests drive its timing rules without waiting. {@linkcode runLoad} is the
 * driver around it: timers, the start time, the kernel's counters and the
 * result.
 *
 * @module
 */

import { LatencyHistogram } from "./histogram.ts";
import {
  classifyLoadError,
  LOAD_ERROR_CAUSES,
  type LoadErrorCause,
} from "./errors.ts";
import type { LoadResult } from "./result.ts";
import {
  checkLoadOptions,
  type LoadInterval,
  type LoadOptions,
} from "./options.ts";
import type { LoadChannel, LoadDriver, LoadSink } from "./driver.ts";
import { latencyOf, noErrors, round } from "./_figures.ts";
import { waitForStart } from "./shard.ts";

interface Slot {
  channel: LoadChannel | undefined;
  // Due times of the requests in flight, oldest first (a ring).
  due: Float64Array;
  head: number;
  inFlight: number;
  generation: number;
  retryAt: number;
  failures: number;
}

const TICK_MS = 1;
const SWEEP_MS = 50;
// A timeline longer than this keeps counting in the totals only.
const MAX_TIMELINE = 100_000;

/**
 * Runs a load: waits for `startAt` if given, opens the driver's channels
 * (at `connectRatePerSecond` if given), keeps them busy until the window
 * ends, and returns the result.
 *
 * Closed loop (no `ratePerSecond`): each channel keeps `pipeline` requests
 * in flight and sends the next as a reply arrives. Open loop: a clock makes
 * requests due at `ratePerSecond`, spread over the channels; a request's
 * latency is measured from the moment it was due, not from when a busy
 * channel got round to sending it, so a stalling server shows its stall in
 * the percentiles instead of slowing the client down (no coordinated
 * omission). Requests in flight longer than `timeoutMs` count as
 * `timeout` and their channel is reopened; a dead channel is reopened
 * after a pause, so every failure is counted and the run goes on.
 *
 * @throws {LoadError} `bad_option` for an impossible option;
 * `start_passed` when `startAt` is already past.
 *
 * @example A tiny driver that answers every request itself
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LoadDriver, runLoad } from "@netkit/netkit";
 *
 * const driver: LoadDriver = {
 *   protocol: "demo",
 *   target: "nowhere",
 *   mode: "echo",
 *   direction: "received",
 *   open: (sink) => Promise.resolve({
 *     send(count) {
 *       queueMicrotask(() => {
 *         for (let i = 0; i < count; i++) sink.reply(true);
 *       });
 *     },
 *     close() {},
 *   }),
 * };
 * const result = await runLoad(driver, { requests: 100, kernelCounters: false });
 * assert.equal(result.requests, 100);
 * assert.equal(result.ended, "requests");
 * ```
 */
export async function runLoad(
  driver: LoadDriver,
  options: LoadOptions = {},
): Promise<LoadResult> {
  checkLoadOptions(options);
  const signal = options.signal;
  if (options.startAt !== undefined) {
    await waitForStart(options.startAt, { signal });
  }
  const schedule = new LoadSchedule(driver, {
    ...options,
    clock: () => performance.now(),
  });
  const source = options.kernelCounters === false
    ? undefined
    : options.counters;
  let before: Record<string, number> | undefined;
  const timers: ReturnType<typeof setTimeout>[] = [];
  const onAbort = () => schedule.stop("aborted");
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (signal?.aborted) schedule.stop("aborted");
    const warmupMs = options.warmupMs ?? 0;
    if (warmupMs === 0 && source) before = await source.read();
    schedule.start(performance.now());
    // A fine clock only where something runs on it: the open-loop rate
    // and the connect rate; otherwise it reopens failed channels and
    // closes intervals.
    const fine = schedule.openLoop ||
      options.connectRatePerSecond !== undefined;
    timers.push(
      setInterval(() => schedule.tick(performance.now()), fine ? TICK_MS : 10),
      setInterval(() => schedule.sweep(performance.now()), SWEEP_MS),
    );
    const after = (ms: number) =>
      Promise.race([
        new Promise((r) => timers.push(setTimeout(r, Math.max(0, ms)))),
        schedule.finished,
      ]);
    if (!schedule.measuring && !schedule.stopped) {
      await after(warmupMs);
      if (!schedule.stopped) {
        if (source) before = await source.read();
        schedule.beginWindow(performance.now());
      }
    }
    if (!schedule.stopped) {
      await after(schedule.windowEnd - performance.now());
    }
  } finally {
    for (const t of timers) clearInterval(t);
    signal?.removeEventListener("abort", onAbort);
  }
  schedule.end(performance.now());
  // Read before closing: the resets of our own close are not the run's.
  const kernel: Record<string, number> = {};
  if (before && source) {
    const now = await source.read();
    for (const [name, value] of Object.entries(now)) {
      const delta = value - (before[name] ?? 0);
      if (delta !== 0) kernel[name] = delta;
    }
  }
  try {
    await options.onWindowEnd?.();
  } finally {
    schedule.close();
  }
  const result = schedule.result();
  result.kernel = kernel;
  if (source) result.kernelScope = source.scope;
  result.host = hostName();
  result.startedAt = Math.round(
    performance.timeOrigin + schedule.windowStart,
  );
  return result;
}

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/** Options of {@linkcode LoadSchedule}: the run's options and its clock. */
export interface LoadScheduleOptions extends LoadOptions {
  /**
   * The time replies are stamped with, in milliseconds on the same scale
   * as the `now` given to the methods. Default: the last `now` given.
   */
  clock?: () => number;
}

/**
 * The scheduler's core: which channel sends how many requests when, the
 * due time of every request in flight, timeouts, the window, intervals
 * and the counts. Time is an input: {@linkcode runLoad} calls `tick(now)`
 * every millisecond (open loop) and `sweep(now)` every 50 ms, and gives a
 * clock that stamps replies; a test gives times of its choosing instead
 * and sees, without waiting, when requests fall due and what their
 * latencies are.
 *
 * @example Open loop at 1000 requests per second, driven by hand
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LoadDriver, type LoadSink, LoadSchedule } from "@netkit/netkit/load";
 *
 * const sinks: LoadSink[] = [];
 * let sent = 0;
 * const driver: LoadDriver = {
 *   protocol: "demo", target: "here", mode: "echo", direction: "received",
 *   open: (sink) => {
 *     sinks.push(sink);
 *     return Promise.resolve({ send: (n) => void (sent += n), close() {} });
 *   },
 * };
 * let t = 0;
 * const schedule = new LoadSchedule(driver, { ratePerSecond: 1000, clock: () => t });
 * schedule.start(0);
 * await Promise.resolve(); // the channel opens
 * schedule.tick(9.5); // requests due at 0, 1, …, 9 ms
 * assert.equal(sent, 10);
 * t = 20;
 * for (let i = 0; i < 10; i++) sinks[0]!.reply(true);
 * schedule.end(20);
 * const r = schedule.result();
 * assert.equal(r.requests, 10);
 * assert.equal(r.latencyMs.max, 20); // the first was due at 0 ms
 * ```
 */
export class LoadSchedule {
  readonly #driver: LoadDriver;
  readonly #options: LoadScheduleOptions;
  readonly #clock: () => number;
  readonly #requestMode: boolean;
  readonly #openLoop: boolean;
  readonly #datagrams: boolean;
  readonly #depth: number;
  readonly #timeoutMs: number;
  readonly #rate: number;
  readonly #limit: number;
  readonly #durationMs: number;
  readonly #intervalMs: number;
  readonly #slots: Slot[] = [];
  readonly #histogram = new LatencyHistogram();
  readonly #interval = new LatencyHistogram();
  readonly #errors = noErrors();
  readonly #stop = new AbortController();
  #measuring = false;
  // Mirrors #stop.signal.aborted: a plain field on the per-reply path.
  #stopped = false;
  #now = 0;
  #windowStart = 0;
  #windowEnd = Infinity;
  #measuredMs = 0;
  #started = 0;
  #requests = 0;
  #replies = 0;
  #sent = 0;
  #issued = 0;
  #bytesSent = 0;
  #bytesReceived = 0;
  #connects = 0;
  #lost = 0;
  #jitter = 0;
  #lastLatency = -1;
  #status: Record<string, number> | undefined;
  #ended = "duration";
  // Open loop: requests due but not yet given to a channel (a ring).
  #queue: Float64Array = new Float64Array(0);
  #queueHead = 0;
  #queued = 0;
  #dueCount = 0;
  #rr = 0;
  // Connections not opened yet start at #rampNext; failed ones wait in
  // #retry until their retryAt (the earliest is #nextRetry).
  #rampNext = 0;
  #retry: Slot[] = [];
  #nextRetry = Infinity;
  #counts: number[] = [];
  #touched: number[] = [];
  #finished = Promise.withResolvers<string>();
  // The interval being counted.
  #intervalStart = 0;
  #nextInterval = Infinity;
  #intervalRequests = 0;
  #intervalErrors = 0;
  #intervalSent = 0;
  #intervalReceived = 0;
  readonly #timeline: LoadInterval[] = [];

  /**
   * A schedule for `driver`; nothing happens until {@linkcode start}.
   *
   * @throws {LoadError} `bad_option` for an impossible option.
   */
  constructor(driver: LoadDriver, options: LoadScheduleOptions = {}) {
    checkLoadOptions(options);
    this.#driver = driver;
    this.#options = options;
    this.#clock = options.clock ?? (() => this.#now);
    this.#requestMode = driver.requests ?? driver.mode === "echo";
    this.#datagrams = driver.datagrams === true;
    this.#rate = options.ratePerSecond ?? 0;
    this.#openLoop = this.#rate > 0 && this.#requestMode;
    this.#depth = Math.max(
      1,
      options.pipeline ??
        (this.#datagrams ? 65536 : this.#openLoop ? 32 : 1),
    );
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#limit = options.requests ?? Infinity;
    this.#durationMs = options.durationMs ??
      (options.requests !== undefined ? 60_000 : 10_000);
    this.#intervalMs = options.intervalMs ?? 1000;
    const n = Math.max(1, options.connections ?? 1);
    const ring = 2 ** Math.ceil(Math.log2(this.#depth));
    for (let i = 0; i < n; i++) {
      this.#slots.push({
        channel: undefined,
        due: new Float64Array(ring),
        head: 0,
        inFlight: 0,
        generation: 0,
        retryAt: 0,
        failures: 0,
      });
    }
    this.#counts = new Array<number>(n).fill(0);
    if (this.#openLoop) {
      // Room for everything that can fall due within a timeout, and more.
      const need = Math.min(2 ** 22, this.#rate * this.#timeoutMs / 500 + 1024);
      this.#queue = new Float64Array(2 ** Math.ceil(Math.log2(need)));
    }
  }

  /** True when requests fall due on the clock (`ratePerSecond`). */
  get openLoop(): boolean {
    return this.#openLoop;
  }

  /** True while the measured window is open. */
  get measuring(): boolean {
    return this.#measuring;
  }

  /** True once the run has ended or been stopped. */
  get stopped(): boolean {
    return this.#stopped || this.#ended !== "duration";
  }

  /** When the measured window began (the clock's scale). */
  get windowStart(): number {
    return this.#windowStart;
  }

  /** When the measured window ends (the clock's scale; Infinity before it began). */
  get windowEnd(): number {
    return this.#windowEnd;
  }

  /** Settles with the reason (`requests`, `aborted`) when the run ends before its time. */
  get finished(): Promise<string> {
    return this.#finished.promise;
  }

  /**
   * Starts at `now`: the warm-up if there is one, else the window; opens
   * the connections due now.
   */
  start(now: number): void {
    this.#now = now;
    this.#started = now;
    this.#nextInterval = now + this.#intervalMs;
    this.#intervalStart = now;
    if ((this.#options.warmupMs ?? 0) === 0) this.beginWindow(now);
    if (this.#ended === "duration") this.tick(now);
  }

  /** Opens the measured window at `now`: what the warm-up did is not counted. */
  beginWindow(now: number): void {
    this.#now = now;
    this.#histogram.reset();
    this.#interval.reset();
    for (const c of LOAD_ERROR_CAUSES) this.#errors[c] = 0;
    this.#requests =
      this.#replies =
      this.#sent =
      this.#bytesSent =
      this.#bytesReceived =
      this.#lost =
        0;
    this.#issued = 0;
    this.#status = undefined;
    // Requests of the warm-up still in flight are answered in the window:
    // count them as sent, so "ok of sent" never exceeds 100 %.
    for (const slot of this.#slots) this.#sent += slot.inFlight;
    this.#windowStart = now;
    this.#windowEnd = now + this.#durationMs;
    this.#dueCount = 0;
    this.#resetInterval(now);
    this.#nextInterval = now + this.#intervalMs;
    this.#measuring = true;
  }

  /** Ends the run early (`aborted`, or `requests` when the count is reached). */
  stop(why: string): void {
    if (this.#ended !== "duration") return;
    this.#ended = why;
    this.#finished.resolve(why);
  }

  /**
   * Closes the window at `now` (or at its planned end, if earlier): what
   * fell due in time is still sent, nothing after is counted.
   */
  end(now: number): void {
    if (this.#stopped) return;
    const end = Math.min(now, this.#windowEnd);
    // A tick held up by a busy machine still sends what fell due in time.
    if (this.#ended === "duration" && this.#measuring) this.tick(end);
    if (this.#measuring) {
      this.#closeInterval(end);
      this.#measuredMs = Math.max(0, end - this.#windowStart);
    }
    this.#measuring = false;
    this.#stopped = true;
    this.#stop.abort();
  }

  /** Closes every channel; call after {@linkcode end}. */
  close(): void {
    for (const slot of this.#slots) this.#closeSlot(slot);
  }

  /** The result so far (`kernel` empty: the caller reads the counters). */
  result(): LoadResult {
    const d = this.#driver;
    const windowMs = this.#measuring
      ? this.#now - this.#windowStart
      : this.#measuredMs;
    const seconds = windowMs / 1000;
    const bytes = d.direction === "sent"
      ? this.#bytesSent
      : d.direction === "received"
      ? this.#bytesReceived
      : this.#bytesSent + this.#bytesReceived;
    const result: LoadResult = {
      protocol: d.protocol,
      target: d.target,
      mode: d.mode,
      durationMs: Math.round(windowMs),
      requests: this.#requests,
      sent: this.#sent,
      bytesSent: this.#bytesSent,
      bytesReceived: this.#bytesReceived,
      rate: seconds > 0 ? round(this.#requests / seconds, 1) : 0,
      mbps: seconds > 0 ? round(bytes / 1e6 / seconds, 3) : 0,
      latencyMs: latencyOf(this.#histogram),
      errors: { ...this.#errors },
      kernel: {},
      connections: this.#slots.length,
      connects: this.#connects,
      loops: 1,
      ended: this.#ended,
      histogram: this.#histogram.toJSON(),
    };
    if (this.#status) result.status = { ...this.#status };
    if (this.#datagrams) {
      const seen = this.#replies + this.#lost;
      result.datagrams = {
        sent: this.#sent,
        received: this.#replies,
        lost: this.#lost,
        lossPercent: seen > 0 ? round(this.#lost / seen * 100, 3) : 0,
        jitterMs: round(this.#jitter, 3),
      };
    }
    result.timeline = this.#timeline.slice();
    const o = this.#options;
    result.parameters = {
      connections: this.#slots.length,
      pipeline: this.#depth,
      durationMs: this.#durationMs,
      warmupMs: o.warmupMs ?? 0,
      timeoutMs: this.#timeoutMs,
      ...(this.#openLoop ? { ratePerSecond: this.#rate } : {}),
      ...(o.requests !== undefined ? { requests: o.requests } : {}),
      ...(o.size !== undefined ? { size: o.size } : {}),
      ...(o.connectRatePerSecond !== undefined
        ? { connectRatePerSecond: o.connectRatePerSecond }
        : {}),
      ...(o.shard !== undefined ? { shard: o.shard } : {}),
    };
    return result;
  }

  /**
   * The clock: opens channels that are due, makes requests due (open
   * loop) and hands them out, and closes the interval when its time is up.
   */
  tick(now: number): void {
    if (this.#stopped) return;
    this.#now = now;
    if (now >= this.#nextInterval) {
      this.#closeInterval(
        this.#measuring ? Math.min(now, this.#windowEnd) : now,
      );
    }
    this.#openDue(now);
    if (!this.#openLoop) return;
    // Warm-up runs at the same rate, counted from the start, not counted.
    const measuring = this.#measuring;
    const from = measuring ? this.#windowStart : this.#started;
    // Nothing falls due after the window (a late tick must not add any).
    const clock = measuring ? Math.min(now, this.#windowEnd - 1e-6) : now;
    const due = Math.floor((clock - from) * this.#rate / 1000) + 1;
    const mask = this.#queue.length - 1;
    while (
      this.#dueCount < due && (!measuring || this.#issued < this.#limit)
    ) {
      const at = from + this.#dueCount * 1000 / this.#rate;
      this.#dueCount++;
      if (measuring) this.#issued++;
      if (this.#queued === this.#queue.length) {
        this.#count("timeout"); // no room: it could never be sent in time
        continue;
      }
      this.#queue[(this.#queueHead + this.#queued) & mask] = at;
      this.#queued++;
    }
    this.#handOut();
  }

  /**
   * Timeouts at `now`: requests waiting in the queue or in flight for
   * longer than `timeoutMs`. A channel with an overdue request is closed
   * and reopened: on a byte stream the late reply would be taken for the
   * next one. (Datagrams are only counted lost: a late one is recognised.)
   */
  sweep(now: number): void {
    if (this.#stopped) return;
    this.#now = now;
    const limit = now - this.#timeoutMs;
    while (this.#queued > 0 && this.#queue[this.#queueHead]! < limit) {
      this.#queueHead = (this.#queueHead + 1) & (this.#queue.length - 1);
      this.#queued--;
      this.#count("timeout");
    }
    for (const slot of this.#slots) {
      if (slot.channel && slot.inFlight > 0 && slot.due[slot.head]! < limit) {
        if (this.#datagrams) {
          while (slot.inFlight > 0 && slot.due[slot.head]! < limit) {
            this.#pop(slot);
            this.#lose();
          }
          this.#refill(slot);
          continue;
        }
        for (let i = slot.inFlight; i > 0; i--) this.#count("timeout");
        this.#closeSlot(slot);
        this.#retryLater(slot, now);
      }
    }
    if (
      this.#limit !== Infinity && this.#measuring &&
      this.#issued >= this.#limit && this.#queued === 0 &&
      this.#slots.every((s) => s.inFlight === 0)
    ) {
      this.stop("requests");
    }
  }

  #resetInterval(now: number): void {
    this.#intervalStart = now;
    this.#interval.reset();
    this.#intervalRequests =
      this.#intervalErrors =
      this.#intervalSent =
      this.#intervalReceived =
        0;
  }

  // Ends the interval being counted at `now`: into the timeline (in the
  // window) and to onProgress; the next ends on the grid after `now`.
  #closeInterval(now: number): void {
    const ms = now - this.#intervalStart;
    if (ms <= 0) return;
    const measuring = this.#measuring;
    const interval: LoadInterval = {
      startMs: round(this.#intervalStart - this.#windowStart, 3),
      durationMs: round(ms, 3),
      requests: this.#intervalRequests,
      errors: this.#intervalErrors,
      bytesSent: this.#intervalSent,
      bytesReceived: this.#intervalReceived,
      p50Ms: this.#interval.percentileMs(50),
      p99Ms: this.#interval.percentileMs(99),
    };
    if (measuring && this.#timeline.length < MAX_TIMELINE) {
      this.#timeline.push(interval);
    }
    const onProgress = this.#options.onProgress;
    if (onProgress) {
      const d = this.#driver.direction;
      const bytes = (d !== "received" ? this.#intervalSent : 0) +
        (d !== "sent" ? this.#intervalReceived : 0);
      onProgress({
        elapsedMs: Math.round(now - this.#started),
        warmup: !measuring,
        rate: round(this.#intervalRequests / (ms / 1000), 1),
        mbps: round(bytes / 1e6 / (ms / 1000), 3),
        p50Ms: interval.p50Ms,
        p99Ms: interval.p99Ms,
        errors: LOAD_ERROR_CAUSES.reduce((n, c) => n + this.#errors[c], 0),
        open: this.#slots.filter((s) => s.channel).length,
        ...(measuring ? { interval } : {}),
      });
    }
    const grid = measuring ? this.#windowStart : this.#started;
    this.#nextInterval = grid +
      (Math.floor((now - grid) / this.#intervalMs) + 1) * this.#intervalMs;
    this.#resetInterval(now);
  }

  // Opens connections that are due: never-opened ones in order (at the
  // connect rate if there is one), then failed ones whose pause is over.
  // Both lists are walked only as far as needed, so a tick stays cheap
  // with thousands of connections.
  #openDue(now: number): void {
    const rate = this.#options.connectRatePerSecond;
    const slots = this.#slots;
    while (
      this.#rampNext < slots.length &&
      (!rate || now >= this.#started + this.#rampNext * 1000 / rate)
    ) {
      this.#open(slots[this.#rampNext++]!);
    }
    if (this.#retry.length === 0 || now < this.#nextRetry) return;
    const waiting = this.#retry;
    this.#retry = [];
    this.#nextRetry = Infinity;
    for (const slot of waiting) {
      if (slot.retryAt <= now) this.#open(slot);
      else this.#later(slot);
    }
  }

  #later(slot: Slot): void {
    this.#retry.push(slot);
    if (slot.retryAt < this.#nextRetry) this.#nextRetry = slot.retryAt;
  }

  #open(slot: Slot): void {
    slot.generation++;
    const generation = slot.generation;
    const connectSignal = AbortSignal.any([
      this.#stop.signal,
      AbortSignal.timeout(this.#timeoutMs),
    ]);
    const live = () => slot.generation === generation && !this.#stopped;
    const sink: LoadSink = {
      reply: (ok) => {
        if (live()) this.#reply(slot, ok);
      },
      lost: (count) => {
        if (!live()) return;
        for (let i = 0; i < count && slot.inFlight > 0; i++) {
          this.#pop(slot);
          if (this.#datagrams) this.#lose();
          else this.#count("timeout");
        }
        this.#refill(slot);
      },
      sent: (bytes) => {
        if (this.#measuring) this.#bytesSent += bytes;
        this.#intervalSent += bytes;
      },
      received: (bytes) => {
        if (this.#measuring) this.#bytesReceived += bytes;
        this.#intervalReceived += bytes;
      },
      mismatch: () => {
        if (live()) this.#count("mismatch");
      },
      failed: (error) => {
        if (live()) this.#fail(slot, classifyLoadError(error));
      },
      status: (code) => {
        if (!this.#measuring) return;
        const key = `${Math.floor(code / 100)}xx`;
        this.#status ??= {};
        this.#status[key] = (this.#status[key] ?? 0) + 1;
      },
      connected: () => {
        if (live()) this.#connects++;
      },
    };
    this.#driver.open(sink, connectSignal).then((channel) => {
      if (!live()) {
        channel.close();
        return;
      }
      slot.channel = channel;
      slot.failures = 0;
      this.#connects++;
      this.#refill(slot);
    }, (error) => {
      if (!live()) return;
      const cause = connectSignal.aborted
        ? "timeout"
        : classifyLoadError(error);
      this.#count(cause);
      this.#retryLater(slot, this.#now);
    });
  }

  #retryLater(slot: Slot, now: number): void {
    slot.failures++;
    const rate = this.#options.connectRatePerSecond;
    const pause = Math.min(1000, 25 * 2 ** Math.min(slot.failures, 6));
    slot.retryAt = now + Math.max(pause, rate ? 1000 / rate : 0);
    this.#later(slot);
  }

  #fail(slot: Slot, cause: LoadErrorCause): void {
    this.#count(cause);
    this.#closeSlot(slot);
    this.#retryLater(slot, this.#now);
  }

  #closeSlot(slot: Slot): void {
    slot.generation++;
    const channel = slot.channel;
    slot.channel = undefined;
    slot.inFlight = 0;
    slot.head = 0;
    channel?.close();
  }

  #count(cause: LoadErrorCause): void {
    if (this.#measuring) {
      this.#errors[cause]++;
      this.#intervalErrors++;
    }
  }

  #lose(): void {
    if (this.#measuring) this.#lost++;
  }

  #pop(slot: Slot): number {
    const at = slot.due[slot.head]!;
    slot.head = (slot.head + 1) & (slot.due.length - 1);
    slot.inFlight--;
    return at;
  }

  #reply(slot: Slot, ok: boolean): void {
    if (slot.inFlight === 0) {
      // A reply nobody asked for: the peer sends more than it was sent.
      this.#count("mismatch");
      return;
    }
    const due = this.#pop(slot);
    if (this.#measuring) this.#replies++;
    if (ok) {
      const ms = this.#clock() - due;
      if (this.#measuring) {
        this.#histogram.record(ms);
        this.#requests++;
        this.#intervalRequests++;
        this.#interval.record(ms);
        if (this.#datagrams) {
          // RFC 3550's estimator, over round trips in arrival order.
          if (this.#lastLatency >= 0) {
            this.#jitter += (Math.abs(ms - this.#lastLatency) - this.#jitter) /
              16;
          }
          this.#lastLatency = ms;
        }
        if (this.#requests + this.#errors.mismatch >= this.#limit) {
          this.stop("requests");
        }
      } else if (this.#options.onProgress) {
        // The warm-up's percentiles only feed the progress callback.
        this.#interval.record(ms);
        this.#intervalRequests++;
      }
    } else {
      this.#count("mismatch");
      if (
        this.#measuring && this.#requests + this.#errors.mismatch >= this.#limit
      ) {
        this.stop("requests");
      }
    }
    this.#refill(slot);
  }

  // Gives a channel work: closed loop refills its pipeline now, open loop
  // takes requests already due from the queue.
  #refill(slot: Slot): void {
    if (!this.#requestMode || !slot.channel) return;
    const room = this.#depth - slot.inFlight;
    if (room <= 0) return;
    let n = 0;
    if (this.#openLoop) {
      while (n < room && this.#queued > 0) {
        this.#push(slot, this.#queue[this.#queueHead]!);
        this.#queueHead = (this.#queueHead + 1) & (this.#queue.length - 1);
        this.#queued--;
        n++;
      }
    } else {
      const now = this.#clock();
      while (n < room && (!this.#measuring || this.#issued < this.#limit)) {
        this.#push(slot, now);
        if (this.#measuring) this.#issued++;
        n++;
      }
    }
    if (n > 0) {
      if (this.#measuring) this.#sent += n;
      slot.channel.send(n);
    }
  }

  #push(slot: Slot, due: number): void {
    slot.due[(slot.head + slot.inFlight) & (slot.due.length - 1)] = due;
    slot.inFlight++;
  }

  // Open loop: due requests go to the channels round-robin, one at a time,
  // so the rate spreads over the connections.
  #handOut(): void {
    const slots = this.#slots;
    const n = slots.length;
    const counts = this.#counts;
    const touched = this.#touched;
    const mask = this.#queue.length - 1;
    touched.length = 0;
    let i = this.#rr;
    // Walk on from where the last tick stopped; give up after a full turn
    // without a connection that has room.
    for (let full = 0; this.#queued > 0 && full < n; i = (i + 1) % n) {
      const slot = slots[i]!;
      if (!slot.channel || slot.inFlight >= this.#depth) {
        full++;
        continue;
      }
      full = 0;
      if (counts[i] === 0) touched.push(i);
      counts[i]!++;
      this.#push(slot, this.#queue[this.#queueHead]!);
      this.#queueHead = (this.#queueHead + 1) & mask;
      this.#queued--;
    }
    this.#rr = i;
    for (const j of touched) {
      const count = counts[j]!;
      counts[j] = 0;
      if (this.#measuring) this.#sent += count;
      slots[j]!.channel!.send(count);
    }
  }
}
