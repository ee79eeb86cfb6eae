import assert from "node:assert/strict";
import {
  parseProcNetUdp,
  readUdpSockets,
  type UdpSocketRecord,
} from "../../../tcp/proc/udp_sockets.ts";
import { countStates } from "../../../tcp/proc/sockets.ts";
import { ProcError } from "../../../errors.ts";
import { formatAddress } from "../../../address.ts";
import { missingIpv6, ownRows, pairKey, waitFor } from "../../_helpers.ts";

const FIXTURES = new URL("../../fixtures/proc/", import.meta.url);
const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(name, FIXTURES));
const LE = { byteOrder: "little" } as const;

function brief(r: UdpSocketRecord): string {
  return `${r.proto} ${formatAddress(r.local)} ${
    formatAddress(r.remote)
  } ${r.state}`;
}

Deno.test("parseProcNetUdp: unconnected and connected sockets, queues, drops", () => {
  const v4 = parseProcNetUdp(fixture("udp"), { family: 4, ...LE });
  assert.deepEqual(v4.map(brief), [
    "udp 127.0.0.1:53 0.0.0.0:0 CLOSE",
    "udp 0.0.0.0:5353 0.0.0.0:0 CLOSE",
    "udp 127.0.0.1:50000 127.0.0.1:53 ESTABLISHED",
  ]);
  assert.deepEqual(
    v4.map((r) => [r.uid, r.inode, r.rxQueue, r.txQueue, r.drops]),
    [[101, 51001, 0, 0, 0], [0, 51002, 2560, 0, 17], [1000, 51003, 0, 64, 0]],
  );
  const v6 = parseProcNetUdp(fixture("udp6"), { family: 6, ...LE });
  assert.deepEqual(v6.map(brief), [
    "udp6 [::1]:53 [::]:0 CLOSE",
    "udp6 [::1]:50001 [::1]:53 ESTABLISHED",
  ]);
  assert.equal(v6[1]!.drops, 3);
  assert.equal(countStates(v4).CLOSE, 2);
});

Deno.test("parseProcNetUdp: a TCP-only state or a bad field names the line", () => {
  const good =
    "  1: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 1 2 0 0";
  for (
    const [line, why] of [
      [good.replace(" 07 ", " 0A "), /unknown UDP state code 0A/],
      [good.replace(/ 0$/, " x"), /bad drops 'x'/],
      [good.replace("0100007F:0035", "0100007F:35"), /bad local address/],
    ] as const
  ) {
    assert.throws(
      () => parseProcNetUdp(`   sl  local_address\n${line}\n`, LE),
      (e: unknown) =>
        e instanceof ProcError && e.code === "proc_parse" &&
        e.message.startsWith("/proc/net/udp: line 2: ") && why.test(e.message),
      line,
    );
  }
});

Deno.test("live: a UDP socket and a connected one, found by their exact addresses", async () => {
  const a = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  try {
    const port = (a.addr as Deno.NetAddr).port;
    const pairs = new Set([
      pairKey(a.addr as Deno.NetAddr, { hostname: "0.0.0.0", port: 0 }),
    ]);
    const own = await waitFor(
      "the UDP socket in /proc/net/udp",
      async () => {
        const rows = ownRows(await readUdpSockets({ sport: port }), pairs);
        return rows.length === 1 && rows;
      },
    );
    assert.equal(own[0]!.state, "CLOSE");
    assert.equal(own[0]!.proto, "udp");
    assert.ok(own[0]!.inode > 0);
    const none = await readUdpSockets({ sport: port, state: "ESTABLISHED" });
    assert.deepEqual(ownRows(none, pairs), []);
  } finally {
    a.close();
  }
});

Deno.test({
  name: "live: IPv6 UDP sockets come from /proc/net/udp6",
  ignore: missingIpv6(),
}, async () => {
  const s = Deno.listenDatagram({ hostname: "::1", port: 0, transport: "udp" });
  try {
    const addr = s.addr as Deno.NetAddr;
    const pairs = new Set([pairKey(addr, { hostname: "::", port: 0 })]);
    const own = await waitFor("the socket in /proc/net/udp6", async () => {
      const rows = ownRows(await readUdpSockets({ sport: addr.port }), pairs);
      return rows.length === 1 && rows;
    });
    assert.equal(own[0]!.proto, "udp6");
    assert.equal(own[0]!.family, 6);
  } finally {
    s.close();
  }
});
