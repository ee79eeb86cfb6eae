// Small socket moves the scenarios share.

import type { TcpSocketRecord } from "../proc/mod.ts";

export const LOOPBACK = "127.0.0.1";

export function listen(backlog?: number): Deno.TcpListener {
  return Deno.listen({ hostname: LOOPBACK, port: 0, tcpBacklog: backlog });
}

export function connect(
  port: number,
  signal?: AbortSignal,
): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: LOOPBACK, port, signal });
}

/** The socket with these local and remote ports, if the kernel shows one. */
export function find(
  sockets: TcpSocketRecord[],
  local: number,
  remote: number,
): TcpSocketRecord | undefined {
  return sockets.find((s) =>
    s.local.port === local && s.remote.port === remote
  );
}

/** The state of the socket with these ports, or `gone`. */
export function stateOf(
  sockets: TcpSocketRecord[],
  local: number,
  remote: number,
): string {
  return find(sockets, local, remote)?.state ?? "gone";
}

/** Reads until EOF or `max` bytes; returns how the read ended. */
export async function readToEnd(
  conn: Deno.Conn,
  max = 1 << 20,
): Promise<
  { bytes: number; ending: "eof" | "reset" | "error"; error?: unknown }
> {
  const buf = new Uint8Array(64 * 1024);
  let bytes = 0;
  try {
    while (bytes < max) {
      const n = await conn.read(buf);
      if (n === null) return { bytes, ending: "eof" };
      bytes += n;
    }
    return { bytes, ending: "eof" };
  } catch (error) {
    return {
      bytes,
      ending: error instanceof Deno.errors.ConnectionReset ? "reset" : "error",
      error,
    };
  }
}
