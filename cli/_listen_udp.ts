// `netkit listen udp://HOST:PORT` (or `-u PORT`): nc -lu. Datagrams go to
// stdout as they arrive; each stdin line (with its newline) goes back as
// one datagram to the first sender (--keep: to whoever sent last). UDP
// has no end: it runs until Ctrl-C.

import { formatAddress } from "../address.ts";
import { LISTEN_HINT, type ListenSettings } from "./_listen_settings.ts";
import { stdinLines } from "./_lines.ts";
import { serverSignals } from "./_exit.ts";
import { bindError, log } from "./_output.ts";
import { streamForStdout, writeStdoutSync } from "./_peer_output.ts";

/** Senders named in "ignored" lines at most, so a flood cannot fill stderr. */
const IGNORED_LOGGED = 20;

/** Runs the UDP listener until SIGINT/SIGTERM. */
export async function listenUdp(settings: ListenSettings): Promise<number> {
  const { bindUdp } = await import("../udp/mod.ts");
  let socket: Deno.DatagramConn;
  try {
    socket = bindUdp(settings.hostname, settings.port);
  } catch (error) {
    throw bindError(error, settings.hostname, settings.port, LISTEN_HINT);
  }
  using _ = serverSignals(() => socket.close());
  log(`listening udp ${formatAddress(socket.addr as Deno.NetAddr)}`);
  const terminal = Deno.stdout.isTerminal();
  let peer: Deno.NetAddr | undefined;
  let known = Promise.withResolvers<void>();
  const ignored = new Set<string>();
  void (async () => {
    const lines = stdinLines();
    for (let line; (line = await lines.peek()) !== null;) {
      while (peer === undefined) await known.promise;
      const datagram = new Uint8Array(line.length + 1);
      datagram.set(line);
      datagram[line.length] = 0x0a;
      await socket.send(datagram, peer).catch((error) =>
        log(`cannot send to ${formatAddress(peer!)}: ${error.message}`)
      );
      lines.take();
    }
  })();
  for (;;) {
    let datagram: [Uint8Array, Deno.Addr];
    try {
      datagram = await socket.receive();
    } catch {
      return 0; // Closed by the signal.
    }
    const [data, from] = datagram as [Uint8Array, Deno.NetAddr];
    const name = formatAddress(from);
    const same = peer && formatAddress(peer) === name;
    if (peer && !same && !settings.keep) {
      if (ignored.size < IGNORED_LOGGED && !ignored.has(name)) {
        ignored.add(name);
        log(
          `ignored a datagram from ${name}: not the first sender (--keep takes every sender)`,
        );
      }
      continue;
    }
    if (!same) {
      log(`datagrams from ${name}`);
      peer = from;
      known.resolve();
      known = Promise.withResolvers();
    }
    // Each datagram is whole: decoded and escaped on its own.
    writeStdoutSync(streamForStdout(settings.raw, terminal)(data, true));
  }
}
