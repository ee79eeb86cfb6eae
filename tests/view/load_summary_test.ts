import assert from "node:assert/strict";
import {
  emptyLoadResult,
  LatencyHistogram,
  type LoadResult,
} from "../../load/mod.ts";
import { renderIntervalLine, renderLoadSummary } from "../../view/mod.ts";

function result(extra: Partial<LoadResult> = {}): LoadResult {
  const h = new LatencyHistogram();
  for (let i = 1; i <= 100; i++) h.record(i / 10);
  return {
    ...emptyLoadResult("http", "http://127.0.0.1:8080/", "GET"),
    requests: 100,
    sent: 100,
    rate: 50,
    connections: 10,
    durationMs: 2000,
    histogram: h.toJSON(),
    parameters: {
      connections: 10,
      pipeline: 1,
      durationMs: 2000,
      warmupMs: 0,
      timeoutMs: 2000,
    },
    ...extra,
  };
}

Deno.test("renderLoadSummary: only the counters that explain something, each with its meaning, within 80 columns", () => {
  const text = renderLoadSummary(result({
    kernel: {
      TcpActiveOpens: 40,
      TcpInSegs: 900,
      TcpExtListenOverflows: 3,
      TcpExtTCPAbortOnTimeout: 1,
    },
    kernelScope: "machine",
  }));
  assert.match(
    text,
    /kernel +counters \(whole machine: other programs' traffic included\)/,
  );
  assert.match(text, /\+3 TcpExtListenOverflows/);
  assert.match(text, /accept queue was full/);
  assert.match(text, /\+1 TcpExtTCPAbortOnTimeout/);
  assert.doesNotMatch(text, /TcpActiveOpens|TcpInSegs/);
  assert.match(text, /2 other counters moved .*--all-counters/);
  for (const line of text.split("\n")) {
    assert.ok(line.length <= 80, `${line.length}: ${line}`);
  }
  const all = renderLoadSummary(
    result({
      kernel: { TcpActiveOpens: 40, TcpExtListenOverflows: 3 },
      kernelScope: "net:[4026532999]",
    }),
    { allCounters: true },
  );
  assert.match(all, /\+40 TcpActiveOpens/);
  assert.match(all, /network namespace net:\[4026532999\]/);
  // Nothing notable moved: said so, without a list.
  const quiet = renderLoadSummary(result({ kernel: { TcpActiveOpens: 4 } }));
  assert.match(quiet, /kernel +nothing that explains a failure/);
  for (const line of quiet.split("\n")) assert.ok(line.length <= 80, line);
});

Deno.test("renderLoadSummary: a merge lists counters per host; status classes and datagrams", () => {
  const text = renderLoadSummary(result({
    loops: 2,
    hosts: [
      { host: "a", scope: "net:[1]", runs: 1, kernel: { TcpRetransSegs: 5 } },
      { host: "b", scope: "net:[2]", runs: 1, kernel: { UdpInErrors: 2 } },
    ],
    kernel: { TcpRetransSegs: 5, UdpInErrors: 2 },
    status: { "2xx": 90, "5xx": 10 },
    warnings: ["the runs' windows differ"],
  }));
  assert.match(text, /2 runs merged/);
  assert.match(
    text,
    /kernel +counters \(kept per host\)\n +a \(network namespace net:\[1\]/,
  );
  assert.match(text, /\n +\+5 TcpRetransSegs/);
  assert.match(
    text,
    /\n +b \(network namespace net:\[2\].*\n +\+2 UdpInErrors/,
  );
  assert.match(text, /status +2xx 90 +5xx 10/);
  // Warnings are the caller's to show, not the summary's.
  assert.doesNotMatch(text, /windows differ/);
  const udp = renderLoadSummary(result({
    datagrams: {
      sent: 1000,
      received: 990,
      lost: 10,
      lossPercent: 1,
      jitterMs: 0.0123,
    },
  }));
  assert.match(
    udp,
    /datagrams +1,000 sent, 990 echoed, 10 lost \(1%\), jitter 0\.012 ms/,
  );
});

Deno.test("renderLoadSummary: a headline too wide for the terminal goes on two lines, the target whole", () => {
  const long = result({
    target: "http://127.0.0.1:8080/a/rather/long/path?q=1",
  });
  const [first, second] = renderLoadSummary(long).split("\n");
  assert.equal(
    first,
    "load http http://127.0.0.1:8080/a/rather/long/path?q=1 GET:",
  );
  assert.equal(
    second,
    "  10 connections, closed loop, pipeline 1, 2.0 s measured",
  );
  // A wider terminal keeps it on one line.
  const wide = renderLoadSummary(result({ target: "http://[::1]:80/" }), {
    width: 120,
  });
  assert.match(wide, /^load http http:\/\/\[::1\]:80\/ GET: 10 connections/);
});

Deno.test("renderIntervalLine: iperf3's interval, rate, MB/s and the interval's percentiles", () => {
  const line = renderIntervalLine({
    startMs: 2000,
    durationMs: 500,
    requests: 500,
    errors: 3,
    bytesSent: 1_000_000,
    bytesReceived: 2_000_000,
    p50Ms: 0.25,
    p99Ms: 12.5,
  }, { direction: "both" });
  assert.equal(
    line,
    "[  2.0-  2.5 s]     1,000 req/s     6.00 MB/s  p50/p99 0.250/12.5 ms  3 errors",
  );
});
