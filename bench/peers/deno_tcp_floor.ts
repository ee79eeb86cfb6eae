// Context for the idle-memory rows: the least a Deno TCP echo can hold per
// connection, a bare Deno.listen loop with one pending read of a 64-byte
// buffer (grown when a read fills it), nothing of netkit.
// Prints "listening tcp 127.0.0.1:PORT".
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(`listening tcp 127.0.0.1:${listener.addr.port}`);
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
for await (const conn of listener) void echo(conn);

async function echo(conn: Deno.Conn) {
  let buf = new Uint8Array(64);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      await conn.write(buf.subarray(0, n));
      if (n === buf.length && buf.length < 65536) buf = new Uint8Array(65536);
    }
  } catch {
    // The client went away.
  } finally {
    conn.close();
  }
}
