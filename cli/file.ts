// `netkit file send` / `netkit file recv` (alias `file-transfer`): the CLI
// around the file-transfer library. Each subcommand's module (and the
// library behind it) loads only when it runs.

import { type Command, dispatch, type Subcommand } from "./_command.ts";

const SUBCOMMANDS: Subcommand[] = [
  {
    name: "recv",
    aliases: ["receive"],
    summary:
      "receive files into a folder (prints a token and the send command)",
    load: async () => (await import("./_file_recv.ts")).runRecv,
  },
  {
    name: "send",
    summary: "send files and folders to a receiver",
    load: async () => (await import("./_file_send.ts")).runSend,
  },
];

/** The `file` command: `send` and `recv`. */
export const fileCommand: Command = {
  name: "file",
  aliases: ["file-transfer"],
  summary: "send and receive files: authenticated, verified, resumable",
  run: (argv, context) =>
    dispatch("file", argv, SUBCOMMANDS, {
      about: "Move files over TCP with authentication, SHA-256 " +
        "verification, atomic writes and resume (alias: netkit " +
        "file-transfer).",
      examples: [
        "file recv --dir inbox",
        "file send 127.0.0.1:7070 report.pdf photos/ --token TOKEN",
      ],
    }, context),
};
