import assert from "node:assert/strict";
import {
  connectTo,
  PROJECT_ROOT,
  readAll,
  runCli,
  startCli,
} from "../_helpers.ts";

/** `promise`, or a failure naming what it waited for after `ms`. */
async function within<T>(
  ms: number,
  what: string,
  promise: Promise<T>,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) =>
    timer = setTimeout(
      () => reject(new Error(`waited ${ms} ms for ${what}`)),
      ms,
    )
  );
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("serve: echo, file receiver and WebSocket run together and stop together", async () => {
  const dir = await Deno.makeTempDir({ prefix: "netkit-serve-" });
  const src = await Deno.makeTempFile({ dir, suffix: ".txt" });
  await Deno.writeTextFile(src, "served file\n");
  const received = `${dir}/received`;
  const server = await startCli(["serve", "--any-port", "--dir", received], {
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
    assert.equal(new TextDecoder().decode(await readAll(conn)), "ping");
    conn.close();

    const ws = new WebSocket(`ws://127.0.0.1:${server.ports.ws}/ws`);
    const echoed = new Promise<string>((resolve) =>
      ws.onmessage = (e) => resolve(e.data)
    );
    const closed = new Promise((resolve) => ws.onclose = resolve);
    ws.onopen = () => ws.send("over ws");
    assert.equal(await echoed, "over ws");
    ws.close();
    await closed;

    // The try: lines name netkit as it was started and run as printed.
    const hint = await within(
      20_000,
      "the file try: line",
      server.waitForStderr(
        /try: .*file send \S+ PATH --token \S+/,
      ),
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
  }
});
