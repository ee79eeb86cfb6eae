// Sequence diagrams: the text fits any width, the SVG and HTML are safe
// and self-contained, and the page draws its arrows in a real browser.

import assert from "node:assert/strict";
import {
  type SequenceDiagram,
  sequenceHtml,
  sequenceSvg,
  sequenceText,
} from "../../view/mod.ts";
import {
  createTraceAnalyzer,
  decodeFrame,
  traceDiagram,
  type TracePacket,
} from "../../tcp/trace/mod.ts";
import { missingPeer } from "../_helpers.ts";
import { launchChromium } from "../_chromium.ts";
import {
  ACK,
  FIN,
  PSH,
  RST,
  SYN,
  synOptions,
  tcpFrame,
} from "../tcp/trace/_frames.ts";

/** A whole connection through the expert: handshake, data both ways, close, then a reset one. */
function packets(): TracePacket[] {
  const expert = createTraceAnalyzer();
  let t = 1000;
  const c = (flags: number, seq: number, ack: number, payload = 0) =>
    expert.add(
      decodeFrame(
        tcpFrame({
          sport: 41172,
          dport: 8080,
          flags,
          seq,
          ack,
          payload,
          options: flags & SYN ? synOptions() : [],
        }),
      ),
      t += 0.4,
    );
  const s = (flags: number, seq: number, ack: number, payload = 0) =>
    expert.add(
      decodeFrame(
        tcpFrame({
          sport: 8080,
          dport: 41172,
          flags,
          seq,
          ack,
          payload,
          options: flags & SYN ? synOptions() : [],
        }),
      ),
      t += 0.4,
    );
  return [
    c(SYN, 100, 0),
    s(SYN | ACK, 500, 101),
    c(ACK, 101, 501),
    c(PSH | ACK, 101, 501, 5),
    s(PSH | ACK, 501, 106, 5),
    c(FIN | ACK, 106, 506),
    s(FIN | ACK, 506, 107),
    c(ACK, 107, 507),
  ];
}

function diagram(): SequenceDiagram {
  const d = traceDiagram(packets(), { title: "a connection" });
  d.items.splice(3, 0, {
    kind: "note",
    tMs: 1.3,
    text:
      "connect() returned: the kernel finished the handshake before the server called accept(), so the connection waits in the accept queue",
  });
  return d;
}

Deno.test("sequenceText: every line fits the width, from 30 to 200 columns", () => {
  const d = diagram();
  for (let width = 30; width <= 200; width += 7) {
    const lines = sequenceText(d, { width });
    for (const line of lines) {
      assert.ok(line.length <= width, `${line.length} > ${width}: ${line}`);
    }
  }
});

Deno.test("sequenceText: arrows point from their sender, states written where they change", () => {
  const lines = sequenceText(diagram(), { width: 100 });
  assert.match(
    lines[0]!,
    /^ +client 127\.0\.0\.1:41172 +server 127\.0\.0\.1:8080$/,
  );
  const arrows = lines.filter((l) => /\|.*\|/.test(l) && /-/.test(l));
  assert.equal(arrows.length, 8);
  assert.match(arrows[0]!, /SYN_SENT +\|-- SYN seq 0 win 512 -+>\| LISTEN$/);
  assert.match(
    arrows[1]!,
    /ESTABLISHED \|<-+ SYN-ACK seq 0 ack 1 win 512 --\| SYN_RECV$/,
  );
  // ESTABLISHED is written once for the client; the third arrow changes only the server.
  assert.match(
    arrows[2]!,
    /^ +\+\d\.\d{3} {13}\|-- ACK seq 1 ack 1 .*>\| ESTABLISHED$/,
  );
  assert.match(
    arrows[5]!,
    /FIN_WAIT1 +\|-- FIN-ACK seq 6 ack 6 .*>\| CLOSE_WAIT$/,
  );
  assert.match(arrows[7]!, /\|-- ACK seq 7 ack 7 .*>\| CLOSED$/);
  assert.ok(lines.some((l) => /^\s+\| {2}handshake 1\/3 \(SYN\)$/.test(l)));
  assert.ok(
    lines.some((l) => /^ +\+\d\.\d{3} = connect\(\) returned:/.test(l)),
  );
});

