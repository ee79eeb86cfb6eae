/**
 * The UDP load driver: `netkit load udp`.
 *
 * @module
 */

import { formatAddress, type HostPort } from "../address.ts";
import { closeQuietly } from "../_io.ts";
import {
  checkLoadOptions,
  loadAddress,
  type LoadChannel,
  LoadError,
  type LoadOptions,
  loadPatternByte,
  type LoadResult,
  type LoadSink,
  runLoad,
} from "../load/mod.ts";
import { counterScope, readTransportCounters } from "../tcp/proc/counters.ts";
import { bindUdp, MAX_UDP_PAYLOAD_V4, MAX_UDP_PAYLOAD_V6 } from "./socket.ts";

/** Options of {@linkcode loadUdp}. */
export interface UdpLoadOptions extends LoadOptions {
  /**
   * `echo` (default): requests, each waiting for its echo within the
   * pipeline, an unanswered one a `timeout`. `stream`: datagrams sent at
   * `ratePerSecond` whatever comes back (iperf3's UDP test against an
   * echo server): the result's `datagrams` holds loss and jitter.
   */
  mode?: "echo" | "stream";
}

// The first 4 bytes of every datagram carry its sequence number, so a lost
// or reordered reply is recognised instead of shifting every later one.
const SEQ_BYTES = 4;

/**
 * Drives a UDP echo server with requests from `connections` sockets (each
 * its own source port); see {@linkcode runLoad} for the closed and open
 * loops. A reply that skips sequence numbers marks the skipped requests as
 * lost (`timeout`); one with wrong bytes counts as `mismatch`. In `stream`
 * mode datagrams leave at `ratePerSecond` however many are in flight, and
 * those never echoed count as lost in `datagrams` (with the loss rate and
 * the jitter of the round trips), not as errors.
 *
 * @throws {LoadError} `remote_target` for a non-loopback target without
 * `allowRemote`; `bad_option` for a size under 4 or over one datagram, or
 * a stream without a rate.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadUdp, serveUdpEcho } from "@netkit/netkit/udp";
 *
 * await using server = serveUdpEcho({ port: 0 });
 * const result = await loadUdp(server.addr, { requests: 100, timeoutMs: 5000 });
 * assert.equal(result.requests + result.errors.timeout, 100);
 * ```
 */
export async function loadUdp(
  target: HostPort | string,
  options: UdpLoadOptions = {},
): Promise<LoadResult> {
  const addr = loadAddress(target, options);
  const v6 = addr.hostname.includes(":");
  const size = checkLoadOptions(options, {
    minSize: SEQ_BYTES,
    maxSize: v6 ? MAX_UDP_PAYLOAD_V6 : MAX_UDP_PAYLOAD_V4,
  });
  const to: Deno.NetAddr = { transport: "udp", ...addr };
  const local = addr.hostname === "localhost"
    ? "127.0.0.1"
    : options.allowRemote
    ? (v6 ? "::" : "0.0.0.0")
    : (v6 ? "::1" : "127.0.0.1");
  const mode = options.mode ?? "echo";
  if (mode !== "echo" && mode !== "stream") {
    throw new LoadError(
      "bad_option",
      `UDP load modes are echo and stream, not ${mode}`,
    );
  }
  if (mode === "stream" && !options.ratePerSecond) {
    throw new LoadError(
      "bad_option",
      "a UDP stream is sent at a rate: give ratePerSecond (datagrams per second)",
    );
  }
  return await runLoad({
    protocol: "udp",
    target: formatAddress(addr),
    mode,
    requests: true,
    datagrams: mode === "stream",
    direction: mode === "stream" ? "both" : "received",
    open: (sink) =>
      Promise.resolve(udpChannel(bindUdp(local, 0), to, size, sink)),
  }, withCounters(options));
}

function udpChannel(
  socket: Deno.DatagramConn,
  to: Deno.NetAddr,
  size: number,
  sink: LoadSink,
): LoadChannel {
  let closed = false;
  let queued = 0;
  let writing = false;
  let nextSeq = 0;
  let expected = 0;
  const out = new Uint8Array(size);
  for (let i = SEQ_BYTES; i < size; i++) out[i] = loadPatternByte(i);
  const outView = new DataView(out.buffer);
  const fail = (error: unknown) => {
    if (closed) return;
    closed = true;
    closeQuietly(socket);
    sink.failed(error);
  };
  const write = async () => {
    writing = true;
    try {
      while (queued > 0 && !closed) {
        queued--;
        outView.setUint32(0, nextSeq++);
        await socket.send(out, to);
        sink.sent(size);
      }
    } catch (error) {
      fail(error);
    }
    writing = false;
  };
  (async () => {
    const buf = new Uint8Array(MAX_UDP_PAYLOAD_V6 + 1);
    const view = new DataView(buf.buffer);
    try {
      for (;;) {
        const [data, from] = await socket.receive(buf);
        if (closed) return;
        const peer = from as Deno.NetAddr;
        if (peer.port !== to.port) continue; // not the server's reply
        sink.received(data.length);
        if (data.length < SEQ_BYTES) {
          sink.mismatch();
          continue;
        }
        const seq = view.getUint32(0);
        if (seq < expected || seq >= nextSeq) continue; // late or duplicate
        if (seq > expected) sink.lost(seq - expected);
        expected = seq + 1;
        let ok = data.length === size;
        for (let i = SEQ_BYTES; ok && i < size; i++) ok = buf[i] === out[i];
        sink.reply(ok);
      }
    } catch (error) {
      fail(error);
    }
  })();
  return {
    send(count) {
      queued += count;
      if (!writing) void write();
    },
    close() {
      closed = true;
      closeQuietly(socket);
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
