// The classic BPF program a packet socket runs in the kernel, so that only
// the packets of one port are copied to netkit (tcpdump does the same with
// "tcp port P or udp port P"): on a busy loopback the rest never reaches
// the socket's buffer and cannot crowd out the packets asked for.

/** One instruction: opcode, jump-if-true, jump-if-false, constant. */
type Insn = [code: number, jt: number | string, jf: number | string, k: number];
/** An instruction, or a label (a name the jumps use). */
type Line = Insn | string;

const LDH_ABS = 0x28;
const LDB_ABS = 0x30;
const LDH_IND = 0x48;
const LDXB_MSH = 0xb1;
const AND_K = 0x54;
const JEQ_K = 0x15;
const JSET_K = 0x45;
const RET_K = 0x06;

/**
 * A program that accepts IPv4 and IPv6 TCP or UDP packets with `port` at
 * either end (first fragments only, as tcpdump) and keeps at most
 * `snaplen` bytes of each. `network` is where the IP header starts: 14
 * after an Ethernet header, 0 for raw IP.
 */
export function portFilter(
  port: number,
  snaplen: number,
  network: 0 | 14,
): Uint8Array {
  const n = network;
  const v6: Line[] = [
    [LDB_ABS, 0, 0, n + 6],
    [JEQ_K, "v6ports", 0, 6],
    [JEQ_K, "v6ports", "reject", 17],
    "v6ports",
    [LDH_ABS, 0, 0, n + 40],
    [JEQ_K, "accept", 0, port],
    [LDH_ABS, 0, 0, n + 42],
    [JEQ_K, "accept", "reject", port],
  ];
  const v4: Line[] = [
    [LDB_ABS, 0, 0, n + 9],
    [JEQ_K, "v4ports", 0, 6],
    [JEQ_K, "v4ports", "reject", 17],
    "v4ports",
    [LDH_ABS, 0, 0, n + 6],
    [JSET_K, "reject", 0, 0x1fff],
    [LDXB_MSH, 0, 0, n],
    [LDH_IND, 0, 0, n],
    [JEQ_K, "accept", 0, port],
    [LDH_IND, 0, 0, n + 2],
    [JEQ_K, "accept", "reject", port],
  ];
  const head: Line[] = network === 14
    ? [
      [LDH_ABS, 0, 0, 12],
      [JEQ_K, "v6", 0, 0x86dd],
      [JEQ_K, "v4", "reject", 0x0800],
    ]
    : [
      [LDB_ABS, 0, 0, 0],
      [AND_K, 0, 0, 0xf0],
      [JEQ_K, "v6", 0, 0x60],
      [JEQ_K, "v4", "reject", 0x40],
    ];
  return assemble([
    ...head,
    "v6",
    ...v6,
    "v4",
    ...v4,
    "accept",
    [RET_K, 0, 0, snaplen],
    "reject",
    [RET_K, 0, 0, 0],
  ]);
}

/** A program that accepts every packet, cut to `snaplen`. */
export function acceptAll(snaplen: number): Uint8Array {
  return assemble([[RET_K, 0, 0, snaplen]]);
}

/**
 * Jumps name labels and become offsets from the next instruction (8 bytes
 * each: u16 code, u8 jt, u8 jf, u32 k, host byte order).
 */
function assemble(source: Line[]): Uint8Array {
  const labels = new Map<string, number>();
  const insns: Insn[] = [];
  for (const line of source) {
    if (typeof line === "string") labels.set(line, insns.length);
    else insns.push(line);
  }
  const out = new Uint8Array(insns.length * 8);
  const v = new DataView(out.buffer);
  insns.forEach(([code, jt, jf, k], i) => {
    const target = (j: number | string) => {
      if (typeof j === "number") return j;
      const offset = labels.get(j)! - i - 1;
      if (offset < 0 || offset > 255) throw new Error(`bad BPF jump to ${j}`);
      return offset;
    };
    v.setUint16(i * 8, code, true);
    v.setUint8(i * 8 + 2, target(jt));
    v.setUint8(i * 8 + 3, target(jf));
    v.setUint32(i * 8 + 4, k, true);
  });
  return out;
}
