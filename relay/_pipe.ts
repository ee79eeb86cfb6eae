// Moving bytes both ways between two relay streams with TCP's semantics:
// a FIN is passed on as a FIN (closeWrite) while the other direction keeps
// flowing, a reset as a reset where the transport allows, and each
// direction holds one buffer: it reads again only once the last chunk is
// written, so a slow reader slows the writer instead of growing memory.

import { disconnectKind, osMessage, writeAll } from "../_io.ts";
import { hexdump } from "./_hexdump.ts";
import type { RelayStream } from "./_stream.ts";

import type { EndHow, Side } from "./types.ts";

/** The connection's context on the accept loop. */
export interface PipeContext {
  readonly signal: AbortSignal;
  readonly closedByServer?: AbortSignal;
  record(bytesIn: number, bytesOut: number): void;
}

/** Pipe settings. */
export interface PipeOptions {
  id: number;
  bufferBytes: number;
  hexdumpBytes: number;
  onHexdump?: (text: string) => void;
}

/** What happened to a piped connection. */
export interface PipeOutcome {
  bytesToTarget: number;
  bytesToClient: number;
  closedFirst: Side | "relay";
  how: EndHow;
  halfClose: boolean;
  resetBy?: Side;
  resetPassedOn?: boolean;
  error?: string;
}

const SMALL_BUFFER = 4 * 1024;

/** Pipes until both directions have ended, then closes both streams. */
export async function pipe(
  client: RelayStream,
  target: RelayStream,
  context: PipeContext,
  options: PipeOptions,
): Promise<PipeOutcome> {
  const streams = { client, target };
  const bytes = { client: 0, target: 0 }; // bytes sent by each side
  const finFrom = { client: false, target: false };
  let first: Pick<PipeOutcome, "closedFirst" | "how" | "error"> | undefined;
  let halfClose = false;
  let resetBy: Side | undefined;
  let resetPassedOn: boolean | undefined;
  let closing: Promise<unknown> | undefined;
  const closeBoth = () =>
    closing ??= Promise.all([client.close(), target.close()]);

  // The accept loop closes the client on idle timeout or at the end of
  // the grace period; the target must go with it even when no read or
  // write is pending on the client (after its FIN).
  const byServer = context.closedByServer;
  const onServerClose = () => {
    first ??= {
      closedFirst: "relay",
      how: byServer?.reason === "idle_timeout" ? "idle_timeout" : "shutdown",
    };
    void closeBoth();
  };
  if (byServer?.aborted) onServerClose();
  byServer?.addEventListener("abort", onServerClose, { once: true });

  // A reset or an error ends both directions, even after a FIN (a
  // half-closed client still reads, and must see the target's reset).
  // Errors that our own closing causes are not news.
  async function fail(side: Side, error: unknown): Promise<void> {
    if (closing) return;
    if (disconnectKind(error) === "reset") {
      first ??= { closedFirst: side, how: "reset" };
      resetBy = side;
      resetPassedOn = await (side === "client" ? target : client).reset();
    } else {
      first ??= { closedFirst: side, how: "error", error: osMessage(error) };
    }
    await closeBoth();
  }

  async function flow(from: Side, to: Side): Promise<void> {
    const source = streams[from];
    const sink = streams[to];
    // Small until a read fills it, then the full size once (as the echo
    // server does): an idle or chatty connection holds 4 KiB per direction,
    // a bulk one bufferBytes.
    let buf = new Uint8Array(Math.min(SMALL_BUFFER, options.bufferBytes));
    const arrow = from === "client" ? ">" : "<";
    for (;;) {
      let n: number | null;
      try {
        n = await source.read(buf);
      } catch (error) {
        return fail(from, error);
      }
      if (n === null) {
        if (closing) return;
        finFrom[from] = true;
        first ??= { closedFirst: from, how: "fin" };
        // The far side may be gone already; its own direction reports how.
        await sink.closeWrite().catch(() => {});
        return;
      }
      const chunk = buf.subarray(0, n);
      const full = n === buf.length;
      const offset = bytes[from];
      if (offset < options.hexdumpBytes && options.onHexdump) {
        const shown = chunk.subarray(0, options.hexdumpBytes - offset);
        options.onHexdump(hexdump(arrow, options.id, shown, offset));
      }
      try {
        // One write is the rule on sockets; loop only when it fell short.
        const wrote = await sink.write(chunk);
        if (wrote < n) await writeAll(sink, chunk.subarray(wrote));
      } catch (error) {
        return fail(to, error);
      }
      bytes[from] += n;
      if (from === "client") context.record(n, 0);
      else context.record(0, n);
      if (finFrom[to]) halfClose = true;
      if (full && buf.length < options.bufferBytes) {
        buf = new Uint8Array(options.bufferBytes);
      }
    }
  }

  await Promise.all([flow("client", "target"), flow("target", "client")]);
  byServer?.removeEventListener("abort", onServerClose);
  await closeBoth();
  return {
    bytesToTarget: bytes.client,
    bytesToClient: bytes.target,
    ...(first ?? { closedFirst: "relay", how: "error", error: "no end seen" }),
    halfClose,
    ...(resetBy === undefined ? {} : { resetBy, resetPassedOn }),
  };
}
