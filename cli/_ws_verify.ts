// `netkit ws verify URL`: checks a WebSocket server against RFC 6455 and
// prints one ✓/✗ line per check.

import { headerFlags, wsUrlArg } from "./_ws_args.ts";
import type { CliContext } from "./_command.ts";
import { readPem } from "./_tls_files.ts";
import { intFlag, parseCommand } from "./_args.ts";
import { out, outJson } from "./_output.ts";
import { verifyServer } from "../ws/mod.ts";

const COMMAND = "ws verify";

const HELP = `Usage: netkit ws verify URL [options]

Checks a WebSocket server over a raw connection (TLS for wss://): the
handshake response item by item (status 101, Upgrade, Connection,
Sec-WebSocket-Accept, subprotocol and extensions), a text echo, and the
close handshake (the server must answer Close and close TCP).
Exit 0 only if every check passed.

Options:
  -H, --header "K: V"  add a handshake header (repeatable); offered
                       Sec-WebSocket-Protocol values are accepted back
      --no-echo        skip the echo check (for servers that do not echo)
      --timeout MS     time allowed for each step (default 5000)
      --ca FILE        trust this PEM certificate for wss://
      --json           print the report as one JSON object
  -h, --help           show this help

Example:
  netkit ws verify ws://127.0.0.1:8080/ --header "Authorization: Bearer x"`;

/** Runs `netkit ws verify` with the arguments after `verify`. */
export async function runWsVerify(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const { values, positionals } = parseCommand(COMMAND, argv, {
    header: { type: "string", short: "H", multiple: true },
    "no-echo": { type: "boolean" },
    timeout: { type: "string" },
    ca: { type: "string" },
    json: { type: "boolean" },
  }, { min: 1, max: 1, names: "URL" });
  if (values.help) {
    out(HELP);
    return 0;
  }
  const url = wsUrlArg(COMMAND, positionals[0]!);
  const headers = headerFlags(COMMAND, values.header ?? []);
  const timeoutMs = intFlag(COMMAND, "timeout", values.timeout, { min: 1 });
  const caCerts = values.ca === undefined
    ? undefined
    : [await readPem(values.ca)];
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
  return report.ok ? 0 : 1;
}
