// The client side of the two tunnel protocols dial() speaks to a proxy:
// HTTP CONNECT (RFC 9110 §9.3.6, Basic credentials) and SOCKS5 (RFC 1928,
// username/password RFC 1929). Each runs over an already connected byte
// stream and returns once the tunnel is open. The proxy is a peer: its
// reply is bounded in size here and in time by dial's deadline.

import { formatAddress, type HostPort } from "../address.ts";
import { writeAll } from "../_io.ts";
import { concatBytes } from "../_bytes.ts";
import { escapeControl } from "../escape.ts";
import { parseResponseHead } from "../_http_head.ts";
import { TcpError } from "./errors.ts";
import type { ByteStream } from "../types.ts";

/** A parsed `--proxy` URL. */
export interface ProxySpec {
  kind: "http" | "socks5";
  address: HostPort;
  username?: string;
  password?: string;
}

/** Largest CONNECT reply head accepted. */
export const MAX_PROXY_HEAD_BYTES = 16 * 1024;

const DEFAULT_PORTS = { http: 8080, socks5: 1080 } as const;

/** Parses `http://[user:pass@]host[:port]` or `socks5://…`. */
export function parseProxyUrl(text: string): ProxySpec {
  const bad = (why: string) =>
    new TcpError(
      "bad_proxy",
      `bad proxy '${
        escapeControl(text)
      }': ${why} (expected http://[USER:PASS@]HOST:PORT or socks5://[USER:PASS@]HOST:PORT)`,
    );
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad("not a URL");
  }
  const scheme = url.protocol.slice(0, -1);
  const kind = scheme === "socks5h" ? "socks5" : scheme;
  if (kind !== "http" && kind !== "socks5") {
    throw bad(`scheme '${scheme}' is not supported`);
  }
  if (url.hostname === "") throw bad("missing host");
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? DEFAULT_PORTS[kind] : Number(url.port);
  const spec: ProxySpec = { kind, address: { hostname, port } };
  if (url.username !== "" || url.password !== "") {
    spec.username = decodeURIComponent(url.username);
    spec.password = decodeURIComponent(url.password);
  }
  return spec;
}

/**
 * Opens an HTTP CONNECT tunnel to `target`. Returns the bytes the proxy
 * sent after its reply head (the tunnelled server speaking first).
 */
export async function httpConnect(
  stream: ByteStream,
  target: HostPort,
  proxy: ProxySpec,
): Promise<Uint8Array> {
  const authority = formatAddress(target);
  let head = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
  if (proxy.username !== undefined) {
    const credentials = new TextEncoder().encode(
      `${proxy.username}:${proxy.password ?? ""}`,
    );
    head += `Proxy-Authorization: Basic ${credentials.toBase64()}\r\n`;
  }
  await writeAll(stream, new TextEncoder().encode(`${head}\r\n`));

  const buf = new Uint8Array(MAX_PROXY_HEAD_BYTES);
  let filled = 0;
  for (;;) {
    // The parser's limit should stop us first; should it not, a read into
    // no room returns 0 forever and this loop would spin.
    if (filled === buf.length) {
      throw new TcpError(
        "proxy_failed",
        `proxy ${
          formatAddress(proxy.address)
        } sent a CONNECT reply head of more than ${buf.length} bytes`,
      );
    }
    const n = await stream.read(buf.subarray(filled));
    if (n === null) {
      throw new TcpError(
        "proxy_failed",
        `proxy ${
          formatAddress(proxy.address)
        } closed the connection before answering CONNECT`,
      );
    }
    filled += n;
    let parsed;
    try {
      parsed = parseResponseHead(buf.subarray(0, filled), {
        maxHeadBytes: MAX_PROXY_HEAD_BYTES,
      });
    } catch (error) {
      throw new TcpError(
        "proxy_failed",
        `proxy ${formatAddress(proxy.address)} sent a bad CONNECT reply: ${
          escapeControl((error as Error).message)
        }`,
        { cause: error },
      );
    }
    if (parsed === null) continue;
    const { status, reason } = parsed.head;
    if (status >= 200 && status < 300) {
      return buf.slice(parsed.bodyOffset, filled);
    }
    const said = `HTTP ${status}${reason ? ` ${escapeControl(reason)}` : ""}`;
    if (status === 407) {
      throw new TcpError(
        "proxy_auth_required",
        proxy.username === undefined
          ? `proxy ${
            formatAddress(proxy.address)
          } wants credentials (${said}): use http://USER:PASS@HOST:PORT`
          : `proxy ${
            formatAddress(proxy.address)
          } refused the credentials (${said})`,
      );
    }
    throw new TcpError(
      "proxy_failed",
      `proxy ${formatAddress(proxy.address)} refused CONNECT ${
        escapeControl(authority)
      }: ${said}`,
    );
  }
}

