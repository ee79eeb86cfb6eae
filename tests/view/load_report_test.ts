import assert from "node:assert/strict";
import { loadTcp, serveEcho } from "../../tcp/mod.ts";
import { renderLoadReport, renderLoadSummary } from "../../view/mod.ts";
import { missingPeer, WAIT_MS, withTimeout } from "../_helpers.ts";
import { launchChromium } from "../_chromium.ts";

/** Two real runs (one closed, one open loop), as a report would get them. */
async function twoRuns() {
  await using server = serveEcho({ port: 0 });
  const closed = await loadTcp(server.addr, {
    connections: 2,
    durationMs: 1200,
    intervalMs: 200,
    kernelCounters: false,
  });
  const open = await loadTcp(server.addr, {
    connections: 2,
    ratePerSecond: 2000,
    durationMs: 1200,
    intervalMs: 200,
    kernelCounters: false,
  });
  return [
    { label: "closed <loop>", result: closed },
    { label: "open loop", result: open },
  ];
}

Deno.test("renderLoadReport: one page with both runs' plots, parameters and the very summary the terminal shows", async () => {
  const runs = await twoRuns();
  const html = renderLoadReport(runs);
  for (const run of runs) {
    const summary = renderLoadSummary(run.result)
      .replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
      .replaceAll('"', "&quot;").replaceAll("'", "&#39;");
    assert.ok(html.includes(summary), "summary missing");
  }
  assert.ok(html.includes("closed &lt;loop&gt;"));
  assert.ok(!html.includes("<loop>"));
  // Nothing in the page points outside it (no src, no href, no url()),
  // and its Content-Security-Policy forbids any request anyway.
  assert.match(
    html,
    /http-equiv="Content-Security-Policy" content="default-src 'none';/,
  );
  assert.doesNotMatch(html, /\ssrc=|\shref=|url\(|@import/);
  assert.match(html, /open, 2,000 requests\/s/);
});

Deno.test({
  name:
    "load report in headless Chromium: renders, the plot's points are in the DOM, and no request leaves the page",
  ignore: missingPeer("chromium"),
}, async () => {
  const runs = await twoRuns();
  const dir = await Deno.makeTempDir({ prefix: "netkit-report-" });
  try {
    const path = `${dir}/report.html`;
    await Deno.writeTextFile(path, renderLoadReport(runs));
    await using browser = await launchChromium();
    const session = await browser.open(`file://${path}`);
    const counts = await browser.evaluate(
      session,
      `JSON.stringify({
        latency: [0, 1].map((r) => document.querySelectorAll('#latency circle.point[data-run="' + r + '"]').length),
        rate: document.querySelectorAll('#rate circle.point').length,
        errors: document.querySelectorAll('#errors circle.point').length,
        p99: [...document.querySelectorAll('td[data-percentile="p99"]')].map((e) => e.textContent),
        width: document.querySelector('#latency svg').getBoundingClientRect().width,
      })`,
    ) as string;
    const seen = JSON.parse(counts);
    assert.deepEqual(seen.latency, [
      runs[0]!.result.histogram.buckets.length,
      runs[1]!.result.histogram.buckets.length,
    ]);
    const intervals = runs[0]!.result.timeline!.length +
      runs[1]!.result.timeline!.length;
    assert.equal(seen.rate, intervals);
    assert.equal(seen.errors, intervals);
    assert.equal(seen.p99.length, 2);
    assert.ok(seen.width > 100);
    const shot = await withTimeout(
      browser.send("Page.captureScreenshot", { format: "png" }, session),
      WAIT_MS,
      "a screenshot",
    );
    const png = Uint8Array.fromBase64(shot.data);
    // A PNG, and not a blank one: the plots have colour.
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
    assert.ok(png.length > 10_000, `${png.length} bytes`);
    await Deno.writeFile(`${dir}/report.png`, png);
    const requests = browser.events.filter((e) =>
      e.method === "Network.requestWillBeSent"
    ).map((e) => e.params.request.url as string);
    assert.deepEqual(requests, [`file://${path}`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
