// The shared WebSocket client (Deno's own WebSocket) and the rows of issues
// #4 and #16: throughput, ping-pong, and memory (idle connections, a
// fragment flood) read from /proc.

import { cpuSeconds, LatencyHistogram } from "./_stats.ts";
import {
  type BenchContext,
  medians,
  netkitCommand,
  repoPath,
  runRounds,
} from "./_runner.ts";
import type { RunningServer, ServerSpec } from "./_servers.ts";
import type { BenchRow } from "./_table.ts";
import { benchPayload, floodRaw, openRawWs } from "./_ws_raw.ts";

/** The WebSocket echo servers compared. All print a `listening` line. */
export function wsServers(): ServerSpec[] {
  return [
    {
      name: "netkit",
      transport: "tcp",
      // --max-buffered: the 1 MiB row keeps 8 MiB in flight, more than the
      // default 4 MiB slow-client limit; the peers have no such limit.
      cmd: netkitCommand([
        "ws",
        "serve",
        "--port",
        "0",
        "--grace",
        "0",
        "--no-page",
        "--max-buffered",
        "64M",
      ]),
    },
    {
      name: "node ws",
      transport: "tcp",
      cmd: ["node", repoPath("bench/peers/node_ws_echo.mjs")],
    },
    {
      name: "python",
      transport: "tcp",
      cmd: ["/usr/bin/python3", repoPath("bench/peers/python_ws_echo.py")],
    },
    {
      name: "deno bare",
      transport: "tcp",
      cmd: [
        Deno.execPath(),
        "run",
        "--allow-net",
        repoPath("bench/peers/deno_bare_ws.ts"),
      ],
    },
  ];
}

/** What one WebSocket measurement gives. */
export interface WsResult {
  /** Messages echoed per second. */
  msgsPerSecond: number;
  /** Payload MB (10^6 bytes) per second, one way. */
  mbps: number;
  p50Us: number;
  p99Us: number;
  /** Client CPU seconds per second (1.0 = one core busy). */
  clientCpu: number;
  /** Client CPU microseconds per message echoed (is the client the bottleneck?). */
  clientUsPerMessage: number;
}

/** Options of {@linkcode wsEcho}. */
export interface WsEchoOptions {
  /** Messages to have echoed, after a warm-up that is not counted. */
  count: number;
  /** Bytes per binary message. */
  size: number;
  /** Messages sent but not yet echoed (over all connections); 1 is sequential ping-pong. */
  inFlight: number;
  /**
   * Client connections sharing `count` and `inFlight`, so one client
   * socket's per-message cost does not cap the server. Default 1.
   */
  connections?: number;
}

/**
 * Opens one connection to ws://127.0.0.1:`port`/ws and has `count` binary
 * messages echoed with `inFlight` outstanding at a time; every reply must
 * have the size sent.
 */
export async function wsEcho(
  port: number,
  options: WsEchoOptions,
): Promise<WsResult> {
  const n = options.connections ?? 1;
  const sockets = await Promise.all(
    Array.from({ length: n }, () => openWebSocket(`ws://127.0.0.1:${port}/ws`)),
  );
  try {
    const payload = new Uint8Array(options.size).fill(0x61);
    const each = Math.ceil(options.count / n);
    const inFlight = Math.max(1, Math.floor(options.inFlight / n));
    // Warm both JITs: a tenth as many messages, and no fewer than 2,000 small ones.
    const warmup = Math.max(
      Math.ceil(each / 10),
      options.size < 1024 ? Math.ceil(2000 / n) : 1,
    );
    await Promise.all(
      sockets.map((ws) => flood(ws, payload, warmup, inFlight, undefined)),
    );
    const histogram = new LatencyHistogram();
    const cpu0 = cpuSeconds("self");
    const t0 = performance.now();
    await Promise.all(
      sockets.map((ws) => flood(ws, payload, each, inFlight, histogram)),
    );
    const seconds = (performance.now() - t0) / 1000;
    const messages = each * n;
    const cpu = cpuSeconds("self") - cpu0;
    return {
      msgsPerSecond: messages / seconds,
      mbps: (messages * options.size) / 1e6 / seconds,
      p50Us: histogram.percentileUs(50),
      p99Us: histogram.percentileUs(99),
      clientCpu: cpu / seconds,
      clientUsPerMessage: (cpu * 1e6) / messages,
    };
  } finally {
    await Promise.all(sockets.map(closeWebSocket));
  }
}

