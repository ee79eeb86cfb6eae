import assert from "node:assert/strict";
import {
  acceptKey,
  type CaseResult,
  type CheckReport,
  checkServer,
  type DeflateParams,
  listCases,
  WsError,
  WsProtocol,
} from "../../../ws/mod.ts";
import { serveWebSocket } from "../../../ws/server.ts";
import { runCli, testTls } from "../../_helpers.ts";
import { hasPythonWebsockets, startPythonEcho } from "../_python.ts";
import { startRawEchoServer } from "./_check_servers.ts";
import { startBrokenServer } from "../_broken_servers.ts";

/** Everything but category 9 (limits), which has its own test. */
const CONFORMANCE = "0,1,2,3,4,5,6,7,8";

function ids(report: CheckReport, verdict: CaseResult["verdict"]): string[] {
  return report.results.filter((r) => r.verdict === verdict).map((r) => r.id);
}

function summary(report: CheckReport): string {
  return report.results.filter((r) => r.verdict !== "PASS")
    .map((r) => `${r.id} ${r.verdict}: ${r.observed}`).join("\n");
}

function result(report: CheckReport, id: string): CaseResult {
  const found = report.results.find((r) => r.id === id);
  assert.ok(found, `case ${id} did not run`);
  return found;
}

function startNetkit() {
  return serveWebSocket({
    port: 0,
    maxMessageSize: 32 * 1024 * 1024,
    maxBufferedAmount: 64 * 1024 * 1024,
  });
}

Deno.test("ws check: the catalogue has unique ids and the categories of issue #5", () => {
  const cases = listCases();
  assert.equal(new Set(cases.map((c) => c.id)).size, cases.length);
  const categories = new Set(cases.map((c) => c.id.split(".")[0]));
  assert.deepEqual([...categories], [
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "12",
  ]);
  for (const c of cases) assert.ok(c.title.length > 10, c.id);
});

Deno.test("ws check: a conformant raw server passes every case", async () => {
  await using server = startRawEchoServer();
  const report = await checkServer(server.url, { cases: CONFORMANCE });
  assert.deepEqual(ids(report, "FAIL"), [], summary(report));
  // Validating UTF-8 per frame, not per TCP chop, is Autobahn's NON-STRICT.
  assert.deepEqual(ids(report, "NON-STRICT"), ["6.4.4"], summary(report));
  assert.deepEqual(ids(report, "INFO"), ["0.9", "7.13.1", "7.13.2"]);
  assert.equal(
    report.passed + report.failed,
    report.results.length,
  );
  assert.equal(
    report.passed,
    report.pass + report.nonStrict + report.info,
  );
  assert.equal(report.results.length, listCases(CONFORMANCE).length);
  assert.equal(
    report.results.length,
    listCases().filter((c) => !/^(9|12)\./.test(c.id)).length,
  );
});

Deno.test("ws check: netkit's server fails nothing", async () => {
  await using server = startNetkit();
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  const seen: string[] = [];
  const report = await checkServer(url, {
    cases: CONFORMANCE,
    onCase: (r) => seen.push(r.id),
  });
  assert.deepEqual(seen, report.results.map((r) => r.id));
  // The cases Deno's runtime failed (unmasked frames, an over-long close
  // payload echoed, a fragment dropped) are the engine's own rules now.
  assert.deepEqual(ids(report, "FAIL"), [], summary(report));
  assert.match(result(report, "8.1").observed, /1002/);
  assert.match(result(report, "7.3.6").observed, /1002/);
  assert.match(result(report, "5.11").observed, /1002/);
  // UTF-8 is checked as bytes arrive, also inside one frame (6.4.4).
  assert.deepEqual(ids(report, "NON-STRICT"), [], summary(report));
  for (const id of ["0.2", "0.3", "0.5", "0.7"]) {
    assert.match(result(report, id).observed, /^4\d\d /);
  }
});

Deno.test("ws check: limits against netkit's server are timed INFO", async () => {
  await using server = startNetkit();
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  const report = await checkServer(url, { cases: "9.1.*,9.3.1" });
  assert.deepEqual(report.results.map((r) => [r.id, r.verdict]), [
    ["9.1.1", "INFO"],
    ["9.1.2", "INFO"],
    ["9.3.1", "INFO"],
  ], summary(report));
  assert.match(result(report, "9.1.2").observed, /^echoed in \d+ ms/);
  assert.match(result(report, "9.3.1").observed, /^1000 round trips in \d+ ms/);
});

