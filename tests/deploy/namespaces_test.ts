// Many machines, simulated: three hosts as three network namespaces joined
// by a bridge (each its own address) drive a server in a fourth, each with
// its shard of the load and one common start time, as deploy/ runs them on
// Kubernetes or Slurm. The shards' merged totals must be the server's
// count, and each host's share must come from its own address.

import assert from "node:assert/strict";
import { cliCommand, PROJECT_ROOT, runProgram } from "../_helpers.ts";

const SUBNET = "10.231.77";

/** Root with unshare and ip: namespaces can be made (always so in CI). */
function canMakeNamespaces(): boolean {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return false;
  return ["unshare", "ip"].every((tool) => {
    try {
      new Deno.Command(tool, { args: ["-V"], stdout: "null", stderr: "null" })
        .outputSync();
      return true;
    } catch {
      return false;
    }
  });
}

function quote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word)
    ? word
    : `'${word.replaceAll("'", `'\\''`)}'`;
}

Deno.test({
  name:
    "load on three hosts (network namespaces on a bridge) with --shard and --start-at: merged totals equal the server's count",
  // Root creates namespaces; CI runs as root, so there this always runs.
  ignore: !canMakeNamespaces(),
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "netkit-shards-" });
  try {
    const nk = cliCommand([]);
    const netkit = [nk.cmd, ...nk.args].map(quote).join(" ");
    const server = [
      Deno.execPath(),
      "run",
      "--allow-net",
      `${PROJECT_ROOT}tests/fixtures/load/counting_http_server.ts`,
    ].map(quote).join(" ");
    // Everything runs in a private network and mount namespace: the bridge
    // and the four hosts vanish with it, whatever happens.
    const script = `
set -euo pipefail
cd ${quote(PROJECT_ROOT)}
ip link set lo up
mkdir -p /run/netns && mount -t tmpfs netkit-netns /run/netns
ip link add nkbr0 type bridge
ip link set nkbr0 up
for i in 1 2 3 4; do
  ip netns add h$i
  ip link add v$i type veth peer name e$i
  ip link set e$i netns h$i
  ip link set v$i master nkbr0
  ip link set v$i up
  ip netns exec h$i ip addr add ${SUBNET}.$i/24 dev e$i
  ip netns exec h$i ip link set e$i up
  ip netns exec h$i ip link set lo up
done
D=${quote(dir)}
ip netns exec h4 ${server} ${SUBNET}.4 8080 >"$D/server.out" 2>"$D/server.err" &
server=$!
# Bounded wait for the server's listening line.
for _ in $(seq 300); do
  grep -q '^listening' "$D/server.out" && break
  kill -0 $server 2>/dev/null || { cat "$D/server.err" >&2; exit 1; }
  sleep 0.1
done
grep -q '^listening' "$D/server.out"
# One moment for all three, far enough ahead for three runtimes to start
# on a busy machine.
start=$(date -u -d '+12 seconds' +%Y-%m-%dT%H:%M:%S.%3NZ)
echo "$start" >"$D/start"
pids=()
for i in 0 1 2; do
  ip netns exec h$((i + 1)) ${netkit} load http http://${SUBNET}.4:8080/ \\
    --shard $i/3 --start-at "$start" --conns 7 --requests 3000 \\
    --allow-remote --json >"$D/shard-$i.json" 2>"$D/shard-$i.err" &
  pids+=($!)
done
status=0
for p in "\${pids[@]}"; do wait "$p" || status=1; done
kill -TERM $server
wait $server || true
ip netns exec h1 ${netkit} load merge "$D"/shard-0.json "$D"/shard-1.json "$D"/shard-2.json --json >"$D/merged.json"
exit $status
`;
    const run = await runProgram(
      "unshare",
      ["--net", "--mount", "--propagation", "private", "bash", "-c", script],
      { timeoutMs: 180_000 },
    );
    const shardErrors = await Promise.all(
      [0, 1, 2].map((i) =>
        Deno.readTextFile(`${dir}/shard-${i}.err`).catch(() => "")
      ),
    );
    assert.equal(
      run.code,
      0,
      `${run.stderr}\n${shardErrors.join("\n")}`,
    );
    const shards = await Promise.all(
      [0, 1, 2].map(async (i) =>
        JSON.parse(await Deno.readTextFile(`${dir}/shard-${i}.json`))
      ),
    );
    const merged = JSON.parse(await Deno.readTextFile(`${dir}/merged.json`));
    const counts = JSON.parse(
      (await Deno.readTextFile(`${dir}/server.out`)).split("\n")
        .find((l) => l.startsWith("{"))!,
    ).served as Record<string, number>;
    // Each shard took its share: 3000 requests and 7 connections split
    // 1000/1000/1000 and 3/2/2, every request from its own host.
    assert.deepEqual(shards.map((s) => s.requests), [1000, 1000, 1000]);
    assert.deepEqual(shards.map((s) => s.connections), [3, 2, 2]);
    assert.deepEqual(shards.map((s) => s.parameters.shard), [
      "0/3",
      "1/3",
      "2/3",
    ]);
    assert.deepEqual(counts, {
      [`${SUBNET}.1`]: 1000,
      [`${SUBNET}.2`]: 1000,
      [`${SUBNET}.3`]: 1000,
    });
    // Merged as one run: the server's count, the histograms added exactly,
    // and each host's kernel counters kept apart (three namespaces).
    assert.equal(merged.requests, 3000);
    assert.equal(merged.status["2xx"], 3000);
    assert.equal(merged.histogram.count, 3000);
    assert.equal(merged.connections, 7);
    assert.equal(merged.loops, 3);
    assert.equal(merged.hosts.length, 3);
    assert.equal(
      new Set(merged.hosts.map((h: { scope: string }) => h.scope)).size,
      3,
    );
    // Each waited for the common start before measuring.
    const start = Date.parse((await Deno.readTextFile(`${dir}/start`)).trim());
    for (const s of shards) assert.ok(s.startedAt >= start, `${s.startedAt}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
