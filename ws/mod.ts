/**
 * WebSocket tools: RFC 6455 handshake checks and frame codec, a server on
 * `Deno.upgradeWebSocket`, a client, a verifier and a conformance suite.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { acceptKey } from "@netkit/netkit/ws";
 *
 * // RFC 6455 §1.3
 * assert.ok(acceptKey("dGhlIHNhbXBsZSBub25jZQ==") === "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./handshake.ts";
export * from "./frame.ts";
export * from "./message.ts";
export * from "./verify.ts";
export * from "./check/mod.ts";
export * from "./server.ts";
export * from "./client.ts";
export * from "./page.ts";
export * from "./load.ts";
