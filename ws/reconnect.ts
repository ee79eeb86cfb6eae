/**
 * `reconnectWebSocket`: one WebSocket connection after another to the same
 * server, each opened with `connectWebSocket` and its retry rule, for
 * clients that must survive a server restart (`netkit ws connect
 * --reconnect`).
 *
 * @module
 */

import {
  connectWebSocket,
  type WsClient,
  type WsClientOptions,
  type WsCloseInfo,
} from "./client.ts";
import { withRetry } from "./retry.ts";
import { WsError } from "./errors.ts";
import { describeCloseCode } from "./message.ts";

/**
 * Connections to `url`, one at a time: the first as soon as it can be
 * opened, and each next one when the consumer asks for it (after the last
 * one closed, however it closed; one still open is closed with 1000
 * first). Every connect is retried with exponential back-off and jitter
 * (`options.retry`, see {@linkcode WsRetryOptions}); after a connection
 * that was open, the first retry already waits, so a server that drops
 * clients at once is not hammered. The iteration ends when the consumer
 * leaves the loop (the connection it holds stays its own), or throws
 * once `retry.tries` attempts in a row failed (`connect_failed`), on a
 * `bad_url`, or with the signal's reason.
 *
 * Messages are the consumer's to carry over: one sent on a connection
 * that then dropped is not sent again.
 *
 * @example Survive the server going away
 * ```ts
 * import assert from "node:assert/strict";
 * import { reconnectWebSocket, serveWebSocket } from "@netkit/netkit/ws";
 *
 * await using server = serveWebSocket({ port: 0 });
 * const url = `ws://127.0.0.1:${server.addr.port}/ws`;
 * let connections = 0;
 * for await (const client of reconnectWebSocket(url, { retry: { baseDelayMs: 1 } })) {
 *   connections++;
 *   if (connections === 2) {
 *     await client.close();
 *     break;
 *   }
 *   await client.close(4000, "as if the network dropped"); // then reconnect
 * }
 * assert.equal(connections, 2);
 * ```
 */
export async function* reconnectWebSocket(
  url: string | URL,
  options: WsClientOptions = {},
): AsyncGenerator<WsClient, void, undefined> {
  const retry = options.retry ?? {};
  const once = { ...options, retry: undefined };
  let first = 0;
  let why: unknown = undefined;
  for (;;) {
    const client = await withRetry(
      () => connectWebSocket(url, once),
      retry,
      options.signal,
      first,
      why,
    );
    yield client;
    const info = await client.close().catch(() => client.closed);
    why = new WsError("closed", `the connection ended: ${describe(info)}`);
    first = 1;
  }
}

function describe(info: WsCloseInfo): string {
  const reason = info.reason ? ` "${info.reason}"` : "";
  return `${describeCloseCode(info.code)}${reason}${
    info.wasClean ? "" : " (not clean)"
  }`;
}
