/**
 * UDP tools on `Deno.listenDatagram` (needs `--unstable-net`): echo server,
 * client with timeout and retries, ping.
 *
 * @module
 */

export * from "./errors.ts";
export * from "./echo.ts";
export * from "./client.ts";
export { MAX_UDP_PAYLOAD_V4, MAX_UDP_PAYLOAD_V6 } from "./_socket.ts";
