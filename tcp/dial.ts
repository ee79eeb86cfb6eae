/**
 * `dial`: one way for every netkit client to reach a server, over TCP or a
 * Unix socket, through an HTTP CONNECT or SOCKS5 proxy, with TLS on top
 * (custom CAs, client certificates, or no checks when asked). It returns a
 * connected byte stream with `Deno.Conn`'s read/write/close shape, so the
 * protocol on top does not care how the bytes travel.
 *
 * @module
 */

import { formatAddress, type HostPort, parseAddress } from "../address.ts";
import { closeQuietly, osMessage } from "../_io.ts";
import { escapeControl } from "../escape.ts";
import { TcpError } from "./errors.ts";
import {
  httpConnect,
  parseProxyUrl,
  type ProxySpec,
  socks5Connect,
} from "./_proxy.ts";
import { nodeTlsOver } from "./_node_tls.ts";
import type { ByteConn } from "../types.ts";

/**
 * A connected byte stream: the part of `Deno.Conn` netkit's protocols
 * use. A plain `Deno.Conn` or `Deno.TlsConn` is one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type DialConn, serveEcho } from "@netkit/netkit/tcp";
 *
 * await using server = serveEcho({ port: 0 });
 * const conn: DialConn = await Deno.connect({ port: server.addr.port });
 * await conn.write(new Uint8Array([7]));
 * const buf = new Uint8Array(1);
 * assert.equal(await conn.read(buf), 1);
 * conn.close();
 * ```
 */
export type DialConn = ByteConn;

/**
 * TLS settings of {@linkcode dial}.
 */
export interface DialTlsOptions {
  /** Extra PEM root certificates, trusted in addition to the system's. */
  caCerts?: string[];
  /**
   * Skip every certificate check (chain and name), like `curl -k`: the
   * connection is encrypted but not authenticated. Default false.
   */
  insecure?: boolean;
  /** PEM client certificate (chain) for servers that require one; needs `key`. */
  cert?: string;
  /** PEM private key of `cert`. */
  key?: string;
  /** Name the certificate must match (and SNI). Default: the target's host. */
  serverName?: string;
  /** ALPN protocols to offer, e.g. `["http/1.1"]`. */
  alpnProtocols?: string[];
}

/**
 * Options of {@linkcode dial}.
 */
export interface DialOptions {
  /** Wrap the connection in TLS (omit for plain bytes). */
  tls?: DialTlsOptions;
  /**
   * Reach the target through a proxy: `http://[USER:PASS@]HOST:PORT`
   * (HTTP CONNECT, Basic credentials; default port 8080) or
   * `socks5://[USER:PASS@]HOST:PORT` (RFC 1928 with RFC 1929
   * credentials; host names are resolved by the proxy; default port
   * 1080). TLS, if any, runs end to end through the tunnel.
   */
  proxy?: string;
  /**
   * Connect to this Unix socket instead of the target's address; the
   * target then only names the server (TLS name). Not with `proxy`.
   */
  unixPath?: string;
  /**
   * Milliseconds the whole dial may take: connect, proxy reply and TLS
   * handshake. Default 10000; 0 waits forever.
   */
  timeoutMs?: number;
  /** Aborting it cancels the dial, which then rejects with the signal's reason. */
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Connects to `target` and resolves once the stream is ready: TCP (or the
 * Unix socket) connected, the proxy tunnel open, the TLS handshake done.
 *
 * With a proxy, `remoteAddr` is the proxy's address (the socket's real
 * peer). TCP connections have Nagle's algorithm off.
 *
 * Throws a {@linkcode TcpError}: `connect_failed` (nothing listening at the
 * target or the proxy), `proxy_failed`, `proxy_auth_required`, `bad_proxy`,
 * `tls_failed`, `timeout`; a bad target a `NetkitError` `bad_address`; an
 * aborted `signal` its reason. Every resource is closed on failure.
 *
 * Deno's own TLS (`Deno.startTls`) is used when it can do the job;
 * node:tls when `insecure` is set, a client certificate is given
 * (`Deno.startTls` takes none) or TLS runs over a Unix socket
 * (`Deno.startTls` takes only TCP connections).
 *
 * @example Through an HTTP CONNECT proxy (here an unreachable one)
 * ```ts
 * import assert from "node:assert/strict";
 * import { dial, TcpError } from "@netkit/netkit/tcp";
 *
 * await assert.rejects(
 *   dial("example.com:443", { proxy: "http://127.0.0.1:1", tls: {} }),
 *   (error) => error instanceof TcpError && error.code === "connect_failed",
 * );
 * ```
 */
