// The measurement frame every ping-pong row shares: client loops run through
// a warm-up that is not counted, a measured window, and a stop.

import { cpuSeconds, LatencyHistogram, sleep } from "./_stats.ts";

/** The phases client loops watch; they finish their round trip and return at STOP. */
export const PHASE = { WARM: 0, MEASURE: 1, STOP: 2 } as const;

/** Shared by the loops of one measurement. */
export interface PhaseState {
  phase: number;
}

/** What one ping-pong measurement gives. */
export interface PingPongResult {
  /** Round trips (or messages) per second over all loops. */
  rps: number;
  p50Us: number;
  p99Us: number;
  /** Client CPU seconds per second measured (1.0 = one core busy). */
  clientCpu: number;
  /** Server CPU microseconds per round trip (NaN without `serverCpu`). */
  serverCpuUs: number;
}

/** Timing of one measurement. */
export interface MeasureOptions {
  /** Milliseconds not counted, to warm both JITs. Default 300. */
  warmupMs?: number;
  /** Milliseconds measured. Default 2000. */
  durationMs?: number;
  /** The server's CPU seconds so far, to report its CPU time per round trip. */
  serverCpu?: () => number;
}

/**
 * Starts the client loops, lets them warm up, measures for `durationMs`,
 * then tells them to stop. Each loop resolves to the round trips it
 * completed while measuring and records their latencies in the histogram.
 */
export async function measure(
  options: MeasureOptions,
  start: (state: PhaseState, histogram: LatencyHistogram) => Promise<number>[],
): Promise<PingPongResult> {
  const state: PhaseState = { phase: PHASE.WARM };
  const histogram = new LatencyHistogram();
  const loops = start(state, histogram);
  // A loop that fails early must not leave the others running for nothing.
  const failed = Promise.all(loops).then(() => {}, (error) => {
    state.phase = PHASE.STOP;
    throw error;
  });
  await Promise.race([sleep(options.warmupMs ?? 300), failed]);
  state.phase = state.phase === PHASE.STOP ? PHASE.STOP : PHASE.MEASURE;
  const cpu0 = cpuSeconds("self");
  const server0 = options.serverCpu?.() ?? NaN;
  const t0 = performance.now();
  await Promise.race([sleep(options.durationMs ?? 2000), failed]);
  state.phase = PHASE.STOP;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = cpuSeconds("self");
  const server1 = options.serverCpu?.() ?? NaN;
  const counts = await settleWithin(loops, 15_000);
  const total = counts.reduce((a, b) => a + b, 0);
  return {
    rps: total / elapsed,
    p50Us: histogram.percentileUs(50),
    p99Us: histogram.percentileUs(99),
    clientCpu: (cpu1 - cpu0) / elapsed,
    serverCpuUs: ((server1 - server0) / total) * 1e6,
  };
}

/** The loops' counts, or an error if they have not all stopped within `ms`. */
async function settleWithin(
  loops: Promise<number>[],
  ms: number,
): Promise<number[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      Promise.all(loops),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("client loops did not stop: server stalled")),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
