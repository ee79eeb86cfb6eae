// File transfer over loopback: `netkit file send` → `netkit file recv`
// against `nc -l > file` / `nc -N < file` followed by `sync file`, in the
// same run, interleaved. Three netkit modes: the default (every frame
// sealed with ChaCha20-Poly1305, SHA-256 on both sides, fsync, atomic
// rename), `--basic` (the classic flow: fsync and rename only) and TLS
// with a verified certificate (frames not sealed twice; SHA-256, fsync).
//
//   deno run -A bench/file_bench.ts [--size 1G] [--rounds 3] [--verbose]
//
// --verbose prints every round on stderr. Compare only figures of one run:
// other load on the machine and the VM's memory (first writes into guest
// pages the host reclaimed cost a fault each) move whole runs by ±30 %.

import denoJson from "../deno.json" with { type: "json" };
import type { BenchRow } from "./_table.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const BLOCK = 1024 * 1024;
const FIXTURES = `${ROOT}tests/fixtures/tls/`;

/** Wall-clock seconds, and CPU seconds of both processes (user + system). */
interface Run {
  seconds: number;
  cpu: number;
}

/** The netkit modes measured, each against nc in the same rounds. */
type Mode = "sealed" | "basic" | "tls";
const MODES: readonly Mode[] = ["sealed", "basic", "tls"];

