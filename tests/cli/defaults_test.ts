// cli/_defaults.ts: the one home of the CLI's defaults agrees with the
// protocol and with what the help screens print.

import assert from "node:assert/strict";
import { DEFAULT_PORTS } from "../../cli/_defaults.ts";
import { renderHelp } from "../../cli/_help.ts";
import { SERVE_HELP as ECHO_SERVE } from "../../cli/_echo_serve.ts";
import { RECV_HELP } from "../../cli/_file_recv.ts";
import { SERVE_HELP as WS_SERVE } from "../../cli/_ws_serve.ts";
import { SERVE_HELP } from "../../cli/serve.ts";
import { fileProtocol } from "../../tcp/file/mod.ts";

Deno.test("defaults: the file port is the protocol's; each server's help shows its port", () => {
  assert.equal(DEFAULT_PORTS.file, fileProtocol.FILE_DEFAULT_PORT);
  const cases = [
    [ECHO_SERVE, DEFAULT_PORTS.echo],
    [RECV_HELP, DEFAULT_PORTS.file],
    [WS_SERVE, DEFAULT_PORTS.ws],
  ] as const;
  for (const [screen, port] of cases) {
    assert.match(renderHelp(screen, 80), new RegExp(`\\(default ${port}\\)`));
  }
  const serve = renderHelp(SERVE_HELP, 80);
  for (const port of Object.values(DEFAULT_PORTS)) {
    assert.match(serve, new RegExp(`port ${port}\\b`));
  }
});
