// `netkit echo serve | connect | ping`: TCP and UDP echo. Each
// subcommand's module (and the library behind it) loads only when it runs.

import { type Command, dispatch, type Subcommand } from "./_command.ts";

const SUBCOMMANDS: Subcommand[] = [
  {
    name: "serve",
    summary: "echo every byte back, over TCP and UDP",
    load: async () => (await import("./_echo_serve.ts")).runServe,
  },
  {
    name: "connect",
    summary: "like nc: stdin to the server, replies to stdout",
    load: async () => (await import("./_echo_connect.ts")).runConnect,
  },
  {
    name: "ping",
    summary: "round-trip times, loss and a ping(8)-style summary",
    load: async () => (await import("./_echo_ping.ts")).runPing,
  },
];

/** `netkit echo`. */
export const echoCommand: Command = {
  name: "echo",
  summary: "TCP/UDP echo: serve, connect (like nc), ping with RTT and loss",
  run: (argv, context) =>
    dispatch("echo", argv, SUBCOMMANDS, {
      about: "TCP and UDP echo: a server that survives load, half-close, " +
        'idle peers and "too many open files", an nc-style client and a ' +
        "ping that measures round trips.\n\n" +
        "Addresses: HOST:PORT, [::1]:PORT, :PORT (127.0.0.1); port 0 = any " +
        "free port.",
      examples: [
        "echo serve --port 0",
        "echo ping 127.0.0.1:7007 -c 3 -i 0.2",
      ],
    }, context),
};
