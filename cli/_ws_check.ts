// `netkit ws check` (placeholder until it lands).
import type { CliContext } from "./_command.ts";
import { NetkitError } from "../errors.ts";

/** Runs `netkit ws check` with the arguments after `check`. */
export function runWsCheck(_argv: string[], _context: CliContext): Promise<number> {
  return Promise.reject(new NetkitError("not_implemented", "'ws check' is not built yet"));
}
