// How the sender reaches a receiver (plain TCP, verified TLS, or TLS
// without certificate checks when asked) through the one dialer, plus a
// no-progress watchdog.

import type { SenderTlsOptions } from "./types.ts";
import type { HostPort } from "../../address.ts";
import { closeQuietly, osMessage } from "../../_io.ts";
import { dial } from "../dial.ts";
import { TcpError } from "../errors.ts";
import { FileTransferError } from "./errors.ts";
import type { Stream } from "./_frame_io.ts";

/** Opens a connection to a receiver. */
export async function openStream(
  address: HostPort,
  tlsOptions: SenderTlsOptions | undefined,
): Promise<Stream> {
  try {
    // dial turns Nagle off: START, DATA and END go out back to back.
    return await dial(address, {
      tls: tlsOptions && {
        caCerts: tlsOptions.caCerts,
        insecure: tlsOptions.insecure,
      },
    });
  } catch (error) {
    const cause = error instanceof TcpError ? error.cause ?? error : error;
    throw new FileTransferError(
      cause instanceof Deno.errors.ConnectionRefused
        ? "connection_refused"
        : "connection_closed",
      `cannot connect to ${address.hostname}:${address.port}: ${
        osMessage(cause)
      }`,
      { cause: error },
    );
  }
}

/** Closes a stream when nothing moved for `ms`; `expired` tells why a read failed. */
export interface Watchdog {
  touch(): void;
  stop(): void;
  readonly expired: boolean;
}

/** Starts a {@linkcode Watchdog} on `stream`; 0 disables it. */
export function startWatchdog(stream: Stream, ms: number): Watchdog {
  let last = performance.now();
  let expired = false;
  const timer = ms > 0
    ? setInterval(() => {
      if (performance.now() - last >= ms) {
        expired = true;
        clearInterval(timer);
        closeQuietly(stream);
      }
    }, Math.max(5, Math.min(ms / 4, 1000)))
    : undefined;
  return {
    touch() {
      last = performance.now();
    },
    stop() {
      clearInterval(timer);
    },
    get expired() {
      return expired;
    },
  };
}
