import assert from "node:assert/strict";
import { loadCounterDeltas, readKernelCountersOrNone } from "../../load/mod.ts";

Deno.test("loadCounterDeltas: TCP and UDP counters that moved, gauges and IP left out", () => {
  const moved = loadCounterDeltas(
    {
      TcpExtListenOverflows: 1,
      TcpActiveOpens: 10,
      UdpInErrors: 0,
      TcpCurrEstab: 3,
      IpInReceives: 100,
      TcpExtTCPSynRetrans: 7,
    },
    {
      TcpExtListenOverflows: 5,
      TcpActiveOpens: 30,
      UdpInErrors: 2,
      TcpCurrEstab: 9,
      IpInReceives: 400,
      TcpExtTCPSynRetrans: 7,
    },
  );
  assert.deepEqual(moved, {
    TcpExtListenOverflows: 4,
    TcpActiveOpens: 20,
    UdpInErrors: 2,
  });
});

Deno.test({
  name: "readKernelCountersOrNone: nstat names from tcp/proc's reader",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const counters = await readKernelCountersOrNone();
    for (
      const name of [
        "TcpExtListenOverflows",
        "TcpExtTCPSynRetrans",
        "UdpInErrors",
      ]
    ) {
      assert.equal(typeof counters[name], "number", name);
    }
    assert.equal(counters.ListenOverflows, undefined);
  },
});
