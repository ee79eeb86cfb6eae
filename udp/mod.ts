/**
 * UDP tools on `Deno.listenDatagram` (needs `--unstable-net`): echo server,
 * client with timeout and retries, ping.
 *
 * @module
 */
