// Early writeback for large incoming files: without it, the final fsync
// writes the whole file to disk after the last byte arrived (about 0.25 s
// per GiB here), time in which nothing else happens. Flushing what is
// already written every few MiB while the transfer runs leaves the final
// fsync only the tail. Durability is unchanged: the final fsync still runs.

/** Bytes written between background flushes. */
export const WRITEBACK_EVERY = 32 * 1024 * 1024;

/** Background `fdatasync` of a file being written. */
export interface Writeback extends AsyncDisposable {
  /** Records `n` more bytes written (completed writes only). */
  wrote(n: number): void;
  /** Waits for the flush in flight; throws its error, if any. */
  finish(): Promise<void>;
}

const NONE: Writeback = {
  wrote() {},
  finish: () => Promise.resolve(),
  [Symbol.asyncDispose]: () => Promise.resolve(),
};

/**
 * Opens a second handle on `path` for flushing: async operations on one
 * `Deno.FsFile` run one at a time, so a flush on the writing handle would
 * hold up the next write. Transfers shorter than one interval, or a file
 * that cannot be opened again, get no early writeback.
 */
export async function startWriteback(
  path: string,
  bytes: number,
): Promise<Writeback> {
  if (bytes < 2 * WRITEBACK_EVERY) return NONE;
  let handle: Deno.FsFile;
  try {
    handle = await Deno.open(path, { read: true });
  } catch {
    return NONE;
  }
  let written = 0;
  let flushedAt = 0;
  let running: Promise<void> | undefined;
  let failure: unknown;
  const wait = async () => {
    while (running) await running;
  };
  return {
    wrote(n) {
      written += n;
      if (running || failure || written - flushedAt < WRITEBACK_EVERY) return;
      const at = written;
      running = handle.syncData().then(
        () => {
          flushedAt = at;
        },
        (error) => {
          failure = error;
        },
      ).finally(() => {
        running = undefined;
      });
    },
    async finish() {
      await wait();
      if (failure) throw failure;
    },
    async [Symbol.asyncDispose]() {
      await wait();
      handle.close();
    },
  };
}
