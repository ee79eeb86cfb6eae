// `netkit load http`, the many-machines flags (--shard, --start-at), the
// per-interval lines, the UDP stream, and the report (--html, load report)
// as users run them.

import assert from "node:assert/strict";
import { serveEcho } from "../../tcp/mod.ts";
import { serveUdpEcho } from "../../udp/mod.ts";
import { runCli } from "../_helpers.ts";

/** Deno.serve on 127.0.0.1:0 counting requests by status it answers. */
function httpServer(
  answer: (n: number) => Response = () => new Response("ok"),
) {
  let n = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => answer(n++),
  );
  return {
    server,
    get served() {
      return n;
    },
    url: `http://127.0.0.1:${server.addr.port}/`,
  };
}

Deno.test("cli load http --json: counts equal the server's, status classes, the documented fields", async () => {
  const s = httpServer((n) => new Response("x", { status: n % 5 ? 200 : 503 }));
  await using _ = s.server;
  const { code, stdout, stderr } = await runCli([
    "load",
    "http",
    s.url,
    "-c",
    "3",
    "-n",
    "500",
    "-H",
    "X-Test: 1",
    "--json",
  ]);
  assert.equal(code, 0, stderr);
  const r = JSON.parse(stdout);
  assert.equal(r.protocol, "http");
  assert.equal(r.mode, "GET");
  assert.equal(r.requests, 500);
  assert.equal(s.served, 500);
  assert.deepEqual(r.status, { "2xx": 400, "5xx": 100 });
  assert.equal(r.parameters.connections, 3);
  assert.equal(
    r.timeline.reduce(
      (n: number, i: { requests: number }) => n + i.requests,
      0,
    ),
    500,
  );
  assert.equal(typeof r.host, "string");
  assert.equal(typeof r.startedAt, "number");
});

Deno.test("cli load http: the summary shows status classes and fits 80 columns; usage errors exit 2", async () => {
  const s = httpServer();
  await using _ = s.server;
  const { code, stdout } = await runCli([
    "load",
    "http",
    s.url,
    "-c",
    "2",
    "-n",
    "200",
    "-X",
    "POST",
    "--body",
    "hello",
  ]);
  assert.equal(code, 0);
  // The headline is too wide for one line: the target stays whole.
  assert.match(
    stdout,
    /^load http http:\/\/127\.0\.0\.1:\d+\/ POST:\n {2}2 connections, closed loop, pipeline 1/,
  );
  assert.match(stdout, /requests +200 ok of 200 sent/);
  assert.match(stdout, /status +2xx 200/);
  for (const line of stdout.trimEnd().split("\n")) {
    assert.ok(line.length <= 80, line);
  }
  for (
    const args of [
      ["load", "http", s.url, "-H", "no colon"],
      ["load", "http", s.url, "--body", "a", "--body-file", "f"],
      ["load", "http", s.url, "--no-keepalive", "-p", "4"],
      ["load", "http", s.url, "--start-at", "tomorrow"],
      ["load", "http", s.url, "--shard", "3/3"],
      ["load", "udp", "127.0.0.1:9", "--mode", "stream"],
    ]
  ) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
  }
});

Deno.test("cli load --start-at: a time already past is refused, one ahead is waited for", async () => {
  await using server = serveEcho({ port: 0 });
  const target = `127.0.0.1:${server.addr.port}`;
  const past = await runCli([
    "load",
    "tcp",
    target,
    "-n",
    "10",
    "--start-at",
    new Date(Date.now() - 5000).toISOString(),
  ]);
  assert.equal(past.code, 1);
  assert.match(past.stderr, /start time .* passed/);
  assert.equal(server.stats().served, 0);
  // The process starts in well under 3 s; the run must not begin before.
  const at = new Date(Date.now() + 3000);
  const ahead = await runCli([
    "load",
    "tcp",
    target,
    "-n",
    "10",
    "--start-at",
    `@${at.getTime() / 1000}`,
    "--json",
  ]);
  assert.equal(ahead.code, 0, ahead.stderr);
  assert.ok(JSON.parse(ahead.stdout).startedAt >= at.getTime());
});

