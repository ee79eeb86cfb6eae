// `netkit load tcp|udp|ws|http TARGET`, `netkit load merge A.json …` and
// `netkit load report RUN.json …`: drive a server hard, then print what it
// did (and what the kernel saw); join shards; draw runs as one HTML page.
// Each subcommand's module (and the library behind it) loads only when it
// runs.

import { type Command, dispatch, type Subcommand } from "./_command.ts";

/** `load tcp|udp|ws|http`: one module, told which protocol. */
function runner(protocol: "tcp" | "udp" | "ws" | "http"): Subcommand["load"] {
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
    summary: "load a UDP echo server (requests, or a stream with loss/jitter)",
    load: runner("udp"),
  },
  {
    name: "ws",
    summary: "load a WebSocket echo server (one message per request)",
    load: runner("ws"),
  },
  {
    name: "http",
    summary: "load an HTTP/1.1 server (keep-alive, pipelining, https)",
    load: runner("http"),
  },
  {
    name: "merge",
    summary: "join runs saved with --json (shards on several machines)",
    load: async () => (await import("./_load_merge.ts")).runMerge,
  },
  {
    name: "report",
    summary: "draw runs saved with --json as one HTML page",
    load: async () => (await import("./_load_report.ts")).runReport,
  },
];

/** The `load` command. */
export const loadCommand: Command = {
  name: "load",
  summary: "load generator for TCP, UDP, WebSocket and HTTP: rate, MB/s, p99",
  run: (argv, context) =>
    dispatch("load", argv, SUBCOMMANDS, {
      about: "Drives a TCP, UDP, WebSocket or HTTP server hard and prints " +
        "what it did: requests per second, MB/s, latency percentiles, " +
        "errors by cause and the kernel counters that explain them. Closed " +
        "loop by default; open loop (no coordinated omission) with --rate. " +
        "Many machines: --shard and --start-at, then 'load merge'.",
      examples: [
        "load http http://127.0.0.1:8080/ -c 50 -d 10s",
        "load tcp 127.0.0.1:7007 -c 100 -d 5s",
        "load merge a.json b.json",
      ],
    }, context),
};
