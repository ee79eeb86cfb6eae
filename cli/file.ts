// Placeholder until the file command lands.
import type { Command } from "./_command.ts";
import { NetkitError } from "../errors.ts";

export const fileCommand: Command = {
  name: "file",
  summary: "(file: not built yet)",
  run() {
    return Promise.reject(new NetkitError("not_implemented", "'file' is not built yet"));
  },
};
