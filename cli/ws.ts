// `netkit ws serve | connect | verify | check`: WebSocket server, client
// (like wscat/websocat), handshake verifier and conformance suite. Each
// subcommand's module (and the library behind it) loads only when it runs.

import { type Command, dispatch, type Subcommand } from "./_command.ts";

const SUBCOMMANDS: Subcommand[] = [
  {
    name: "serve",
    summary: "echo or broadcast server, with a page to try it in a browser",
    load: async () => (await import("./_ws_serve.ts")).runServe,
  },
  {
    name: "connect",
    summary: "a client like wscat: stdin lines out, messages to stdout",
    load: async () => (await import("./_ws_connect.ts")).runConnect,
  },
  {
    name: "verify",
    summary: "check a server's handshake, echo and close, item by item",
    load: async () => (await import("./_ws_verify.ts")).runWsVerify,
  },
  {
    name: "check",
    summary: "RFC 6455 conformance suite against an echo server",
    load: async () => (await import("./_ws_check.ts")).runWsCheck,
  },
];

/** `netkit ws`. */
export const wsCommand: Command = {
  name: "ws",
  summary:
    "WebSocket: serve (echo/broadcast + page), connect (like wscat), verify, check",
  run: async (argv, context) => {
    // wscat's muscle memory: `netkit ws -c URL` connects and
    // `netkit ws -l PORT` listens, as `wscat -c`/`wscat -l` do.
    const [first, second, ...rest] = argv;
    if (first === "-c" || first === "--connect") {
      return await (await import("./_ws_connect.ts")).runConnect(argv, context);
    }
    if ((first === "-l" || first === "--listen") && second !== undefined) {
      const where = /^\d+$/.test(second) ? `ws://127.0.0.1:${second}` : second;
      const { listenCommand } = await import("./listen.ts");
      return await listenCommand.run([where, ...rest], context);
    }
    return await dispatch("ws", argv, SUBCOMMANDS, {
      about: "WebSocket server, client, handshake verifier and conformance " +
        "suite, on netkit's own RFC 6455 engine (permessage-deflate with " +
        "--deflate). As with wscat, 'netkit ws -c URL' is 'ws connect URL' " +
        "and 'netkit ws -l PORT' is 'listen ws://127.0.0.1:PORT'.",
      examples: [
        "ws serve --port 0",
        "ws connect ws://127.0.0.1:8080/ws",
        "ws check ws://127.0.0.1:8080/ws --case '1.*'",
        "ws -c 127.0.0.1:8080/ws",
      ],
    }, context);
  },
};
