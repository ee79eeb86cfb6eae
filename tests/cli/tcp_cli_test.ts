import assert from "node:assert/strict";
import { cliCommand, LineSplitter, runCli } from "../_helpers.ts";
import {
  readTcpSockets,
  type TcpSocketRecord,
  type TcpStateName,
} from "../../tcp/proc/sockets.ts";

/** Polls /proc until `done` holds: waits for a kernel state, bounded. */
async function waitFor(
  port: number,
  done: (r: TcpSocketRecord[]) => boolean,
  what: string,
): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (done(await readTcpSockets({ port }))) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never saw ${what}`);
}

function has(
  records: TcpSocketRecord[],
  state: TcpStateName,
  local: number,
  remote: number,
): boolean {
  return records.some((r) =>
    r.state === state && r.local.port === local && r.remote.port === remote
  );
}

function summary(records: TcpSocketRecord[]): string[] {
  return records.map((r) => `${r.local.port}>${r.remote.port} ${r.state}`)
    .sort();
}

async function statesJson(
  args: string[],
): Promise<{ sockets: TcpSocketRecord[]; counts: Record<string, number> }> {
  const result = await runCli(["tcp", "states", ...args, "--json"]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

Deno.test("cli tcp states: a connection's states on both ends as it closes", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  const server = await listener.accept();
  const cport = client.localAddr.port;
  try {
    await waitFor(
      port,
      (r) =>
        has(r, "ESTABLISHED", cport, port) &&
        has(r, "ESTABLISHED", port, cport),
      "ESTABLISHED",
    );
    const open = await statesJson(["--port", String(port)]);
    assert.deepEqual(
      summary(open.sockets),
      [
        `${cport}>${port} ESTABLISHED`,
        `${port}>${cport} ESTABLISHED`,
        `${port}>0 LISTEN`,
      ].sort(),
    );
    assert.equal(open.counts.ESTABLISHED, 2);
    assert.equal(open.counts.LISTEN, 1);
    assert.equal(
      open.sockets.find((s) => s.state === "LISTEN")!.acceptQueue,
      0,
    );

    const text = await runCli(["tcp", "states", "--port", String(port)]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trimEnd().split("\n");
    assert.match(
      lines[0]!,
      /^proto\s+local\s+remote\s+state\s+send-Q\s+recv-Q\s+timer$/,
    );
    assert.ok(
      lines.some((l) =>
        new RegExp(
          `^tcp\\s+127\\.0\\.0\\.1:${port}\\s+0\\.0\\.0\\.0:\\*\\s+LISTEN\\s+0\\s+0\\s+accept queue 0$`,
        ).test(l)
      ),
      text.stdout,
    );
    assert.equal(
      lines.at(-1),
      `3 sockets on port ${port}: ESTABLISHED 2, LISTEN 1`,
    );

    client.closeWrite();
    await waitFor(
      port,
      (r) =>
        has(r, "FIN_WAIT2", cport, port) && has(r, "CLOSE_WAIT", port, cport),
      "FIN_WAIT2",
    );
    const half = await statesJson(["--port", String(port)]);
    assert.ok(
      has(half.sockets, "FIN_WAIT2", cport, port),
      JSON.stringify(half.sockets),
    );
    assert.ok(has(half.sockets, "CLOSE_WAIT", port, cport));
    // ss spelling, any case.
    const onlyFin = await statesJson([
      "--port",
      String(port),
      "--state",
      "fin-wait-2",
    ]);
    assert.deepEqual(summary(onlyFin.sockets), [`${cport}>${port} FIN_WAIT2`]);

    server.close();
    await waitFor(port, (r) => has(r, "TIME_WAIT", cport, port), "TIME_WAIT");
    const closed = await statesJson([
      "--port",
      String(port),
      "--state",
      "TIME_WAIT",
    ]);
    assert.deepEqual(summary(closed.sockets), [`${cport}>${port} TIME_WAIT`]);
    assert.equal(closed.sockets[0]!.timer.kind, "time_wait");
  } finally {
    client.close();
    try {
      server.close();
    } catch {
      // Closed above.
    }
  }
});

Deno.test("cli tcp states --watch: marks a state change, stops cleanly on SIGINT", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  using client = await Deno.connect({ hostname: "127.0.0.1", port });
  using _server = await listener.accept();
  const cport = client.localAddr.port;
  await waitFor(port, (r) => has(r, "ESTABLISHED", cport, port), "ESTABLISHED");
  const { cmd, args } = cliCommand([
    "tcp",
    "states",
    "--port",
    String(port),
    "--watch",
    "0.1",
    "--count",
    "300",
  ]);
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  })
    .spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
    new LineSplitter(),
  );
  const seen: string[] = [];
  let closed = false;
  let marked = "";
  for await (const line of lines) {
    seen.push(line);
    // Frames are separated by a header line when stdout is not a terminal.
    if (!closed && seen.filter((l) => l.startsWith("=== ")).length >= 2) {
      closed = true;
      await client.closeWrite();
    }
    if (line.includes("ESTABLISHED → FIN_WAIT2")) {
      marked = line;
      child.kill("SIGINT");
    }
  }
  const status = await child.status;
  assert.equal(status.code, 0, await stderr);
  assert.match(
    marked,
    new RegExp(
      `^\\*\\s+tcp\\s+127\\.0\\.0\\.1:${cport}\\s+127\\.0\\.0\\.1:${port}\\s+ESTABLISHED → FIN_WAIT2`,
    ),
  );
  assert.ok(
    seen.some((l) => l.includes("ESTABLISHED → CLOSE_WAIT")),
    seen.join("\n"),
  );
  assert.ok(seen[0]!.startsWith("=== netkit tcp states, every 0.1 s"), seen[0]);
});

Deno.test("cli tcp states --watch --json: one object per frame", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const result = await runCli([
    "tcp",
    "states",
    "--port",
    String(port),
    "--watch=0.1",
    "--count",
    "2",
    "--json",
  ]);
  assert.equal(result.code, 0, result.stderr);
  const frames = result.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(frames.length, 2);
  assert.deepEqual(frames.map((f) => f.frame), [1, 2]);
  for (const f of frames) {
    assert.deepEqual(summary(f.sockets), [`${port}>0 LISTEN`]);
    assert.equal(f.counts.LISTEN, 1);
    assert.deepEqual(f.changes, []);
  }
});

Deno.test("cli tcp states: usage errors exit 2", async () => {
  for (
    const args of [
      ["--state", "bogus"],
      ["--port", "70000"],
      ["--watch", "0"],
      ["--count", "2"],
      ["extra"],
    ]
  ) {
    const result = await runCli(["tcp", "states", ...args]);
    assert.equal(result.code, 2, `${args}: ${result.stderr}`);
    assert.match(
      result.stderr,
      /^netkit: .*\nTry 'netkit tcp states --help'\.\n$/,
    );
  }
  const help = await runCli(["tcp", "states", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--watch \[SECONDS\]/);
  const unknown = await runCli(["tcp", "nope"]);
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.stderr,
    /unknown command 'tcp nope' \(try: states, limits\)/,
  );
});

Deno.test("cli tcp limits --json: values equal what /proc holds", async () => {
  const result = await runCli(["tcp", "limits", "--json"]);
  assert.equal(result.code, 0, result.stderr);
  const limits = JSON.parse(result.stdout);
  const read = async (path: string) => Number(await Deno.readTextFile(path));
  assert.deepEqual(
    [
      limits.sysctl.somaxconn.value,
      limits.sysctl.tcpMaxSynBacklog.value,
      limits.sysctl.tcpSynackRetries.value,
      limits.sysctl.tcpSyncookies.value,
      limits.sysctl.tcpAbortOnOverflow.value,
      limits.sysctl.tcpFinTimeout.value,
    ],
    [
      await read("/proc/sys/net/core/somaxconn"),
      await read("/proc/sys/net/ipv4/tcp_max_syn_backlog"),
      await read("/proc/sys/net/ipv4/tcp_synack_retries"),
      await read("/proc/sys/net/ipv4/tcp_syncookies"),
      await read("/proc/sys/net/ipv4/tcp_abort_on_overflow"),
      await read("/proc/sys/net/ipv4/tcp_fin_timeout"),
    ],
  );
  // The CLI process inherits the hard limit from this one.
  const hard = /^Max open files\s+\S+\s+(\S+)/m.exec(
    await Deno.readTextFile("/proc/self/limits"),
  )![1]!;
  assert.equal(String(limits.process.openFilesHard.value), hard);
  assert.equal(limits.process.descriptorsInUse.available, true);
  assert.ok(limits.process.descriptorsInUse.value >= 3);
  assert.equal(typeof limits.tcpExt.ListenOverflows.value, "number");
  assert.equal(typeof limits.tcp.CurrEstab.value, "number");
});

Deno.test("cli tcp limits: sections with value, meaning and hint; --pid", async () => {
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", "ulimit -Sn 77; exec sleep 30"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    // Wait until the shell has applied its limit.
    for (let i = 0; i < 200; i++) {
      const text = await Deno.readTextFile(`/proc/${child.pid}/limits`);
      if (/^Max open files\s+77\s/m.test(text)) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const result = await runCli(["tcp", "limits", "--pid", String(child.pid)]);
    assert.equal(result.code, 0, result.stderr);
    const out = result.stdout;
    for (
      const title of [
        "Process",
        "Kernel settings (sysctl)",
        "TcpExt (/proc/net/netstat)",
        "Tcp (/proc/net/snmp)",
      ]
    ) {
      assert.ok(out.includes(title), title);
    }
    assert.match(out, new RegExp(`^Process ${child.pid}$`, "m"));
    assert.match(out, /^ {2}open files \(soft\)\s+77 {2}most descriptors/m);
    const somaxconn = (await Deno.readTextFile("/proc/sys/net/core/somaxconn"))
      .trim();
    assert.match(
      out,
      new RegExp(
        `^ {2}net\\.core\\.somaxconn\\s+${somaxconn} {2}cap on every listen\\(\\) backlog`,
        "m",
      ),
    );
    const abort =
      (await Deno.readTextFile("/proc/sys/net/ipv4/tcp_abort_on_overflow"))
        .trim();
    assert.match(out, new RegExp(`^\\s+→ ${abort}: a full accept queue`, "m"));
    // Values are right-aligned in one column and meanings start where hints do.
    const lines = out.split("\n");
    const valueLines = lines.filter((_l, i) =>
      lines[i + 1]?.trimStart().startsWith("→ ")
    );
    const hintOffset = lines.find((l) => l.trimStart().startsWith("→ "))!
      .indexOf("→");
    for (const l of valueLines) {
      assert.match(l.slice(hintOffset - 3, hintOffset + 1), /^\S {2}\S$/, l);
    }
    assert.ok(valueLines.length >= 30);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});
