// Opening UDP sockets and checking datagram sizes (shared by server and client).

import { UdpError } from "./errors.ts";

/** The largest UDP payload over IPv4: 65,535 − 20 (IP) − 8 (UDP). */
export const MAX_UDP_PAYLOAD_V4 = 65_507;
/** The largest UDP payload over IPv6 without jumbograms: 65,535 − 8. */
export const MAX_UDP_PAYLOAD_V6 = 65_527;

/** Binds a UDP socket, with a clear error when `--unstable-net` is missing. */
export function bindUdp(hostname: string, port: number): Deno.DatagramConn {
  if (typeof Deno.listenDatagram !== "function") {
    throw new UdpError(
      "unstable_api",
      "UDP needs Deno.listenDatagram: run with --unstable-net",
    );
  }
  return Deno.listenDatagram({ hostname, port, transport: "udp" });
}

/** Throws unless `size` fits one datagram to `hostname`. */
export function checkPayloadSize(size: number, hostname: string): void {
  const max = hostname.includes(":") ? MAX_UDP_PAYLOAD_V6 : MAX_UDP_PAYLOAD_V4;
  if (size > max) {
    throw new UdpError(
      "payload_too_large",
      `a UDP datagram to ${hostname} holds at most ${max} bytes; ${size} refused (not truncated)`,
    );
  }
}
