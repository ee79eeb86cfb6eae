// The sender's connection around its core (_sender_session.ts): one read
// always pending (so an ERROR arriving mid-stream stops the stream at
// once), the core's events queued for the entry loop, writes in order,
// and the no-progress deadline kept on the core's clock.

import { closeQuietly } from "../../_io.ts";
import { FileTransferError } from "./errors.ts";
import type { TransferFailure } from "./types.ts";
import type { SenderEvent, SenderSession } from "./_sender_session.ts";
import type { ByteStream } from "../../types.ts";
import { type DeadlineTimer, keepDeadlines } from "./_deadline.ts";

/** A sender core on a connection. */
export class SendLink {
  readonly core: SenderSession;
  readonly #stream: ByteStream;
  readonly #events: SenderEvent[] = [];
  #wake: (() => void) | undefined;
  #writing: Promise<void> = Promise.resolve();
  readonly #reading: Promise<void>;
  readonly #deadline: DeadlineTimer;
  #closed = false;

  constructor(stream: ByteStream, core: SenderSession) {
    this.core = core;
    this.#stream = stream;
    this.#deadline = keepDeadlines(core, (events) => {
      this.#push(events);
      // The reads and writes in flight end with the connection.
      if (core.finished) this.close();
    });
    this.#reading = this.#read();
  }

  /** The next event; a failure stays the last event for good. */
  async next(): Promise<SenderEvent> {
    while (this.#events.length === 0) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const event = this.#events[0]!;
    if (event.type !== "failed") this.#events.shift();
    return event;
  }

  /** Writes what the core queued; throws when the connection breaks. */
  async flush(): Promise<void> {
    await this.write(this.core.takeOutput());
  }

  /**
   * Writes `chunks` after what is being written, counting progress as
   * they go; throws when the connection breaks.
   */
  write(chunks: Uint8Array[]): Promise<void> {
    if (chunks.length === 0) return this.#writing;
    const written = this.#writing.then(async () => {
      for (const chunk of chunks) {
        let off = 0;
        while (off < chunk.length) {
          off += await this.#stream.write(chunk.subarray(off));
          this.core.progress(performance.now());
        }
      }
    });
    this.#writing = written.catch(() => {});
    return written;
  }

  /**
   * After a failed write: the receiver usually said why and closed. Waits
   * for the read side to end and returns the core's failure, if any.
   */
  async reason(): Promise<TransferFailure | undefined> {
    await this.#reading;
    return this.core.failure;
  }

  /** Closes the connection and waits for the pending read to end. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#deadline.stop();
      closeQuietly(this.#stream);
    }
    await this.#reading;
  }

  async #read(): Promise<void> {
    const core = this.core;
    try {
      while (!core.finished) {
        const n = await this.#stream.read(core.space());
        if (n === null) break;
        this.#push(core.commit(n, performance.now()));
        this.#deadline.arm();
        // AUTH answers the receiver's hello (nothing else is a reply).
        const out = core.takeOutput();
        if (out.length > 0) await this.write(out);
      }
    } catch {
      // Reset or closed: the core reads it as the end.
    }
    if (!core.finished) this.#push(core.eof());
  }

  #push(events: SenderEvent[]): void {
    if (events.length === 0) return;
    this.#events.push(...events);
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** The error a failure is thrown as. */
export function failureError(failure: TransferFailure): Error {
  return failure.code === "internal"
    ? new Error(failure.message)
    : new FileTransferError(failure.code, failure.message);
}
