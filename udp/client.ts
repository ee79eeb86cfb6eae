/**
 * UDP clients: a request with timeout and retries, and ping.
 *
 * @module
 */

import {
  formatAddress,
  type HostPort,
  isLoopback,
  parseAddress,
} from "../address.ts";
import { readProcText } from "../_proc.ts";
import { closeQuietly, delay } from "../_io.ts";
import {
  type PingOptions,
  type PingProbe,
  type PingResult,
  summarizePings,
} from "../ping.ts";
import { UdpError } from "./errors.ts";
import { bindUdp, checkUdpPayloadSize, MAX_UDP_PAYLOAD_V6 } from "./socket.ts";

/** Options of {@linkcode udpRequest}. */
export interface UdpRequestOptions {
  /** Milliseconds to wait for each reply. Default 1000. */
  timeoutMs?: number;
  /** Extra attempts after the first times out. Default 2. */
  retries?: number;
  /** Which reply answers the request. Default: any datagram from the target. */
  accept?: (reply: Uint8Array) => boolean;
}

/**
 * Sends one datagram and resolves to the first reply, retrying on timeout.
 *
 * Refuses payloads over 65,507 bytes (IPv4) instead of truncating. When no
 * reply comes and nothing on this machine is bound to a loopback target's
 * port, it fails with `no_server` rather than a bare timeout (Deno's
 * unconnected sockets never see ICMP port-unreachable).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveUdpEcho, udpRequest } from "@netkit/netkit/udp";
 *
 * await using server = serveUdpEcho({ port: 0 });
 * const reply = await udpRequest(server.addr, new Uint8Array([1, 2, 3]));
 * assert.ok(reply.length === 3);
 * ```
 */
export async function udpRequest(
  target: HostPort | string,
  payload: Uint8Array,
  options: UdpRequestOptions = {},
): Promise<Uint8Array> {
  const addr = typeof target === "string" ? parseAddress(target) : target;
  checkUdpPayloadSize(payload.length, addr.hostname);
  await using client = connectUdp(addr);
  const attempts = 1 + (options.retries ?? 2);
  for (let i = 0; i < attempts; i++) {
    const reply = await client.request(payload, options);
    if (reply) return reply;
  }
  throw await explainNoReply(
    addr,
    `no reply from ${formatAddress(addr)} after ${attempts} attempt${
      attempts === 1 ? "" : "s"
    }`,
  );
}

/**
 * Measures round trips and loss to a UDP echo server.
 *
 * Each probe carries a run id and sequence number, so late or foreign
 * datagrams never count as replies.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pingUdp, serveUdpEcho } from "@netkit/netkit/udp";
 *
 * await using server = serveUdpEcho({ port: 0 });
 * const result = await pingUdp(server.addr, { count: 3, intervalMs: 0 });
 * assert.ok(result.lossPercent === 0);
 * ```
 */
export async function pingUdp(
  target: HostPort | string,
  options: PingOptions = {},
): Promise<PingResult> {
  const addr = typeof target === "string" ? parseAddress(target) : target;
  const size = Math.max(8, options.size ?? 64);
  checkUdpPayloadSize(size, addr.hostname);
  const count = options.count ?? 5;
  const interval = options.intervalMs ?? 1000;
  const probes: PingProbe[] = [];
  const payload = new Uint8Array(size);
  const view = new DataView(payload.buffer);
  view.setUint32(0, crypto.getRandomValues(new Uint32Array(1))[0]!);
  await using client = connectUdp(addr);
  for (let seq = 1; seq <= count && !options.signal?.aborted; seq++) {
    const started = performance.now();
    view.setUint32(4, seq);
    const reply = await client.request(payload, {
      timeoutMs: options.timeoutMs ?? 1000,
      accept: (r) => r.length === size && r.every((b, i) => b === payload[i]),
    });
    const probe: PingProbe = {
      seq,
      rttMs: reply ? performance.now() - started : null,
      bytes: size,
    };
    probes.push(probe);
    if (!reply && probes.every((p) => p.rttMs === null)) {
      await throwIfNoServer(addr);
    }
    options.onProbe?.(probe);
    if (seq < count) {
      await delay(interval - (performance.now() - started), options.signal);
    }
  }
  return { ...summarizePings(probes), probes };
}

