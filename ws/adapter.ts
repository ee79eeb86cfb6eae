/**
 * `acceptWebSocket`: netkit's handshake checks in front of
 * `Deno.upgradeWebSocket`, for programs that already run `Deno.serve` and
 * cannot hand the connection to netkit's engine. The frames are then the
 * runtime's, with the runtime's limits (see {@linkcode acceptWebSocket}).
 *
 * @module
 */

import { acceptUpgrades } from "./_accept.ts";

/**
 * Options of {@linkcode acceptWebSocket}.
 */
export interface AcceptWebSocketOptions {
  /** Subprotocols accepted; the client's first offer found here is chosen. */
  protocols?: string[];
  /**
   * Browser origins allowed (e.g. `https://example.com`); any other
   * `Origin` gets 403, a longer one that starts with an allowed one
   * included. Requests without `Origin` are allowed. Without it, only the server's own
   * origin (the scheme-less host and port its `Host` header names) gets
   * in, so a page from another site cannot reach it through a visitor's
   * browser; `"*"` lets every origin in.
   */
  allowedOrigins?: string[];
  /**
   * Milliseconds of silence before the runtime closes with 1001 (it pings
   * halfway); rounded up to whole seconds, the runtime's unit. 0 disables.
   * Default: the runtime's (30 s).
   */
  idleTimeoutMs?: number;
}

/**
 * What {@linkcode acceptWebSocket} decided: a socket and the 101 response
 * to return, or no socket and the 4xx response explaining the refusal.
 */
export interface AcceptedWebSocket {
  /** The runtime's WebSocket, or `null` when the request was refused. */
  socket: WebSocket | null;
  /** The response to return from the `Deno.serve` handler. */
  response: Response;
}

/**
 * Upgrades a `Deno.serve` request after netkit's handshake checks, the
 * same accept as `serveWebSocket`'s: not GET → 405 (`Allow: GET`), a plain
 * GET without `Upgrade` → 426 (`Upgrade: websocket`), a bad key, `Upgrade`
 * or `Connection` → 400, a version other than 13 → 426 with
 * `Sec-WebSocket-Version: 13`, an `Origin` not exactly one of
 * `allowedOrigins` (by default: not the server's own) → 403. (`Deno.upgradeWebSocket` alone answers 101 to POST, key
 * `abc` and version 8, and throws, hence 500, on a missing key.)
 *
 * Measured limits of the runtime path on Deno 2.9.6, which netkit's own
 * engine (`serveWebSocket`) does not have: a fragmented message is
 * assembled by the runtime before JavaScript sees it, so a size limit can
 * only be checked afterwards (1 GiB of fragments took a server from 52 MB
 * to 1,100 MB RSS); a frame of 64 MiB or more drops the connection without
 * 1009; unmasked client frames are accepted; an over-long close reason is
 * echoed; a non-final data frame inside a fragmented message silently
 * drops the first fragment; `Deno.serve` sets no deadline on the request
 * head. Use it where `Deno.serve` is the only way in; otherwise prefer
 * `serveWebSocket`.
 *
 * @example An echo route in a Deno.serve app
 * ```ts
 * import assert from "node:assert/strict";
 * import { acceptWebSocket } from "@netkit/netkit/ws";
 *
 * await using server = Deno.serve({ port: 0, onListen() {} }, (request) => {
 *   const { socket, response } = acceptWebSocket(request);
 *   if (socket) socket.onmessage = (event) => socket.send(event.data);
 *   return response;
 * });
 * const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
 * await new Promise((resolve) => ws.onopen = resolve);
 * ws.send("hi");
 * const reply = await new Promise<MessageEvent>((resolve) => ws.onmessage = resolve);
 * assert.equal(reply.data, "hi");
 * ws.close();
 * await new Promise((resolve) => ws.onclose = resolve);
 * ```
 */
export function acceptWebSocket(
  request: Request,
  options: AcceptWebSocketOptions = {},
): AcceptedWebSocket {
  // The same accept as serveWebSocket's; the runtime writes the 101.
  const decision = acceptUpgrades(options)(request);
  if (!decision.ok) {
    const { status, body, headers } = decision;
    return { socket: null, response: text(status, body, headers) };
  }
  const upgrade: Deno.UpgradeWebSocketOptions = {};
  if (decision.protocol !== undefined) upgrade.protocol = decision.protocol;
  if (options.idleTimeoutMs !== undefined) {
    upgrade.idleTimeout = Math.ceil(options.idleTimeoutMs / 1000);
  }
  const { socket, response } = Deno.upgradeWebSocket(request, upgrade);
  return { socket, response };
}

function text(
  status: number,
  body: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}
