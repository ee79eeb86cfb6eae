import assert from "node:assert/strict";
import { serveEcho } from "../../tcp/mod.ts";
import {
  cliCommand,
  hasPeer,
  IN_CI,
  runCli,
  startCli,
  waitFor,
} from "../_helpers.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

function assertSchema(r: Record<string, unknown>): void {
  for (const key of ["rate", "mbps", "requests", "sent", "durationMs"]) {
    assert.equal(typeof r[key], "number", key);
  }
  const l = r.latencyMs as Record<string, number>;
  for (const key of ["p50", "p90", "p99", "p999", "max"]) {
    assert.equal(typeof l[key], "number", `latencyMs.${key}`);
  }
  assert.ok(l.p50! <= l.p90! && l.p90! <= l.p99! && l.p99! <= l.p999!);
  assert.ok(l.p999! <= l.max!);
  const errors = r.errors as Record<string, number>;
  for (
    const cause of [
      "refused",
      "reset",
      "timeout",
      "emfile",
      "closed",
      "mismatch",
      "protocol",
    ]
  ) {
    assert.equal(typeof errors[cause], "number", `errors.${cause}`);
  }
  assert.ok(
    Object.values(r.kernel as object).every((v) => Number.isInteger(v)),
  );
  // Under their nstat names (TcpExtListenOverflows), as tcp/proc reads them.
  for (const name of Object.keys(r.kernel as object)) {
    assert.match(name, /^(Tcp|Udp)[A-Z]/, `kernel.${name}`);
  }
  const h = r.histogram as { unit: string; count: number; buckets: number[][] };
  assert.equal(h.unit, "us");
  assert.equal(h.buckets.reduce((n, b) => n + b[1]!, 0), h.count);
}

Deno.test("cli load tcp --json: one object with the documented fields; counts match the server", async () => {
  const server = serveEcho({ port: 0 });
  const { code, stdout, stderr } = await runCli([
    "load",
    "tcp",
    `127.0.0.1:${server.addr.port}`,
    "-c",
    "2",
    "-n",
    "500",
    "--json",
  ]);
  await server.shutdown();
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "", "no live line when stderr is not a terminal");
  const lines = stdout.trim().split("\n");
  assert.equal(lines.length, 1);
  const r = JSON.parse(lines[0]!);
  assertSchema(r);
  assert.equal(r.requests, 500);
  assert.equal(r.histogram.count, 500);
  assert.equal(server.stats().bytesIn, 500 * 64);
  if (Deno.build.os === "linux") {
    assert.ok(r.kernel.TcpActiveOpens >= 2, JSON.stringify(r.kernel));
  }
});