function flood(
  ws: WebSocket,
  payload: Uint8Array,
  count: number,
  inFlight: number,
  histogram: LatencyHistogram | undefined,
): Promise<void> {
  // Echo servers answer in order, so a ring of send times gives latencies.
  const sentAt = new Float64Array(inFlight);
  let sent = 0;
  let received = 0;
  return new Promise<void>((resolve, reject) => {
    ws.onmessage = (event: MessageEvent<ArrayBuffer>) => {
      if (event.data.byteLength !== payload.length) {
        reject(
          new Error(
            `echo of ${event.data.byteLength} bytes for ${payload.length} sent`,
          ),
        );
        return;
      }
      histogram?.record(performance.now() - sentAt[received % inFlight]!);
      received++;
      if (sent < count) send();
      if (received === count) resolve();
    };
    ws.onclose = (event) =>
      reject(
        new Error(
          `server closed the connection (${event.code} ${event.reason})`,
        ),
      );
    ws.onerror = () => {};
    const send = () => {
      sentAt[sent % inFlight] = performance.now();
      ws.send(payload);
      sent++;
    };
    while (sent < Math.min(inFlight, count)) send();
  });
}

function openWebSocket(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(ws);
    ws.onerror = (event) =>
      reject(
        new Error(
          `cannot connect to ${url}: ${
            (event as ErrorEvent).message ?? "error"
          }`,
        ),
      );
  });
}

function closeWebSocket(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 2000);
    ws.onclose = () => {
      clearTimeout(timer);
      resolve();
    };
    ws.onmessage = null;
    ws.onerror = () => {};
    ws.close(1000);
  });
}

const MiB = 1024 ** 2;

/** WebSocket rows of issue #4. */
export async function wsRows(ctx: BenchContext): Promise<BenchRow[]> {
  const servers = wsServers();
  const q = ctx.quick;
  const cases = [
    {
      key: "small",
      name: `WebSocket echo 32 B × ${
        (q ? 20_000 : 100_000).toLocaleString("en-US")
      }, 100 in flight (4 conns)`,
      // Four client connections × 25 in flight: one runtime WebSocket
      // client costs about as much per message as the server.
      options: {
        count: q ? 20_000 : 100_000,
        size: 32,
        inFlight: 100,
        connections: 4,
      },
      pin: false,
      unit: "msg/s",
      pick: (r: WsResult) => r.msgsPerSecond,
      targets: { "node ws": 1.3, python: undefined, "deno bare": 1.2 },
    },
    {
      key: "pingpong",
      name: `WebSocket ping-pong 32 B × ${
        (q ? 2_000 : 10_000).toLocaleString("en-US")
      }${ctx.pin ? " (1 core)" : ""}`,
      options: { count: q ? 2_000 : 10_000, size: 32, inFlight: 1 },
      pin: true,
      unit: "msg/s",
      pick: (r: WsResult) => r.msgsPerSecond,
      targets: { "node ws": 1.1, python: undefined, "deno bare": undefined },
    },
    {
      key: "large",
      name: `WebSocket echo 1 MiB × ${q ? 50 : 200}, 8 in flight`,
      options: { count: q ? 50 : 200, size: MiB, inFlight: 8 },
      pin: false,
      unit: "MB/s",
      pick: (r: WsResult) => r.mbps,
      targets: { "node ws": 1.5, python: 1.5, "deno bare": 0.95 },
    },
  ];
  const rows: BenchRow[] = [];
  for (const c of cases) {
    const results = await runRounds(
      ctx,
      `ws ${c.key}`,
      servers,
      (s) => wsEcho(s.port, c.options),
      { pin: c.pin },
    );
    const figures = medians(
      ctx,
      `ws.${c.key}.${c.unit === "MB/s" ? "mbps" : "msgs_per_s"}`,
      results,
      c.pick,
    );
    medians(ctx, `ws.${c.key}.p50_us`, results, (r) => r.p50Us);
    medians(ctx, `ws.${c.key}.client_cpu`, results, (r) => r.clientCpu);
    medians(
      ctx,
      `ws.${c.key}.client_us_per_msg`,
      results,
      (r) => r.clientUsPerMessage,
    );
    for (const [peerName, target] of Object.entries(c.targets)) {
      rows.push({
        name: c.name,
        netkit: figures.netkit!,
        peer: figures[peerName]!,
        peerName,
        unit: c.unit,
        target,
      });
    }
  }
  rows.push(...await rawClientRows(ctx, servers));
  rows.push(...await memoryRows(ctx, servers));
  return rows;
}

/** Resident set size and its peak (VmHWM) of a process, in bytes. */
function memory(pid: number): { rss: number; peak: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]) *
    1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

