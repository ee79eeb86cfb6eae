// `netkit listen [tcp://|tls://]HOST:PORT`: nc -l on the one accept loop
// (serveTcp: --max-conns, --idle-timeout, --grace, the TLS handshake
// deadline). Each client's bytes go to stdout as they arrive; stdin is
// read only while a client is there, and each chunk goes to every client.

import { formatAddress } from "../address.ts";
import { LISTEN_HINT, type ListenSettings } from "./_listen_settings.ts";
import { serverSignals } from "./_exit.ts";
import { bindError, describeError, log, writeFully } from "./_output.ts";
import { streamForStdout, writeStdoutSync } from "./_peer_output.ts";

interface Client {
  conn: Deno.Conn;
  bytesOut: number;
}

/** Runs the TCP (or TLS) listener until its client leaves, or a signal. */
export async function listenTcp(settings: ListenSettings): Promise<number> {
  const { serveTcp } = await import("../tcp/mod.ts");
  const terminal = Deno.stdout.isTerminal();
  const clients = new Set<Client>();
  let arrived = Promise.withResolvers<void>();
  let stdinEnded = false;
  const server = (() => {
    try {
      return serveTcp(async (conn, context) => {
        const name = formatAddress(conn.remoteAddr as Deno.NetAddr);
        const client: Client = { conn, bytesOut: 0 };
        clients.add(client);
        log(`connected ${name}`);
        arrived.resolve();
        arrived = Promise.withResolvers();
        if (stdinEnded) await conn.closeWrite().catch(() => {});
        const show = streamForStdout(settings.raw, terminal);
        let bytesIn = 0;
        let how = "closed";
        try {
          const buf = new Uint8Array(64 * 1024);
          for (let n; (n = await conn.read(buf)) !== null;) {
            bytesIn += n;
            context.record(n, 0);
            writeStdoutSync(show(buf.subarray(0, n)));
          }
          writeStdoutSync(show(new Uint8Array(0), true));
        } catch (error) {
          how = `ended: ${describeError(error)}`;
        } finally {
          clients.delete(client);
          log(
            `${how} ${name}: ${bytesIn} B received, ${client.bytesOut} B sent`,
          );
          if (!settings.keep) void server.shutdown();
        }
      }, {
        hostname: settings.hostname,
        port: settings.port,
        tls: settings.tls,
        // nc -l takes one client; the others are turned away.
        maxConnections: settings.keep ? settings.maxConnections : 1,
        idleTimeoutMs: settings.idleTimeoutMs,
        gracePeriodMs: settings.gracePeriodMs,
      });
    } catch (error) {
      throw bindError(error, settings.hostname, settings.port, LISTEN_HINT);
    }
  })();
  using signals = serverSignals(() => void server.shutdown());
  log(`listening ${settings.kind} ${formatAddress(server.addr)}`);
  void (async () => {
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      // Read stdin only for someone: nothing typed is lost between clients.
      while (clients.size === 0) await arrived.promise;
      const n = await Deno.stdin.read(buf).catch(() => null);
      if (n === null) break;
      const chunk = buf.slice(0, n);
      await Promise.all([...clients].map(async (client) => {
        try {
          await writeFully(client.conn, chunk);
          client.bytesOut += chunk.length;
        } catch {
          // Gone: its handler reports it.
        }
      }));
    }
    stdinEnded = true;
    for (const client of clients) {
      await client.conn.closeWrite().catch(() => {});
    }
  })();
  const cut = await Promise.race([
    server.finished.then(() => false),
    signals.cut.then(() => true),
  ]);
  if (cut) log("stopping now: not waiting for the grace period");
  return 0;
}
