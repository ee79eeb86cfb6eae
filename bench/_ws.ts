// The shared WebSocket client (Deno's own WebSocket) and the rows of issue #4.

import { cpuSeconds, LatencyHistogram } from "./_stats.ts";
import {
  type BenchContext,
  medians,
  netkitCommand,
  repoPath,
  runRounds,
} from "./_runner.ts";
import type { ServerSpec } from "./_servers.ts";
import type { BenchRow } from "./_table.ts";

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
}

/** Options of {@linkcode wsEcho}. */
export interface WsEchoOptions {
  /** Messages to have echoed, after a warm-up that is not counted. */
  count: number;
  /** Bytes per binary message. */
  size: number;
  /** Messages sent but not yet echoed; 1 is sequential ping-pong. */
  inFlight: number;
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
  const ws = await openWebSocket(`ws://127.0.0.1:${port}/ws`);
  try {
    const payload = new Uint8Array(options.size).fill(0x61);
    // Warm both JITs: a tenth as many messages, and no fewer than 2,000 small ones.
    const warmup = Math.max(
      Math.ceil(options.count / 10),
      options.size < 1024 ? 2000 : 1,
    );
    await flood(ws, payload, warmup, options.inFlight, undefined);
    const histogram = new LatencyHistogram();
    const cpu0 = cpuSeconds("self");
    const t0 = performance.now();
    await flood(ws, payload, options.count, options.inFlight, histogram);
    const seconds = (performance.now() - t0) / 1000;
    return {
      msgsPerSecond: options.count / seconds,
      mbps: (options.count * options.size) / 1e6 / seconds,
      p50Us: histogram.percentileUs(50),
      p99Us: histogram.percentileUs(99),
      clientCpu: (cpuSeconds("self") - cpu0) / seconds,
    };
  } finally {
    await closeWebSocket(ws);
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
      }, 100 in flight`,
      options: { count: q ? 20_000 : 100_000, size: 32, inFlight: 100 },
      pin: false,
      unit: "msg/s",
      pick: (r: WsResult) => r.msgsPerSecond,
      targets: { "node ws": 1.1, python: undefined, "deno bare": 0.95 },
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
      targets: { "node ws": 1.1, python: undefined, "deno bare": 0.95 },
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
  return rows;
}
