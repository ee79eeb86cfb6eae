// `netkit ws serve | connect | verify | check`: WebSocket server, client
// (like wscat/websocat), handshake verifier and conformance suite. Each
// subcommand's module (and the library behind it) loads only when it runs.

import { type CliContext, type Command, dispatch } from "./_command.ts";
import { WS_HELP } from "./_ws_help.ts";

/** `netkit ws`. */
export const wsCommand: Command = {
  name: "ws",
  summary:
    "WebSocket: serve (echo/broadcast + page), connect (like wscat), verify, check",
  run: (argv, context) =>
    dispatch(
      "ws",
      argv,
      {
        serve: async (a: string[], c: CliContext) =>
          (await import("./_ws_serve.ts")).runServe(a, c),
        connect: async (a: string[], c: CliContext) =>
          (await import("./_ws_connect.ts")).runConnect(a, c),
        verify: async (a: string[], c: CliContext) =>
          (await import("./_ws_verify.ts")).runWsVerify(a, c),
        check: async (a: string[], c: CliContext) =>
          (await import("./_ws_check.ts")).runWsCheck(a, c),
      },
      WS_HELP,
      context,
    ),
};
