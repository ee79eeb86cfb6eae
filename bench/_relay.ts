// Relay rows (issue #12): `netkit relay` against `socat TCP-LISTEN:…,fork
// TCP:…`, both in front of the same echo server, measured with the shared
// TCP clients: bulk (1 GiB through the relay and back) and 64-byte
// ping-pong on 100 connections.

import {
  type BenchContext,
  medians,
  netkitCommand,
  runRounds,
} from "./_runner.ts";
import { type ServerSpec, startServer } from "./_servers.ts";
import type { BenchRow } from "./_table.ts";
import { tcpBulk, tcpPingPong } from "./_tcp.ts";

const GiB = 1024 ** 3;

/**
 * The two relays compared, in front of the echo at `echoPort`; socat's
 * listen backlog is `backlog` (the idle sweep opens thousands at once).
 */
export function relays(echoPort: number, backlog = 256): ServerSpec[] {
  return [
    {
      name: "netkit",
      transport: "tcp",
      cmd: netkitCommand([
        "relay",
        "tcp://127.0.0.1:0",
        `tcp://127.0.0.1:${echoPort}`,
        "--grace",
        "0",
      ]),
    },
    {
      name: "socat",
      transport: "tcp",
      cmd: [
        "socat",
        `TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,backlog=${backlog}`,
        `TCP:127.0.0.1:${echoPort}`,
      ],
    },
  ];
}

/** Relay bulk and 100-connection ping-pong, netkit/socat. */
export async function relayRows(ctx: BenchContext): Promise<BenchRow[]> {
  // One echo behind both relays, so only the relay differs.
  const echo = await startServer({
    name: "echo",
    transport: "tcp",
    cmd: netkitCommand([
      "echo",
      "serve",
      "--tcp",
      "--port",
      "0",
      "--grace",
      "0",
    ]),
  });
  try {
    const servers = relays(echo.port);
    const bulkBytes = ctx.quick ? GiB / 16 : GiB;
    const bulkName = `TCP relay to echo, bulk ${
      bulkBytes >= GiB ? "1 GiB" : `${bulkBytes / 1024 ** 2} MiB`
    }`;
    const bulk = medians(
      ctx,
      "relay.bulk.mbps",
      await runRounds(
        ctx,
        "relay bulk",
        servers,
        (s) => tcpBulk(s.port, bulkBytes),
      ),
      (r) => r.mbps,
    );
    const pingName = "TCP relay to echo, ping-pong 64 B, 100 conns";
    const ping = await runRounds(
      ctx,
      "relay ping-pong 100",
      servers,
      (s) =>
        tcpPingPong(s.port, {
          connections: 100,
          durationMs: ctx.quick ? 1000 : 2000,
          serverCpu: s.cpuSeconds,
        }),
    );
    const rps = medians(ctx, "relay.pingpong.100.rps", ping, (r) => r.rps);
    const cpu = medians(
      ctx,
      "relay.pingpong.100.server_cpu_us",
      ping,
      (r) => r.serverCpuUs,
    );
    return [
      {
        name: bulkName,
        netkit: bulk.netkit!,
        peer: bulk.socat!,
        peerName: "socat",
        unit: "MB/s",
        target: 1.2,
      },
      {
        name: pingName,
        netkit: rps.netkit!,
        peer: rps.socat!,
        peerName: "socat",
        unit: "rt/s",
        target: 1.5,
      },
      {
        name: `${pingName}, relay CPU per round trip`,
        netkit: cpu.netkit!,
        peer: cpu.socat!,
        peerName: "socat",
        unit: "µs",
        higherIsBetter: false,
        note: "socat's figure includes its forked children.",
      },
    ];
  } finally {
    await echo.stop();
  }
}
