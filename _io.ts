// Small I/O helpers shared by the tcp/, udp/ and ws/ modules (not public API).

/** Writes all of `data`, looping over short writes. */
export async function writeAll(
  w: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < data.length) off += await w.write(data.subarray(off));
}

/** Closes a resource, ignoring "already closed". */
export function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // Already closed: another path got there first.
  }
}

/**
 * How the peer went away, if that is all `error` means: `"reset"` (RST,
 * "connection reset by peer"), `"closed"` (EOF mid-message, a write to a
 * closed socket, a resource another path closed) or `"aborted"` (the local
 * stack gave up on the connection). `undefined` for any other error.
 *
 * The one place that decides what "the peer went away" means, so servers,
 * clients and the file protocol never disagree on it.
 */
export function disconnectKind(
  error: unknown,
): "reset" | "closed" | "aborted" | undefined {
  if (error instanceof Deno.errors.ConnectionReset) return "reset";
  if (
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.NotConnected
  ) return "closed";
  if (
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.Interrupted
  ) return "aborted";
  return undefined;
}

/** Errors that only mean the peer went away; not worth reporting. */
export function isDisconnect(error: unknown): boolean {
  return disconnectKind(error) !== undefined;
}

/** The message of any thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The message of any thrown value without the runtime's " (os error N)"
 * suffix and with a lower-case start ("address already in use"), for the
 * end of a one-line report: `cannot listen on HOST:PORT: <osMessage>`.
 */
export function osMessage(error: unknown): string {
  return errorMessage(error).replace(/ \(os error \d+\)$/, "")
    // getaddrinfo's words, as the runtime passes them on.
    .replace(
      /^failed to lookup address information: (.*)$/,
      (_, why: string) => `the name does not resolve (${why.toLowerCase()})`,
    )
    .replace(/^[A-Z](?=[a-z])/, (c) => c.toLowerCase());
}

/** Waits `ms` milliseconds, or less if `signal` aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
