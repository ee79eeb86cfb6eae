// The page at `/` in a real browser: headless Chromium, driven over the
// DevTools protocol with Deno's WebSocket client.

import assert from "node:assert/strict";
import { serveWebSocket } from "../../ws/server.ts";
import { missingPeer } from "../_helpers.ts";
import { launchChromium, waitFor } from "../_chromium.ts";

Deno.test({
  name:
    "page: ?autotest connects, sends and shows the echo with the open state",
  ignore: missingPeer("chromium"),
}, async () => {
  await using server = serveWebSocket({ port: 0 });
  await using browser = await launchChromium();
  const session = await browser.open(
    `http://127.0.0.1:${server.addr.port}/?autotest=hello%20from%20chromium`,
  );
  const received = await browser.evaluate(
    session,
    waitFor(
      `document.getElementById("autotest").dataset.done === "1" && ` +
        `document.getElementById("autotest").textContent`,
    ),
  );
  assert.equal(received, "autotest received: hello from chromium");
  assert.equal(
    await browser.evaluate(
      session,
      `document.getElementById("state").textContent`,
    ),
    "open",
  );
  // The inline style and script ran under the page's own strict CSP.
  assert.equal(
    await browser.evaluate(
      session,
      `getComputedStyle(document.body).marginTop`,
    ),
    "0px",
  );
  const violations = browser.events.filter((e) =>
    e.method === "Log.entryAdded" &&
    /Content Security Policy|Refused to/.test(e.params.entry.text)
  );
  assert.deepEqual(violations, []);
  assert.equal(server.stats().pagesServed, 1);
  assert.equal(server.stats().messagesIn, 1);
});

Deno.test({
  name:
    "page: typing a message shows it echoed; Disconnect shows the close code",
  ignore: missingPeer("chromium"),
}, async () => {
  await using server = serveWebSocket({ port: 0 });
  await using browser = await launchChromium();
  const session = await browser.open(`http://127.0.0.1:${server.addr.port}/`);
  await browser.evaluate(
    session,
    waitFor(`document.getElementById("state").dataset.state === "open"`),
  );
  await browser.evaluate(
    session,
    `document.getElementById("text").value = "typed by a user"; ` +
      `document.getElementById("send").click(); true`,
  );
  const echoed = await browser.evaluate(
    session,
    waitFor(
      `[...document.querySelectorAll("#log li.in .text")].map((e) => e.textContent).join("|")`,
    ),
  );
  assert.equal(echoed, "typed by a user");
  const sent = await browser.evaluate(
    session,
    `[...document.querySelectorAll("#log li.out .text")].map((e) => e.textContent).join("|")`,
  );
  assert.equal(sent, "typed by a user");
  await browser.evaluate(
    session,
    `document.getElementById("toggle").click(); true`,
  );
  const state = await browser.evaluate(
    session,
    waitFor(
      `document.getElementById("state").dataset.state === "closed" && ` +
        `document.getElementById("state").textContent`,
    ),
  );
  assert.equal(state, "closed 1000 bye");
});

Deno.test({
  name: "page: broadcast mode delivers one tab's message to the other tab",
  ignore: missingPeer("chromium"),
}, async () => {
  await using server = serveWebSocket({ port: 0, mode: "broadcast" });
  await using browser = await launchChromium();
  const base = `http://127.0.0.1:${server.addr.port}/`;
  const listener = await browser.open(base);
  await browser.evaluate(
    listener,
    waitFor(`document.getElementById("state").dataset.state === "open"`),
  );
  const speaker = await browser.open(`${base}?autotest=hi%20everyone`);
  const heard = await browser.evaluate(
    listener,
    waitFor(
      `[...document.querySelectorAll("#log li.in .text")].map((e) => e.textContent).join("|")`,
    ),
  );
  assert.equal(heard, "hi everyone");
  // The sender itself gets nothing back in broadcast mode.
  assert.equal(
    await browser.evaluate(
      speaker,
      `document.querySelectorAll("#log li.in").length`,
    ),
    0,
  );
});

Deno.test({
  name:
    "permessage-deflate with Chromium: ws serve's engine with deflate negotiates with the browser and echoes compressed text and binary",
  ignore: missingPeer("chromium"),
}, async () => {
  await using server = serveWebSocket({ port: 0, deflate: true });
  await using browser = await launchChromium();
  const session = await browser.open(`http://127.0.0.1:${server.addr.port}/`);
  const outcome = await browser.evaluate(
    session,
    `new Promise((resolve, reject) => {
      const ws = new WebSocket("ws://127.0.0.1:${server.addr.port}/ws");
      ws.binaryType = "arraybuffer";
      const text = JSON.stringify(Array.from({ length: 3000 }, (_, i) => ({ id: i, name: "item " + i })));
      const bytes = new Uint8Array(100000).map((_, i) => i % 7);
      const got = [];
      ws.onerror = () => reject(new Error("websocket error"));
      ws.onopen = () => { ws.send(text); ws.send(text); ws.send(bytes); };
      ws.onmessage = (event) => {
        got.push(event.data);
        if (got.length < 3) return;
        const echoed = new Uint8Array(got[2]);
        resolve({
          extensions: ws.extensions,
          texts: got[0] === text && got[1] === text,
          binary: echoed.length === bytes.length && echoed.every((b, i) => b === bytes[i]),
        });
        ws.close(1000);
      };
    })`,
  );
  assert.deepEqual(outcome, {
    extensions: "permessage-deflate",
    texts: true,
    binary: true,
  });
  assert.equal(server.stats().messagesIn, 3);
});
