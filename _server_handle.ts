// The one builder of the server object every netkit server returns
// (not public API): Deno.serve's shape, an abort signal wired to
// shutdown(), and `await using` support.

import type { NetkitServer, ServerStats } from "./types.ts";

/** What a server implementation supplies; the handle adds the rest. */
export interface ServerParts<S extends ServerStats> {
  addr: Deno.NetAddr;
  finished: Promise<void>;
  stats: () => S;
  /** Idempotent: stops the server and resolves when it has finished. */
  shutdown: () => Promise<void>;
  /** Aborting it shuts the server down, like calling `shutdown()`. */
  signal?: AbortSignal;
}

/** Builds the {@linkcode NetkitServer} for `parts`. */
export function serverHandle<S extends ServerStats>(
  parts: ServerParts<S>,
): NetkitServer<S> {
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
