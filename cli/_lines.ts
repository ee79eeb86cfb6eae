// Input as lines for the message clients (`ws connect`, `listen ws://`):
// stdin read by one reader for the whole run, or a fixed list (`-x`).
// A line is taken only once it was sent, so a reconnecting client sends
// each line at most once, whichever connection carries it.

/**
 * Lines (without `\n` or `\r\n`; a last line without newline counts):
 * `peek` waits for the next line (null at the end) without consuming it,
 * `take` consumes it once sent.
 */
export interface LineSource {
  peek(): Promise<Uint8Array | null>;
  take(): void;
  /** The end seen and every line taken. */
  readonly ended: boolean;
  /** A line was read and not yet taken. */
  hasPending(): boolean;
}

/** These lines, then the end (`ws connect -x`). */
export function listLines(lines: readonly string[]): LineSource {
  const ready = lines.map((line) => new TextEncoder().encode(line));
  return {
    peek: () => Promise.resolve(ready[0] ?? null),
    take: () => void ready.shift(),
    get ended() {
      return ready.length === 0;
    },
    hasPending: () => ready.length > 0,
  };
}

/** Standard input as lines, read in 64 KiB chunks. */
export function stdinLines(): LineSource {
  const buf = new Uint8Array(64 * 1024);
  let rest = new Uint8Array(0);
  const ready: Uint8Array[] = [];
  let eof = false;
  let reading: Promise<void> | undefined;
  const fill = async () => {
    let n: number | null;
    try {
      n = await Deno.stdin.read(buf);
    } catch {
      n = null;
    }
    if (n === null) {
      eof = true;
      if (rest.length > 0) ready.push(rest);
      rest = new Uint8Array(0);
      return;
    }
    let chunk = buf.subarray(0, n);
    if (rest.length > 0) {
      const joined = new Uint8Array(rest.length + n);
      joined.set(rest);
      joined.set(chunk, rest.length);
      chunk = joined;
    }
    let start = 0;
    for (
      let i = chunk.indexOf(0x0a);
      i !== -1;
      i = chunk.indexOf(0x0a, start)
    ) {
      const end = i > start && chunk[i - 1] === 0x0d ? i - 1 : i;
      ready.push(chunk.slice(start, end));
      start = i + 1;
    }
    rest = chunk.slice(start);
  };
  return {
    async peek() {
      while (ready.length === 0 && !eof) {
        reading ??= fill().finally(() => reading = undefined);
        await reading;
      }
      return ready[0] ?? null;
    },
    take() {
      ready.shift();
    },
    get ended() {
      return eof && ready.length === 0;
    },
    hasPending() {
      return ready.length > 0;
    },
  };
}