export async function dial(
  target: string | HostPort,
  options: DialOptions = {},
): Promise<DialConn> {
  const dest = typeof target === "string" ? parseAddress(target) : target;
  const proxy = options.proxy === undefined
    ? undefined
    : parseProxyUrl(options.proxy);
  if (proxy && options.unixPath !== undefined) {
    throw new TcpError(
      "bad_proxy",
      "a proxy cannot be used with a Unix socket",
    );
  }
  if ((options.tls?.cert === undefined) !== (options.tls?.key === undefined)) {
    throw new TcpError(
      "tls_failed",
      "a client certificate needs both cert and key",
    );
  }
  options.signal?.throwIfAborted();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const guard = startGuard(timeoutMs, options.signal);
  let step = "connecting to";
  try {
    const base = await openBase(dest, proxy, options.unixPath, guard);
    let conn: DialConn = base;
    if (proxy) {
      step = "waiting for the proxy's reply for";
      const leftover = await openTunnel(base, dest, proxy);
      if (leftover.length > 0) {
        if (options.tls) {
          throw new TcpError(
            "proxy_failed",
            `proxy ${
              formatAddress(proxy.address)
            } sent ${leftover.length} bytes before the TLS handshake`,
          );
        }
        conn = withPrefix(base, leftover);
      }
    }
    if (options.tls) {
      step = "in the TLS handshake with";
      const unix = options.unixPath !== undefined;
      conn = await startTls(base, dest, options.tls, unix, guard);
    }
    return conn;
  } catch (error) {
    guard.closeAll();
    if (guard.why === "aborted") throw options.signal!.reason;
    if (guard.why === "timeout") {
      throw new TcpError(
        "timeout",
        `no connection within ${timeoutMs} ms: still ${step} ${
          escapeControl(formatAddress(dest))
        }`,
        { cause: error },
      );
    }
    throw error;
  } finally {
    guard.dispose();
  }
}

interface Guard {
  readonly signal: AbortSignal;
  readonly why: "timeout" | "aborted" | undefined;
  /**
   * Closes `resource` if the dial is abandoned before `release` (at once
   * if it already was).
   */
  track(resource: { close(): void }): void;
  release(resource: { close(): void }): void;
  closeAll(): void;
  dispose(): void;
}

// The deadline and the caller's signal both end up closing whatever the
// dial has opened, which makes any pending read, write or handshake fail.
function startGuard(timeoutMs: number, signal?: AbortSignal): Guard {
  const controller = new AbortController();
  const open = new Set<{ close(): void }>();
  let why: "timeout" | "aborted" | undefined;
  const stop = (reason: "timeout" | "aborted") => {
    why ??= reason;
    controller.abort();
    for (const resource of open) closeQuietly(resource);
  };
  const timer = timeoutMs > 0
    ? setTimeout(() => stop("timeout"), timeoutMs)
    : undefined;
  const onAbort = () => stop("aborted");
  signal?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    get why() {
      return why;
    },
    track(resource) {
      if (why) closeQuietly(resource);
      else open.add(resource);
    },
    release: (resource) => void open.delete(resource),
    closeAll() {
      for (const resource of open) closeQuietly(resource);
      open.clear();
    },
    dispose() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      open.clear();
    },
  };
}

