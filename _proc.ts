// Reading /proc files for the TCP diagnostics (not public API).

import { ProcError } from "./errors.ts";
import { osMessage } from "./_io.ts";
import { concatBytes } from "./_bytes.ts";

/**
 * /proc files report size 0, so the size limit is enforced while reading:
 * a million sockets are about 150 MB of /proc/net/tcp.
 */
export const PROC_MAX_BYTES = 256 * 1024 * 1024;

/** Throws `unsupported_os` unless `os` is Linux: /proc is Linux's. */
export function assertLinux(what: string, os: string = Deno.build.os): void {
  if (os !== "linux") {
    throw new ProcError(
      "unsupported_os",
      `${what} reads Linux's /proc and is not supported on this OS (${os})`,
    );
  }
}

/**
 * Reads a whole /proc file as text, or `null` when it does not exist.
 * Any other failure is a `proc_unavailable` ProcError naming the file.
 */
export async function readProcText(
  path: string,
  maxBytes: number = PROC_MAX_BYTES,
): Promise<string | null> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw unavailable(path, error);
  }
  try {
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(64 * 1024);
    let total = 0;
    for (;;) {
      const n = await file.read(buf);
      if (n === null) break;
      total += n;
      if (total > maxBytes) {
        throw new ProcError(
          "proc_unavailable",
          `${path} is larger than ${maxBytes} bytes; not reading it`,
        );
      }
      chunks.push(buf.slice(0, n));
    }
    return new TextDecoder().decode(concatBytes(chunks, total));
  } catch (error) {
    if (error instanceof ProcError) throw error;
    throw unavailable(path, error);
  } finally {
    file.close();
  }
}

/** Like {@linkcode readProcText}, but a missing file is an error too. */
export async function readProcRequired(path: string): Promise<string> {
  const text = await readProcText(path);
  if (text === null) {
    throw new ProcError("proc_unavailable", `cannot read ${path}: not found`);
  }
  return text;
}

function unavailable(path: string, error: unknown): ProcError {
  const why = error instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : error instanceof Deno.errors.NotCapable
    ? `needs ${/--allow-[a-z-]+/.exec(error.message)?.[0] ?? "--allow-read"}`
    : osMessage(error);
  return new ProcError("proc_unavailable", `cannot read ${path}: ${why}`, {
    cause: error,
  });
}
