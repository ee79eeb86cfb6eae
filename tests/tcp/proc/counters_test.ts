import assert from "node:assert/strict";
import {
  counterScope,
  explainCounters,
  NOTABLE_COUNTERS,
  readTransportCounters,
} from "../../../tcp/proc/mod.ts";

Deno.test("explainCounters: by default only the counters that explain something, in the table's order, each with a meaning", () => {
  const deltas = {
    TcpActiveOpens: 400,
    TcpInSegs: 9000,
    UdpInErrors: 4,
    TcpRetransSegs: 3,
    TcpExtListenOverflows: 2,
    TcpExtTCPHPHits: 77,
    TcpEstabResets: 0,
  };
  const shown = explainCounters(deltas);
  assert.deepEqual(shown.map((c) => [c.name, c.delta, c.notable]), [
    ["TcpExtListenOverflows", 2, true],
    ["TcpRetransSegs", 3, true],
    ["UdpInErrors", 4, true],
  ]);
  for (const c of shown) assert.ok(c.meaning.length > 10, c.name);
  const all = explainCounters(deltas, { all: true });
  assert.deepEqual(all.map((c) => c.name), [
    "TcpExtListenOverflows",
    "TcpRetransSegs",
    "UdpInErrors",
    "TcpActiveOpens",
    "TcpExtTCPHPHits",
    "TcpInSegs",
  ]);
  assert.equal(all.at(-1)!.meaning, "");
  assert.deepEqual(explainCounters({}), []);
});

Deno.test("NOTABLE_COUNTERS: overflows, drops, resets, retransmits, timeouts and UDP errors, one short line each", () => {
  for (
    const name of [
      "TcpExtListenOverflows",
      "TcpExtListenDrops",
      "TcpEstabResets",
      "TcpRetransSegs",
      "TcpExtTCPTimeouts",
      "UdpRcvbufErrors",
    ]
  ) {
    assert.ok(name in NOTABLE_COUNTERS, name);
  }
  for (const [name, meaning] of Object.entries(NOTABLE_COUNTERS)) {
    assert.ok(meaning.length <= 72 && !meaning.includes("\n"), name);
  }
});

Deno.test({
  name:
    "readTransportCounters: TCP and UDP counters under nstat names, no gauges, no IP",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const counters = await readTransportCounters();
    for (const name of ["TcpExtListenOverflows", "UdpInErrors"]) {
      assert.equal(typeof counters[name], "number", name);
    }
    assert.equal(counters.TcpCurrEstab, undefined);
    assert.equal(counters.IpInReceives, undefined);
    assert.equal(counters.ListenOverflows, undefined);
  },
});

Deno.test({
  name:
    "counterScope: the machine's namespace, or a private one under unshare -n",
  ignore: Deno.build.os !== "linux" || Deno.uid() !== 0,
  async fn() {
    assert.equal(counterScope(), "machine");
    const { stdout, success } = await new Deno.Command("unshare", {
      args: [
        "-n",
        Deno.execPath(),
        "eval",
        `import { counterScope } from "${
          new URL("../../../tcp/proc/counters.ts", import.meta.url).href
        }"; console.log(counterScope());`,
      ],
      stdout: "piped",
    }).output();
    assert.ok(success);
    assert.match(new TextDecoder().decode(stdout).trim(), /^net:\[\d+\]$/);
  },
});
