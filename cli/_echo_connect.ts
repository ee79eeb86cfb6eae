// `netkit echo connect HOST:PORT`: like nc, over TCP or UDP.

import { formatAddress, type HostPort } from "../address.ts";
import { addressArg, parseCommand } from "./_args.ts";
import type { CliContext } from "./_command.ts";
import { DEFAULT_TIMEOUTS } from "./_defaults.ts";
import { runInterruptible } from "./_exit.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import { log, out, writeFully, writeStdout } from "./_output.ts";
import { formatDuration, unitReader } from "./_units.ts";

/** `netkit echo connect --help`. */
export const CONNECT_HELP: HelpScreen = {
  usage: ["echo connect HOST:PORT [--udp] [--timeout TIME]"],
  about: "Like nc: stdin goes to the server, replies go to stdout. With a " +
    "pipe it half-closes after stdin ends and exits once everything came " +
    "back.\n\n" +
    "With --udp each stdin line is one datagram; after each, it waits " +
    "--timeout for the reply, and a server that never answers is named " +
    "(on loopback netkit asks the kernel whether anything listens).",
  options: [
    ["--udp", "send datagrams instead of a TCP stream"],
    [
      "--timeout TIME",
      `with --udp: wait this long for each reply (default ${
        formatDuration(DEFAULT_TIMEOUTS.echoUdpReplyMs)
      })`,
    ],
  ],
  examples: [
    "echo connect 127.0.0.1:7007",
    "echo connect 127.0.0.1:7007 --udp --timeout 500ms < lines.txt",
  ],
};

/** Runs `netkit echo connect`. */
export async function runConnect(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const cmd = "echo connect";
  const { values, positionals } = parseCommand(cmd, argv, {
    udp: { type: "boolean" },
    timeout: { type: "string" },
  }, { min: 1, max: 1, names: "HOST:PORT" });
  if (values.help) {
    out(renderHelp(CONNECT_HELP));
    return 0;
  }
  const addr = addressArg(cmd, positionals[0]!, { connect: true });
  const timeoutMs = unitReader(cmd).duration("timeout", values.timeout, {
    minMs: 1,
  }) ?? DEFAULT_TIMEOUTS.echoUdpReplyMs;
  // Nothing to summarise: Ctrl-C ends the session at once (130).
  return await runInterruptible(
    () => values.udp ? connectUdp(addr, timeoutMs) : connectTcpStdio(addr),
    { exitAtOnce: true },
  );
}

async function connectTcpStdio(addr: HostPort): Promise<number> {
  const { connectTcp } = await import("../tcp/mod.ts");
  const conn = await connectTcp(addr);
  try {
    // stdin → server runs on its own; the command ends when the server
    // closes its side, which an echo server does after our half-close.
    const input = { ended: false };
    void pumpStdin(conn, input);
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      await writeStdout(buf.subarray(0, n));
    }
    if (!input.ended) {
      log(
        `netkit: ${
          formatAddress(addr)
        } closed the connection before stdin ended`,
      );
    }
    return 0;
  } finally {
    conn.close();
  }
}

async function pumpStdin(
  conn: Deno.Conn,
  input: { ended: boolean },
): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      await writeFully(conn, buf.subarray(0, n));
    }
    input.ended = true;
    await conn.closeWrite();
  } catch {
    // The server went away first; the read side reports the end.
  }
}

async function connectUdp(addr: HostPort, timeoutMs: number): Promise<number> {
  const { connectUdp: connectUdpClient, explainNoReply } = await import(
    "../udp/mod.ts"
  );
  await using client = connectUdpClient(addr);
  const enc = new TextEncoder();
  const send = async (line: string) => {
    const reply = await client.request(enc.encode(line), { timeoutMs });
    if (reply === null) {
      throw await explainNoReply(
        addr,
        `no reply from ${formatAddress(addr)} within ${
          formatDuration(timeoutMs)
        }`,
      );
    }
    await writeStdout(reply);
  };
  let pending = "";
  for await (
    const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())
  ) {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf("\n")) !== -1) {
      await send(pending.slice(0, nl + 1));
      pending = pending.slice(nl + 1);
    }
  }
  if (pending) await send(pending);
  return 0;
}
