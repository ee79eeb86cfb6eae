// `socat -x` style dumps of relayed bytes: a header per chunk, then rows
// of 16 bytes as hex and as printable ASCII (anything else is a dot, so a
// dump can never carry control characters to the terminal).

/** Formats one relayed chunk; `offset` is where it starts in its direction. */
export function hexdump(
  arrow: ">" | "<",
  id: number,
  chunk: Uint8Array,
  offset: number,
): string {
  const lines = [
    `${arrow} #${id} ${
      new Date().toISOString()
    } length=${chunk.length} from=${offset} to=${offset + chunk.length - 1}`,
  ];
  for (let i = 0; i < chunk.length; i += 16) {
    const row = chunk.subarray(i, i + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0"))
      .join(" ");
    const text = Array.from(
      row,
      (b) => b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".",
    ).join("");
    lines.push(` ${hex.padEnd(47)}  ${text}`);
  }
  lines.push("--");
  return lines.join("\n");
}
