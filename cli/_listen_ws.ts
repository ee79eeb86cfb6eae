// `netkit listen ws://HOST:PORT` (wss:// with --tls-cert): wscat -l on
// netkit's WebSocket server (its head limits and deadlines, the one
// accept, 503 beyond --max-conns). Upgrades are taken on any path; each
// client's messages go to stdout, each stdin line goes to every client as
// a message, and the end of stdin closes the client with 1000 (--keep:
// the clients stay).

import { formatAddress } from "../address.ts";
import { escapeControl } from "../escape.ts";
import { LISTEN_HINT, type ListenSettings } from "./_listen_settings.ts";
import { stdinLines } from "./_lines.ts";
import { serverSignals } from "./_exit.ts";
import { bindError, log } from "./_output.ts";
import { messageBytes, writeStdoutSync } from "./_peer_output.ts";
import type { WsClient } from "../ws/mod.ts";

/** Runs the WebSocket listener until its client leaves, or a signal. */
export async function listenWs(settings: ListenSettings): Promise<number> {
  const { describeCloseCode, serveWebSocket, upgradedWebSocket } = await import(
    "../ws/mod.ts"
  );
  const clients = new Set<WsClient>();
  let arrived = Promise.withResolvers<void>();
  let stdinEnded = false;
  const format = {
    json: false,
    binary: settings.binaryOut,
    raw: settings.raw,
    marks: false,
    terminal: Deno.stdout.isTerminal(),
  };
  const server = (() => {
    try {
      return serveWebSocket({
        hostname: settings.hostname,
        port: settings.port,
        path: "*",
        page: false,
        tls: settings.tls,
        allowedOrigins: settings.allowedOrigins,
        maxConnections: settings.keep ? settings.maxConnections : 1,
        gracePeriodMs: settings.gracePeriodMs,
        async onUpgrade(conn, { leftover }) {
          const name = formatAddress(conn.remoteAddr as Deno.NetAddr);
          const ws = upgradedWebSocket(conn, { leftover });
          clients.add(ws);
          log(`connected ${name}`);
          arrived.resolve();
          arrived = Promise.withResolvers();
          if (stdinEnded && !settings.keep) void ws.close();
          try {
            for await (const message of ws) {
              const bytes = messageBytes(message, format);
              if (bytes) writeStdoutSync(bytes);
            }
          } catch (error) {
            log(`${name}: ${error instanceof Error ? error.message : error}`);
          }
          const info = await ws.closed;
          clients.delete(ws);
          const reason = info.reason ? `: ${escapeControl(info.reason)}` : "";
          log(`closed ${name}: ${describeCloseCode(info.code)}${reason}`);
          if (!settings.keep) void server.shutdown();
        },
      });
    } catch (error) {
      throw bindError(error, settings.hostname, settings.port, LISTEN_HINT);
    }
  })();
  using signals = serverSignals(() => {
    for (const ws of clients) void ws.close(1001, "going away");
    void server.shutdown();
  });
  log(`listening ${settings.kind} ${formatAddress(server.addr)}`);
  void (async () => {
    const lines = stdinLines();
    for (let line; (line = await lines.peek()) !== null;) {
      while (clients.size === 0) await arrived.promise;
      const message = settings.binaryIn ? line : new TextDecoder().decode(line);
      for (const ws of clients) {
        try {
          ws.send(message);
        } catch {
          // Closing: its handler reports it.
        }
      }
      lines.take();
    }
    stdinEnded = true;
    if (!settings.keep) { for (const ws of clients) void ws.close(); }
  })();
  const cut = await Promise.race([
    server.finished.then(() => false),
    signals.cut.then(() => true),
  ]);
  if (cut) log("stopping now: not waiting for the grace period");
  return 0;
}
