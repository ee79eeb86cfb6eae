/**
 * UDP tools on `Deno.listenDatagram` (needs `--unstable-net`): echo server,
 * client with timeout and retries, ping.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pingUdp, serveUdpEcho } from "@netkit/netkit/udp";
 *
 * await using server = serveUdpEcho({ port: 0 });
 * const { received } = await pingUdp(server.addr, { count: 2, intervalMs: 0 });
 * assert.ok(received === 2);
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./echo.ts";
export * from "./client.ts";
export {
  bindUdp,
  checkUdpPayloadSize,
  MAX_UDP_PAYLOAD_V4,
  MAX_UDP_PAYLOAD_V6,
} from "./socket.ts";
export * from "./load.ts";
