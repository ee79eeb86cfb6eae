/**
 * netkit: TCP, UDP and WebSocket tools for Deno, with no dependencies.
 *
 * The root module re-exports everything; `@netkit/netkit/tcp`, `/udp` and
 * `/ws` hold each family alone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseAddress } from "@netkit/netkit";
 *
 * assert.ok(parseAddress("127.0.0.1:7007").port === 7007);
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./types.ts";
export * from "./address.ts";
export * from "./ping.ts";
export * from "./escape.ts";
export * from "./words.ts";
export * from "./load/mod.ts";
export * from "./tcp/mod.ts";
export * from "./udp/mod.ts";
export * from "./http/mod.ts";
export * from "./relay/mod.ts";
export * from "./ws/mod.ts";
