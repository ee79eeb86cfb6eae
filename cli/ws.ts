// Placeholder until the ws command lands.
import type { Command } from "./_command.ts";
import { NetkitError } from "../errors.ts";

export const wsCommand: Command = {
  name: "ws",
  summary: "(ws: not built yet)",
  run() {
    return Promise.reject(new NetkitError("not_implemented", "'ws' is not built yet"));
  },
};
