// A web page from another origin, in headless Chromium, tries to read the
// banner of a local TCP service through `relay ws://`: refused unless the
// page's origin is allowed.

import assert from "node:assert/strict";
import { relay } from "../../relay/mod.ts";
import { missingPeer } from "../_helpers.ts";
import { launchChromium, waitFor } from "../_chromium.ts";

/** A TCP service that greets each client with a banner; counts clients. */
function bannerService() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let clients = 0;
  const served = (async () => {
    for await (const conn of listener) {
      clients++;
      await conn.write(new TextEncoder().encode("SECRET-BANNER\n"))
        .catch(() => {});
      conn.close();
    }
  })();
  return {
    port: listener.addr.port,
    clients: () => clients,
    async [Symbol.asyncDispose]() {
      listener.close();
      await served;
    },
  };
}

/**
 * Serves a page that opens ws://127.0.0.1:PORT/ (PORT from its query
 * string) and records what it got in `window.outcome`.
 */
function attackerPage() {
  const html = `<!doctype html><script>
const port = new URLSearchParams(location.search).get("port");
const ws = new WebSocket("ws://127.0.0.1:" + port + "/");
ws.binaryType = "arraybuffer";
ws.onmessage = (e) => { window.outcome = "read: " + new TextDecoder().decode(e.data).trim(); };
ws.onclose = (e) => { window.outcome ??= "closed " + e.code; };
</script>`;
  return Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, () => new Response(html, { headers: { "content-type": "text/html" } }));
}

for (
  const [name, allowPage, expected] of [
    ["refused by default", false, /^closed 1006$/],
    [
      "let in when allowedOrigins names the page",
      true,
      /^read: SECRET-BANNER$/,
    ],
  ] as const
) {
  Deno.test({
    name: `relay ws:// and a page from another origin in Chromium: ${name}`,
    ignore: missingPeer("chromium"),
  }, async () => {
    await using service = bannerService();
    await using page = attackerPage();
    const pageOrigin = `http://127.0.0.1:${page.addr.port}`;
    await using forward = relay(
      "ws://127.0.0.1:0/",
      `tcp://127.0.0.1:${service.port}`,
      allowPage ? { allowedOrigins: [pageOrigin] } : {},
    );
    const relayPort = (forward.addr as Deno.NetAddr).port;
    await using browser = await launchChromium();
    const session = await browser.open(`${pageOrigin}/?port=${relayPort}`);
    const outcome = await browser.evaluate(session, waitFor("window.outcome"));
    assert.match(String(outcome), expected);
    assert.equal(service.clients(), allowPage ? 1 : 0);
  });
}
