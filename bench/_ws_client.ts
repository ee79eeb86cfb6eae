// WebSocket client rows (issue 10): one netkit server, three clients —
// netkit's connectWebSocket, Node's `ws` client (a subprocess) and Deno's
// runtime WebSocket — each echoing the same binary messages with the same
// number in flight over one connection.

import { connectWebSocket, type WsClient } from "../ws/mod.ts";
import { cpuSeconds } from "./_stats.ts";
import {
  type BenchContext,
  medians,
  netkitCommand,
  repoPath,
  runRounds,
} from "./_runner.ts";
import type { ServerSpec } from "./_servers.ts";
import type { BenchRow } from "./_table.ts";
import { wsEcho } from "./_ws.ts";

/** What one client measurement gives. */
interface ClientResult {
  msgsPerSecond: number;
  mbps: number;
  /** Client CPU microseconds per message echoed. */
  clientUsPerMessage: number;
}

interface ClientCase {
  size: number;
  count: number;
  inFlight: number;
  warmup: number;
}

const CLIENTS = ["netkit client", "node ws client", "deno client"] as const;

function servers(): ServerSpec[] {
  // The same netkit server for every client; the spec name says which
  // client measures it.
  const cmd = netkitCommand([
    "ws",
    "serve",
    "--port",
    "0",
    "--grace",
    "0",
    "--no-page",
    "--max-buffered",
    "64M",
  ]);
  return CLIENTS.map((name) => ({ name, transport: "tcp", cmd }));
}

/** Echoes `total` messages with `inFlight` outstanding on a netkit client. */
async function flood(
  client: WsClient,
  payload: Uint8Array,
  total: number,
  inFlight: number,
): Promise<void> {
  const messages = client[Symbol.asyncIterator]();
  let sent = 0;
  while (sent < Math.min(inFlight, total)) {
    client.send(payload);
    sent++;
  }
  for (let received = 0; received < total; received++) {
    const next = await messages.next();
    if (next.done) throw new Error("the server closed the connection");
    if (
      typeof next.value === "string" || next.value.length !== payload.length
    ) {
      throw new Error(`echo of the wrong size for ${payload.length} bytes`);
    }
    if (sent < total) {
      client.send(payload);
      sent++;
    }
  }
}

async function netkitClient(
  port: number,
  c: ClientCase,
): Promise<ClientResult> {
  await using client = await connectWebSocket(`ws://127.0.0.1:${port}/ws`, {
    maxMessageSize: 32 * 1024 * 1024,
  });
  const payload = new Uint8Array(c.size).fill(0x61);
  await flood(client, payload, c.warmup, c.inFlight);
  const cpu0 = cpuSeconds("self");
  const t0 = performance.now();
  await flood(client, payload, c.count, c.inFlight);
  const seconds = (performance.now() - t0) / 1000;
  return figures(c, seconds, cpuSeconds("self") - cpu0);
}

async function nodeClient(port: number, c: ClientCase): Promise<ClientResult> {
  const out = await new Deno.Command("node", {
    args: [
      repoPath("bench/peers/node_ws_client.mjs"),
      `ws://127.0.0.1:${port}/ws`,
      String(c.size),
      String(c.count),
      String(c.inFlight),
      String(c.warmup),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`node ws client: ${new TextDecoder().decode(out.stderr)}`);
  }
  const r = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    seconds: number;
    cpuUs: number;
  };
  return figures(c, r.seconds, r.cpuUs / 1e6);
}

async function denoClient(port: number, c: ClientCase): Promise<ClientResult> {
  const r = await wsEcho(port, {
    count: c.count,
    size: c.size,
    inFlight: c.inFlight,
    connections: 1,
  });
  return {
    msgsPerSecond: r.msgsPerSecond,
    mbps: r.mbps,
    clientUsPerMessage: r.clientUsPerMessage,
  };
}

function figures(c: ClientCase, seconds: number, cpu: number): ClientResult {
  return {
    msgsPerSecond: c.count / seconds,
    mbps: (c.count * c.size) / 1e6 / seconds,
    clientUsPerMessage: (cpu * 1e6) / c.count,
  };
}

const MiB = 1024 ** 2;

/** Client rows: netkit's client vs Node `ws`'s and Deno's, one netkit server. */
export async function wsClientRows(ctx: BenchContext): Promise<BenchRow[]> {
  const q = ctx.quick;
  const cases = [
    {
      key: "small",
      name: `WebSocket client echo 32 B × ${
        (q ? 20_000 : 100_000).toLocaleString("en-US")
      }, 100 in flight (1 conn, netkit server)`,
      c: { size: 32, count: q ? 20_000 : 100_000, inFlight: 100, warmup: 2000 },
      unit: "msg/s",
      pick: (r: ClientResult) => r.msgsPerSecond,
    },
    {
      key: "large",
      name: `WebSocket client echo 1 MiB × ${
        q ? 50 : 200
      }, 8 in flight (1 conn, netkit server)`,
      c: { size: MiB, count: q ? 50 : 200, inFlight: 8, warmup: q ? 5 : 20 },
      unit: "MB/s",
      pick: (r: ClientResult) => r.mbps,
    },
  ];
  const rows: BenchRow[] = [];
  for (const k of cases) {
    const results = await runRounds(
      ctx,
      `ws client ${k.key}`,
      servers(),
      (s) =>
        s.name === "netkit client"
          ? netkitClient(s.port, k.c)
          : s.name === "node ws client"
          ? nodeClient(s.port, k.c)
          : denoClient(s.port, k.c),
    );
    const main = medians(ctx, `ws_client.${k.key}.${k.unit}`, results, k.pick);
    medians(
      ctx,
      `ws_client.${k.key}.client_us_per_msg`,
      results,
      (r) => r.clientUsPerMessage,
    );
    for (const peerName of ["node ws client", "deno client"]) {
      rows.push({
        name: k.name,
        netkit: main["netkit client"]!,
        peer: main[peerName]!,
        peerName,
        unit: k.unit,
        target: peerName === "node ws client" ? 1.2 : undefined,
        note: peerName === "node ws client" && k.key === "small"
          ? "client rows: the netkit and Deno clients run in the bench " +
            "process, Node's in its own; the server is netkit's in every run."
          : undefined,
      });
    }
  }
  return rows;
}