async function openBase(
  dest: HostPort,
  proxy: ProxySpec | undefined,
  unixPath: string | undefined,
  guard: Guard,
): Promise<Deno.Conn> {
  if (unixPath !== undefined) {
    try {
      const conn = await Deno.connect({ transport: "unix", path: unixPath });
      guard.track(conn);
      return conn;
    } catch (error) {
      throw new TcpError(
        "connect_failed",
        `cannot connect to Unix socket ${escapeControl(unixPath)}: ${
          osMessage(error)
        }`,
        { cause: error },
      );
    }
  }
  const address = proxy ? proxy.address : dest;
  try {
    const conn = await Deno.connect({
      hostname: address.hostname,
      port: address.port,
      transport: "tcp",
      signal: guard.signal,
    });
    guard.track(conn);
    conn.setNoDelay(true);
    return conn;
  } catch (error) {
    throw new TcpError(
      "connect_failed",
      `cannot connect to ${proxy ? "proxy " : ""}${
        escapeControl(formatAddress(address))
      }: ${osMessage(error)}`,
      { cause: error },
    );
  }
}

function openTunnel(
  conn: Deno.Conn,
  dest: HostPort,
  proxy: ProxySpec,
): Promise<Uint8Array> {
  if (proxy.kind === "http") return httpConnect(conn, dest, proxy);
  return socks5Connect(conn, dest, proxy).then(() => new Uint8Array(0));
}

async function startTls(
  base: Deno.Conn,
  dest: HostPort,
  tls: DialTlsOptions,
  unix: boolean,
  guard: Guard,
): Promise<DialConn> {
  const serverName = tls.serverName ?? dest.hostname;
  const clientCert = tls.cert !== undefined;
  const fail = (error: unknown) =>
    new TcpError(
      "tls_failed",
      `TLS handshake with ${escapeControl(serverName)} failed: ${
        escapeControl(tlsFailure(error))
      }`,
      { cause: error },
    );
  if (!tls.insecure && !clientCert && !unix) {
    // The common case stays on Deno's TLS, the fastest path.
    guard.release(base);
    let conn: Deno.TlsConn;
    try {
      conn = await Deno.startTls(base as Deno.TcpConn, {
        hostname: serverName,
        caCerts: tls.caCerts,
        alpnProtocols: tls.alpnProtocols,
      });
    } catch (error) {
      closeQuietly(base);
      throw fail(error);
    }
    guard.track(conn);
    try {
      await conn.handshake();
    } catch (error) {
      throw fail(error);
    }
    return conn;
  }
  guard.release(base);
  const pending = nodeTlsOver(base, {
    serverName,
    caCerts: tls.caCerts,
    insecure: tls.insecure,
    cert: tls.cert,
    key: tls.key,
    alpnProtocols: tls.alpnProtocols,
  });
  guard.track(pending);
  try {
    return await pending.ready;
  } catch (error) {
    throw fail(error);
  }
}

/** `conn` with `prefix` served first: bytes a proxy read ahead of us. */
function withPrefix(conn: DialConn, prefix: Uint8Array): DialConn {
  let pending = prefix;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (pending.length === 0) return conn.read(p);
      const n = Math.min(p.length, pending.length);
      p.set(pending.subarray(0, n));
      pending = pending.subarray(n);
      return Promise.resolve(n);
    },
    write: (p) => conn.write(p),
    closeWrite: () => conn.closeWrite(),
    close: () => conn.close(),
    get localAddr() {
      return conn.localAddr;
    },
    get remoteAddr() {
      return conn.remoteAddr;
    },
  };
}

/**
 * The TLS library's words for a server that answered in plain text
 * (rustls: "InvalidContentType", OpenSSL: "wrong version number") mean
 * nothing to most people: say what happened.
 */
function tlsFailure(error: unknown): string {
  const text = osMessage(error);
  return /InvalidContentType|wrong version number|packet length too long|unknown protocol|http request/i
      .test(text)
    ? "the server did not answer in TLS (is it a plain, unencrypted server?)"
    : text;
}
