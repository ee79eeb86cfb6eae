// The kernel filter, run by a small classic-BPF interpreter on hand-built
// frames, and checked against tcpdump's own compiled filter.

import assert from "node:assert/strict";
import { acceptAll, portFilter } from "../../../tcp/trace/_bpf.ts";
import { IN_CI } from "../../_helpers.ts";
import { ACK, ipFrame, SYN, tcpFrame, udpFrame } from "./_frames.ts";

/** Runs a classic BPF program the way the kernel does; a load past the end returns 0. */
function run(program: Uint8Array, packet: Uint8Array): number {
  const v = new DataView(
    program.buffer,
    program.byteOffset,
    program.byteLength,
  );
  const p = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  let a = 0;
  let x = 0;
  for (let pc = 0; pc * 8 < program.length; pc++) {
    const code = v.getUint16(pc * 8, true);
    const jt = v.getUint8(pc * 8 + 2);
    const jf = v.getUint8(pc * 8 + 3);
    const k = v.getUint32(pc * 8 + 4, true);
    const load = (at: number, size: 1 | 2) => {
      if (at + size > packet.length) return undefined;
      return size === 1 ? p.getUint8(at) : p.getUint16(at);
    };
    switch (code) {
      case 0x28:
      case 0x30:
      case 0x48: {
        const at = code === 0x48 ? x + k : k;
        const got = load(at, code === 0x30 ? 1 : 2);
        if (got === undefined) return 0;
        a = got;
        break;
      }
      case 0xb1: {
        const got = load(k, 1);
        if (got === undefined) return 0;
        x = (got & 0xf) * 4;
        break;
      }
      case 0x54:
        a &= k;
        break;
      case 0x15:
        pc += a === k ? jt : jf;
        break;
      case 0x45:
        pc += (a & k) !== 0 ? jt : jf;
        break;
      case 0x06:
        return k;
      default:
        throw new Error(`opcode 0x${code.toString(16)} not in the interpreter`);
    }
  }
  throw new Error("fell off the end of the program");
}

const PORT = 8080;

function frames(): [string, Uint8Array, boolean][] {
  const withOptions = tcpFrame({ sport: 1, dport: PORT, flags: SYN });
  // The same segment behind a 24-byte IPv4 header (4 bytes of options).
  const ihl6 = new Uint8Array(withOptions.length + 4);
  ihl6.set(withOptions.subarray(0, 34));
  ihl6[14] = 0x46;
  new DataView(ihl6.buffer).setUint16(16, withOptions.length - 14 + 4);
  ihl6.set(withOptions.subarray(34), 38);
  const fragment = tcpFrame({ sport: PORT, dport: 2, flags: ACK });
  new DataView(fragment.buffer).setUint16(20, 100);
  const arp = new Uint8Array(42);
  arp.set([0x08, 0x06], 12);
  return [
    [
      "IPv4 TCP to the port",
      tcpFrame({ sport: 1, dport: PORT, flags: SYN }),
      true,
    ],
    [
      "IPv4 TCP from the port",
      tcpFrame({ sport: PORT, dport: 1, flags: ACK }),
      true,
    ],
    ["IPv4 TCP elsewhere", tcpFrame({ sport: 1, dport: 2, flags: SYN }), false],
    ["IPv4 UDP to the port", udpFrame(3, PORT, new Uint8Array(4)), true],
    ["IPv4 UDP elsewhere", udpFrame(3, 4, new Uint8Array(4)), false],
    [
      "IPv6 TCP to the port",
      tcpFrame({ src: "::1", dst: "::1", sport: 9, dport: PORT, flags: SYN }),
      true,
    ],
    [
      "IPv6 UDP from the port",
      udpFrame(PORT, 9, new Uint8Array(2), "::1", "::1"),
      true,
    ],
    [
      "IPv6 TCP elsewhere",
      tcpFrame({ src: "::1", dst: "::1", sport: 9, dport: 10, flags: SYN }),
      false,
    ],
    ["IPv4 with header options", ihl6, true],
    ["a later IPv4 fragment", fragment, false],
    [
      "ICMP",
      ipFrame(
        "127.0.0.1",
        "127.0.0.1",
        1,
        new Uint8Array([PORT >> 8, PORT & 255, PORT >> 8, PORT & 255]),
      ),
      false,
    ],
    ["ARP", arp, false],
    [
      "a truncated frame",
      tcpFrame({ sport: 1, dport: PORT, flags: SYN }).subarray(0, 30),
      false,
    ],
  ];
}

Deno.test("portFilter: the port's TCP and UDP packets pass whole, nothing else passes", () => {
  const program = portFilter(PORT, 1500, 14);
  for (const [what, frame, passes] of frames()) {
    assert.equal(run(program, frame), passes ? 1500 : 0, what);
  }
  const raw = portFilter(PORT, 1500, 0);
  for (const [what, frame, passes] of frames()) {
    if (what === "ARP") continue;
    assert.equal(
      run(raw, frame.subarray(14)),
      passes ? 1500 : 0,
      `raw IP: ${what}`,
    );
  }
  assert.equal(run(acceptAll(96), new Uint8Array(1)), 96);
});

function hasTcpdump(): boolean {
  try {
    return new Deno.Command("tcpdump", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "portFilter: the same verdict as tcpdump's compiled 'tcp port P or udp port P' on every frame",
  ignore: !hasTcpdump() && !IN_CI,
  fn() {
    const out = new Deno.Command("tcpdump", {
      args: ["-dd", "-y", "EN10MB", `tcp port ${PORT} or udp port ${PORT}`],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const rows = [
      ...new TextDecoder().decode(out.stdout).matchAll(
        /\{ (0x[0-9a-f]+), (\d+), (\d+), (0x[0-9a-f]+) \}/g,
      ),
    ];
    assert.ok(rows.length > 5);
    const theirs = new Uint8Array(rows.length * 8);
    const v = new DataView(theirs.buffer);
    rows.forEach((m, i) => {
      v.setUint16(i * 8, Number(m[1]), true);
      v.setUint8(i * 8 + 2, Number(m[2]));
      v.setUint8(i * 8 + 3, Number(m[3]));
      v.setUint32(i * 8 + 4, Number(m[4]), true);
    });
    const ours = portFilter(PORT, 262144, 14);
    for (const [what, frame] of frames()) {
      assert.equal(run(ours, frame), run(theirs, frame), what);
    }
  },
});