Deno.test({
  name: "ws check: python3-websockets fails nothing but the version header",
  ignore: !hasPythonWebsockets(),
}, async () => {
  await using python = await startPythonEcho();
  const report = await checkServer(python.url, { cases: CONFORMANCE });
  // Documented in docs/ws-check.md: a version refusal without
  // Sec-WebSocket-Version (§4.4).
  assert.deepEqual(ids(report, "FAIL"), ["0.7"], summary(report));
  // Where python closes before echoing the earlier message (3.x, 4.x,
  // 5.12, 7.1.1, 8.2) it races its own handler: PASS or NON-STRICT.
  const racy = /^(3\.\d|4\.\d\.\d|5\.12|7\.1\.1|8\.2)$/;
  for (const id of ids(report, "NON-STRICT")) {
    assert.ok(racy.test(id) || id === "6.4.4", `${id}\n${summary(report)}`);
  }
  assert.match(result(report, "6.4.4").verdict, /^NON-STRICT$/);
  assert.match(result(report, "6.3.1").observed, /^close 1007/);
  assert.match(result(report, "2.5").observed, /^close 1002/);
});

Deno.test("ws check: a server that accepts unmasked frames fails category 8 only", async () => {
  await using server = startRawEchoServer({ acceptUnmasked: true });
  const report = await checkServer(server.url, {
    cases: "1.1.2,2.1,3.2,7.3.3,8",
  });
  assert.deepEqual(ids(report, "FAIL"), ["8.1", "8.2", "8.3"]);
  assert.deepEqual(ids(report, "PASS"), ["1.1.2", "2.1", "3.2", "7.3.3"]);
  assert.match(result(report, "8.3").observed, /^pong \(8 B\) instead of/);
});

Deno.test("ws check: a server that echoes any close payload fails the invalid-close cases", async () => {
  await using server = startRawEchoServer({ echoCloseVerbatim: true });
  const report = await checkServer(server.url, {
    cases: "7.3.2,7.3.3,7.3.6,7.5.1,7.7.1,7.7.13,7.9",
  });
  assert.deepEqual(ids(report, "FAIL"), [
    "7.3.2",
    "7.5.1",
    ...Array.from({ length: 9 }, (_, i) => `7.9.${i + 1}`),
  ]);
  assert.deepEqual(ids(report, "PASS"), ["7.3.3", "7.3.6", "7.7.1", "7.7.13"]);
  assert.equal(
    result(report, "7.9.2").observed,
    "close 999 (invalid close code 999)",
  );
});

Deno.test("ws check: a server that accepts invalid UTF-8 fails 6.3 and 6.4", async () => {
  await using server = startRawEchoServer({ acceptInvalidUtf8: true });
  const report = await checkServer(server.url, {
    cases: "6.1.*,6.2.*,6.3.*,6.4.1",
    timeoutMs: 1000,
  });
  const failed = ids(report, "FAIL");
  assert.deepEqual(failed, [
    ...Array.from({ length: 10 }, (_, i) => `6.3.${i + 1}`),
    "6.4.1",
  ]);
  assert.equal(ids(report, "PASS").length, 6);
  assert.match(result(report, "6.3.3").observed, /invalid UTF-8/);
});

Deno.test("ws check: a server that never answers fails by timeout, and the check ends", async () => {
  await using server = startRawEchoServer({ silent: true });
  const report = await checkServer(server.url, {
    cases: "0,1.1.2,2.5,5.6,6.4.1,7.3.3",
    timeoutMs: 400,
  });
  // The handshake cases do not need frames: they still run and pass.
  assert.deepEqual(ids(report, "PASS"), [
    "0.2",
    "0.3",
    "0.4",
    "0.5",
    "0.6",
    "0.7",
    "0.8",
  ]);
  assert.deepEqual(ids(report, "FAIL"), [
    "0.1",
    "1.1.2",
    "2.5",
    "5.6",
    "6.4.1",
    "7.3.3",
  ]);
  for (const r of report.results.filter((r) => r.verdict === "FAIL")) {
    assert.match(r.observed, /(timeout|still open) after \d+ ms/, r.id);
  }
});

Deno.test("ws check: a masked frame from the server is a failure", async () => {
  await using server = startBrokenServer("masked_frames");
  const report = await checkServer(server.url, { cases: "1.1.2" });
  assert.equal(report.failed, 1);
  assert.match(result(report, "1.1.2").observed, /masked frame from a server/);
});

