// UDP relay: one session per client address, each with its own upstream
// socket, so replies go back only to the client that caused them. Sessions
// are bounded in number (maxConnections) and end after idleTimeoutMs
// without traffic; datagrams on an upstream socket from anyone but the
// target are dropped.

import { formatAddress, type HostPort } from "../address.ts";
import { bindUdp } from "../udp/socket.ts";
import { closeQuietly } from "../_io.ts";
import { serverHandle } from "../_server_handle.ts";
import { hexdump } from "./_hexdump.ts";
import type {
  RelayOptions,
  RelayReport,
  RelayServer,
  RelayStats,
} from "./types.ts";

const DEFAULT_IDLE_MS = 60_000;
// Each session holds a socket: a flood of spoofed sources must not take
// every file descriptor.
const DEFAULT_MAX_SESSIONS = 1024;
const MAX_DATAGRAM = 65_535;

interface Session {
  id: number;
  client: Deno.NetAddr;
  upstream: Deno.DatagramConn;
  started: number;
  lastActive: number;
  toTarget: number;
  toClient: number;
  done: Promise<void>;
}

/** Relays UDP datagrams from `listen` to `target`, per-client sessions. */
export function relayUdp(
  listen: HostPort,
  target: HostPort,
  options: RelayOptions,
): RelayServer {
  const socket = bindUdp(listen.hostname, listen.port);
  const idleMs = options.idleTimeoutMs || DEFAULT_IDLE_MS;
  const sessions = new Map<string, Session>();
  const stats: RelayStats = {
    served: 0,
    active: 0,
    refused: 0,
    bytesIn: 0,
    bytesOut: 0,
    acceptBackoffs: 0,
    idleClosed: 0,
    handshakeTimeouts: 0,
    handshakesShed: 0,
    errors: 0,
  };
  const onError = options.onError ?? (() => {});
  let ids = 0;
  let stopping = false;
  const targetText = formatAddress(target);
  const anyHost = target.hostname.includes(":") ? "::" : "0.0.0.0";

  const dumpBytes = options.onHexdump ? options.hexdumpBytes ?? 0 : 0;
  function dump(
    arrow: ">" | "<",
    session: Session,
    offset: number,
    data: Uint8Array,
  ) {
    if (offset >= dumpBytes) return;
    const shown = data.subarray(0, dumpBytes - offset);
    options.onHexdump!(hexdump(arrow, session.id, shown, offset));
  }

  function end(session: Session, how: "idle_timeout" | "shutdown") {
    if (!sessions.delete(key(session.client))) return;
    stats.active = sessions.size;
    if (how === "idle_timeout") stats.idleClosed++;
    closeQuietly(session.upstream);
    const report: RelayReport = {
      id: session.id,
      client: formatAddress(session.client),
      target: targetText,
      durationMs: performance.now() - session.started,
      bytesToTarget: session.toTarget,
      bytesToClient: session.toClient,
      closedFirst: "relay",
      how,
      halfClose: false,
    };
    void session.done.then(() => options.onConnection?.(report));
  }

  function open(client: Deno.NetAddr): Session | undefined {
    if (sessions.size >= (options.maxConnections ?? DEFAULT_MAX_SESSIONS)) {
      stats.refused++;
      return undefined;
    }
    const upstream = bindUdp(anyHost, 0);
    const now = performance.now();
    const session: Session = {
      id: ++ids,
      client,
      upstream,
      started: now,
      lastActive: now,
      toTarget: 0,
      toClient: 0,
      done: Promise.resolve(),
    };
    session.done = replies(session);
    sessions.set(key(client), session);
    stats.served++;
    stats.active = sessions.size;
    return session;
  }

  async function replies(session: Session): Promise<void> {
    const buf = new Uint8Array(MAX_DATAGRAM);
    for (;;) {
      let data: Uint8Array;
      let from: Deno.Addr;
      try {
        [data, from] = await session.upstream.receive(buf);
      } catch {
        return; // closed by end()
      }
      if (
        from.transport !== "udp" || from.port !== target.port ||
        !sameHost(from.hostname, target.hostname)
      ) continue;
      session.lastActive = performance.now();
      try {
        dump("<", session, session.toClient, data);
        await socket.send(data, session.client);
        session.toClient += data.length;
        stats.bytesOut += data.length;
      } catch (error) {
        stats.errors++;
        onError(error);
      }
    }
  }

  async function receiveLoop(): Promise<void> {
    const buf = new Uint8Array(MAX_DATAGRAM);
    while (!stopping) {
      let data: Uint8Array;
      let from: Deno.Addr;
      try {
        [data, from] = await socket.receive(buf);
      } catch (error) {
        if (stopping) break;
        stats.errors++;
        onError(error);
        continue;
      }
      if (from.transport !== "udp") continue;
      const session = sessions.get(key(from)) ?? open(from);
      if (!session) continue;
      session.lastActive = performance.now();
      try {
        dump(">", session, session.toTarget, data);
        await session.upstream.send(data, {
          transport: "udp",
          hostname: target.hostname,
          port: target.port,
        });
        session.toTarget += data.length;
        stats.bytesIn += data.length;
      } catch (error) {
        stats.errors++;
        onError(error);
      }
    }
  }

  const sweep = setInterval(() => {
    const now = performance.now();
    for (const s of sessions.values()) {
      if (now - s.lastActive >= idleMs) end(s, "idle_timeout");
    }
  }, Math.max(5, Math.min(idleMs / 4, 1000)));

  const loop = receiveLoop();
  let finishing: Promise<void> | undefined;
  const finished = Promise.withResolvers<void>();
  function shutdown(): Promise<void> {
    finishing ??= (async () => {
      stopping = true;
      clearInterval(sweep);
      closeQuietly(socket);
      await loop;
      const open = [...sessions.values()];
      for (const s of open) end(s, "shutdown");
      await Promise.all(open.map((s) => s.done));
      finished.resolve();
    })();
    return finishing;
  }
  return serverHandle({
    addr: socket.addr as Deno.NetAddr,
    finished: finished.promise,
    stats: () => ({ ...stats }),
    shutdown,
    signal: options.signal,
  });
}

function key(addr: Deno.NetAddr): string {
  return formatAddress(addr);
}

function sameHost(a: string, b: string): boolean {
  const strip = (h: string) => h.replace(/^::ffff:/i, "").toLowerCase();
  return strip(a) === strip(b) ||
    (b === "localhost" && (a === "127.0.0.1" || a === "::1"));
}
