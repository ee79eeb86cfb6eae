/**
 * WebSocket tools: RFC 6455 handshake checks, frame codec and a protocol
 * core with no I/O (`WsProtocol`); a server and a client on it; an adapter
 * for `Deno.serve` programs (`acceptWebSocket`); a verifier and a
 * conformance suite.
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
export * from "./client_handshake.ts";
export * from "./dial.ts";
export * from "./url.ts";
export * from "./frame.ts";
export * from "./message.ts";
export * from "./protocol.ts";
export * from "./verify.ts";
export * from "./check/mod.ts";
export * from "./deflate.ts";
export * from "./server.ts";
export * from "./adapter.ts";
export * from "./client.ts";
export { backoffDelayMs, type WsRetryOptions } from "./retry.ts";
export * from "./reconnect.ts";
export * from "./page.ts";
export * from "./load.ts";