Deno.test("ws check: bad arguments are typed errors", async () => {
  await assert.rejects(
    checkServer("ftp://127.0.0.1:1/"),
    (e) => e instanceof WsError && e.code === "bad_url",
  );
  await assert.rejects(
    checkServer("ws://127.0.0.1:1/", { cases: "42.*" }),
    RangeError,
  );
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    checkServer(`ws://127.0.0.1:${port}/`),
    (e) => e instanceof WsError && e.code === "connect_failed",
  );
});

Deno.test("ws check: runs over wss:// with extra CA certificates", async () => {
  const { cert, key } = await testTls();
  {
    await using server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
      (request) => {
        const { socket, response } = Deno.upgradeWebSocket(request);
        socket.onmessage = (event) => socket.send(event.data);
        return response;
      },
    );
    const report = await checkServer(`wss://127.0.0.1:${server.addr.port}/`, {
      cases: "0.1,1.1.8,1.3.8,2.5",
      caCerts: [cert],
    });
    assert.deepEqual(ids(report, "PASS"), ["0.1", "1.1.8", "1.3.8", "2.5"]);
  }
});

/** The table's last line, as numbers. */
function finalLine(stdout: string): { passed: number; failed: number } {
  const last = stdout.trimEnd().split("\n").at(-1) ?? "";
  const match = /^(\d+) passed, (\d+) failed$/.exec(last);
  assert.ok(match, `last line: ${JSON.stringify(last)}`);
  return { passed: Number(match[1]), failed: Number(match[2]) };
}

Deno.test("ws check CLI: the table's counts match the JSON report", async () => {
  // The bare runtime echo, which still accepts unmasked frames.
  await using server = Deno.serve({ port: 0, onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  });
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  // One of each verdict: PASS, FAIL (Deno accepts unmasked frames),
  // NON-STRICT (UTF-8 checked per frame) and INFO (timing).
  const cases = "0.1,1.1.2,8.1,6.4.4,9.3.1";
  const table = await runCli(["ws", "check", url, "--case", cases]);
  const json = await runCli(["ws", "check", url, "--case", cases, "--json"]);
  assert.equal(table.code, 1, table.stdout + table.stderr);
  assert.equal(json.code, 1, json.stderr);
  const report = JSON.parse(json.stdout) as CheckReport;
  assert.deepEqual(
    [report.pass, report.nonStrict, report.info, report.failed],
    [2, 1, 1, 1],
  );
  assert.deepEqual(finalLine(table.stdout), {
    passed: report.passed,
    failed: report.failed,
  });
  // One row per case, starting with its id, verdict on the same line.
  for (const r of report.results) {
    const row = table.stdout.split("\n").find((l) => l.startsWith(r.id + " "));
    assert.ok(row?.trimEnd().endsWith(r.verdict), `${r.id}: ${row}`);
  }
  for (const line of table.stdout.split("\n")) {
    assert.ok(line.length <= 120, line);
  }
});

Deno.test("ws check CLI: exit 0 when nothing fails; usage errors exit 2", async () => {
  await using server = startNetkit();
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  const ok = await runCli(["ws", "check", url, "--case", "1.1.2,2.*"]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.deepEqual(finalLine(ok.stdout), { passed: 7, failed: 0 });
  const list = await runCli(["ws", "check", "--list"]);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /^8\.1 +An unmasked text frame/m);
  for (
    const args of [
      ["ws", "check"],
      ["ws", "check", "ftp://127.0.0.1/"],
      ["ws", "check", url, "--case", "42"],
      ["ws", "check", url, "--timeout", "soon"],
    ]
  ) {
    const bad = await runCli(args);
    assert.equal(bad.code, 2, `${args.join(" ")}: ${bad.stderr}`);
    assert.equal(bad.stdout, "");
  }
});

Deno.test("ws check 12 (permessage-deflate): PASS against netkit's server with deflate, INFO (not FAIL) without; text and --json counts agree", async () => {
  await using server = serveWebSocket({
    port: 0,
    deflate: true,
    maxMessageSize: 32 * 1024 * 1024,
  });
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  const report = await checkServer(url, { cases: "12" });
  const all = listCases("12").map((c) => c.id);
  assert.ok(all.length >= 8);
  assert.deepEqual(ids(report, "PASS"), all, summary(report));
  assert.match(result(report, "12.8").observed, /^close 1009/);
  assert.match(result(report, "12.2").observed, /compressed\)/);
  await using plain = startNetkit();
  const plainUrl = `ws://127.0.0.1:${plain.addr.port}/ws`;
  const declined = await checkServer(plainUrl, { cases: "12" });
  assert.deepEqual(ids(declined, "INFO"), all, summary(declined));
  assert.match(result(declined, "12.1").observed, /not accepted/);
  const table = await runCli(["ws", "check", plainUrl, "--case", "12"]);
  const json = await runCli([
    "ws",
    "check",
    plainUrl,
    "--case",
    "12",
    "--json",
  ]);
  assert.equal(table.code, 0, table.stdout + table.stderr);
  assert.equal(json.code, 0, json.stderr);
  const fromJson = JSON.parse(json.stdout) as CheckReport;
  assert.equal(fromJson.info, all.length);
  assert.deepEqual(finalLine(table.stdout), {
    passed: all.length,
    failed: 0,
  });
});