Deno.test("sequence diagrams escape what a peer could have put in a label", () => {
  const d: SequenceDiagram = {
    title: "<script>alert(1)</script>",
    items: [{
      kind: "arrow",
      tMs: 0,
      from: "server",
      label: "\x1b[2J<b>&\"'",
      note: "\x9b31m\u202e",
    }],
  };
  const text = sequenceText(d).join("\n");
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(text, /[\x1b\x9b\u202e]/);
  assert.match(text, /\\x1b\[2J/);
  const svg = sequenceSvg(d);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(svg, /<b>|[\x1b\x9b\u202e]/);
  assert.match(svg, /data-label="\\x1b\[2J&lt;b&gt;&amp;&quot;&#39;"/);
  const html = sequenceHtml(d);
  assert.doesNotMatch(html, /<script>/);
  assert.match(
    html,
    /<title>&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/title>/,
  );
});

Deno.test("sequenceSvg and sequenceHtml: one group per arrow, tones, nothing fetched", () => {
  const d = traceDiagram([...packets()]);
  const reset = packets();
  const svg = sequenceSvg(d);
  assert.equal(svg.match(/<g class="arrow /g)?.length, 8);
  assert.equal(svg.match(/data-from="client"/g)?.length, 5);
  assert.equal(svg.match(/<g class="arrow control"/g)?.length, 4);
  const html = sequenceHtml(d);
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  // No external reference: only the arrow-head markers' own url(#…).
  assert.doesNotMatch(html, /\b(src|href)=|url\((?!#)/);
  assert.equal(reset.length, 8);
  const rst = traceDiagram([
    createTraceAnalyzer().add(
      decodeFrame(tcpFrame({ sport: 1, dport: 2, flags: RST | ACK })),
      0,
    ),
  ]);
  assert.match(
    sequenceSvg(rst),
    /<g class="arrow problem" data-from="server" data-label="RST-ACK">/,
  );
});

Deno.test({
  name:
    "the diagram page in headless Chromium: arrows drawn left to right and back, a screenshot, no fetches",
  ignore: missingPeer("chromium"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "netkit-view-" });
    try {
      const page = `${dir}/diagram.html`;
      await Deno.writeTextFile(page, sequenceHtml(diagram()));
      await using browser = await launchChromium();
      const session = await browser.open(`file://${page}`);
      const arrows = await browser.evaluate(
        session,
        `[...document.querySelectorAll("svg g.arrow")].map((g) => {
          const line = g.querySelector("line");
          const box = line.getBBox();
          return [g.dataset.from, g.dataset.label,
            Number(line.getAttribute("x1")) < Number(line.getAttribute("x2")),
            box.width > 100, g.querySelector("text.label").textContent];
        })`,
      ) as [string, string, boolean, boolean, string][];
      assert.deepEqual(
        arrows.map((
          [from, label, rightward, wide],
        ) => [from, label, rightward, wide]),
        [
          ["client", "SYN", true, true],
          ["server", "SYN-ACK", false, true],
          ["client", "ACK", true, true],
          ["client", "PSH-ACK", true, true],
          ["server", "PSH-ACK", false, true],
          ["client", "FIN-ACK", true, true],
          ["server", "FIN-ACK", false, true],
          ["client", "ACK", true, true],
        ],
      );
      assert.match(arrows[0]![4], /^SYN seq 0/);
      const states = await browser.evaluate(
        session,
        `[...document.querySelectorAll("svg text.state")].map((t) => t.dataset.side + " " + t.textContent)`,
      ) as string[];
      assert.deepEqual(states.slice(0, 4), [
        "client SYN_SENT",
        "server LISTEN",
        "client ESTABLISHED",
        "server SYN_RECV",
      ]);
      assert.equal(
        await browser.evaluate(
          session,
          `performance.getEntriesByType("resource").length`,
        ),
        0,
      );
      const blocked = browser.events.filter((e) =>
        e.method === "Log.entryAdded" &&
        /Content Security Policy|Refused to/.test(e.params.entry.text)
      );
      assert.deepEqual(blocked, []);
      const shot = await browser.send("Page.captureScreenshot", {
        format: "png",
      }, session);
      const png = Uint8Array.fromBase64(shot.data);
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
      await Deno.writeFile(`${dir}/diagram.png`, png);
      if (Deno.env.get("KEEP_SHOT")) {
        await Deno.writeFile(Deno.env.get("KEEP_SHOT")!, png);
      }
      // A drawn page compresses worse than an empty one.
      const empty = `${dir}/empty.html`;
      await Deno.writeTextFile(empty, sequenceHtml({ items: [] }));
      const blank = await browser.open(`file://${empty}`);
      const plain = await browser.send("Page.captureScreenshot", {
        format: "png",
      }, blank);
      assert.ok(png.length > Uint8Array.fromBase64(plain.data).length * 1.5);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
