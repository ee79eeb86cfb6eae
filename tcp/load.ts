/**
 * The TCP load driver: `netkit load tcp`.
 *
 * @module
 */

import type { HostPort } from "../address.ts";
import { formatAddress } from "../address.ts";
import { closeQuietly } from "../_io.ts";
import {
  checkLoadOptions,
  loadAddress,
  type LoadChannel,
  type LoadDriver,
  type LoadOptions,
  loadPatternByte,
  type LoadResult,
  type LoadSink,
  runLoad,
} from "../load/mod.ts";
import { counterScope, readTransportCounters } from "./proc/counters.ts";

/**
 * What a TCP load does:
 * - `echo`: requests of `size` bytes, each answered by the same bytes;
 * - `stream`: write as fast as the server takes and check the echo (MB/s
 *   of echoed bytes, iperf3-style);
 * - `sink`: write as fast as the server takes, discard whatever comes back
 *   (MB/s written);
 * - `reverse`: only read, for servers that send (MB/s read);
 * - `bidir`: `stream`, counting both directions.
 */
export type TcpLoadMode = "echo" | "stream" | "sink" | "reverse" | "bidir";

/** Options of {@linkcode loadTcp}. */
export interface TcpLoadOptions extends LoadOptions {
  /** Default `echo`. */
  mode?: TcpLoadMode;
}

const STREAM_CHUNK = 64 * 1024;
const READ_SIZE = 256 * 1024;

/**
 * Drives a TCP server with requests (`echo`) or bulk bytes (the stream
 * modes) from `connections` connections; see {@linkcode runLoad} for the
 * closed and open loops. Replies are checked byte for byte: a wrong echo
 * counts as `mismatch`.
 *
 * @throws {LoadError} `remote_target` for a non-loopback target without
 * `allowRemote`; `bad_option` for an impossible option.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadTcp, serveEcho } from "@netkit/netkit/tcp";
 *
 * await using server = serveEcho({ port: 0 });
 * const result = await loadTcp(server.addr, { connections: 2, requests: 200 });
 * assert.equal(result.requests, 200);
 * assert.equal(server.stats().bytesIn, 200 * 64);
 * ```
 */
export async function loadTcp(
  target: HostPort | string,
  options: TcpLoadOptions = {},
): Promise<LoadResult> {
  return await runLoad(tcpLoadDriver(target, options), withCounters(options));
}

/**
 * The {@linkcode LoadDriver} behind {@linkcode loadTcp}, for callers that
 * run it themselves.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tcpLoadDriver } from "@netkit/netkit/tcp";
 *
 * const driver = tcpLoadDriver("127.0.0.1:7007", { mode: "sink" });
 * assert.equal(driver.direction, "sent");
 * ```
 */
export function tcpLoadDriver(
  target: HostPort | string,
  options: TcpLoadOptions = {},
): LoadDriver {
  const addr = loadAddress(target, options);
  const mode = options.mode ?? "echo";
  const size = checkLoadOptions(options);
  return {
    protocol: "tcp",
    target: formatAddress(addr),
    mode,
    direction: mode === "sink"
      ? "sent"
      : mode === "bidir"
      ? "both"
      : "received",
    async open(sink, signal) {
      const conn = await Deno.connect({
        hostname: addr.hostname,
        port: addr.port,
        signal,
      });
      // Small requests must leave at once. The stream modes keep Nagle on
      // purpose: they write 64 KiB at a time and wait for no reply, and on
      // loopback (MSS 65,483) each such write without Nagle leaves as a
      // full segment plus a 53-byte runt; with Nagle the runt joins the
      // next write.
      if (mode === "echo") conn.setNoDelay(true);
      return mode === "echo"
        ? echoChannel(conn, size, sink)
        : streamChannel(conn, mode, sink);
    },
  };
}

function echoChannel(
  conn: Deno.TcpConn,
  size: number,
  sink: LoadSink,
): LoadChannel {
  let closed = false;
  let queued = 0;
  let writing = false;
  // Many requests due at once go out in one write.
  const batch = Math.max(1, Math.floor(STREAM_CHUNK / size));
  const out = new Uint8Array(batch * size);
  for (let i = 0; i < out.length; i++) out[i] = loadPatternByte(i % size);
  const expected = out.subarray(0, size);
  const fail = (error: unknown) => {
    if (closed) return;
    closed = true;
    closeQuietly(conn);
    sink.failed(error);
  };
  // Promise callbacks, not an async loop: one promise per write is the
  // whole cost of a request on the way out.
  const write = (): void => {
    if (closed || queued === 0) {
      writing = false;
      return;
    }
    writing = true;
    const n = Math.min(queued, batch);
    queued -= n;
    writeFrom(out.subarray(0, n * size));
  };
  const writeFrom = (bytes: Uint8Array): void => {
    conn.write(bytes).then((written) => {
      if (written < bytes.length) return writeFrom(bytes.subarray(written));
      sink.sent(bytes.length);
      write();
    }, fail);
  };
  (async () => {
    const buf = new Uint8Array(Math.min(READ_SIZE, Math.max(4096, 4 * size)));
    let at = 0; // offset within the reply being read
    let ok = true;
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) {
          throw new Deno.errors.UnexpectedEof(
            "the server closed the connection",
          );
        }
        if (closed) return;
        sink.received(n);
        for (let i = 0; i < n; i++) {
          if (buf[i] !== expected[at]) ok = false;
          if (++at === size) {
            sink.reply(ok);
            if (closed) return;
            at = 0;
            ok = true;
          }
        }
      }
    } catch (error) {
      fail(error);
    }
  })();
  return {
    send(count) {
      queued += count;
      if (!writing) write();
    },
    close() {
      closed = true;
      closeQuietly(conn);
    },
  };
}

function streamChannel(
  conn: Deno.TcpConn,
  mode: TcpLoadMode,
  sink: LoadSink,
): LoadChannel {
  let closed = false;
  const fail = (error: unknown) => {
    if (closed) return;
    closed = true;
    closeQuietly(conn);
    sink.failed(error);
  };
  const out = new Uint8Array(STREAM_CHUNK);
  for (let i = 0; i < out.length; i++) out[i] = loadPatternByte(i);
  if (mode !== "reverse") {
    (async () => {
      try {
        while (!closed) {
          const n = await conn.write(out);
          // Writes may be short; keep the pattern aligned to the stream.
          if (n < out.length) {
            let off = n;
            while (off < out.length) off += await conn.write(out.subarray(off));
          }
          sink.sent(out.length);
        }
      } catch (error) {
        fail(error);
      }
    })();
  }
  (async () => {
    const buf = new Uint8Array(READ_SIZE);
    const check = mode === "stream" || mode === "bidir";
    let position = 0;
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) {
          throw new Deno.errors.UnexpectedEof(
            "the server closed the connection",
          );
        }
        if (closed) return;
        // One byte per read: cheap, and a server that garbles or drops
        // bytes shifts the pattern and shows here.
        if (check && buf[0] !== out[position % STREAM_CHUNK]) sink.mismatch();
        position += n;
        sink.received(n);
      }
    } catch (error) {
      fail(error);
    }
  })();
  return {
    send() {},
    close() {
      closed = true;
      closeQuietly(conn);
    },
  };
}

// The kernel's counters, read through tcp/proc: the load library itself
// never reads /proc (load/ sits below tcp/, udp/ and ws/).
function withCounters<T extends LoadOptions>(options: T): T {
  return {
    counters: { read: readTransportCounters, scope: counterScope() },
    ...options,
  };
}
