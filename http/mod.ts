/**
 * HTTP/1.1 for the load generator: a strict, bounded response parser
 * that does no I/O ({@linkcode HttpResponseParser}) and the load driver
 * around it ({@linkcode loadHttp}, `netkit load http`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HttpResponseParser } from "@netkit/netkit/http";
 *
 * const parser = new HttpResponseParser();
 * let status = 0;
 * parser.receive(
 *   new TextEncoder().encode("HTTP/1.1 204 No Content\r\n\r\n"),
 *   (r) => void (status = r.status),
 * );
 * assert.equal(status, 204);
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./response.ts";
export * from "./load.ts";
