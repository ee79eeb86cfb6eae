import assert from "node:assert/strict";
import { loadHttp } from "../../http/mod.ts";
import {
  LineSplitter,
  missingPeer,
  testTls,
  WAIT_MS,
  withTimeout,
} from "../_helpers.ts";

/** Deno.serve on 127.0.0.1:0 answering with `answer`, counting what it served. */
function denoServer(
  answer: (n: number, request: Request) => Response | Promise<Response>,
  tls?: { cert: string; key: string },
) {
  let n = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, ...tls },
    (request) => answer(n++, request),
  );
  return {
    server,
    get served() {
      return n;
    },
    url: `${tls ? "https" : "http"}://127.0.0.1:${server.addr.port}`,
  };
}

Deno.test("load http: closed loop against Deno.serve, counts equal the server's, bodies of every framing read", async () => {
  const s = denoServer((n) =>
    n % 2 === 0 ? new Response("hello") : new Response(
      // No length known in advance: chunked.
      new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode("part one "));
          c.enqueue(new TextEncoder().encode("part two"));
          c.close();
        },
      }),
    )
  );
  await using _ = s.server;
  const r = await loadHttp(`${s.url}/`, {
    connections: 4,
    requests: 600,
    kernelCounters: false,
  });
  assert.equal(r.requests, 600);
  assert.equal(s.served, 600);
  assert.deepEqual(r.status, { "2xx": 600 });
  assert.deepEqual(Object.values(r.errors).filter((n) => n > 0), []);
  assert.equal(r.connects, 4);
  assert.equal(r.protocol, "http");
  assert.equal(r.mode, "GET");
});

Deno.test("load http: status codes by class, exactly as the server sent them", async () => {
  const codes = [200, 201, 301, 404, 404, 500, 503];
  const sent: Record<string, number> = {};
  const s = denoServer((n) => {
    const status = codes[n % codes.length]!;
    const key = `${Math.floor(status / 100)}xx`;
    sent[key] = (sent[key] ?? 0) + 1;
    return new Response(status === 301 ? null : "x", {
      status,
      headers: status === 301 ? { location: "/" } : {},
    });
  });
  await using _ = s.server;
  const r = await loadHttp(`${s.url}/any`, {
    connections: 3,
    requests: 700,
    kernelCounters: false,
  });
  assert.equal(r.requests, 700);
  assert.deepEqual(r.status, sent);
  assert.deepEqual(r.status, {
    "2xx": 200,
    "3xx": 100,
    "4xx": 200,
    "5xx": 200,
  });
});

Deno.test("load http: method, headers and body reach the server; pipelining keeps order", async () => {
  const seen: string[] = [];
  const s = denoServer(async (_n, request) => {
    seen.push(
      `${request.method} ${new URL(request.url).pathname}?${
        new URL(request.url).search
      } ${request.headers.get("x-token")} ${await request.text()}`,
    );
    return new Response(null, { status: 204 });
  });
  await using _ = s.server;
  const r = await loadHttp(`${s.url}/submit?a=1`, {
    method: "POST",
    headers: { "X-Token": "t1" },
    body: "payload",
    pipeline: 8,
    requests: 200,
    kernelCounters: false,
  });
  assert.equal(r.requests, 200);
  assert.deepEqual(r.status, { "2xx": 200 });
  assert.equal(seen.length, 200);
  assert.deepEqual(new Set(seen), new Set(["POST /submit??a=1 t1 payload"]));
});

Deno.test("load http: --no-keepalive opens a connection per request; a server's Connection: close is followed", async () => {
  const s = denoServer(() => new Response("ok"));
  await using _ = s.server;
  const r = await loadHttp(`${s.url}/`, {
    keepAlive: false,
    connections: 2,
    requests: 100,
    kernelCounters: false,
  });
  assert.equal(r.requests, 100);
  assert.equal(s.served, 100);
  // One connection per request, whichever side opened it.
  assert.ok(r.connects >= 100, `${r.connects} connects`);
  // A server that closes after every third response: the channel
  // reconnects and nothing is lost or counted as an error.
  const closing = denoServer((n) =>
    new Response("ok", {
      headers: n % 3 === 2 ? { connection: "close" } : {},
    })
  );
  await using __ = closing.server;
  const c = await loadHttp(`${closing.url}/`, {
    connections: 2,
    requests: 90,
    kernelCounters: false,
  });
  assert.equal(c.requests, 90);
  assert.equal(closing.served, 90);
  assert.deepEqual(Object.values(c.errors).filter((n) => n > 0), []);
  await assert.rejects(
    () => loadHttp(`${s.url}/`, { keepAlive: false, pipeline: 2 }),
    { code: "bad_option" },
  );
});