const SOCKS_REPLIES: Record<number, string> = {
  1: "general SOCKS server failure",
  2: "connection not allowed by ruleset",
  3: "network unreachable",
  4: "host unreachable",
  5: "connection refused",
  6: "TTL expired",
  7: "command not supported",
  8: "address type not supported",
};

/** Opens a SOCKS5 tunnel to `target`; domain names are resolved by the proxy. */
export async function socks5Connect(
  stream: ByteStream,
  target: HostPort,
  proxy: ProxySpec,
): Promise<void> {
  const where = `SOCKS5 proxy ${formatAddress(proxy.address)}`;
  const encoder = new TextEncoder();
  const user = encoder.encode(proxy.username ?? "");
  const pass = encoder.encode(proxy.password ?? "");
  const withAuth = proxy.username !== undefined;
  if (user.length > 255 || pass.length > 255) {
    throw new TcpError(
      "bad_proxy",
      "SOCKS5 user name and password are limited to 255 bytes each",
    );
  }
  await writeAll(
    stream,
    new Uint8Array(withAuth ? [5, 2, 0, 2] : [5, 1, 0]),
  );
  const [version, method] = await readExact(stream, 2, where);
  if (version !== 5) {
    throw new TcpError(
      "proxy_failed",
      `${where} answered with version ${version}, not 5`,
    );
  }
  if (method === 0xff || (method === 2 && !withAuth)) {
    throw new TcpError(
      "proxy_auth_required",
      withAuth
        ? `${where} accepts none of the offered authentication methods`
        : `${where} wants credentials: use socks5://USER:PASS@HOST:PORT`,
    );
  }
  if (method === 2) {
    await writeAll(
      stream,
      concatBytes([
        new Uint8Array([1, user.length]),
        user,
        new Uint8Array([pass.length]),
        pass,
      ]),
    );
    const [, status] = await readExact(stream, 2, where);
    if (status !== 0) {
      throw new TcpError(
        "proxy_auth_required",
        `${where} refused the credentials`,
      );
    }
  } else if (method !== 0) {
    throw new TcpError(
      "proxy_failed",
      `${where} chose authentication method ${method}, which was not offered`,
    );
  }
  await writeAll(stream, socksRequest(target));
  const [replyVersion, reply, , atyp] = await readExact(stream, 4, where);
  if (replyVersion !== 5) {
    throw new TcpError(
      "proxy_failed",
      `${where} answered with version ${replyVersion}, not 5`,
    );
  }
  if (reply !== 0) {
    throw new TcpError(
      "proxy_failed",
      `${where} cannot reach ${formatAddress(target)}: ${
        SOCKS_REPLIES[reply!] ?? `reply code ${reply}`
      }`,
    );
  }
  // The bound address is of no use to the caller, but it must be consumed.
  let rest: number;
  if (atyp === 1) rest = 4 + 2;
  else if (atyp === 4) rest = 16 + 2;
  else if (atyp === 3) rest = (await readExact(stream, 1, where))[0]! + 2;
  else {
    throw new TcpError(
      "proxy_failed",
      `${where} sent an unknown address type ${atyp}`,
    );
  }
  await readExact(stream, rest, where);
}

function socksRequest(target: HostPort): Uint8Array {
  const port = [target.port >> 8, target.port & 0xff];
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(
    target.hostname,
  );
  if (v4 && v4.slice(1).every((o) => Number(o) <= 255)) {
    return new Uint8Array([5, 1, 0, 1, ...v4.slice(1).map(Number), ...port]);
  }
  if (target.hostname.includes(":")) {
    return new Uint8Array([5, 1, 0, 4, ...ipv6Bytes(target.hostname), ...port]);
  }
  const name = new TextEncoder().encode(target.hostname);
  if (name.length > 255) {
    throw new TcpError(
      "bad_proxy",
      "SOCKS5 host names are limited to 255 bytes",
    );
  }
  return new Uint8Array([5, 1, 0, 3, name.length, ...name, ...port]);
}

function ipv6Bytes(text: string): number[] {
  const bad = () =>
    new TcpError("bad_proxy", `not an IPv6 address: '${escapeControl(text)}'`);
  const halves = text.split("::");
  if (halves.length > 2) throw bad();
  const groups = (part: string) => part === "" ? [] : part.split(":");
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) throw bad();
  const all = [...head, ...Array(fill).fill("0"), ...tail];
  return all.flatMap((g) => {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) throw bad();
    const v = parseInt(g, 16);
    return [v >> 8, v & 0xff];
  });
}

async function readExact(
  stream: ByteStream,
  length: number,
  where: string,
): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const n = await stream.read(buf.subarray(filled));
    if (n === null) {
      throw new TcpError(
        "proxy_failed",
        `${where} closed the connection in the middle of its reply`,
      );
    }
    filled += n;
  }
  return buf;
}
