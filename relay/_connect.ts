// The connect side of a relay: for each accepted client, a fresh
// RelayStream to the target. A new kind (a WebSocket client, the shared
// dialer's TLS/proxy options) is one more case here.

import { TcpError } from "../tcp/mod.ts";
import { type Endpoint, splitCommand } from "./endpoint.ts";
import { RelayError } from "./errors.ts";
import { execStream } from "./_exec.ts";
import { connStream, type RelayStream } from "./_stream.ts";
import type { RelayOptions } from "./types.ts";

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Opens the target side for one accepted connection. */
export function connector(
  to: Endpoint,
  options: RelayOptions,
): () => Promise<RelayStream> {
  switch (to.kind) {
    case "tcp":
      return () =>
        withConnectTimeout(
          options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
          async (signal) =>
            connStream(
              await Deno.connect({
                hostname: to.hostname,
                port: to.port,
                signal,
              }),
            ),
        );
    case "tls":
      return async () =>
        connStream(
          await Deno.connectTls({
            hostname: to.hostname,
            port: to.port,
            caCerts: options.caCerts,
          }),
        );
    case "unix":
      return async () =>
        connStream(
          await Deno.connect({ transport: "unix", path: to.path }),
          `unix:${to.path}`,
        );
    case "exec": {
      const argv = options.shell
        ? ["/bin/sh", "-c", to.command]
        : splitCommand(to.command);
      return () => Promise.resolve(execStream(argv));
    }
    case "udp":
      throw new RelayError("unsupported_endpoint", "UDP relays to UDP only");
  }
}

/**
 * Runs `connect` with a signal aborted after `timeoutMs`; a silent target
 * (SYNs dropped) would otherwise hold the client for minutes of retries.
 */
async function withConnectTimeout<T>(
  timeoutMs: number,
  connect: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await connect(controller.signal);
  } catch (error) {
    if (controller.signal.aborted) {
      throw new TcpError("timeout", `timed out after ${timeoutMs} ms`, {
        cause: error,
      });
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
