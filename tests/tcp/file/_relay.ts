// A relaying socket for wire tests: it records both directions (and may
// flip one byte going up), so a test can look at what an observer on the
// path sees, or what an altered stream does.

/** A relay that records both directions and may flip one byte going up. */
export function startRelay(
  target: Deno.NetAddr,
  options: { flipUpAt?: number; tls?: boolean } = {},
): {
  port: number;
  up: Uint8Array[];
  down: Uint8Array[];
  done: Promise<void>;
  close(): void;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const up: Uint8Array[] = [];
  const down: Uint8Array[] = [];
  const pipe = async (
    from: Deno.Conn,
    to: Deno.Conn,
    log: Uint8Array[],
    flipAt?: number,
  ) => {
    const buf = new Uint8Array(65536);
    let seen = 0;
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        const chunk = buf.slice(0, n);
        if (flipAt !== undefined && flipAt >= seen && flipAt < seen + n) {
          chunk[flipAt - seen]! ^= 0x01;
        }
        seen += n;
        log.push(chunk);
        let off = 0;
        while (off < n) off += await to.write(chunk.subarray(off));
      }
      await to.closeWrite();
    } catch {
      // One side went away; the other pipe sees it too.
    }
  };
  const done = (async () => {
    const client = await listener.accept();
    const server = await Deno.connect({
      hostname: "127.0.0.1",
      port: target.port,
    });
    await Promise.all([
      pipe(client, server, up, options.flipUpAt),
      pipe(server, client, down),
    ]);
    client.close();
    server.close();
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    up,
    down,
    done,
    close: () => listener.close(),
  };
}

export function joined(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
