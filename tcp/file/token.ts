/**
 * The receiver's shared secret: a fresh random token.
 *
 * @module
 */

/**
 * Generates a fresh random token: 128 bits, base64url, never starting with
 * `-` (a command line would take `--token -abc…` for an option: the
 * printed `send with:` line must work as printed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateToken } from "@netkit/netkit/tcp";
 *
 * const token = generateToken();
 * assert.equal(token.length, 22);
 * assert.match(token, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
 * ```
 */
export function generateToken(): string {
  for (;;) {
    const token = crypto.getRandomValues(new Uint8Array(16)).toBase64({
      alphabet: "base64url",
      omitPadding: true,
    });
    if (!token.startsWith("-")) return token;
  }
}
