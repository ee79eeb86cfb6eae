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

const IPV4_LOOPBACK =
  /^127\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)$/;

/**
 * True for a loopback host: `localhost`, 127.0.0.0/8, `::1` (in any
 * spelling, bracketed or not) and 127.0.0.0/8 mapped into IPv6
 * (`::ffff:127.0.0.1`, `::ffff:7f00:1`). The one rule for "is this
 * target this machine": what load refuses without `allowRemote`, and where
 * UDP asks the kernel whether anything is bound.
 *
 * @param hostname A name or address, as in `HostPort.hostname`.
 * @returns Whether it can only mean this machine.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLoopback } from "@netkit/netkit";
 *
 * assert.ok(isLoopback("127.3.0.1") && isLoopback("::1"));
 * assert.ok(isLoopback("[::ffff:127.0.0.1]"));
 * assert.ok(!isLoopback("10.0.0.1") && !isLoopback("127.example.com"));
 * ```
 */
export function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (h === "localhost" || IPV4_LOOPBACK.test(h)) return true;
  const g = ipv6Groups(h);
  if (g === undefined) return false;
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0);
  return (zeros(7) && g[7] === 1) ||
    (zeros(5) && g[5] === 0xffff && g[6]! >> 8 === 127);
}

/** The eight 16-bit groups of an IPv6 address, or `undefined` if it is not one. */
function ipv6Groups(h: string): number[] | undefined {
  let text = h;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
    ];
    if ([a, b, c, d].some((o) => o > 255)) return undefined;
    text = text.slice(0, v4.index) + ((a << 8) | b).toString(16) + ":" +
      ((c << 8) | d).toString(16);
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const split = (s: string) => s === "" ? [] : s.split(":");
  const left = split(halves[0]!);
  const right = halves.length === 2 ? split(halves[1]!) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [
    ...left,
    ...Array<string>(halves.length === 2 ? missing : 0).fill("0"),
    ...right,
  ];
  if (!groups.every((x) => /^[0-9a-f]{1,4}$/.test(x))) return undefined;
  return groups.map((x) => parseInt(x, 16));
}
