// `netkit ws verify URL`: checks a WebSocket server against RFC 6455 and
// prints one ✓/✗ line per check.

import { headerFlags, wsUrlArg } from "./_ws_args.ts";
import type { CliContext } from "./_command.ts";
import { parseCommand } from "./_args.ts";
import { DEFAULT_TIMEOUTS } from "./_defaults.ts";
import { EXIT } from "./_exit.ts";
import {
  jsonHelp,
  OUTPUT_FLAGS,
  readTlsClient,
  TLS_CLIENT_FLAGS,
  tlsClientHelp,
} from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import { out, outJson } from "./_output.ts";
import { formatDuration, unitReader } from "./_units.ts";
import { verifyServer } from "../ws/mod.ts";

const COMMAND = "ws verify";

/** `netkit ws verify --help`. */
export const VERIFY_HELP: HelpScreen = {
  usage: ["ws verify URL [options]"],
  about: "Checks a WebSocket server over a raw connection (TLS for wss://): " +
    "the handshake response item by item (status 101, Upgrade, " +
    "Connection, Sec-WebSocket-Accept, subprotocol and extensions), a text " +
    "echo, and the close handshake (the server must answer Close and close " +
    "TCP). Exit 0 only if every check passed.",
  options: [
    [
      '-H, --header "K: V"',
      "add a handshake header (repeatable); offered Sec-WebSocket-Protocol " +
      "values are accepted back",
    ],
    ["--no-echo", "skip the echo check (for servers that do not echo)"],
    [
      "--timeout TIME",
      `time allowed for each step (default ${
        formatDuration(DEFAULT_TIMEOUTS.wsCheckMs)
      })`,
    ],
    ...tlsClientHelp({ scope: "wss://", insecure: false, clientCert: false }),
    jsonHelp("print the report as one JSON object"),
  ],
  examples: [
    'ws verify ws://127.0.0.1:8080/ws --header "Authorization: Bearer x"',
  ],
};

/** Runs `netkit ws verify` with the arguments after `verify`. */
export async function runWsVerify(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const { values, positionals } = parseCommand(COMMAND, argv, {
    header: { type: "string", short: "H", multiple: true },
    "no-echo": { type: "boolean" },
    timeout: { type: "string" },
    ca: TLS_CLIENT_FLAGS.ca,
    ...OUTPUT_FLAGS,
  }, { min: 1, max: 1, names: "URL", aliases: { "tls-ca": "ca" } });
  if (values.help) {
    out(renderHelp(VERIFY_HELP));
    return 0;
  }
  const url = wsUrlArg(COMMAND, positionals[0]!);
  const headers = headerFlags(COMMAND, values.header ?? []);
  const timeoutMs = unitReader(COMMAND).duration("timeout", values.timeout, {
    minMs: 1,
  }) ?? DEFAULT_TIMEOUTS.wsCheckMs;
  const { caCerts } = await readTlsClient(COMMAND, values);
  const report = await verifyServer(url, {
    headers,
    echo: !values["no-echo"],
    timeoutMs,
    caCerts,
  });
  if (values.json) {
    outJson(report);
  } else {
    for (const check of report.checks) {
      out(`${check.ok ? "✓" : "✗"} ${check.message}`);
    }
  }
  return report.ok ? EXIT.ok : EXIT.failure;
}
