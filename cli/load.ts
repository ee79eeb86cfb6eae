// `netkit load tcp|udp|ws TARGET` and `netkit load merge A.json B.json …`:
// drive a server hard, then print what it did (and what the kernel saw).
// Each subcommand's module (and the library behind it) loads only when it
// runs.

import { type Command, dispatch, type Subcommand } from "./_command.ts";

/** `load tcp|udp|ws`: one module, told which protocol. */
function runner(protocol: "tcp" | "udp" | "ws"): Subcommand["load"] {
  return async () => {
    const { runLoad } = await import("./_load_run.ts");
    return (argv, context) => runLoad(protocol, argv, context);
  };
}

const SUBCOMMANDS: Subcommand[] = [
  {
    name: "tcp",
    summary: "load a TCP server (echo requests or a byte stream)",
    load: runner("tcp"),
  },
  {
    name: "udp",
    summary: "load a UDP echo server (one datagram per request)",
    load: runner("udp"),
  },
  {
    name: "ws",
    summary: "load a WebSocket echo server (one message per request)",
    load: runner("ws"),
  },
  {
    name: "merge",
    summary: "add up runs saved with --json (several machines or shells)",
    load: async () => (await import("./_load_merge.ts")).runMerge,
  },
];

/** The `load` command. */
export const loadCommand: Command = {
  name: "load",
  summary: "load generator for TCP, UDP and WebSocket servers: rate, MB/s, p99",
  run: (argv, context) =>
    dispatch("load", argv, SUBCOMMANDS, {
      about: "Drives a TCP, UDP or WebSocket server hard and prints what it " +
        "did: requests per second, MB/s, latency percentiles, errors by " +
        "cause and the kernel counters that moved. Closed loop by default; " +
        "open loop (no coordinated omission) with --rate.",
      examples: [
        "load tcp 127.0.0.1:7007 -c 100 -d 5s",
        "load merge a.json b.json",
      ],
    }, context),
};
