/**
 * Opening UDP sockets and checking datagram sizes: shared by the echo
 * server, the client, the load driver and the relay's UDP sessions.
 *
 * @module
 */

import { UdpError } from "./errors.ts";
import { osMessage } from "../_io.ts";
import { formatAddress } from "../address.ts";

/** The largest UDP payload over IPv4: 65,535 − 20 (IP) − 8 (UDP). */
export const MAX_UDP_PAYLOAD_V4 = 65_507;
/** The largest UDP payload over IPv6 without jumbograms: 65,535 − 8. */
export const MAX_UDP_PAYLOAD_V6 = 65_527;

/**
 * Binds a UDP socket, with a clear error when `--unstable-net` is missing.
 *
 * @throws {UdpError} `unstable_api` without `--unstable-net`; `bind_failed`
 * naming the address when the port is taken or the address is not local.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bindUdp } from "@netkit/netkit/udp";
 *
 * const socket = bindUdp("127.0.0.1", 0);
 * assert.ok((socket.addr as Deno.NetAddr).port > 0);
 * socket.close();
 * ```
 */
export function bindUdp(hostname: string, port: number): Deno.DatagramConn {
  if (typeof Deno.listenDatagram !== "function") {
    throw new UdpError(
      "unstable_api",
      "UDP needs Deno.listenDatagram: run with --unstable-net",
    );
  }
  try {
    return Deno.listenDatagram({ hostname, port, transport: "udp" });
  } catch (error) {
    throw new UdpError(
      "bind_failed",
      `cannot bind UDP ${formatAddress({ hostname, port })}: ${
        osMessage(error)
      }`,
      { cause: error },
    );
  }
}

/**
 * Throws unless `size` bytes fit one UDP datagram to `hostname` (65,507 over
 * IPv4, 65,527 over IPv6): netkit refuses an oversized payload rather than
 * let it be truncated.
 *
 * @throws {UdpError} `payload_too_large`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkUdpPayloadSize } from "@netkit/netkit/udp";
 *
 * checkUdpPayloadSize(65_507, "127.0.0.1");
 * assert.throws(() => checkUdpPayloadSize(65_508, "127.0.0.1"), { code: "payload_too_large" });
 * ```
 */
export function checkUdpPayloadSize(size: number, hostname: string): void {
  const max = hostname.includes(":") ? MAX_UDP_PAYLOAD_V6 : MAX_UDP_PAYLOAD_V4;
  if (size > max) {
    throw new UdpError(
      "payload_too_large",
      `a UDP datagram to ${hostname} holds at most ${max} bytes; ${size} refused (not truncated)`,
    );
  }
}
