/**
 * Linux TCP diagnostics from `/proc`: the socket tables
 * (`/proc/net/tcp{,6}`, and `udp{,6}` and `unix` beside them), per-process limits, TCP sysctls and the kernel's
 * TCP counters (`/proc/net/netstat`, `/proc/net/snmp`).
 *
 * @example Count the states of the sockets on one local port
 * ```ts
 * import assert from "node:assert/strict";
 * import { countStates, readTcpSockets } from "@netkit/netkit/tcp/proc";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const sockets = await readTcpSockets({ sport: listener.addr.port });
 * assert.equal(countStates(sockets).LISTEN, 1);
 * ```
 *
 * @module
 */

export * from "./sockets.ts";
export * from "./limits.ts";
export * from "./sock_diag.ts";
export * from "./owners.ts";
export * from "./counters.ts";
export * from "./udp_sockets.ts";
export * from "./unix_sockets.ts";
export { ProcError, type ProcErrorCode } from "../../errors.ts";
