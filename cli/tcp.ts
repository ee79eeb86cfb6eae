// `netkit tcp states | limits | lab | trace`: Linux TCP diagnostics from
// /proc, a lab that makes TCP failures happen, and a packet trace. Each subcommand's module (and
// the library behind it) loads only when it runs.

import { type Command, dispatch, type Subcommand } from "./_command.ts";

const SUBCOMMANDS: Subcommand[] = [
  {
    name: "states",
    summary: "every TCP socket with its state, queues and timer; --watch",
    load: async () => (await import("./_tcp_states.ts")).runStates,
  },
  {
    name: "limits",
    summary: "open-file limits, TCP sysctls and counters, each with what to do",
    load: async () => (await import("./_tcp_limits.ts")).runLimits,
  },
  {
    name: "lab",
    summary: "make a TCP failure happen on 127.0.0.1, watch it, explain it",
    load: async () => (await import("./_tcp_lab.ts")).runLabCommand,
  },
  {
    name: "trace",
    summary: "capture packets: one line each, what it means, both states",
    load: async () => (await import("./_tcp_trace.ts")).runTraceCommand,
  },
];

/** The `tcp` command family. */
export const tcpCommand: Command = {
  name: "tcp",
  summary:
    "TCP (Linux): socket states, limits, a lab of failures, packet traces",
  run: (argv, context) =>
    dispatch("tcp", argv, SUBCOMMANDS, {
      about: "TCP diagnostics from /proc (Linux): what ss, nstat, sysctl and " +
        "ulimit show, with what each number means.",
      examples: [
        "tcp states --sport 8080 --watch",
        "tcp lab accept-overflow",
        "tcp trace --port 8080",
      ],
    }, context),
};
