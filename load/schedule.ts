/**
 * The closed- and open-loop scheduler: {@linkcode runLoad} keeps a driver's
 * channels busy, times every request from the moment it was due, and
 * returns the result.
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
import { checkLoadOptions, type LoadOptions } from "./options.ts";
import type { LoadChannel, LoadDriver, LoadSink } from "./driver.ts";
import { latencyOf, noErrors, round } from "./_figures.ts";
import { loadCounterDeltas, readKernelCountersOrNone } from "./kernel.ts";

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
const PROGRESS_MS = 1000;

/**
 * Runs a load: opens the driver's channels (at `connectRatePerSecond` if
 * given), keeps them busy until the window ends, and returns the result.
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
  const run = new Run(driver, options);
  return await run.go();
}

class Run {
  readonly #driver: LoadDriver;
  readonly #options: LoadOptions;
  readonly #requestMode: boolean;
  readonly #openLoop: boolean;
  readonly #depth: number;
  readonly #timeoutMs: number;
  readonly #rate: number;
  readonly #limit: number;
  readonly #durationMs: number;
  readonly #slots: Slot[] = [];
  readonly #histogram = new LatencyHistogram();
  readonly #interval = new LatencyHistogram();
  readonly #errors = noErrors();
  readonly #stop = new AbortController();
  #measuring = false;
  // Mirrors #stop.signal.aborted: a plain field on the per-reply path.
  #stopped = false;
  readonly #tracking: boolean;
  #windowStart = 0;
  #windowEnd = 0;
  #started = 0;
  #requests = 0;
  #sent = 0;
  #issued = 0;
  #bytesSent = 0;
  #bytesReceived = 0;
  #connects = 0;
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
  #finished = Promise.withResolvers<void>();
  #intervalRequests = 0;
  #intervalBytes = 0;

  constructor(driver: LoadDriver, options: LoadOptions) {
    this.#driver = driver;
    this.#options = options;
    this.#requestMode = driver.mode === "echo";
    this.#rate = options.ratePerSecond ?? 0;
    this.#openLoop = this.#rate > 0 && this.#requestMode;
    this.#depth = Math.max(
      1,
      options.pipeline ?? (this.#openLoop ? 32 : 1),
    );
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#limit = options.requests ?? Infinity;
    this.#tracking = options.onProgress !== undefined;
    this.#durationMs = options.durationMs ??
      (options.requests !== undefined ? 60_000 : 10_000);
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

  async go(): Promise<LoadResult> {
    const o = this.#options;
    const warmupMs = o.warmupMs ?? 0;
    const durationMs = this.#durationMs;
    const signal = o.signal;
    const onAbort = () => this.#finish("aborted");
    if (signal?.aborted) this.#ended = "aborted";
    signal?.addEventListener("abort", onAbort, { once: true });
    const readKernel = o.kernelCounters !== false;
    let kernelBefore: Record<string, number> | undefined;
    this.#started = performance.now();
    this.#windowStart = this.#started + warmupMs;
    this.#windowEnd = this.#windowStart + durationMs;
    if (warmupMs === 0) {
      if (readKernel) kernelBefore = await readKernelCountersOrNone();
      this.#windowStart = performance.now();
      this.#windowEnd = this.#windowStart + durationMs;
      this.#measuring = true;
    }
    const timers: ReturnType<typeof setTimeout>[] = [];
    let lastProgress = performance.now();
    const tick = () => this.#tick();
    // A fine clock only where something runs on it: the open-loop rate
    // and the connect rate; otherwise it only reopens failed channels.
    const fine = this.#openLoop || o.connectRatePerSecond !== undefined;
    timers.push(setInterval(tick, fine ? TICK_MS : 10));
    timers.push(setInterval(() => this.#sweep(), SWEEP_MS));
    timers.push(setInterval(() => {
      const now = performance.now();
      this.#progress(now - lastProgress);
      lastProgress = now;
    }, PROGRESS_MS));
    try {
      if (!signal?.aborted) {
        this.#tick();
        if (!this.#measuring) {
          await Promise.race([
            new Promise((r) => timers.push(setTimeout(r, warmupMs))),
            this.#finished.promise,
          ]);
          if (this.#ended !== "aborted") {
            if (readKernel) kernelBefore = await readKernelCountersOrNone();
            this.#startWindow();
          }
        }
        if (this.#ended !== "aborted") {
          await Promise.race([
            new Promise((r) =>
              timers.push(
                setTimeout(r, this.#windowEnd - performance.now()),
              )
            ),
            this.#finished.promise,
          ]);
        }
      }
    } finally {
      for (const t of timers) clearInterval(t);
      signal?.removeEventListener("abort", onAbort);
    }
    const end = Math.min(performance.now(), this.#windowEnd);
    // A tick held up by a busy machine still sends what fell due in time.
    if (this.#ended === "duration" && this.#measuring) this.#tick();
    this.#measuring = false;
    this.#stopped = true;
    this.#stop.abort();
    // Read before closing: the resets of our own close are not the run's.
    const kernel = kernelBefore
      ? loadCounterDeltas(kernelBefore, await readKernelCountersOrNone())
      : {};
    try {
      await this.#options.onWindowEnd?.();
    } finally {
      for (const slot of this.#slots) this.#closeSlot(slot);
    }
    return this.#result(Math.max(0, end - this.#windowStart), kernel);
  }

  #startWindow(): void {
    this.#histogram.reset();
    this.#interval.reset();
    for (const c of LOAD_ERROR_CAUSES) this.#errors[c] = 0;
    this.#requests =
      this.#sent =
      this.#bytesSent =
      this.#bytesReceived =
        0;
    this.#issued = 0;
    // Requests of the warm-up still in flight are answered in the window:
    // count them as sent, so "ok of sent" never exceeds 100 %.
    for (const slot of this.#slots) this.#sent += slot.inFlight;
    this.#windowStart = performance.now();
    this.#windowEnd = this.#windowStart + this.#durationMs;
    this.#dueCount = 0;
    this.#measuring = true;
  }

  #finish(why: string): void {
    this.#ended = why;
    this.#finished.resolve();
  }

  #result(windowMs: number, kernel: Record<string, number>): LoadResult {
    const d = this.#driver;
    const seconds = windowMs / 1000;
    const bytes = d.direction === "sent"
      ? this.#bytesSent
      : d.direction === "received"
      ? this.#bytesReceived
      : this.#bytesSent + this.#bytesReceived;
    return {
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
      kernel,
      connections: this.#slots.length,
      connects: this.#connects,
      loops: 1,
      ended: this.#ended,
      histogram: this.#histogram.toJSON(),
    };
  }

  #progress(ms: number): void {
    const onProgress = this.#options.onProgress;
    if (!onProgress) return;
    const seconds = ms / 1000;
    onProgress({
      elapsedMs: Math.round(performance.now() - this.#started),
      warmup: !this.#measuring,
      rate: round(this.#intervalRequests / seconds, 1),
      mbps: round(this.#intervalBytes / 1e6 / seconds, 3),
      p50Ms: this.#interval.percentileMs(50),
      p99Ms: this.#interval.percentileMs(99),
      errors: LOAD_ERROR_CAUSES.reduce((n, c) => n + this.#errors[c], 0),
      open: this.#slots.filter((s) => s.channel).length,
    });
    this.#interval.reset();
    this.#intervalRequests = 0;
    this.#intervalBytes = 0;
  }

  // The clock: opens channels that are due, and in open loop makes
  // requests due at the rate and hands them out.
  #tick(): void {
    if (this.#stopped) return;
    const now = performance.now();
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
          this.#count("timeout");
        }
        this.#refill(slot);
      },
      sent: (bytes) => {
        if (this.#measuring) this.#bytesSent += bytes;
        if (this.#driver.direction !== "received") this.#intervalBytes += bytes;
      },
      received: (bytes) => {
        if (this.#measuring) this.#bytesReceived += bytes;
        if (this.#driver.direction !== "sent") this.#intervalBytes += bytes;
      },
      mismatch: () => {
        if (live()) this.#count("mismatch");
      },
      failed: (error) => {
        if (live()) this.#fail(slot, classifyLoadError(error));
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
      this.#retryLater(slot);
    });
  }

  #retryLater(slot: Slot): void {
    slot.failures++;
    const rate = this.#options.connectRatePerSecond;
    const pause = Math.min(1000, 25 * 2 ** Math.min(slot.failures, 6));
    slot.retryAt = performance.now() + Math.max(pause, rate ? 1000 / rate : 0);
    this.#later(slot);
  }

  #fail(slot: Slot, cause: LoadErrorCause): void {
    this.#count(cause);
    this.#closeSlot(slot);
    this.#retryLater(slot);
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
    if (this.#measuring) this.#errors[cause]++;
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
    if (ok) {
      const ms = performance.now() - due;
      if (this.#measuring) {
        this.#histogram.record(ms);
        this.#requests++;
        if (this.#requests + this.#errors.mismatch >= this.#limit) {
          this.#finish("requests");
        }
      }
      // The last second's percentiles only feed a progress callback.
      if (this.#tracking) this.#interval.record(ms);
      this.#intervalRequests++;
    } else {
      this.#count("mismatch");
      if (
        this.#measuring && this.#requests + this.#errors.mismatch >= this.#limit
      ) {
        this.#finish("requests");
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
      const now = performance.now();
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

  // Timeouts: requests waiting in the queue or in flight for longer than
  // timeoutMs. A channel with an overdue request is closed and reopened:
  // on a byte stream the late reply would be taken for the next one.
  #sweep(): void {
    if (this.#stopped) return;
    const limit = performance.now() - this.#timeoutMs;
    while (this.#queued > 0 && this.#queue[this.#queueHead]! < limit) {
      this.#queueHead = (this.#queueHead + 1) & (this.#queue.length - 1);
      this.#queued--;
      this.#count("timeout");
    }
    for (const slot of this.#slots) {
      if (slot.channel && slot.inFlight > 0 && slot.due[slot.head]! < limit) {
        for (let i = slot.inFlight; i > 0; i--) this.#count("timeout");
        this.#closeSlot(slot);
        this.#retryLater(slot);
      }
    }
    if (
      this.#limit !== Infinity && this.#measuring &&
      this.#issued >= this.#limit && this.#queued === 0 &&
      this.#slots.every((s) => s.inFlight === 0)
    ) {
      this.#finish("requests");
    }
  }
}