/** Options of {@linkcode UdpClient.request}. */
export interface UdpClientRequestOptions {
  /** Milliseconds to wait for the reply. Default 1000. */
  timeoutMs?: number;
  /** Which reply answers the request. Default: any datagram from the target. */
  accept?: (reply: Uint8Array) => boolean;
}

/** One local UDP socket talking to one server, like `nc -u`. */
export interface UdpClient extends AsyncDisposable {
  /** The server this client talks to. */
  readonly target: HostPort;
  /** Sends `payload` and resolves to the reply, or `null` after the timeout. */
  request(
    payload: Uint8Array,
    options?: UdpClientRequestOptions,
  ): Promise<Uint8Array | null>;
  /** Closes the socket. */
  close(): Promise<void>;
}

/**
 * Opens one local socket for a conversation with a UDP server. Every
 * request leaves from the same port, which servers that remember their
 * peer (socat's UDP-LISTEN, for one) need.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connectUdp, serveUdpEcho } from "@netkit/netkit/udp";
 *
 * await using server = serveUdpEcho({ port: 0 });
 * await using client = connectUdp(server.addr);
 * const reply = await client.request(new Uint8Array([7]));
 * assert.ok(reply?.[0] === 7);
 * ```
 */
export function connectUdp(target: HostPort | string): UdpClient {
  const addr = typeof target === "string" ? parseAddress(target) : target;
  const socket = bindUdp(addr.hostname.includes(":") ? "::" : "0.0.0.0", 0);
  const to: Deno.NetAddr = {
    transport: "udp",
    hostname: addr.hostname,
    port: addr.port,
  };
  let waiter: ((reply: Uint8Array) => void) | undefined;
  const reader = (async () => {
    const buf = new Uint8Array(MAX_UDP_PAYLOAD_V6 + 1);
    for (;;) {
      const [data, from] = await socket.receive(buf);
      if ((from as Deno.NetAddr).port === addr.port) waiter?.(data);
    }
  })().catch(() => {});
  const close = async () => {
    closeQuietly(socket);
    await reader;
  };
  return {
    target: addr,
    async request(payload, options = {}) {
      checkUdpPayloadSize(payload.length, addr.hostname);
      const accept = options.accept ?? (() => true);
      const got = Promise.withResolvers<Uint8Array | null>();
      waiter = (reply) => {
        if (accept(reply)) got.resolve(reply.slice());
      };
      const timer = setTimeout(
        () => got.resolve(null),
        options.timeoutMs ?? 1000,
      );
      try {
        await socket.send(payload, to);
        return await got.promise;
      } finally {
        clearTimeout(timer);
        waiter = undefined;
      }
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Turns a silent server into the clearest error available: `no_server`
 * when nothing is bound to a loopback target's port, else `timeout` with
 * `message`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { explainNoReply } from "@netkit/netkit/udp";
 *
 * const error = await explainNoReply({ hostname: "192.0.2.1", port: 9 }, "no reply");
 * assert.ok(error.code === "timeout");
 * ```
 */
export async function explainNoReply(
  addr: HostPort,
  message: string,
): Promise<UdpError> {
  try {
    await throwIfNoServer(addr);
  } catch (error) {
    return error as UdpError;
  }
  return new UdpError("timeout", message);
}

/**
 * Deno's unconnected UDP sockets never report ICMP port-unreachable, so for
 * a loopback target ask the kernel whether anything is bound to the port.
 */
async function throwIfNoServer(addr: HostPort): Promise<void> {
  if (!isLoopback(addr.hostname)) return;
  const bound = await boundUdpPorts();
  if (bound && !bound.has(addr.port)) {
    throw new UdpError(
      "no_server",
      `no UDP echo server at ${formatAddress(addr)}`,
    );
  }
}

async function boundUdpPorts(): Promise<Set<number> | null> {
  const ports = new Set<number>();
  for (const file of ["/proc/net/udp", "/proc/net/udp6"]) {
    let text: string | null;
    try {
      text = await readProcText(file);
    } catch {
      return null;
    }
    if (text === null) {
      if (file.endsWith("6")) continue;
      return null;
    }
    for (const line of text.split("\n").slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      const port = local?.split(":")[1];
      if (port) ports.add(parseInt(port, 16));
    }
  }
  return ports;
}
