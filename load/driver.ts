/**
 * What a protocol driver gives the scheduler ({@linkcode LoadDriver},
 * {@linkcode LoadChannel}) and what it reports back ({@linkcode LoadSink}).
 *
 * @module
 */

/** What a driver reports to the scheduler; see {@linkcode LoadDriver}. */
export interface LoadSink {
  /** One reply arrived, in order; `ok` false when its bytes were wrong. */
  reply(ok: boolean): void;
  /** The oldest `count` requests will never be answered (lost datagrams). */
  lost(count: number): void;
  /** Payload bytes written. */
  sent(bytes: number): void;
  /** Payload bytes read. */
  received(bytes: number): void;
  /** Stream modes: some bytes were wrong. */
  mismatch(): void;
  /** The channel died (the error is classified); the scheduler reopens it. */
  failed(error: unknown): void;
  /** HTTP: the status code of the reply about to be reported. */
  status(code: number): void;
  /** The channel opened another connection on its own (HTTP without keep-alive, or after the server's `Connection: close`). */
  connected(): void;
}

/** One open channel (a connection) of a {@linkcode LoadDriver}. */
export interface LoadChannel {
  /** Sends `count` requests now (request modes only). */
  send(count: number): void;
  /** Closes the channel; the driver reports nothing after this. */
  close(): void;
}

/**
 * A protocol driver: opens channels that carry requests (`echo`) or move
 * bytes on their own (`stream`, `sink`, `reverse`, `bidir`).
 */
export interface LoadDriver {
  /** `tcp`, `udp` or `ws`. */
  protocol: string;
  /** The target as shown in results. */
  target: string;
  /** The mode as results show it (`echo`, `stream`, an HTTP method). */
  mode: string;
  /**
   * Channels carry requests the scheduler sends and times. Default: true
   * for the mode `echo`, false otherwise (a stream moves bytes on its own).
   */
  requests?: boolean;
  /** Which byte counts make `mbps`. */
  direction: "sent" | "received" | "both";
  /**
   * Requests are datagrams in a stream: those never answered are counted
   * as lost (with loss and jitter in the result), not as timeouts.
   */
  datagrams?: boolean;
  /** Opens one channel; must honour `signal` (connect timeout, end of run). */
  open(sink: LoadSink, signal: AbortSignal): Promise<LoadChannel>;
}

/**
 * Byte `i` of every load payload: a pattern a wrong or shifted echo is
 * unlikely to keep, so every driver fills and checks its payloads with it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPatternByte } from "@netkit/netkit/load";
 *
 * assert.equal(loadPatternByte(0), 7);
 * assert.notEqual(loadPatternByte(1), loadPatternByte(0));
 * ```
 */
export function loadPatternByte(i: number): number {
  return (i * 31 + 7) & 0xff;
}
