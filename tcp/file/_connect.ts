// How the sender reaches a receiver: plain TCP, verified TLS, or (asked for
// explicitly) TLS without certificate checks, plus a no-progress watchdog.

import type { SenderTlsOptions } from "./types.ts";
import tls from "node:tls";
import type { HostPort } from "../../address.ts";
import { closeQuietly, osMessage } from "../../_io.ts";
import { FileTransferError } from "./errors.ts";
import type { Stream } from "./_frame_io.ts";

/** Opens a connection to a receiver. */
export async function openStream(
  address: HostPort,
  tlsOptions: SenderTlsOptions | undefined,
): Promise<Stream> {
  try {
    if (!tlsOptions) {
      const conn = await Deno.connect({ ...address, transport: "tcp" });
      // START, DATA and END go out back to back; Nagle would hold them.
      conn.setNoDelay(true);
      return conn;
    }
    if (tlsOptions.insecure) return await connectInsecure(address);
    return await Deno.connectTls({
      ...address,
      caCerts: tlsOptions.caCerts,
    });
  } catch (error) {
    if (error instanceof FileTransferError) throw error;
    throw new FileTransferError(
      error instanceof Deno.errors.ConnectionRefused ||
        (error as { code?: unknown }).code === "ECONNREFUSED"
        ? "connection_refused"
        : "connection_closed",
      `cannot connect to ${address.hostname}:${address.port}: ${
        osMessage(error)
      }`,
      { cause: error },
    );
  }
}

// Deno.connectTls has no switch to skip verification; node:tls does. Only
// this opt-in path pays for the stream adapter.
function connectInsecure(address: HostPort): Promise<Stream> {
  const { promise, resolve, reject } = Promise.withResolvers<Stream>();
  const isIp = /^[\d.]+$|:/.test(address.hostname);
  const socket = tls.connect({
    host: address.hostname,
    port: address.port,
    rejectUnauthorized: false,
    servername: isIp ? undefined : address.hostname,
  });
  const queue: Uint8Array[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  socket.on("data", (chunk: Uint8Array) => {
    queue.push(chunk);
    if (queue.length > 64) socket.pause();
    notify();
  });
  socket.on("end", () => {
    ended = true;
    notify();
  });
  socket.on("close", () => {
    ended = true;
    notify();
  });
  socket.on("error", (error: unknown) => {
    failure = error;
    reject(error);
    notify();
  });
  socket.once("secureConnect", () =>
    resolve({
      async read(p: Uint8Array): Promise<number | null> {
        while (queue.length === 0) {
          if (failure) throw failure;
          if (ended) return null;
          await new Promise<void>((r) => wake = r);
        }
        const head = queue[0]!;
        const n = Math.min(head.length, p.length);
        p.set(head.subarray(0, n));
        if (n === head.length) queue.shift();
        else queue[0] = head.subarray(n);
        if (queue.length < 16) socket.resume();
        return n;
      },
      write(p: Uint8Array): Promise<number> {
        return new Promise((res, rej) => {
          if (failure) return rej(failure);
          // Copied: the caller reuses its buffer as soon as this resolves.
          socket.write(
            Uint8Array.prototype.slice.call(p),
            (error?: Error | null) => error ? rej(error) : res(p.length),
          );
        });
      },
      closeWrite(): Promise<void> {
        return new Promise((res) => socket.end(() => res()));
      },
      close(): void {
        socket.destroy();
      },
    }));
  return promise;
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
