// TLS through node:tls, for what Deno's own TLS cannot do: skip
// certificate checks (`insecure`), present a client certificate over an
// already open stream (a proxy tunnel, a Unix socket; Deno.startTls takes
// no cert/key and only TCP connections). Only these opt-in paths pay for
// the stream adapters.

import tls from "node:tls";
import { Duplex } from "node:stream";
import type { Buffer } from "node:buffer";
import type { ByteConn } from "../types.ts";

/** What the node:tls client is told. */
export interface NodeTlsOptions {
  /** Name checked against the certificate (and sent as SNI unless an IP). */
  serverName: string;
  caCerts?: string[];
  insecure?: boolean;
  cert?: string;
  key?: string;
  alpnProtocols?: string[];
}

/** A started handshake: `ready` settles once it is done; `close` aborts it. */
export interface PendingTls {
  ready: Promise<ByteConn>;
  close(): void;
}

const IP = /^[\d.]+$|:/;

/** Starts a TLS client handshake over `conn`, which it then owns. */
export function nodeTlsOver(
  conn: ByteConn,
  options: NodeTlsOptions,
): PendingTls {
  const socket = tls.connect({
    socket: duplexOver(conn) as unknown as import("node:net").Socket,
    host: options.serverName,
    servername: IP.test(options.serverName) ? undefined : options.serverName,
    rejectUnauthorized: !options.insecure,
    // Deno's caCerts add to the default roots; node's `ca` replaces them.
    ca: options.caCerts
      ? [...tls.rootCertificates, ...options.caCerts]
      : undefined,
    cert: options.cert,
    key: options.key,
    ALPNProtocols: options.alpnProtocols,
  });
  const ready = Promise.withResolvers<ByteConn>();
  const adapted = connOver(socket, conn, ready.reject);
  socket.once("secureConnect", () => ready.resolve(adapted));
  return { ready: ready.promise, close: () => socket.destroy() };
}

/** A node Duplex reading and writing a Deno-shaped connection. */
function duplexOver(conn: ByteConn): Duplex {
  let closed = false;
  return new Duplex({
    read() {
      const buf = new Uint8Array(16 * 1024);
      conn.read(buf).then(
        (n) => this.push(n === null ? null : buf.subarray(0, n)),
        (error) => closed ? this.push(null) : this.destroy(error),
      );
    },
    write(chunk: Uint8Array, _encoding, callback) {
      writeFully(conn, chunk).then(() => callback(), callback);
    },
    final(callback) {
      conn.closeWrite().then(() => callback(), () => callback());
    },
    destroy(error, callback) {
      closed = true;
      try {
        conn.close();
      } catch {
        // Already closed.
      }
      callback(error);
    },
  });
}

async function writeFully(conn: ByteConn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/** Deno.Conn's shape over a node TLS socket, with a bounded read queue. */
function connOver(
  socket: tls.TLSSocket,
  base: ByteConn,
  onError: (error: unknown) => void,
): ByteConn {
  const queue: Uint8Array[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  socket.on("data", (chunk: Buffer) => {
    queue.push(chunk);
    // Backpressure: stop pulling from the network while the reader lags.
    if (queue.length > 64) socket.pause();
    notify();
  });
  const end = () => {
    ended = true;
    notify();
  };
  socket.on("end", end);
  socket.on("close", () => {
    end();
    onError(new Error("connection closed during the TLS handshake"));
  });
  socket.on("error", (error: unknown) => {
    failure = error;
    onError(error);
    notify();
  });
  return {
    async read(p: Uint8Array): Promise<number | null> {
      while (queue.length === 0) {
        if (failure) throw failure;
        if (ended) return null;
        await new Promise<void>((r) => wake = r);
      }
      const head = queue[0]!;
      const n = Math.min(head.length, p.length);
      p.set(head.subarray(0, n));
      if (n === head.length) queue.shift();
      else queue[0] = head.subarray(n);
      if (queue.length < 16) socket.resume();
      return n;
    },
    write(p: Uint8Array): Promise<number> {
      return new Promise((resolve, reject) => {
        if (failure) return reject(failure);
        if (socket.destroyed) {
          return reject(new Deno.errors.BadResource("connection closed"));
        }
        // Copied: the caller reuses its buffer as soon as this resolves.
        socket.write(
          p.slice(),
          (error?: Error | null) => error ? reject(error) : resolve(p.length),
        );
      });
    },
    closeWrite(): Promise<void> {
      return new Promise((resolve) => socket.end(() => resolve()));
    },
    close(): void {
      socket.destroy();
    },
    get localAddr() {
      return base.localAddr;
    },
    get remoteAddr() {
      return base.remoteAddr;
    },
  };
}
