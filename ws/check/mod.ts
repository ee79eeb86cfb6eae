/**
 * The RFC 6455 conformance suite behind `netkit ws check`: 140 cases in ten
 * categories, run against any WebSocket echo server, one connection per case.
 *
 * @example List the categories
 * ```ts
 * import assert from "node:assert/strict";
 * import { listCases } from "@netkit/netkit/ws/check";
 *
 * const cases = listCases();
 * assert.ok(cases.some((c) => c.id === "2.1"));
 * ```
 *
 * @module
 */

export * from "./check.ts";