const HANDSHAKE = new TextEncoder().encode(
  "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" +
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
    "Sec-WebSocket-Version: 13\r\n\r\n",
);

/** Opens a WebSocket (raw handshake) and returns the connection once 101 came. */
async function upgradedConn(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(HANDSHAKE);
  const buf = new Uint8Array(1024);
  let head = "";
  while (!head.includes("\r\n\r\n")) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("closed during the handshake");
    head += new TextDecoder().decode(buf.subarray(0, n));
  }
  if (!head.startsWith("HTTP/1.1 101")) {
    conn.close();
    throw new Error(`no upgrade: ${head.split("\r\n")[0]}`);
  }
  return conn;
}

/** Server RSS (MB) with `count` idle WebSocket connections open. */
async function idleRss(server: RunningServer, count: number): Promise<number> {
  const conns: Deno.TcpConn[] = [];
  try {
    // In batches: the listen backlog is finite.
    for (let i = 0; i < count; i += 200) {
      const batch = Math.min(200, count - i);
      conns.push(
        ...await Promise.all(
          Array.from({ length: batch }, () => upgradedConn(server.port)),
        ),
      );
    }
    return memory(server.pid).rss / 1e6;
  } finally {
    for (const conn of conns) conn.close();
  }
}

/**
 * Peak RSS growth (MB) of a server while one client sends `total` bytes of
 * non-final 64 KiB fragments (a message that never ends), or until the
 * server closes the connection.
 */
async function floodRss(server: RunningServer, total: number): Promise<number> {
  // Reset VmHWM to the current RSS (Linux clear_refs "5").
  await Deno.writeTextFile(`/proc/${server.pid}/clear_refs`, "5");
  const before = memory(server.pid).rss;
  const conn = await upgradedConn(server.port);
  // Non-final frames of 65,535 bytes, masked with an all-zero key (the
  // payload bytes as they are): a binary start, then continuations.
  const frame = (opcode: number) => {
    const f = new Uint8Array(2 + 2 + 4 + 65535);
    f[0] = opcode; // FIN = 0
    f[1] = 0x80 | 126;
    f[2] = 0xff;
    f[3] = 0xff;
    return f;
  };
  const first = frame(0x2);
  const more = frame(0x0);
  let sent = 0;
  try {
    await writeAllBytes(conn, first);
    sent += 65535;
    while (sent < total) {
      await writeAllBytes(conn, more);
      sent += 65535;
    }
  } catch {
    // The server closed the connection (a size limit): the flood is over.
  } finally {
    conn.close();
  }
  return Math.max(0, memory(server.pid).peak - before) / 1e6;
}

