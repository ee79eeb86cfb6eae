/**
 * `HOST:PORT` parsing shared by every client and server.
 *
 * @module
 */

import { NetkitError } from "./errors.ts";

/** A host and port pair. */
export interface HostPort {
  /** Host name or IP address, without brackets. */
  hostname: string;
  /** Port number, 0–65535. */
  port: number;
}

/** Options for {@linkcode parseAddress}. */
export interface ParseAddressOptions {
  /** Host used for `:PORT` and `PORT`. Default `127.0.0.1`. */
  defaultHost?: string;
  /** Port used when the text names only a host. Without it a port is required. */
  defaultPort?: number;
}

/**
 * Parses `HOST:PORT`, `[::1]:PORT`, `:PORT` or a bare `PORT`.
 *
 * Throws a {@linkcode NetkitError} with code `bad_address` on anything else.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseAddress } from "@netkit/netkit";
 *
 * assert.ok(parseAddress("[::1]:7007").hostname === "::1");
 * assert.ok(parseAddress(":0").port === 0);
 * ```
 */
export function parseAddress(
  text: string,
  options: ParseAddressOptions = {},
): HostPort {
  const defaultHost = options.defaultHost ?? "127.0.0.1";
  const bad = (why: string) =>
    new NetkitError(
      "bad_address",
      `bad address '${text}': ${why} (expected HOST:PORT, [IPv6]:PORT or :PORT)`,
    );
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
  } else if (/^\d+$/.test(text)) {
    host = defaultHost;
    portText = text;
  } else {
    const colon = text.lastIndexOf(":");
    if (colon !== text.indexOf(":")) throw bad("IPv6 addresses need brackets");
    host = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? undefined : text.slice(colon + 1);
  }
  if (host === "") host = defaultHost;
  if (portText === undefined || portText === "") {
    if (options.defaultPort === undefined) throw bad("missing port");
    return { hostname: host, port: options.defaultPort };
  }
  return { hostname: host, port: parsePort(portText, bad) };
}

function parsePort(text: string, bad: (why: string) => Error): number {
  if (!/^\d{1,5}$/.test(text)) throw bad(`port '${text}' is not a number`);
  const port = Number(text);
  if (port > 65535) throw bad(`port ${port} is above 65535`);
  return port;
}

/**
 * Formats an address the way `listening …` lines and logs show it:
 * IPv6 hosts in brackets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatAddress } from "@netkit/netkit";
 *
 * assert.ok(formatAddress({ hostname: "::1", port: 80 }) === "[::1]:80");
 * ```
 */
export function formatAddress(addr: HostPort): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}
