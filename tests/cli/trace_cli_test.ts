// `netkit tcp trace` as users run it (root): lines, --json, the pcap file
// read back by tcpdump and tshark, the diagram, and the one-line error
// without CAP_NET_RAW. The test's packets are told apart by their exact
// address pair; other programs may use loopback meanwhile.

import assert from "node:assert/strict";
import { writeAll } from "../../_io.ts";
import {
  cliDirectCommand,
  IN_CI,
  LineSplitter,
  missingPeer,
  runCli,
  runProgram,
  WAIT_MS,
  waitFor,
  withTimeout,
} from "../_helpers.ts";

const NOT_ROOT = Deno.uid() !== 0 && !IN_CI;

/** `netkit tcp trace ARGS` started, once it said it is capturing. */
async function startTrace(args: string[]) {
  const { cmd, args: full } = cliDirectCommand(["tcp", "trace", ...args]);
  const child = new Deno.Command(cmd, {
    args: full,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const lines: string[] = [];
  let stderr = "";
  const reading = (async () => {
    for await (
      const line of child.stdout.pipeThrough(new TextDecoderStream())
        .pipeThrough(new LineSplitter())
    ) lines.push(line);
  })();
  const ready = Promise.withResolvers<void>();
  const errors = (async () => {
    for await (
      const chunk of child.stderr.pipeThrough(new TextDecoderStream())
    ) {
      stderr += chunk;
      if (/^capturing on /m.test(stderr)) ready.resolve();
    }
    ready.reject(new Error(`netkit tcp trace ended: ${stderr}`));
  })();
  await withTimeout(ready.promise, WAIT_MS, "netkit tcp trace to capture")
    .catch((error) => {
      child.kill("SIGKILL");
      throw error;
    });
  return {
    lines,
    async finished() {
      const status = await withTimeout(
        child.status,
        WAIT_MS,
        "netkit tcp trace to end",
      );
      await Promise.all([reading, errors]);
      return { code: status.code, stderr };
    },
    kill: (signal: Deno.Signal) => child.kill(signal),
  };
}

/** One connection: connect, "hello" and back, half-close, close. */
async function conversation(listener: Deno.TcpListener): Promise<number> {
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  const server = await listener.accept();
  await writeAll(client, new TextEncoder().encode("hello"));
  await server.read(new Uint8Array(16));
  await writeAll(server, new TextEncoder().encode("world"));
  await client.read(new Uint8Array(16));
  await client.closeWrite();
  await server.read(new Uint8Array(16));
  server.close();
  await client.read(new Uint8Array(16));
  const cport = client.localAddr.port;
  client.close();
  return cport;
}

/** `Flags [S.]` and `length N` of each tcpdump-style line between the two ends. */
function flagsAndLengths(text: string, a: string, b: string): string[] {
  return text.split("\n").filter((l) =>
    l.includes(` ${a} > ${b}:`) || l.includes(` ${b} > ${a}:`)
  ).map((l) =>
    `${/ (\S+) > /.exec(l)![1]} ${/Flags \[([^\]]+)\]/.exec(l)![1]} ${
      /length (\d+)/.exec(l)![1]
    }`
  );
}

Deno.test({
  name:
    "cli tcp trace --count --write: the handshake, one line per packet; tcpdump and tshark read the same packets and flags",
  ignore: NOT_ROOT || missingPeer("tcpdump", "tshark"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "netkit-trace-cli-" });
    try {
      using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = listener.addr.port;
      const pcap = `${dir}/handshake.pcap`;
      // The first three packets on the port: this test's handshake (a new
      // listener's port; nothing else connects to it).
      const trace = await startTrace([
        "--port",
        String(port),
        "--count",
        "3",
        "--write",
        pcap,
      ]);
      const client = await Deno.connect({ hostname: "127.0.0.1", port });
      const server = await listener.accept();
      const cport = client.localAddr.port;
      const end = await trace.finished();
      client.close();
      server.close();
      assert.equal(end.code, 0, end.stderr);
      assert.match(
        end.stderr,
        new RegExp(
          `^3 packets captured \\(written to ${pcap}\\), 0 dropped by the kernel$`,
          "m",
        ),
      );
      const a = `127.0.0.1.${cport}`;
      const b = `127.0.0.1.${port}`;
      const printed = flagsAndLengths(trace.lines.join("\n"), a, b);
      assert.deepEqual(printed, [`${a} S 0`, `${b} S. 0`, `${a} . 0`]);
      assert.match(
        trace.lines[0]!,
        /\| handshake 1\/3 \(SYN\) \| client SYN_SENT, server LISTEN$/,
      );
      assert.match(
        trace.lines[2]!,
        /seq 1, ack 1, .*\| client ESTABLISHED, server ESTABLISHED$/,
      );
      const byTcpdump = await runProgram("tcpdump", ["-r", pcap, "-n"]);
      assert.equal(byTcpdump.code, 0, byTcpdump.stderr);
      assert.deepEqual(flagsAndLengths(byTcpdump.stdout, a, b), printed);
      const byTshark = await runProgram("tshark", [
        "-r",
        pcap,
        "-T",
        "fields",
        "-E",
        "separator=,",
        "-e",
        "tcp.srcport",
        "-e",
        "tcp.flags.str",
        "-e",
        "tcp.len",
      ]);
      assert.equal(byTshark.code, 0, byTshark.stderr);
      const rows = byTshark.stdout.trim().split("\n");
      assert.equal(rows.length, 3);
      assert.deepEqual(rows.map((r) => r.split(",")[0]), [
        `${cport}`,
        `${port}`,
        `${cport}`,
      ]);
      // tshark writes the flags as a 12-character picture: ······A··S·
      assert.deepEqual(
        rows.map((r) => r.split(",")[1]!.replace(/[^A-Z]/g, "")),
        ["S", "AS", "A"],
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "cli tcp trace --json and --html: one object per packet with relative numbers and states; Ctrl-C ends it (130) with a diagram of every packet",
  ignore: NOT_ROOT,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "netkit-trace-cli-" });
    try {
      using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = listener.addr.port;
      const html = `${dir}/trace.html`;
      const trace = await startTrace([
        "--port",
        String(port),
        "--json",
        "--html",
        html,
      ]);
      const cport = await conversation(listener);
      const mine = () =>
        trace.lines.map((l) => JSON.parse(l)).filter((p) =>
          p.client === `127.0.0.1:${cport}` && p.server === `127.0.0.1:${port}`
        );
      // The client's ACK of the server's FIN ends the connection.
      await waitFor(
        "the last ACK in the trace",
        () => mine().some((p) => p.states?.server === "CLOSED"),
      );
      trace.kill("SIGINT");
      const end = await trace.finished();
      assert.equal(end.code, 130, end.stderr);
      assert.match(
        end.stderr,
        /^\d+ packets captured, 0 dropped by the kernel$/m,
      );
      assert.match(end.stderr, /^wrote .*trace\.html \(\d+ arrows\)$/m);
      const packets = mine();
      assert.deepEqual(
        packets.slice(0, 3).map((
          p,
        ) => [p.from, p.tcp.flagText, p.relSeq, p.relAck]),
        [["client", "S", 0, undefined], ["server", "S.", 0, 1], [
          "client",
          ".",
          1,
          1,
        ]],
      );
      const fins = packets.filter((p) => p.tcp.flags & 1);
      assert.deepEqual(fins.map((p) => [p.from, p.relSeq]), [["client", 6], [
        "server",
        6,
      ]]);
      assert.ok(
        packets.every((p) =>
          typeof p.timeMs === "number" && Array.isArray(p.notes)
        ),
      );
      const page = await Deno.readTextFile(html);
      assert.equal(page.match(/<g class="arrow /g)?.length, trace.lines.length);
      assert.match(page, /data-label="FIN-ACK"/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "cli tcp trace without CAP_NET_RAW: one line naming what it needs, exit 1",
  ignore: NOT_ROOT || missingPeer("setpriv"),
  async fn() {
    const { cmd, args } = cliDirectCommand(["tcp", "trace", "--count", "1"]);
    const r = await runProgram("setpriv", [
      "--bounding-set",
      "-net_raw",
      "--",
      cmd,
      ...args,
    ]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      /^netkit: packet capture needs root or CAP_NET_RAW \(run as root, or give deno the capability: setcap cap_net_raw\+ep \$\(which deno\)\)\n$/,
    );
  },
});

Deno.test("cli tcp trace: a host name for --host and --diagram with --json are usage errors", async () => {
  const host = await runCli(["tcp", "trace", "--host", "localhost"]);
  assert.equal(host.code, 2);
  assert.match(
    host.stderr,
    /^netkit: --host takes an IP address \(127\.0\.0\.1, ::1\), not 'localhost'/,
  );
  const both = await runCli(["tcp", "trace", "--json", "--diagram"]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /^netkit: --diagram and --json do not go together/);
  const port = await runCli(["tcp", "trace", "--port", "70000"]);
  assert.equal(port.code, 2);
});
