/**
 * The load generator's shared part: the closed- and open-loop scheduler,
 * a fixed-bucket latency histogram that never allocates per sample, the
 * result every driver returns, and the merge of results from several
 * workers or machines. The protocol drivers (`loadTcp`, `loadUdp`,
 * `loadWebSocket`) live next to their protocol and plug into
 * {@linkcode runLoad}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LatencyHistogram, mergeLoadResults, emptyLoadResult } from "@netkit/netkit/load";
 *
 * const a = { ...emptyLoadResult("tcp", "127.0.0.1:7", "echo"), requests: 2 };
 * assert.equal(mergeLoadResults([a, a]).requests, 4);
 * assert.equal(new LatencyHistogram().count, 0);
 * ```
 *
 * @module
 */

export * from "./histogram.ts";
export * from "./errors.ts";
export * from "./result.ts";
export * from "./merge.ts";
export * from "./target.ts";
export * from "./options.ts";
export * from "./driver.ts";
export * from "./schedule.ts";
export * from "./shard.ts";
