/**
 * TCP tools: the shared accept loop, echo server and clients, the file
 * transfer protocol, and Linux TCP diagnostics from `/proc`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveEcho } from "@netkit/netkit/tcp";
 *
 * await using server = serveEcho({ port: 0 });
 * assert.ok(server.addr.hostname === "127.0.0.1");
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./server.ts";
export * from "./echo.ts";
export * from "./dial.ts";
export * from "./proc/mod.ts";
export * from "./file/mod.ts";
export * from "./load.ts";
