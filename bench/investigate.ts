// Where does the time go? Measures echo server variants side by side with
// the same clients as `deno task bench`. Findings: bench/README.md.
//
//   deno run --unstable-net --allow-all bench/investigate.ts --row udp \
//     [--rounds 5] [--clients 1] [--duration 2000] [--pin 0:0] [VARIANT...]
//
// --row: udp | bulk | pp1 | pp100 (TCP bulk echo, TCP ping-pong 1/100 conns).
// Variants are in bench/peers/echo_variants.ts (udp-*, tcp-*); "node" and
// "socat" are the peers. --pin C:S puts the client on CPU C and the servers
// on CPU S ("0:0": one core).

import { parseArgs } from "node:util";
import { udpPingPong, udpServers } from "./_udp.ts";
import { tcpBulk, tcpPingPong, tcpServers } from "./_tcp.ts";
import {
  pinServers,
  type RunningServer,
  type ServerSpec,
  stopAllServers,
  withServer,
} from "./_servers.ts";
import { pinClient, repoPath } from "./_runner.ts";
import { median } from "./_stats.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    row: { type: "string", default: "udp" },
    rounds: { type: "string", default: "5" },
    clients: { type: "string", default: "1" },
    duration: { type: "string", default: "2000" },
    pin: { type: "string" },
  },
});
if (values.pin) {
  const [client, server] = values.pin.split(":");
  await pinClient(client!);
  pinServers(server ?? client);
}
const row = values.row;
const udp = row === "udp";
const defaults = udp
  ? [
    "udp-netkit",
    "udp-loop1",
    "udp-loop2",
    "udp-loop-alloc1",
    "udp-nowait",
    "udp-cached-addr",
    "udp-iterator",
    "udp-then",
    "udp-node-dgram-in-deno",
    "node",
    "socat",
  ]
  : [
    "tcp-netkit",
    "tcp-loop",
    "tcp-double",
    "tcp-raw-loop",
    "tcp-pipe",
    "node",
    "socat",
  ];
const variants = positionals.length > 0 ? positionals : defaults;

function spec(variant: string): ServerSpec {
  const peers = udp ? udpServers() : tcpServers();
  const peer = peers.find((p) => p.name === variant);
  if (peer) return peer;
  return {
    name: variant,
    transport: udp ? "udp" : "tcp",
    cmd: [
      Deno.execPath(),
      "run",
      "--unstable-net",
      "--allow-all",
      repoPath("bench/peers/echo_variants.ts"),
      variant,
    ],
  };
}

interface Figures {
  value: number;
  p50Us: number;
  serverCpuUs: number;
}

async function measureOne(server: RunningServer): Promise<Figures> {
  const durationMs = Number(values.duration);
  const serverCpu = server.cpuSeconds;
  switch (row) {
    case "udp": {
      const r = await udpPingPong(server.port, {
        clients: Number(values.clients),
        durationMs,
        serverCpu,
      });
      return { value: r.rps, p50Us: r.p50Us, serverCpuUs: r.serverCpuUs };
    }
    case "pp1":
    case "pp100": {
      const connections = row === "pp1" ? 1 : 100;
      const r = await tcpPingPong(server.port, {
        connections,
        durationMs,
        serverCpu,
      });
      return { value: r.rps, p50Us: r.p50Us, serverCpuUs: r.serverCpuUs };
    }
    case "bulk": {
      const cpu0 = serverCpu();
      const bytes = 1024 ** 3;
      const r = await tcpBulk(server.port, bytes);
      return {
        value: r.mbps,
        p50Us: NaN,
        serverCpuUs: ((serverCpu() - cpu0) / (bytes / 65536)) * 1e6,
      };
    }
  }
  throw new Error(`--row: udp, bulk, pp1 or pp100, not ${row}`);
}

const unit = row === "bulk" ? "MB/s" : "rt/s";
const cpuUnit = row === "bulk" ? "per 64 KiB" : "per round trip";
const results = new Map<string, Figures[]>(variants.map((v) => [v, []]));
const rounds = Number(values.rounds);
try {
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < variants.length; i++) {
      const variant = variants[(i + r) % variants.length]!;
      const result = await withServer(spec(variant), measureOne).catch(
        (error): Figures => {
          console.error(`round ${r + 1} ${variant}: ${error.message}`);
          return { value: NaN, p50Us: NaN, serverCpuUs: NaN };
        },
      );
      results.get(variant)!.push(result);
      console.error(
        `round ${r + 1} ${variant.padEnd(24)} ${
          result.value.toFixed(0).padStart(7)
        } ${unit}` +
          `  p50 ${result.p50Us.toFixed(1)} µs  server ${
            result.serverCpuUs.toFixed(1)
          } µs CPU ${cpuUnit}`,
      );
    }
  }
} finally {
  await stopAllServers();
}

const base = median(results.get("node")?.map((r) => r.value) ?? []);
console.log(
  `| variant | ${unit} (median of ${rounds}) | p50 µs | server CPU µs ${cpuUnit} | vs node |`,
);
console.log("|---|---:|---:|---:|---:|");
for (const [variant, rs] of results) {
  const value = median(rs.map((r) => r.value));
  console.log(
    `| ${variant} | ${value.toFixed(0)} | ${
      median(rs.map((r) => r.p50Us)).toFixed(1)
    } | ${median(rs.map((r) => r.serverCpuUs)).toFixed(1)} | ${
      Number.isNaN(base) ? "–" : (value / base).toFixed(2)
    } |`,
  );
}
