/**
 * TCP tools: the shared accept loop, echo server and clients, the file
 * transfer protocol, and Linux TCP diagnostics from `/proc`.
 *
 * @example
 * ```ts
 * import { serveEcho } from "@netkit/netkit/tcp";
 *
 * await using server = serveEcho({ port: 0 });
 * console.assert(server.addr.hostname === "127.0.0.1");
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./server.ts";
export * from "./echo.ts";
export * from "./proc_sockets.ts";
export * from "./proc_limits.ts";
export * from "./file_errors.ts";
export * from "./file_types.ts";
export * as fileProtocol from "./file_protocol.ts";
export * from "./file_receiver.ts";
export * from "./file_sender.ts";
