// Placeholder until the tcp command lands.
import type { Command } from "./_command.ts";
import { NetkitError } from "../errors.ts";

export const tcpCommand: Command = {
  name: "tcp",
  summary: "(tcp: not built yet)",
  run() {
    return Promise.reject(new NetkitError("not_implemented", "'tcp' is not built yet"));
  },
};
