// UDP relay: one session per client address, each with its own upstream
// socket, so replies go back only to the client that caused them. Sessions
// are bounded in number (maxConnections) and end after idleTimeoutMs
// without traffic; datagrams on an upstream socket from anyone but the
// target are dropped. A full table never turns a new client away (UDP
// sources are spoofable: a flood of one-datagram sources would lock out
// everyone until they idle out): the longest-idle session makes room,
// taken first among those without a two-way exchange, as conntrack keeps
// its "assured" flows.

import { formatAddress, type HostPort } from "../address.ts";
import { bindUdp } from "../udp/socket.ts";
import { closeQuietly } from "../_io.ts";
import { serverHandle } from "../_server_handle.ts";
import { logBudget } from "../_log_budget.ts";
import { RelayError } from "./errors.ts";
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
// Evictions get a log line each, up to this many per interval; past it,
// one summary line per interval.
const LOG_BURST = 10;
const LOG_INTERVAL_MS = 10_000;

interface Session {
  id: number;
  client: Deno.NetAddr;
  upstream: Deno.DatagramConn;
  started: number;
  lastActive: number;
  toTarget: number;
  toClient: number;
  datagramsIn: number;
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
    sessionsEvicted: 0,
    errors: 0,
  };
  const maxSessions = options.maxConnections ?? DEFAULT_MAX_SESSIONS;
  // Least recently active first: one set for sessions that had a two-way
  // exchange (two datagrams from their client and a reply), one for the
  // rest, which are evicted first.
  const fresh = new Set<Session>();
  const assured = new Set<Session>();
  const evicted = new Set<Promise<void>>();
  const evictions = logBudget({
    burst: LOG_BURST,
    intervalMs: LOG_INTERVAL_MS,
    onSummary(counts, periodMs) {
      const n = counts.get("evicted") ?? 0;
      onError(
        new RelayError(
          "session_evicted",
          `${n} more UDP sessions evicted in the last ${
            Math.round(periodMs / 1000)
          } s (the table holds ${maxSessions})`,
        ),
      );
    },
  });
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

  function touch(session: Session) {
    session.lastActive = performance.now();
    const list = assured.has(session) ? assured : fresh;
    list.delete(session);
    if (list === fresh && session.datagramsIn >= 2 && session.toClient > 0) {
      assured.add(session);
    } else {
      list.add(session);
    }
  }

  function evict() {
    const victim: Session = fresh.values().next().value ??
      assured.values().next().value!;
    forget(victim);
    stats.sessionsEvicted++;
    // Its reply loop ends on the closed socket; shutdown waits for it.
    evicted.add(victim.done);
    void victim.done.then(() => evicted.delete(victim.done));
    if (evictions.allow("evicted")) {
      onError(
        new RelayError(
          "session_evicted",
          `UDP session from ${
            formatAddress(victim.client)
          } evicted: the table holds ${maxSessions}, it was the longest idle (${
            Math.round(performance.now() - victim.lastActive)
          } ms)`,
        ),
      );
    }
  }

  function forget(session: Session): boolean {
    if (!sessions.delete(key(session.client))) return false;
    fresh.delete(session);
    assured.delete(session);
    stats.active = sessions.size;
    closeQuietly(session.upstream);
    return true;
  }

  function end(session: Session, how: "idle_timeout" | "shutdown") {
    if (!forget(session)) return;
    if (how === "idle_timeout") stats.idleClosed++;
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

  function open(client: Deno.NetAddr): Session {
    if (sessions.size >= maxSessions) evict();
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
      datagramsIn: 0,
      done: Promise.resolve(),
    };
    session.done = replies(session);
    sessions.set(key(client), session);
    fresh.add(session);
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
      if (sessions.get(key(session.client)) !== session) return; // evicted
      try {
        dump("<", session, session.toClient, data);
        await socket.send(data, session.client);
        session.toClient += data.length;
        stats.bytesOut += data.length;
        touch(session);
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
      session.datagramsIn++;
      touch(session);
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
      evictions.close();
      closeQuietly(socket);
      await loop;
      const open = [...sessions.values()];
      for (const s of open) end(s, "shutdown");
      await Promise.all([...open.map((s) => s.done), ...evicted]);
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
