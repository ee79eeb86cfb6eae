// A raw client for tests: the library's raw connection (one client edge,
// bytes as they come) with frames decoded as a client must decode them,
// one at a time, each wait bounded.

import {
  openRaw as openRawConnection,
  type OpenRawOptions,
  type RawConnection,
} from "../../ws/_raw_connection.ts";
import {
  type Frame,
  FrameDecoder,
  type ProtocolError,
} from "../../ws/frame.ts";

/** What {@linkcode TestRaw.next} yields. */
export type RawEvent =
  | Frame
  | ProtocolError
  | { kind: "eof" }
  | { kind: "timeout" };

/** A raw connection that also decodes the server's frames. */
export interface TestRaw extends RawConnection {
  /** The `Sec-WebSocket-Key` that was sent. */
  key: string;
  /**
   * The next frame (masked server frames are protocol errors), `eof`, or
   * `timeout` when nothing complete came within `timeoutMs`.
   */
  next(timeoutMs: number): Promise<RawEvent>;
}

/**
 * Opens a raw connection; `rsv1` lets the decoder take RSV1 frames (an
 * extension was offered).
 */
export async function openRaw(
  url: URL,
  options: OpenRawOptions & { rsv1?: boolean },
): Promise<TestRaw> {
  const raw = await openRawConnection(url, options);
  const decoder = new FrameDecoder({
    expectMasked: false,
    allowedRsv: options.rsv1 ? 4 : 0,
  });
  const queue: Array<Frame | ProtocolError> = [];
  return {
    ...raw,
    key: raw.handshake.key,
    async next(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const queued = queue.shift();
        if (queued) return queued;
        const chunk = await raw.readChunk(deadline - Date.now());
        if ("kind" in chunk) {
          return chunk.kind === "eof" ? { kind: "eof" } : chunk;
        }
        queue.push(...decoder.push(chunk));
      }
    },
  };
}