Deno.test("cli load merge: two JSON runs add up, histograms included", async () => {
  await using server = serveEcho({ port: 0 });
  const dir = await Deno.makeTempDir();
  try {
    // Two runs made at the same time (a merge refuses runs that were not),
    // both beginning at one moment.
    const start = `@${(Date.now() + 3000) / 1000}`;
    const runs = await Promise.all(
      ([["a", "300"], ["b", "200"]] as const).map(async ([name, n]) => {
        const { code, stdout, stderr } = await runCli([
          "load",
          "tcp",
          `127.0.0.1:${server.addr.port}`,
          "-c",
          "1",
          "-n",
          n,
          "--rate",
          "500",
          "--start-at",
          start,
          "--json",
        ]);
        assert.equal(code, 0, stderr);
        await Deno.writeTextFile(`${dir}/${name}.json`, stdout);
        return JSON.parse(stdout);
      }),
    );
    const merged = await runCli([
      "load",
      "merge",
      `${dir}/a.json`,
      `${dir}/b.json`,
      "--json",
    ]);
    assert.equal(merged.code, 0, merged.stderr);
    const m = JSON.parse(merged.stdout);
    assertSchema(m);
    assert.equal(m.requests, 500);
    assert.equal(m.histogram.count, 500);
    assert.equal(m.loops, 2);
    // At 500/s each over the window both measured: about 1000/s together
    // (the shorter run ends after 0.4 s; rates are over the common window).
    assert.ok(
      m.rate > 0 &&
        m.durationMs <= Math.min(runs[0].durationMs, runs[1].durationMs) + 1,
    );
    const buckets = new Map<number, number>();
    for (const r of runs) {
      for (const [low, n] of r.histogram.buckets) {
        buckets.set(low, (buckets.get(low) ?? 0) + n);
      }
    }
    assert.deepEqual(
      m.histogram.buckets,
      [...buckets].sort((x, y) => x[0] - y[0]),
    );
    const human = await runCli([
      "load",
      "merge",
      `${dir}/a.json`,
      `${dir}/b.json`,
    ]);
    assert.equal(human.code, 0);
    assert.match(human.stdout, /2 runs merged/);
    assert.match(human.stdout, /requests +500 ok/);
    // Whatever a result file says reaches the terminal escaped.
    const hostile = { ...runs[0], target: "\x1b]0;pwned\x07\x1b[2J" };
    await Deno.writeTextFile(`${dir}/hostile.json`, JSON.stringify(hostile));
    const shown = await runCli(["load", "merge", `${dir}/hostile.json`]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.ok(!shown.stdout.includes("\x1b"), JSON.stringify(shown.stdout));
    assert.match(shown.stdout, /\\x1b\]0;pwned/);
    await Deno.writeTextFile(`${dir}/bad.json`, '{"x": 1}');
    const bad = await runCli(["load", "merge", `${dir}/bad.json`]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not a netkit load result/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli load: the summary names totals, percentiles, histogram and errors", async () => {
  await using server = serveEcho({ port: 0 });
  const { code, stdout } = await runCli([
    "load",
    "tcp",
    `127.0.0.1:${server.addr.port}`,
    "-c",
    "4",
    "-n",
    "2000",
  ]);
  assert.equal(code, 0);
  assert.match(stdout, /requests +2,000 ok of 2,000 sent/);
  assert.match(
    stdout,
    /latency +p50 [\d.]+ +p90 [\d.]+ +p99 [\d.]+ +p99\.9 [\d.]+ +max [\d.]+ ms/,
  );
  assert.match(stdout, /%\s+#/);
  assert.match(stdout, /errors +none/);
});

Deno.test("cli load --workers 2: two loops, one merged result", async () => {
  await using server = serveEcho({ port: 0 });
  const { code, stdout, stderr } = await runCli([
    "load",
    "tcp",
    `127.0.0.1:${server.addr.port}`,
    "-c",
    "4",
    "-n",
    "1001",
    "--workers",
    "2",
    "--json",
  ]);
  assert.equal(code, 0, stderr);
  const r = JSON.parse(stdout);
  assert.equal(r.loops, 2);
  assert.equal(r.requests, 1001);
  assert.equal(r.connections, 4);
  assert.equal(server.stats().bytesIn, 1001 * 64);
  // Read once by the main thread around both loops, under nstat names.
  assertSchema(r);
  if (Deno.build.os === "linux") {
    assert.ok(r.kernel.TcpActiveOpens >= 4, JSON.stringify(r.kernel));
  }
});

Deno.test("cli load: usage errors exit 2, a remote target is refused with exit 1", async () => {
  for (
    const args of [
      ["load"],
      ["load", "tcp"],
      ["load", "sctp", "127.0.0.1:1"],
      ["load", "tcp", "127.0.0.1:1", "--mode", "nope"],
      ["load", "tcp", "127.0.0.1:1", "--rate", "-3"],
      ["load", "udp", "127.0.0.1:1", "--mode", "stream"],
      ["load", "tcp", "127.0.0.1:1", "-c", "1", "--workers", "2"],
      ["load", "tcp", "127.0.0.1:1", "-n", "1", "--workers", "2"],
    ]
  ) {
    const { code, stderr } = await runCli(args);
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
  }
  const remote = await runCli(["load", "tcp", "192.0.2.1:7", "-d", "1"]);
  assert.equal(remote.code, 1);
  assert.match(remote.stderr, /not a loopback address.*--allow-remote/);
});

Deno.test("cli load: SIGINT ends the run early and prints the summary so far", async () => {
  await using server = serveEcho({ port: 0 });
  const { cmd, args } = cliCommand([
    "load",
    "tcp",
    `127.0.0.1:${server.addr.port}`,
    "-c",
    "2",
    "-d",
    "60",
  ]);
  const child = new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  // Wait (bounded) until the load reaches the server, then interrupt.
  try {
    await waitFor(
      "the load to reach the server",
      () => server.stats().bytesIn > 0,
    );
  } catch (error) {
    child.kill("SIGKILL");
    await output;
    throw error;
  }
  child.kill("SIGINT");
  const result = await output;
  const stdout = new TextDecoder().decode(result.stdout);
  assert.equal(result.code, 130, new TextDecoder().decode(result.stderr));
  assert.match(stdout, /\(interrupted\)/);
  assert.match(stdout, /requests +[\d,]+ ok/);
});

Deno.test({
  name:
    "cli load: on a terminal the live line shows rate and p99 and fits the width",
  ignore: !IN_CI && !hasPeer("script"),
  async fn() {
    await using server = serveEcho({ port: 0 });
    const { cmd, args } = cliCommand([
      "load",
      "tcp",
      `127.0.0.1:${server.addr.port}`,
      "-c",
      "2",
      "-d",
      "2.5",
    ]);
    const line = [cmd, ...args].map((a) => `'${a}'`).join(" ");
    const out = await new Deno.Command("script", {
      args: ["-qec", `stty cols 50; ${line} >/dev/null`, "/dev/null"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, text);
    const frames = text.split("\r").map((s) =>
      // deno-lint-ignore no-control-regex
      s.replace(/\x1b\[K|\n/g, "")
    ).filter((s) => s.includes("req/s"));
    assert.ok(frames.length >= 1, `no live line in ${JSON.stringify(text)}`);
    for (const f of frames) {
      assert.ok(f.length <= 49, `${f.length} columns: ${f}`);
    }
  },
});

Deno.test({
  name:
    "cli load: running out of descriptors is counted as emfile, the run goes on",
  ignore: !IN_CI && !hasPeer("prlimit"),
  async fn() {
    await using server = serveEcho({ port: 0 });
    const { cmd, args } = cliCommand([
      "load",
      "tcp",
      `127.0.0.1:${server.addr.port}`,
      "-c",
      "60",
      "-d",
      "1",
      "--json",
    ]);
    const out = await new Deno.Command("prlimit", {
      args: ["--nofile=40", cmd, ...args],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    assert.equal(out.code, 0, dec.decode(out.stderr));
    const r = JSON.parse(dec.decode(out.stdout));
    assert.ok(r.errors.emfile > 0, JSON.stringify(r.errors));
    assert.ok(r.requests > 0, "the connections that opened still ran");
  },
});

Deno.test("cli load against 'netkit echo serve': counts match the server's summary", async () => {
  const server = await startCli(["echo", "serve", "--port", "0"], {
    expect: 2,
  });
  let stopped = false;
  try {
    const port = server.ports.tcp!;
    const tcp = await runCli([
      "load",
      "tcp",
      `127.0.0.1:${port}`,
      "-c",
      "3",
      "-n",
      "900",
      "-s",
      "100",
      "--json",
    ]);
    assert.equal(tcp.code, 0, tcp.stderr);
    const udp = await runCli([
      "load",
      "udp",
      `127.0.0.1:${server.ports.udp!}`,
      "-c",
      "2",
      "-n",
      "400",
      "--timeout",
      "5000",
      "--json",
    ]);
    assert.equal(udp.code, 0, udp.stderr);
    const { stderr } = await server.stop("SIGTERM");
    stopped = true;
    const t = JSON.parse(tcp.stdout);
    const u = JSON.parse(udp.stdout);
    assert.equal(t.requests, 900);
    assert.match(
      stderr,
      new RegExp(
        `^echo/tcp: served 3, refused 0, 90000 bytes in, 90000 bytes out`,
        "m",
      ),
    );
    // UDP may lose a datagram either way: every byte the server saw was
    // sent, every byte that came back was sent by the server.
    const m =
      /^echo\/udp: served \d+, refused 0, (\d+) bytes in, (\d+) bytes out/m
        .exec(stderr);
    assert.ok(m, stderr);
    assert.equal(u.requests + u.errors.timeout, 400);
    assert.ok(Number(m[1]) <= u.bytesSent && Number(m[2]) >= u.bytesReceived);
    if (u.errors.timeout === 0) assert.equal(Number(m[1]), u.bytesSent);
  } finally {
    if (!stopped) await server.stop("SIGKILL");
  }
});
