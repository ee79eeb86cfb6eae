// Byte-array helpers shared by the protocol cores (not public API).

/**
 * Joins `parts` into one new array. `size`, when the caller already counted
 * it, saves a pass over the parts.
 */
export function concatBytes(
  parts: readonly Uint8Array[],
  size: number = parts.reduce((n, p) => n + p.length, 0),
): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