async function writeAllBytes(conn: Deno.Conn, bytes: Uint8Array) {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** Memory rows: RSS with idle connections, peak growth under a fragment flood. */
async function memoryRows(
  ctx: BenchContext,
  servers: ServerSpec[],
): Promise<BenchRow[]> {
  const q = ctx.quick;
  const idle = q ? 1000 : 10_000;
  const flood = (q ? 32 : 300) * MiB;
  const peers = servers.filter((s) => s.name !== "python");
  const idleResults = await runRounds(
    ctx,
    "ws idle",
    peers,
    (s) => idleRss(s, idle),
    { rounds: 1 },
  );
  const idleMb = medians(ctx, "ws.idle.rss_mb", idleResults, (r) => r);
  // netkit with a 1 MiB message limit; node ws has its 32 MiB maxPayload;
  // the bare runtime assembles fragments before anyone can check them.
  const floodServers = peers.map((s) =>
    s.name === "netkit" ? { ...s, cmd: [...s.cmd, "--max-message", "1M"] } : s
  );
  const floodResults = await runRounds(
    ctx,
    "ws flood",
    floodServers,
    (s) => floodRss(s, flood),
    { rounds: 1 },
  );
  const floodMb = medians(
    ctx,
    "ws.flood.rss_growth_mb",
    floodResults,
    (r) => r,
  );
  const rows: BenchRow[] = [];
  for (const peerName of ["node ws", "deno bare"]) {
    rows.push({
      name: `WebSocket RSS, ${idle.toLocaleString("en-US")} idle connections`,
      netkit: idleMb.netkit!,
      peer: idleMb[peerName]!,
      peerName,
      unit: "MB",
      higherIsBetter: false,
    });
  }
  for (const peerName of ["node ws", "deno bare"]) {
    rows.push({
      name: `WebSocket fragment flood ${flood / MiB} MiB, peak RSS growth`,
      netkit: floodMb.netkit!,
      peer: floodMb[peerName]!,
      peerName,
      unit: "MB",
      higherIsBetter: false,
      note: "fragment flood: netkit runs with --max-message 1M (1009 at the " +
        "first frame past it), node ws with maxPayload 32 MiB, the bare " +
        "runtime has no limit a program can apply before assembly.",
    });
  }
  return rows;
}

/** What a pipelined run with the raw-frame client gives, server CPU included. */
interface RawResult {
  msgsPerSecond: number;
  mbps: number;
  clientUsPerMessage: number;
  serverUsPerMessage: number;
  clientCpu: number;
}

/**
 * `count` messages of `size` bytes echoed on one connection with
 * `inFlight` outstanding, through the raw-frame client (bench/_ws_raw.ts:
 * frames encoded once, replies only counted), after a warm-up of a tenth.
 */
async function rawFlood(
  server: RunningServer,
  size: number,
  inFlight: number,
  count: number,
): Promise<RawResult> {
  const ws = await openRawWs(server.port);
  try {
    const payload = benchPayload(size);
    await floodRaw(ws, payload, {
      count: Math.ceil(count / 10),
      inFlight,
      warmup: 0,
    });
    const cpu0 = server.cpuSeconds();
    const f = await floodRaw(ws, payload, { count, inFlight, warmup: 0 });
    const serverUs = (server.cpuSeconds() - cpu0) * 1e6 / count;
    return {
      msgsPerSecond: f.msgsPerSecond,
      mbps: f.msgsPerSecond * size / 1e6,
      clientUsPerMessage: f.clientUsPerMessage,
      serverUsPerMessage: serverUs,
      clientCpu: f.clientCpu,
    };
  } finally {
    await ws.close();
  }
}

/**
 * Issue #26's rows with a client that is not the bottleneck: 32-byte
 * messages on one connection with 100 in flight (target ≥ 1.3× Node
 * `ws`), and 1 MiB messages with 8 in flight (target ≥ 1.0× the bare
 * runtime). The client's and the servers' CPU per message are kept, so
 * the report can show the client costs less than any server.
 */
async function rawClientRows(
  ctx: BenchContext,
  servers: ServerSpec[],
): Promise<BenchRow[]> {
  const q = ctx.quick;
  const cases = [
    {
      key: "raw_small",
      name: `WebSocket echo 32 B × ${
        (q ? 50_000 : 300_000).toLocaleString("en-US")
      }, 1 conn × 100 in flight, raw-frame client`,
      size: 32,
      inFlight: 100,
      count: q ? 50_000 : 300_000,
      unit: "msg/s",
      pick: (r: RawResult) => r.msgsPerSecond,
      targets: { "node ws": 1.3, python: undefined, "deno bare": undefined },
    },
    {
      key: "raw_large",
      name: `WebSocket echo 1 MiB × ${
        q ? 100 : 400
      }, 8 in flight, raw-frame client`,
      size: MiB,
      inFlight: 8,
      count: q ? 100 : 400,
      unit: "MB/s",
      pick: (r: RawResult) => r.mbps,
      targets: { "node ws": undefined, python: undefined, "deno bare": 1.0 },
    },
  ];
  const rows: BenchRow[] = [];
  for (const c of cases) {
    const results = await runRounds(
      ctx,
      `ws ${c.key}`,
      servers,
      (s) => rawFlood(s, c.size, c.inFlight, c.count),
    );
    const figures = medians(
      ctx,
      `ws.${c.key}.${c.unit === "MB/s" ? "mbps" : "msgs_per_s"}`,
      results,
      c.pick,
    );
    const client = medians(
      ctx,
      `ws.${c.key}.client_us_per_msg`,
      results,
      (r) => r.clientUsPerMessage,
    );
    const server = medians(
      ctx,
      `ws.${c.key}.server_us_per_msg`,
      results,
      (r) => r.serverUsPerMessage,
    );
    medians(ctx, `ws.${c.key}.client_cpu`, results, (r) => r.clientCpu);
    const clientMax = Math.max(
      ...Object.values(client).filter(Number.isFinite),
    );
    for (const [peerName, target] of Object.entries(c.targets)) {
      if (!(peerName in figures)) continue;
      rows.push({
        name: c.name,
        netkit: figures.netkit!,
        peer: figures[peerName]!,
        peerName,
        unit: c.unit,
        target,
        note: target === undefined
          ? undefined
          : `client CPU ≤ ${
            clientMax.toFixed(2)
          } µs per message against any server; server CPU per message: ${
            Object.entries(server).map(([k, v]) => `${k} ${v.toFixed(2)} µs`)
              .join(", ")
          }.`,
      });
    }
  }
  return rows;
}
