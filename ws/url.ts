import { WsError } from "./errors.ts";

/**
 * The one WebSocket URL rule (WHATWG's), used by the client, `ws verify`,
 * `ws check` and the CLI: `ws://` and `wss://` as they are, `http://` and
 * `https://` mapped to them, the fragment dropped (it is never sent); any
 * other scheme, or text that is not a URL, is a `bad_url` WsError.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toWsUrl } from "@netkit/netkit/ws";
 *
 * assert.equal(toWsUrl("https://example.com/chat#x").href, "wss://example.com/chat");
 * assert.throws(() => toWsUrl("ftp://example.com/"), /not a WebSocket URL/);
 * ```
 */
export function toWsUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new WsError(
      "bad_url",
      `not a URL: '${String(url)}' (expected ws://HOST:PORT/PATH)`,
    );
  }
  if (parsed.protocol === "http:") parsed.protocol = "ws:";
  else if (parsed.protocol === "https:") parsed.protocol = "wss:";
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new WsError(
      "bad_url",
      `not a WebSocket URL: '${String(url)}' (expected ws:// or wss://)`,
    );
  }
  parsed.hash = "";
  return parsed;
}
