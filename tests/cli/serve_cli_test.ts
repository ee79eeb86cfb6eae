import assert from "node:assert/strict";
import { udpRequest } from "../../udp/mod.ts";
import {
  connectTo,
  PROJECT_ROOT,
  readAllWithin,
  runCli,
  seededBytes,
  startCli,
  WAIT_MS,
  withTimeout,
} from "../_helpers.ts";

Deno.test("serve: echo, file receiver and WebSocket run together and stop together", async () => {
  const dir = await Deno.makeTempDir({ prefix: "netkit-serve-" });
  const src = await Deno.makeTempFile({ dir, suffix: ".txt" });
  await Deno.writeTextFile(src, "served file\n");
  const received = `${dir}/received`;
  await using server = await startCli([
    "serve",
    "--any-port",
    "--dir",
    received,
  ], {
    expect: 4,
  });
  try {
    assert.deepEqual(
      server.listening.map((l) => l.split(" ")[1]),
      ["tcp", "udp", "tcp", "ws"],
    );
    const [echoLine, , fileLine] = server.listening;
    const echoPort = Number(echoLine!.split(":").at(-1));
    const filePort = Number(fileLine!.split(":").at(-1));

    const conn = await connectTo({
      transport: "tcp",
      hostname: "127.0.0.1",
      port: echoPort,
    });
    await conn.write(new TextEncoder().encode("ping"));
    await conn.closeWrite();
    assert.equal(new TextDecoder().decode(await readAllWithin(conn)), "ping");
    conn.close();

    // The UDP echo shares the TCP echo's port and answers datagrams.
    assert.equal(server.ports.udp, echoPort);
    const datagram = seededBytes(1200, 9);
    assert.deepEqual(
      await udpRequest(`127.0.0.1:${server.ports.udp}`, datagram, {
        timeoutMs: 2000,
        retries: 2,
      }),
      datagram,
    );

    const ws = new WebSocket(`ws://127.0.0.1:${server.ports.ws}/ws`);
    const echoed = new Promise<string>((resolve) =>
      ws.onmessage = (e) => resolve(e.data)
    );
    const closed = new Promise((resolve) => ws.onclose = resolve);
    ws.onopen = () => ws.send("over ws");
    assert.equal(
      await withTimeout(echoed, WAIT_MS, "the WebSocket echo"),
      "over ws",
    );
    ws.close();
    await withTimeout(closed, WAIT_MS, "the WebSocket to close");

    // The try: lines name netkit as it was started and run as printed.
    const hint = await withTimeout(
      server.waitForStderr(/try: .*file send \S+ PATH --token \S+/),
      20_000,
      "the file try: line",
    );
    const echoHint = /^try: (.*echo connect.*)$/m.exec(server.stderr())![1]!;
    const tried = await new Deno.Command("sh", {
      args: ["-c", echoHint],
      cwd: PROJECT_ROOT,
      stdin: "null",
    }).output();
    assert.equal(new TextDecoder().decode(tried.stdout), "hello\n");
    assert.ok(hint.includes(`127.0.0.1:${filePort}`), hint);
    const token = hint.split(" ").at(-1)!;
    const sent = await runCli([
      "file",
      "send",
      `127.0.0.1:${filePort}`,
      src,
      "--token",
      token,
    ]);
    assert.equal(sent.code, 0, sent.stderr);
    const name = src.split("/").at(-1)!;
    assert.equal(
      await Deno.readTextFile(`${received}/${name}`),
      "served file\n",
    );
  } finally {
    const r = await server.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true });
    assert.equal(r.code, 0);
    for (const name of ["echo/tcp", "echo/udp", "file/tcp", "echo/ws"]) {
      assert.match(
        r.stderr,
        new RegExp(`^${name}: served \\d+, refused 0`, "m"),
      );
    }
    // One datagram in, one out: the summary counts the UDP side's traffic.
    assert.match(
      r.stderr,
      /^echo\/udp: served 1, refused 0, 1200 bytes in, 1200 bytes out/m,
    );
  }
});