Deno.test({
  name:
    "ws check 12 (permessage-deflate): python3-websockets with compression passes",
  ignore: !hasPythonWebsockets(),
  async fn() {
    await using python = await startPythonEcho({ compression: true });
    const report = await checkServer(python.url, { cases: "12" });
    assert.deepEqual(ids(report, "FAIL"), [], summary(report));
    assert.deepEqual(ids(report, "INFO"), [], summary(report));
    assert.match(
      result(report, "12.1").observed,
      /^accepted 'permessage-deflate/,
    );
  },
});

/**
 * A server that answers every handshake with `answer` as its
 * Sec-WebSocket-Extensions and then echoes with netkit's core using
 * `params`, which may contradict the answer.
 */
function startLyingDeflateServer(answer: string, params: DeflateParams) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const serve = async (conn: Deno.Conn) => {
    const buf = new Uint8Array(256 * 1024);
    let head = "";
    let rest = new Uint8Array(0);
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) return;
      head += new TextDecoder().decode(buf.subarray(0, n));
      const end = head.indexOf("\r\n\r\n");
      if (end >= 0) {
        rest = new TextEncoder().encode(head.slice(end + 4));
        head = head.slice(0, end + 4);
      }
    }
    const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)![1]!;
    await conn.write(new TextEncoder().encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
        `Connection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
        `Sec-WebSocket-Extensions: ${answer}\r\n\r\n`,
    ));
    using protocol = new WsProtocol({ role: "server", deflate: params });
    let bytes: Uint8Array | null = rest;
    while (bytes !== null) {
      for (const event of protocol.receive(bytes)) {
        if (!("type" in event)) continue;
        if (event.type === "text") protocol.sendText(event.data);
        if (event.type === "binary") protocol.sendBinary(event.data);
      }
      for (const chunk of protocol.takeOutput() ?? []) {
        let off = 0;
        while (off < chunk.length) off += await conn.write(chunk.subarray(off));
      }
      if (protocol.state === "closed") return;
      const n = await conn.read(buf);
      bytes = n === null ? null : buf.subarray(0, n);
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      serve(conn).catch(() => {}).finally(() => {
        conns.delete(conn);
        try {
          conn.close();
        } catch {
          // Closed already.
        }
      });
    }
  })().catch(() => {});
  return {
    url: `ws://127.0.0.1:${listener.addr.port}/ws`,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) c.close();
      await accepting;
    },
  };
}

const TAKEOVER: DeflateParams = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

Deno.test("ws check 12 (permessage-deflate): a server that grants server_no_context_takeover but keeps its context fails 12.5/12.6; an answer RFC 7692 forbids fails", async () => {
  {
    await using liar = startLyingDeflateServer(
      "permessage-deflate; server_no_context_takeover",
      TAKEOVER,
    );
    // It says so to every offer, so its repeated replies fail to inflate
    // with the reset window the answer announced, in 12.5 and 12.6 alike.
    const report = await checkServer(liar.url, { cases: "12.5,12.6" });
    assert.deepEqual(ids(report, "FAIL"), ["12.5", "12.6"], summary(report));
    assert.match(result(report, "12.6").observed, /invalid compressed data/);
  }
  {
    await using widens = startLyingDeflateServer(
      "permessage-deflate; client_max_window_bits=15",
      TAKEOVER,
    );
    // 12.7 offered client_max_window_bits=9: 15 widens it.
    const report = await checkServer(widens.url, { cases: "12.1,12.7" });
    assert.deepEqual(ids(report, "PASS"), ["12.1"], summary(report));
    assert.deepEqual(ids(report, "FAIL"), ["12.7"], summary(report));
    assert.match(result(report, "12.7").observed, /above the offered 9/);
  }
});
