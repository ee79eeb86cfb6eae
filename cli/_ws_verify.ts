// `netkit ws verify` (placeholder until it lands).
import type { CliContext } from "./_command.ts";
import { NetkitError } from "../errors.ts";

/** Runs `netkit ws verify` with the arguments after `verify`. */
export function runWsVerify(_argv: string[], _context: CliContext): Promise<number> {
  return Promise.reject(new NetkitError("not_implemented", "'ws verify' is not built yet"));
}
