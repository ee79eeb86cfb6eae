/**
 * The relay: `relay(listen, target)` moves bytes between a listen endpoint
 * and a target endpoint per connection (TCP, TLS, UDP sessions,
 * WebSocket, Unix sockets, a program on stdin/stdout) and reports how each
 * connection ended.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseEndpoint } from "@netkit/netkit/relay";
 *
 * assert.equal(parseEndpoint("exec:cat").kind, "exec");
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./types.ts";
export * from "./endpoint.ts";
export * from "./relay.ts";
