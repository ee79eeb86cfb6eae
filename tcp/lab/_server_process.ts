// emfile: netkit's echo server under a low open-file limit, and reset's
// server that dies with unread data.

import { startRecorder } from "./_recorder.ts";
import { connect, find, listen, readToEnd } from "./_sockets.ts";
import { spawnNetkit } from "./_child.ts";
import { closeQuietly, delay, errorMessage, writeAll } from "../../_io.ts";
import { readTcpSockets } from "../proc/mod.ts";
import { TcpError } from "../errors.ts";
import type { LabOptions, LabReport } from "./types.ts";

const PING = new TextEncoder().encode("ping\n");
/** How long recovery may take: the accept loop backs off up to 1 s between tries. */
const RECOVERY_MS = 15_000;

/** netkit's echo server under `prlimit --nofile`. */
export async function emfileScenario(options: LabOptions): Promise<LabReport> {
  const nofile = options.nofile ?? 40;
  const clients = options.clients ?? nofile;
  const rec = await startRecorder("emfile", options);
  rec.fact("nofile", nofile);
  rec.fact("clients", clients);
  const child = spawnNetkit(
    ["echo", "serve", "--tcp", "--port", "0"],
    options,
    ["prlimit", `--nofile=${nofile}:${nofile}`, "--"],
  );
  const conns: Deno.TcpConn[] = [];
  try {
    const port = await child.listening;
    rec.watch(port);
    rec.fact("serverPid", child.process.pid);
    await rec.step(
      `netkit echo serve runs as pid ${child.process.pid} under prlimit --nofile=${nofile}:${nofile}`,
    );
    for (let i = 0; i < clients; i++) {
      const c = await connect(port);
      rec.name(c.localAddr.port, `client ${i + 1}`);
      conns.push(c);
      await writeAll(c, PING);
    }
    const accepted = (s: Awaited<ReturnType<typeof rec.sockets>>) =>
      s.filter((x) =>
        x.local.port === port && x.state !== "LISTEN" && x.inode !== 0
      );
    const stuck = await rec.waitFor(
      (s) =>
        /backing off/.test(child.stderr()) &&
        (s.find((x) => x.state === "LISTEN")?.acceptQueue ?? 0) > 0 &&
        accepted(s).length +
              (s.find((x) => x.state === "LISTEN")?.acceptQueue ?? 0) ===
          clients,
      "accept() failing with EMFILE while clients wait in the accept queue",
      10_000,
    );
    const queued = stuck.find((x) => x.state === "LISTEN")!.acceptQueue!;
    const servedAtOnce = accepted(stuck).length;
    rec.fact("servedAtOnce", servedAtOnce);
    rec.fact("queuedAtEmfile", queued);
    rec.outcome("served at once", servedAtOnce);
    rec.outcome("connected, then waited in the accept queue", queued);
    await rec.step(
      `${clients} clients connected (the kernel completed every handshake) but the server holds ${servedAtOnce} and accept() fails with EMFILE: ${queued} wait unserved in the accept queue; the server logged: ${
        child.stderr().trim().split("\n").find((l) => /backing off/.test(l))
      }`,
    );
    // Recovery: every served client that got its echo hangs up, freeing a
    // descriptor in the server, whose next accept() after its back-off succeeds.
    const deadline = performance.now() + RECOVERY_MS;
    const done = new Set<Deno.TcpConn>();
    while (done.size < conns.length) {
      if (performance.now() > deadline) {
        throw new TcpError(
          "timeout",
          `lab emfile: ${
            conns.length - done.size
          } clients still unserved after ${RECOVERY_MS} ms`,
        );
      }
      const s = await rec.sockets();
      for (const c of conns) {
        if (done.has(c)) continue;
        const server = find(s, port, c.localAddr.port);
        if (!server || server.inode === 0) continue;
        const n = await c.read(new Uint8Array(16));
        if (n === null) throw new TcpError("lab_failed", "echo server hung up");
        c.close();
        done.add(c);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await rec.step(
      "the served clients hang up; each closed connection frees a descriptor, the accept loop's next try (5 ms doubling to 1 s) succeeds, and every queued client is echoed in turn",
    );
    const late = await connect(port);
    conns.push(late);
    rec.name(late.localAddr.port, "new client");
    await writeAll(late, PING);
    const n = await late.read(new Uint8Array(16));
    rec.outcome(
      n === PING.length ? "served after recovery" : "not served after recovery",
    );
    late.close();
    await rec.step(`a new client after recovery: echoed ${n ?? 0} bytes`);
  } finally {
    for (const c of conns) closeQuietly(c);
    try {
      child.process.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await child.status;
  }
  const backoffs = /(\d+) accept back-offs/.exec(child.stderr());
  rec.fact("acceptBackoffs", backoffs ? Number(backoffs[1]) : 0);
  rec.fact(
    "backoffLogged",
    /accept failed: .*(too many open files|EMFILE|os error 24)/i.test(
      child.stderr(),
    ),
  );
  return await rec.finish({
    why:
      "Every connection costs the server one file descriptor, and accept() needs a free one. At the open-file limit (RLIMIT_NOFILE) accept() fails with EMFILE, but the kernel still completes handshakes into the accept queue: clients connect fine and then wait, unserved, until a descriptor frees up. A server that treats EMFILE as fatal stops serving for good (Deno's own `for await` over a listener ends); netkit's accept loop backs off 5 ms doubling to 1 s and retries, so it recovers as soon as connections close.",
    change:
      "Raise the limit (LimitNOFILE= in systemd, ulimit -n; Deno raises soft to hard at start, so raise the hard limit), cap concurrent connections below it (netkit --max-connections), close idle ones (--idle-timeout) and look for leaks (CLOSE_WAIT, 'netkit tcp limits --pid PID'). Keep an accept loop that survives EMFILE.",
  });
}

/** Closing with unread data sends RST: by a dying process, and by Deno's close(). */
export async function resetScenario(options: LabOptions): Promise<LabReport> {
  const rec = await startRecorder("reset", options);
  // 1. A process that exits with unread data: the kernel sends only RST.
  const child = spawnNetkit(["tcp", "lab", "reset", "--exit-server"], options);
  const conns: Deno.Conn[] = [];
  try {
    const port = await child.listening;
    rec.watch(port);
    const client = await connect(port);
    conns.push(client);
    rec.name(client.localAddr.port, "client A");
    await writeAll(
      client,
      new TextEncoder().encode("GET / HTTP/1.1\r\nHost: lab\r\n\r\n"),
    );
    await rec.waitFor(
      (s) => (find(s, port, client.localAddr.port)?.rxQueue ?? 0) > 0,
      "client A's request unread in the server's receive queue",
    );
    await rec.step(
      `client A sent a request to a server process (pid ${child.process.pid}) that never reads it (Recv-Q > 0)`,
    );
    child.process.kill("SIGTERM");
    const status = await child.status;
    const ending = await readToEnd(client);
    rec.outcome(
      ending.ending === "reset"
        ? "connection reset by peer"
        : ending.ending === "eof"
        ? "clean EOF"
        : `error: ${errorMessage(ending.error)}`,
    );
    await rec.step(
      `the server process exits (SIGTERM, code ${status.code}) with the request unread: the kernel closed its socket with a bare RST; client A's read: ${
        ending.ending === "reset" ? errorMessage(ending.error) : ending.ending
      }`,
    );
  } finally {
    for (const c of conns.splice(0)) closeQuietly(c);
    try {
      child.process.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await child.status;
  }
  // 2 and 3: the same in-process with Deno's close(), with and without unread data.
  using listener = listen();
  const port = listener.addr.port;
  rec.watch(port);
  for (const unread of [true, false]) {
    const client = await connect(port);
    const server = await listener.accept();
    const cport = client.localAddr.port;
    rec.name(cport, unread ? "client B" : "client C");
    try {
      await writeAll(
        client,
        new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"),
      );
      await rec.waitFor(
        (s) => (find(s, port, cport)?.rxQueue ?? 0) > 0,
        "the request in the server's receive queue",
      );
      if (!unread) await server.read(new Uint8Array(1024));
      server.close();
      const read = await readToEnd(client);
      const write = await client.write(new Uint8Array(1)).then(
        () => "ok",
        (e) => errorMessage(e),
      );
      const label = unread
        ? "Deno close() with unread data"
        : "Deno close() after reading everything";
      rec.outcome(
        `${label}: read ${read.ending}, then write ${
          write === "ok" ? "ok" : "failed"
        }`,
      );
      await rec.step(
        unread
          ? `client B's request left unread, the server calls Deno's close(): Deno shuts down writing first (FIN), then closes (RST): client B reads EOF, then its write fails: ${write}`
          : `client C's request read, then close(): FIN only; client C reads a clean EOF and (half-closed) may still write: ${write}`,
      );
    } finally {
      closeQuietly(client);
      closeQuietly(server);
    }
  }
  return await rec.finish({
    why:
      "close() on a socket whose receive queue still holds unread bytes cannot deliver them to anyone, so Linux aborts the connection: it sends RST instead of FIN (RFC 2525; counted in TcpExtTCPAbortOnClose). The peer's next read or write fails with ECONNRESET, 'connection reset by peer', and any reply it had not read may be lost with it. A process that exits or crashes with connections open does exactly this. Deno's conn.close() calls shutdown(SHUT_WR) before close(), so the peer first sees EOF, then the RST turns its next write into EPIPE ('broken pipe').",
    change:
      "Servers: read the whole request (or drain to EOF) before closing, or shutdown(SHUT_WR) first and read until the peer closes. Clients: a reset right after sending usually means the server closed early (an error path, a size limit, a timeout, a crash): check the server's log and TcpExtTCPAbortOnClose on its host.",
  });
}

/**
 * The server half of `reset`, run as its own process: accept one
 * connection, wait until the peer's data is queued, and return without
 * reading or closing it, so the socket dies with the process (which the
 * lab ends with SIGTERM once it has recorded the unread request).
 */
export async function exitServer(
  onListening: (port: number) => void,
): Promise<Deno.Conn> {
  using listener = listen();
  const port = listener.addr.port;
  onListening(port);
  const conn = await listener.accept();
  const peer = (conn.remoteAddr as Deno.NetAddr).port;
  const deadline = performance.now() + 5000;
  while (performance.now() < deadline) {
    const rows = await readTcpSockets({ port });
    if ((find(rows, port, peer)?.rxQueue ?? 0) > 0) break;
    await delay(10);
  }
  return conn;
}
