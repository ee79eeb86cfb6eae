// The one builder of the server object every netkit server returns
// (not public API): Deno.serve's shape, an abort signal wired to
// shutdown(), and `await using` support.

import type { NetkitServer, ServerStats } from "./types.ts";

/** What a server implementation supplies; the handle adds the rest. */
export interface ServerParts<
  S extends ServerStats,
  A extends Deno.Addr = Deno.NetAddr,
> {
  addr: A;
  finished: Promise<void>;
  stats: () => S;
  /** Idempotent: stops the server and resolves when it has finished. */
  shutdown: () => Promise<void>;
  /** Aborting it shuts the server down, like calling `shutdown()`. */
  signal?: AbortSignal;
}

/**
 * Builds the {@linkcode NetkitServer} for `parts` (a relay listening on a
 * Unix socket has a `Deno.UnixAddr`, hence `A`).
 */
export function serverHandle<
  S extends ServerStats,
  A extends Deno.Addr = Deno.NetAddr,
>(
  parts: ServerParts<S, A>,
): Omit<NetkitServer<S>, "addr"> & { readonly addr: A } {
  const { signal, shutdown } = parts;
  if (signal?.aborted) void shutdown();
  else signal?.addEventListener("abort", () => void shutdown(), { once: true });
  return {
    addr: parts.addr,
    finished: parts.finished,
    stats: parts.stats,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}
