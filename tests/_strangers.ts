// What the stranger tests share: connections from a chosen loopback source
// address (127.x.y.z, which Deno.connect cannot bind), and the server's
// side of a connection found by its exact address pair, then followed by
// inode in a process's fd table.

import net from "node:net";
import { readSocketOwners, readTcpSockets } from "../tcp/proc/mod.ts";
import { WAIT_MS, waitFor, withTimeout } from "./_helpers.ts";

/** A raw TCP connection from a chosen source address. */
export interface SourcedConn {
  /** The client's own port. */
  readonly localPort: number;
  /** Writes bytes (resolves once handed to the kernel). */
  write(bytes: Uint8Array): Promise<void>;
  /** Every byte received so far. */
  received(): Uint8Array;
  /** Settles when the server ends the connection: `reset` (RST) or `closed` (FIN). */
  readonly ended: Promise<"reset" | "closed">;
  /** Closes from this side (FIN). */
  close(): void;
  /** Closes from this side with an RST. */
  reset(): void;
}

/** Connects to `port` on 127.0.0.1 from `source` (a 127.x.y.z address). */
export function connectFrom(
  source: string,
  port: number,
  host = "127.0.0.1",
): Promise<SourcedConn> {
  const socket = net.connect({ host, port, localAddress: source });
  const chunks: Uint8Array[] = [];
  const ended = new Promise<"reset" | "closed">((resolve) => {
    socket.on(
      "error",
      (e: NodeJS.ErrnoException) =>
        resolve(e.code === "ECONNRESET" ? "reset" : "closed"),
    );
    socket.on("close", () => resolve("closed"));
  });
  socket.on("data", (d: Uint8Array) => chunks.push(new Uint8Array(d)));
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve({
        localPort: socket.localPort!,
        write: (bytes) =>
          new Promise((ok, fail) =>
            socket.write(bytes, (e) => e ? fail(e) : ok())
          ),
        received: () => new Uint8Array(chunks.flatMap((c) => [...c])),
        ended,
        close: () => socket.end(),
        reset: () => socket.resetAndDestroy(),
      });
    });
  });
}

/**
 * The inodes of the server's side of each client connection (server on
 * `serverPort`, clients on `clientPorts`), once the kernel lists them all.
 */
export async function serverInodes(
  serverPort: number,
  clientPorts: number[],
): Promise<number[]> {
  const want = new Set(clientPorts);
  return await waitFor("the server's side of every connection", async () => {
    const found = (await readTcpSockets({ port: serverPort })).filter((s) =>
      s.local.port === serverPort && want.has(s.remote.port) && s.inode !== 0
    );
    return found.length === want.size && found.map((s) => s.inode);
  });
}

/** How many of `inodes` process `pid` still holds an fd for. */
export function heldBy(pid: number | "self", inodes: number[]): number {
  const want = new Set(inodes.map((i) => `socket:[${i}]`));
  let held = 0;
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      if (want.has(Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`))) held++;
    } catch {
      // Closed while we looked.
    }
  }
  return held;
}

/**
 * How many sockets process `pid` holds an fd for. Compared with the count
 * before the test's connections: a socket left open by a close that did
 * not close keeps it above.
 */
export function socketFds(pid: number | "self"): number {
  let count = 0;
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      if (
        Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`).startsWith("socket:")
      ) count++;
    } catch {
      // Closed while we looked.
    }
  }
  return count;
}

/** How the server ended `conn` (a Deno connection): reset or closed; bounded. */
export function endOf(conn: Deno.Conn, what: string): Promise<string> {
  return withTimeout(
    conn.read(new Uint8Array(1)).then(
      (n) => n === null ? "closed" : "data",
      (e) => e instanceof Deno.errors.ConnectionReset ? "reset" : `${e}`,
    ),
    WAIT_MS,
    what,
  );
}

/** The pid of the process listening on 127.0.0.1:`port` (TCP). */
export async function listenerPid(port: number): Promise<number> {
  const [listening] = await readTcpSockets({ port, state: "LISTEN" });
  if (!listening) throw new Error(`nothing listens on port ${port}`);
  const [owner] = (await readSocketOwners()).get(listening.inode) ?? [];
  if (!owner) throw new Error(`no process owns the listener on ${port}`);
  return owner.pid;
}
