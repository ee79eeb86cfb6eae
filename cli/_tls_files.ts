// Reading the PEM files the TLS flags name (--tls-cert/--tls-key, --ca,
// --cert/--key): one rule for every command.

import { NetkitError } from "../errors.ts";
import { escapeControl } from "../escape.ts";
import { UsageError } from "./_args.ts";

/** A PEM file's text; a file that cannot be read is one `tls_file` error line. */
export async function readPem(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new NetkitError(
      "tls_file",
      `cannot read '${escapeControl(path)}': ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  }
}

/**
 * A certificate and its key from two flags that go together (`--tls-cert`
 * with `--tls-key`, `--cert` with `--key`); `undefined` when neither is set.
 */
export async function readCertAndKey(
  command: string,
  flags: [certFlag: string, keyFlag: string],
  certPath: string | undefined,
  keyPath: string | undefined,
): Promise<{ cert: string; key: string } | undefined> {
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) {
    throw new UsageError(
      `--${flags[0]} and --${flags[1]} go together`,
      command,
    );
  }
  return { cert: await readPem(certPath), key: await readPem(keyPath) };
}