/** Runs the file benchmark: median MB/s (10^6 bytes) of netkit and of nc. */
export async function benchFile(
  options: {
    sizeBytes: number;
    rounds?: number;
    /** Each round's figure as it is measured (for noisy machines). */
    onRound?: (tool: string, mbps: number) => void;
  },
): Promise<BenchRow[]> {
  const rounds = options.rounds ?? 3;
  const size = Math.max(BLOCK, Math.floor(options.sizeBytes / BLOCK) * BLOCK);
  const work = await Deno.makeTempDir({ prefix: "netkit-bench-file-" });
  try {
    const src = `${work}/src.bin`;
    await makeSource(src, size);
    await warmMemory(work, 2 * size);
    const ours: Record<Mode, number[]> = { sealed: [], basic: [], tls: [] };
    const oursCpu: Record<Mode, number[]> = { sealed: [], basic: [], tls: [] };
    const theirs: number[] = [];
    const theirsCpu: number[] = [];
    const hasNc = await which("nc");
    const gib = size / 1024 ** 3;
    for (let i = 0; i < rounds; i++) {
      for (const mode of MODES) {
        const run = await runNetkit(work, src, size, mode);
        ours[mode].push(size / 1e6 / run.seconds);
        oursCpu[mode].push(run.cpu / gib);
        options.onRound?.(`netkit ${mode}`, ours[mode].at(-1)!);
      }
      if (!hasNc) continue;
      const run = await runNc(work, src, size);
      theirs.push(size / 1e6 / run.seconds);
      theirsCpu.push(run.cpu / gib);
      options.onRound?.("nc", theirs.at(-1)!);
    }
    const peer = hasNc ? round1(median(theirs)) : NaN;
    // CPU time barely moves with other load on the machine, wall time does:
    // on a shared machine these rows are the comparable ones.
    const cpuRows: BenchRow[] = await which("time")
      ? MODES.map((mode) => ({
        name: `file transfer CPU-seconds per GiB, both processes, netkit ${
          mode === "sealed" ? "default" : mode === "basic" ? "--basic" : "TLS"
        }`,
        netkit: round2(median(oursCpu[mode])),
        peer: hasNc ? round2(median(theirsCpu)) : NaN,
        peerName: "nc -l / nc -N (user + system)",
        unit: "CPU s/GiB",
        higherIsBetter: false,
        note: "includes both processes' start-up (a Deno process costs a few " +
          "tenths of a CPU-second): meaningful at 1 GiB, dominated by " +
          "start-up at small sizes",
      }))
      : [];
    const peerName = "nc -l > f / nc -N < f; sync f";
    const over = `file transfer ${formatSize(size)} over loopback`;
    return [{
      name:
        `${over}, netkit default (sealed ChaCha20-Poly1305 + sha256 both sides + fsync)`,
      netkit: round1(median(ours.sealed)),
      peer,
      peerName,
      unit: "MB/s",
      target: 0.9,
    }, {
      name: `${over}, netkit --basic (classic flow + fsync)`,
      netkit: round1(median(ours.basic)),
      peer,
      peerName,
      unit: "MB/s",
      target: 1.0,
    }, {
      // Context beside the default: verified TLS, frames not sealed twice.
      name: `${over}, netkit over TLS (verified cert, sha256 + fsync)`,
      netkit: round1(median(ours.tls)),
      peer,
      peerName,
      unit: "MB/s",
    }, ...cpuRows];
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

async function makeSource(path: string, size: number): Promise<void> {
  const block = crypto.getRandomValues(new Uint8Array(65536));
  const buf = new Uint8Array(BLOCK);
  for (let off = 0; off < BLOCK; off += block.length) buf.set(block, off);
  using file = await Deno.open(path, {
    write: true,
    create: true,
    truncate: true,
  });
  for (let i = 0; i < size / BLOCK; i++) {
    new DataView(buf.buffer).setUint32(0, i); // No two blocks alike.
    let off = 0;
    while (off < buf.length) off += await file.write(buf.subarray(off));
  }
}

// In a VM, the first write into never-used guest memory costs a host page
// fault per page and can halve a run. Writing and deleting a scratch file
// first gives every round (netkit's and nc's alike) warm page-cache pages.
async function warmMemory(work: string, bytes: number): Promise<void> {
  const scratch = `${work}/warm.bin`;
  await makeSource(scratch, bytes);
  await Deno.remove(scratch);
  await settleDisk();
}

function netkitCommand(args: string[]): { cmd: string; args: string[] } {
  const bin = Deno.env.get("NETKIT_BIN");
  if (bin) return { cmd: bin, args };
  const task = denoJson.tasks.netkit.split(/\s+/).slice(1);
  return { cmd: Deno.execPath(), args: [...task, ...args] };
}

// Seconds from starting the sender until the receiver has verified, fsynced
// and renamed the file and both processes have exited.
async function runNetkit(
  work: string,
  src: string,
  size: number,
  mode: Mode,
): Promise<Run> {
  const dst = `${work}/netkit-dst`;
  await Deno.remove(dst, { recursive: true }).catch(() => {});
  await Deno.mkdir(dst);
  await settleDisk();
  const token = crypto.randomUUID();
  const auth = mode === "basic" ? ["--basic"] : ["--token", token];
  const recvCmd = netkitCommand([
    "file",
    "recv",
    "--port",
    "0",
    "--dir",
    dst,
    ...auth,
    "--once",
    "--quiet",
    ...(mode === "tls"
      ? ["--tls-cert", `${FIXTURES}cert.pem`, "--tls-key", `${FIXTURES}key.pem`]
      : []),
  ]);
  const recvTimed = await withCpuTime(work, "recv", recvCmd);
  const recv = new Deno.Command(recvTimed.cmd, {
    args: recvTimed.args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = recv.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/listening tcp \S+:(\d+)\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error("netkit file recv exited before listening");
    text += value;
  }
  const port = /listening tcp \S+:(\d+)/.exec(text)![1]!;
  const sendCmd = netkitCommand([
    "file",
    "send",
    `${mode === "tls" ? "localhost" : "127.0.0.1"}:${port}`,
    src,
    ...auth,
    "--quiet",
    ...(mode === "basic" ? [] : ["--no-resume"]),
    ...(mode === "tls" ? ["--ca", `${FIXTURES}cert.pem`] : []),
  ]);
  const sendTimed = await withCpuTime(work, "send", sendCmd);
  const started = performance.now();
  const sent = await new Deno.Command(sendTimed.cmd, {
    args: sendTimed.args,
    cwd: ROOT,
    stdout: "null",
    stderr: "inherit",
  }).output();
  const recvStatus = await recv.status;
  const seconds = (performance.now() - started) / 1000;
  await reader.cancel();
  if (!sent.success || !recvStatus.success) {
    throw new Error(`netkit transfer failed (${mode})`);
  }
  const name = src.slice(src.lastIndexOf("/") + 1);
  if ((await Deno.stat(`${dst}/${name}`)).size !== size) {
    throw new Error("netkit: wrong size");
  }
  await Deno.remove(dst, { recursive: true });
  return {
    seconds,
    cpu: await recvTimed.cpu() + await sendTimed.cpu(),
  };
}

// Seconds from starting `nc -N` until `nc -l` has exited and `sync` has
// flushed the received file.
async function runNc(work: string, src: string, size: number): Promise<Run> {
  const dst = `${work}/nc-dst.bin`;
  await Deno.remove(dst).catch(() => {});
  await settleDisk();
  const port = freePort();
  const listenTimed = await withCpuTime(work, "nc-l", {
    cmd: "sh",
    args: ["-c", `exec nc -l -s 127.0.0.1 -p ${port} > '${dst}'`],
  });
  const listener = new Deno.Command(listenTimed.cmd, {
    args: listenTimed.args,
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await waitListening(port);
  const started = performance.now();
  const sendTimed = await withCpuTime(work, "nc-N", {
    cmd: "sh",
    args: ["-c", `exec nc -N 127.0.0.1 ${port} < '${src}'`],
  });
  const sender = await new Deno.Command(sendTimed.cmd, {
    args: sendTimed.args,
    stdout: "null",
    stderr: "inherit",
  }).output();
  await listener.status;
  await new Deno.Command("sync", { args: [dst] }).output();
  const seconds = (performance.now() - started) / 1000;
  if (!sender.success) throw new Error("nc -N failed");
  if ((await Deno.stat(dst)).size !== size) throw new Error("nc: wrong size");
  await Deno.remove(dst);
  return { seconds, cpu: await listenTimed.cpu() + await sendTimed.cpu() };
}

// Runs a command under /usr/bin/time (when present) to read its user +
// system CPU seconds afterwards; 0 without it.
async function withCpuTime(
  work: string,
  tag: string,
  command: { cmd: string; args: string[] },
): Promise<{ cmd: string; args: string[]; cpu(): Promise<number> }> {
  if (!await which("time")) {
    return {
      ...command,
      cpu: () => Promise.resolve(0),
    };
  }
  const out = `${work}/${tag}.cpu`;
  return {
    cmd: "/usr/bin/time",
    args: ["-f", "%U %S", "-o", out, command.cmd, ...command.args],
    async cpu() {
      const text = await Deno.readTextFile(out);
      const last = text.trim().split("\n").at(-1)!.split(" ").map(Number);
      return (last[0] ?? 0) + (last[1] ?? 0);
    },
  };
}

// Flushes earlier rounds' dirty pages so they do not slow this one.
async function settleDisk(): Promise<void> {
  await new Deno.Command("sync").output();
}

function freePort(): number {
  using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return l.addr.port;
}

// Polls `ss` (bounded) until nc listens; connecting to check would use up
// nc's single accept.
async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const out = await new Deno.Command("ss", {
      args: ["-Hltn", `sport = :${port}`],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (new TextDecoder().decode(out.stdout).includes(`:${port}`)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`nc did not listen on ${port}`);
}

async function which(program: string): Promise<boolean> {
  for (const dir of ["/usr/bin", "/bin", "/usr/local/bin"]) {
    try {
      if ((await Deno.stat(`${dir}/${program}`)).isFile) return true;
    } catch {
      // Not there.
    }
  }
  return false;
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function formatSize(n: number): string {
  return n % 1024 ** 3 === 0
    ? `${n / 1024 ** 3} GiB`
    : `${Math.round(n / 1024 ** 2)} MiB`;
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = Deno.args.indexOf(name);
    return i === -1 ? undefined : Deno.args[i + 1];
  };
  const sizeText = arg("--size") ?? "1G";
  const m = /^(\d+)([KMG]?)$/i.exec(sizeText);
  if (!m) throw new Error(`--size takes e.g. 1G or 256M, not ${sizeText}`);
  const scale = {
    "": 1,
    K: 1024,
    M: 1024 ** 2,
    G: 1024 ** 3,
  }[m[2]!.toUpperCase()]!;
  const rows = await benchFile({
    sizeBytes: Number(m[1]) * scale,
    rounds: Number(arg("--rounds") ?? 3),
    onRound: Deno.args.includes("--verbose")
      ? (tool, mbps) => console.error(`  ${tool} ${mbps.toFixed(0)} MB/s`)
      : undefined,
  });
  for (const row of rows) {
    console.log(
      `${row.name}: netkit ${row.netkit} ${row.unit}, ${row.peerName} ${row.peer} ${row.unit}, ` +
        `ratio ${(row.netkit / row.peer).toFixed(2)}×`,
    );
  }
}