Deno.test("load http: a slow endpoint shows in the open loop's p99 (latency from the schedule)", async () => {
  // Every 200th request takes 150 ms; one connection, one request in
  // flight: the requests due meanwhile wait in the schedule and carry it.
  const s = denoServer(async (n) => {
    if (n % 200 === 100) await new Promise((r) => setTimeout(r, 150));
    return new Response("ok");
  });
  await using _ = s.server;
  const r = await loadHttp(`${s.url}/`, {
    connections: 1,
    ratePerSecond: 400,
    durationMs: 2000,
    timeoutMs: 5000,
    kernelCounters: false,
  });
  assert.ok(r.requests >= 600, `requests ${r.requests}`);
  assert.ok(r.latencyMs.max >= 150, `max ${r.latencyMs.max}`);
  // Each stall holds up the ~60 requests due during it: far over 1 %.
  assert.ok(r.latencyMs.p99 >= 100, `p99 ${r.latencyMs.p99}`);
  assert.equal(r.timeline!.reduce((n, i) => n + i.requests, 0), r.requests);
});

Deno.test("load http: https with a CA file, and --insecure; a malformed response is a protocol error", async () => {
  const tls = await testTls();
  const s = denoServer(() => new Response("secret"), tls);
  await using _ = s.server;
  const r = await loadHttp(`${s.url}/`, {
    requests: 50,
    tls: { caCerts: [tls.cert] },
    kernelCounters: false,
  });
  assert.equal(r.requests, 50);
  const insecure = await loadHttp(`${s.url}/`, {
    requests: 20,
    tls: { insecure: true },
    kernelCounters: false,
  });
  assert.equal(insecure.requests, 20);
  const untrusted = await loadHttp(`${s.url}/`, {
    durationMs: 300,
    kernelCounters: false,
  });
  assert.equal(untrusted.requests, 0);
  assert.ok(untrusted.errors.tls > 0, JSON.stringify(untrusted.errors));
  // A server that answers with something that is not HTTP.
  await using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const answered: Promise<void>[] = [];
  const bogus = (async () => {
    for await (const conn of listener) {
      answered.push(
        conn.read(new Uint8Array(1024))
          .then(() => conn.write(new TextEncoder().encode("SSH-2.0-x\r\n")))
          .then(() => {}, () => {})
          .finally(() => conn.close()),
      );
    }
  })().catch(() => {});
  const broken = await loadHttp(
    `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`,
    { durationMs: 300, kernelCounters: false },
  );
  assert.equal(broken.requests, 0);
  assert.ok(broken.errors.protocol > 0, JSON.stringify(broken.errors));
  listener.close();
  await bogus;
  await Promise.all(answered);
});

Deno.test({
  name:
    "load http: against a Node http server, counts equal the server's and status classes are counted",
  ignore: missingPeer("node"),
}, async () => {
  const script = `
    const http = require("node:http");
    let n = 0;
    const server = http.createServer((req, res) => {
      if (req.url === "/count") { res.end(String(n)); return; }
      n++;
      const code = n % 10 === 0 ? 503 : 200;
      res.writeHead(code, { "content-type": "text/plain" });
      res.end(code === 200 ? "ok" : "busy");
    });
    server.listen(0, "127.0.0.1", () => console.log("port " + server.address().port));
    process.on("SIGTERM", () => server.close(() => process.exit(0)));
  `;
  const child = new Deno.Command("node", {
    args: ["-e", script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const lines = child.stdout.pipeThrough(new TextDecoderStream())
      .pipeThrough(new LineSplitter())[Symbol.asyncIterator]();
    const first = await withTimeout(lines.next(), WAIT_MS, "node to listen");
    const port = Number(/port (\d+)/.exec(first.value ?? "")?.[1]);
    const r = await loadHttp(`http://127.0.0.1:${port}/`, {
      connections: 5,
      requests: 1000,
      kernelCounters: false,
    });
    const count = await (await fetch(`http://127.0.0.1:${port}/count`)).text();
    assert.equal(r.requests, 1000);
    assert.equal(Number(count), 1000);
    assert.deepEqual(r.status, { "2xx": 900, "5xx": 100 });
    void lines.return?.();
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
});
