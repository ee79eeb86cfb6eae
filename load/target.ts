/**
 * Where a load may go: loopback unless the caller says otherwise.
 *
 * @module
 */

import { LoadError } from "./errors.ts";
import { type HostPort, isLoopback, parseAddress } from "../address.ts";

export { isLoopback };

/**
 * Refuses a non-loopback target unless `allowRemote`: a load generator
 * pointed at someone else's server by mistake is an attack.
 *
 * @throws {LoadError} `remote_target`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkLoadTarget } from "@netkit/netkit";
 *
 * checkLoadTarget("127.0.0.1");
 * assert.throws(() => checkLoadTarget("192.0.2.1"), { code: "remote_target" });
 * checkLoadTarget("192.0.2.1", { allowRemote: true });
 * ```
 */
export function checkLoadTarget(
  hostname: string,
  options: { allowRemote?: boolean } = {},
): void {
  if (options.allowRemote || isLoopback(hostname)) return;
  throw new LoadError(
    "remote_target",
    `refusing to load ${hostname}: not a loopback address. netkit load drives servers hard; ` +
      `point it at 127.0.0.1, ::1 or a network namespace you own, or pass --allow-remote (allowRemote) for a server you are allowed to load`,
  );
}

/**
 * Parses `HOST:PORT` or `{hostname, port}` and applies
 * {@linkcode checkLoadTarget}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadAddress } from "@netkit/netkit";
 *
 * assert.equal(loadAddress("127.0.0.1:7007").port, 7007);
 * assert.throws(() => loadAddress("198.51.100.7:80"), { code: "remote_target" });
 * ```
 */
export function loadAddress(
  target: HostPort | string,
  options: { allowRemote?: boolean } = {},
): HostPort {
  const addr = typeof target === "string" ? parseAddress(target) : target;
  checkLoadTarget(addr.hostname, options);
  return addr;
}
