// The connect side of a relay: for each accepted client, a fresh
// RelayStream to the target. A new kind is one more case here.

import { dial, type DialOptions } from "../tcp/dial.ts";
import { formatAddress } from "../address.ts";
import { type Endpoint, splitCommand, type WsEndpoint } from "./endpoint.ts";
import { wsStream } from "./_ws.ts";
import { dialWebSocket } from "../ws/dial.ts";
import { RelayError } from "./errors.ts";
import { stdioStream } from "./_stdio.ts";
import { execStream } from "./_exec.ts";
import { connStream, type RelayStream } from "./_stream.ts";
import type { RelayOptions } from "./types.ts";

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_GRACE_MS = 5000;
const UNIX_NAME = { hostname: "localhost", port: 0 };

/** Opens the target side for one accepted connection. */
export function connector(
  to: Endpoint,
  options: RelayOptions,
): () => Promise<RelayStream> {
  switch (to.kind) {
    case "tcp":
    case "tls":
    case "unix":
      return dialer(to, options);
    case "exec": {
      const argv = options.shell
        ? ["/bin/sh", "-c", to.command]
        : splitCommand(to.command);
      const finishMs = options.gracePeriodMs ?? DEFAULT_GRACE_MS;
      return () => Promise.resolve(execStream(argv, { finishMs }));
    }
    case "ws":
    case "wss":
      return wsDialer(to, options);
    case "stdio": {
      // One stdin, one stdout: the first client takes them.
      let taken = false;
      return () => {
        if (taken) {
          return Promise.reject(
            new RelayError(
              "unsupported_endpoint",
              "stdin/stdout already relay another connection",
            ),
          );
        }
        taken = true;
        return Promise.resolve(stdioStream());
      };
    }
    case "udp":
      throw new RelayError("unsupported_endpoint", "UDP relays to UDP only");
  }
}

/**
 * TCP, TLS and Unix targets through the shared dialer: one connect
 * timeout, proxies and TLS options (CA, insecure, client certificate)
 * for all of them.
 */
function dialer(
  to: Exclude<Endpoint, { kind: "exec" | "udp" | "ws" | "wss" | "stdio" }>,
  options: RelayOptions,
): () => Promise<RelayStream> {
  if (to.kind === "unix" && options.proxy !== undefined) {
    throw new RelayError(
      "unsupported_endpoint",
      `a proxy reaches tcp:// and tls:// targets, not unix:${to.path}`,
    );
  }
  if (
    (options.clientCert === undefined) !== (options.clientKey === undefined)
  ) {
    throw new RelayError(
      "unsupported_endpoint",
      "a client certificate needs both clientCert and clientKey",
    );
  }
  const dialOptions: DialOptions = {
    ...dialBase(to.kind === "tls", options),
    ...(to.kind === "unix" ? { unixPath: to.path } : {}),
  };
  // A Unix target has no host; the dialer only needs a name for it.
  const address = to.kind === "unix" ? UNIX_NAME : to;
  const peer = to.kind === "unix"
    ? `unix:${to.path}`
    : options.proxy === undefined
    ? undefined
    : `${formatAddress(to)} via proxy`;
  return async () => connStream(await dial(address, dialOptions), peer);
}

/** The dialer's options every kind shares: timeout, proxy, TLS. */
function dialBase(secure: boolean, options: RelayOptions): DialOptions {
  if (
    (options.clientCert === undefined) !== (options.clientKey === undefined)
  ) {
    throw new RelayError(
      "unsupported_endpoint",
      "a client certificate needs both clientCert and clientKey",
    );
  }
  return {
    timeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    proxy: options.proxy,
    ...(secure
      ? {
        tls: {
          caCerts: options.caCerts,
          insecure: options.insecure,
          cert: options.clientCert,
          key: options.clientKey,
        },
      }
      : {}),
  };
}

/**
 * A WebSocket client per connection through the one client edge: dial
 * and upgrade within one timeout, with the relay's proxy and TLS options.
 */
function wsDialer(
  to: WsEndpoint,
  options: RelayOptions,
): () => Promise<RelayStream> {
  const dialOptions = dialBase(to.kind === "wss", options);
  const peer = options.proxy === undefined ? to.url : `${to.url} via proxy`;
  return async () => {
    const ws = await dialWebSocket(to.url, dialOptions);
    return wsStream(ws.conn, "client", ws.leftover, peer);
  };
}