Deno.test("cli load --shard: the share of connections and requests; N alone reads JOB_COMPLETION_INDEX", async () => {
  await using server = serveEcho({ port: 0 });
  const target = `127.0.0.1:${server.addr.port}`;
  const explicit = await runCli([
    "load",
    "tcp",
    target,
    "-c",
    "5",
    "-n",
    "100",
    "--shard",
    "0/2",
    "--json",
  ]);
  assert.equal(explicit.code, 0, explicit.stderr);
  const a = JSON.parse(explicit.stdout);
  assert.equal(a.connections, 3);
  assert.equal(a.requests, 50);
  assert.equal(a.parameters.shard, "0/2");
  const fromEnv = await runCli([
    "load",
    "tcp",
    target,
    "-c",
    "5",
    "-n",
    "100",
    "--shard",
    "2",
    "--json",
  ], { env: { JOB_COMPLETION_INDEX: "1" } });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  const b = JSON.parse(fromEnv.stdout);
  assert.equal(b.connections, 2);
  assert.equal(b.parameters.shard, "1/2");
  // No index anywhere: a usage error naming where it was looked for.
  const missing = await runCli(["load", "tcp", target, "--shard", "2"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /JOB_COMPLETION_INDEX/);
});

Deno.test("cli load --interval: one iperf3-style line per interval on stdout, then the summary", async () => {
  await using server = serveEcho({ port: 0 });
  const { code, stdout, stderr } = await runCli([
    "load",
    "tcp",
    `127.0.0.1:${server.addr.port}`,
    "-c",
    "2",
    "-d",
    "1.2s",
    "--interval",
    "400ms",
  ]);
  assert.equal(code, 0, stderr);
  const lines = stdout.split("\n").filter((l) => l.startsWith("["));
  assert.deepEqual(
    lines.map((l) => /^\[ *([\d.]+)- *([\d.]+) s\]/.exec(l)?.slice(1)),
    [["0.0", "0.4"], ["0.4", "0.8"], ["0.8", "1.2"]],
  );
  for (const l of lines) {
    assert.match(
      l,
      /req\/s +[\d.]+ MB\/s +p50\/p99 [\d.]+\/[\d.]+ ms +\d+ errors$/,
    );
    assert.ok(l.length <= 80, l);
  }
  assert.match(stdout, /\nload tcp [^\n]*\n?[^\n]* 1\.2 s measured/);
});

Deno.test("cli load udp --mode stream: loss and jitter, as iperf3 -u reports them", async () => {
  await using server = serveUdpEcho({ port: 0 });
  const { code, stdout, stderr } = await runCli([
    "load",
    "udp",
    `127.0.0.1:${server.addr.port}`,
    "--mode",
    "stream",
    "--rate",
    "2000",
    "-d",
    "1s",
  ]);
  assert.equal(code, 0, stderr);
  assert.match(
    stdout,
    /datagrams +[\d,]+ sent, [\d,]+ echoed, [\d,]+ lost \([\d.]+%\), jitter [\d.]+ ms/,
  );
});

Deno.test("cli load --html and load report: one self-contained page with every run", async () => {
  await using server = serveEcho({ port: 0 });
  const target = `127.0.0.1:${server.addr.port}`;
  const dir = await Deno.makeTempDir();
  try {
    const run = await runCli([
      "load",
      "tcp",
      target,
      "-n",
      "300",
      "--html",
      `${dir}/one.html`,
      "--json",
    ]);
    assert.equal(run.code, 0, run.stderr);
    await Deno.writeTextFile(`${dir}/a.json`, run.stdout);
    const page = await Deno.readTextFile(`${dir}/one.html`);
    assert.match(page, /^<!doctype html>/);
    assert.match(page, /requests +300 ok of 300 sent/);
    const second = await runCli([
      "load",
      "tcp",
      target,
      "-n",
      "200",
      "--rate",
      "1000",
      "--json",
    ]);
    await Deno.writeTextFile(`${dir}/b.json`, second.stdout);
    const report = await runCli([
      "load",
      "report",
      `${dir}/a.json`,
      `${dir}/b.json`,
      "--title",
      "before & after",
    ]);
    assert.equal(report.code, 0, report.stderr);
    assert.match(report.stdout, /<title>before &amp; after<\/title>/);
    assert.equal(
      (report.stdout.match(/<article class="run"/g) ?? []).length,
      2,
    );
    assert.match(report.stdout, /class="point" data-run="1"/);
    await Deno.writeTextFile(`${dir}/bad.json`, '{"x": 1}');
    const bad = await runCli(["load", "report", `${dir}/bad.json`]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not a netkit load result/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli load merge: different targets refused (or allowed with a warning), JSON Lines read, disjoint windows refused", async () => {
  await using one = serveEcho({ port: 0 });
  await using two = serveEcho({ port: 0 });
  const dir = await Deno.makeTempDir();
  try {
    const [a, b] = await Promise.all(
      [one, two].map((s) =>
        runCli([
          "load",
          "tcp",
          `127.0.0.1:${s.addr.port}`,
          "-d",
          "1s",
          "--json",
        ])
      ),
    );
    await Deno.writeTextFile(`${dir}/a.json`, a!.stdout);
    await Deno.writeTextFile(`${dir}/b.json`, b!.stdout);
    const refused = await runCli([
      "load",
      "merge",
      `${dir}/a.json`,
      `${dir}/b.json`,
    ]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /different targets/);
    const allowed = await runCli([
      "load",
      "merge",
      `${dir}/a.json`,
      `${dir}/b.json`,
      "--allow-mixed-targets",
      "--json",
    ]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stderr, /warning: merged runs of different targets/);
    // Two shards of one target started together, in one JSON Lines file
    // as kubectl logs collects them.
    const start = `@${(Date.now() + 4000) / 1000}`;
    const shards = await Promise.all([0, 1].map((i) =>
      runCli([
        "load",
        "tcp",
        `127.0.0.1:${one.addr.port}`,
        "-c",
        "4",
        "-d",
        "1s",
        "--shard",
        `${i}/2`,
        "--start-at",
        start,
        "--json",
      ])
    ));
    await Deno.writeTextFile(
      `${dir}/shards.jsonl`,
      shards.map((s) => s.stdout.trim()).join("\n") + "\n",
    );
    const merged = await runCli([
      "load",
      "merge",
      `${dir}/shards.jsonl`,
      "--json",
    ]);
    assert.equal(merged.code, 0, merged.stderr);
    const m = JSON.parse(merged.stdout);
    const [s0, s1] = shards.map((s) => JSON.parse(s.stdout));
    assert.equal(m.requests, s0.requests + s1.requests);
    assert.equal(m.histogram.count, m.requests);
    assert.equal(m.connections, 4);
    assert.equal(m.loops, 2);
    // One host, one counter scope: counted once, not twice.
    assert.equal(m.hosts.length, 1);
    // A run made later is not the same run.
    const later = await runCli([
      "load",
      "tcp",
      `127.0.0.1:${one.addr.port}`,
      "-n",
      "50",
      "--json",
    ]);
    await Deno.writeTextFile(`${dir}/later.json`, later.stdout);
    const disjoint = await runCli([
      "load",
      "merge",
      `${dir}/a.json`,
      `${dir}/later.json`,
    ]);
    assert.equal(disjoint.code, 1);
    assert.match(disjoint.stderr, /do not overlap/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
