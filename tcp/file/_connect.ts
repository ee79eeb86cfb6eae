// How the sender reaches a receiver (plain TCP, verified TLS, or TLS
// without certificate checks when asked) through the one dialer.

import type { SenderTlsOptions } from "./types.ts";
import type { HostPort } from "../../address.ts";
import { osMessage } from "../../_io.ts";
import { dial } from "../dial.ts";
import { TcpError } from "../errors.ts";
import { FileTransferError } from "./errors.ts";
import type { ByteStream } from "../../types.ts";

/** Opens a connection to a receiver. */
export async function openStream(
  address: HostPort,
  tlsOptions: SenderTlsOptions | undefined,
): Promise<ByteStream> {
  try {
    // dial turns Nagle off: START, DATA and END go out back to back.
    return await dial(address, {
      tls: tlsOptions && {
        caCerts: tlsOptions.caCerts,
        insecure: tlsOptions.insecure,
      },
    });
  } catch (error) {
    const cause = error instanceof TcpError ? error.cause ?? error : error;
    throw new FileTransferError(
      cause instanceof Deno.errors.ConnectionRefused
        ? "connection_refused"
        : "connection_closed",
      `cannot connect to ${address.hostname}:${address.port}: ${
        osMessage(cause)
      }`,
      { cause: error },
    );
  }
}
