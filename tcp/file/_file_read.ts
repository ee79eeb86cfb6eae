// Reading local files for the protocol: whole buffers (a short read only
// at EOF), and a file's prefix fed chunk by chunk to a hash.

/** Reads up to `into.length` bytes from a file, stopping early only at EOF. */
export async function readFileFull(
  file: Deno.FsFile,
  into: Uint8Array,
): Promise<number> {
  let off = 0;
  while (off < into.length) {
    const n = await file.read(into.subarray(off));
    if (n === null) break;
    off += n;
  }
  return off;
}

/**
 * Feeds the first `length` bytes of `file` (read from the start) to
 * `onChunk`, through `buf`, with the bytes done so far (a resume check:
 * hashing, progress, and a deadline that must not pass while a big prefix
 * is read). Stops early at EOF.
 */
export async function readPrefix(
  file: Deno.FsFile,
  length: number,
  buf: Uint8Array,
  onChunk: (chunk: Uint8Array, done: number) => void,
): Promise<void> {
  await file.seek(0, Deno.SeekMode.Start);
  let done = 0;
  while (done < length) {
    const n = await readFileFull(
      file,
      buf.subarray(0, Math.min(length - done, buf.length)),
    );
    if (n === 0) break;
    done += n;
    onChunk(buf.subarray(0, n), done);
  }
}
