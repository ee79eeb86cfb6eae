// The I/O around one WsProtocol: a read loop that hands every frame of a
// read to the protocol before the next read, one write per batch of
// output, and one timer for what the connection's timer core (WsTimers:
// the close linger, keep-alive pings) says is due next. Shared by the
// server and the client so both close, time out and batch the same way.

import { closeQuietly, isDisconnect, writeAll } from "../_io.ts";
import type { WsProtocol, WsProtocolEvent } from "./protocol.ts";
import { WsTimers, type WsTimersOptions } from "./_timers.ts";
import type { ByteStream } from "../types.ts";

/** What the driver tells its owner, and its timers (see WsTimers). */
export interface DriverOptions extends WsTimersOptions {
  /**
   * Events of one read, in order; may queue replies on the protocol.
   * `driver` is the connection's (so one options object can serve many).
   */
  onEvents(events: WsProtocolEvent[], driver: WsDriver): void;
  /**
   * A keep-alive ping is due, or went unanswered. Default: send an empty
   * ping; close with 1011 "ping timeout".
   */
  onTimeout?(what: "ping" | "ping_timeout", driver: WsDriver): void;
  /**
   * The owner calls {@linkcode WsDriver.tick} on an interval for many
   * connections at once; the driver arms a timer of its own only for
   * the close. Default false: one timer per connection.
   */
  swept?: boolean;
  /** Which end this is: it decides who closes TCP first. */
  role: "server" | "client";
}

// Read buffer sizes: an idle connection holds the first (its read is
// pending on it), a read that fills one moves to the next.
const READ_SIZES = [64, 4 * 1024, 64 * 1024, 256 * 1024];
const RESOLVED = Promise.resolve();
const WRITE_HIGH_WATER = 64 * 1024;

/** Runs one connection; {@linkcode WsDriver.run} settles when the transport is closed. */
export class WsDriver {
  readonly protocol: WsProtocol;
  readonly #transport: ByteStream;
  readonly #options: DriverOptions;
  #writing: Promise<void> | null = null;
  #inFlight = 0;
  #closed = false;
  #broken = false;
  readonly #timers: WsTimers;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;

  constructor(
    transport: ByteStream,
    protocol: WsProtocol,
    options: DriverOptions,
  ) {
    this.#transport = transport;
    this.protocol = protocol;
    this.#options = options;
    this.#timers = new WsTimers(options, performance.now());
    this.#schedule();
  }

  /** Bytes queued or being written and not yet accepted by the kernel. */
  get bufferedAmount(): number {
    return this.protocol.pendingBytes + this.#inFlight;
  }

  /** Whether the transport is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Writes whatever the protocol has queued; settles when it is written. */
  flush(): Promise<void> {
    if (this.#writing) return this.#writing;
    if (!this.protocol.hasOutput || this.#broken) return RESOLVED;
    this.#writing = this.#drain().then((): Promise<void> => {
      this.#writing = null;
      return this.protocol.hasOutput && !this.#broken ? this.flush() : RESOLVED;
    });
    return this.#writing;
  }

  /**
   * Sends Close and closes the transport if the peer has not answered
   * within `timeoutMs` (default: the driver's close timeout).
   */
  startClose(code?: number, reason = "", timeoutMs?: number): void {
    this.protocol.close(code, reason);
    this.#timers.closing(performance.now(), timeoutMs);
    this.#schedule();
    void this.flush();
  }

  /** Closes the transport now. */
  abort(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    closeQuietly(this.#transport);
    this.protocol[Symbol.dispose]();
  }

  /** Does what the timers say is due at `now` (a sweep, or the driver's own timer). */
  tick(now: number): void {
    if (this.#closed) return;
    const due = this.#timers.handleTimeout(now);
    if (due === "close_timeout") return this.abort();
    if (due !== null) {
      if (this.#options.onTimeout) this.#options.onTimeout(due, this);
      else if (due === "ping_timeout") this.startClose(1011, "ping timeout");
      else if (this.protocol.sendPing()) void this.flush();
    }
    this.#schedule();
  }

  /** The read loop. Settles (never rejects) when the transport is closed. */
  async run(leftover?: Uint8Array): Promise<void> {
    const protocol = this.protocol;
    let size = 0;
    let buf = new Uint8Array(READ_SIZES[0]!);
    try {
      if (leftover && leftover.length > 0) {
        await this.#handle(protocol.receive(leftover));
      }
      while (!this.#closed && protocol.state !== "closed") {
        // The rest of a frame larger than the buffer is read into place:
        // no copy out of the buffer, fewer and larger reads.
        const space = protocol.receiveSpace(buf.length);
        if (space !== null) {
          const n = await this.#transport.read(space);
          if (n === null) break;
          await this.#handle(protocol.receiveInPlace(n));
          continue;
        }
        const n = await this.#transport.read(buf);
        if (n === null) break;
        await this.#handle(protocol.receive(buf.subarray(0, n)));
        // Small buffers keep thousands of idle connections cheap; a full
        // read means more traffic, which reads better in larger chunks
        // (up to 256 KiB: fewer read ops per large message).
        if (n === buf.length && size < READ_SIZES.length - 1) {
          buf = new Uint8Array(READ_SIZES[++size]!);
        }
      }
      if (!this.#closed && protocol.state === "closed") await this.#linger(buf);
    } catch (error) {
      if (!this.#closed && !isDisconnect(error)) throw error;
    } finally {
      this.abort();
    }
  }

  async #handle(events: WsProtocolEvent[]): Promise<void> {
    if (this.#timers.keepAlive) this.#alive(events);
    if (events.length > 0) this.#options.onEvents(events, this);
    const written = this.flush();
    // The next read may start while a small reply is being written (a
    // round trip sooner); past the high-water mark the read waits for the
    // write, so a peer that does not read stalls only itself.
    if (this.bufferedAmount > WRITE_HIGH_WATER) await written;
  }

  /**
   * After the closing handshake (or a failure): the server closes TCP
   * first (RFC 6455 §7.1.1), except after a failure, where it half-closes
   * and waits for EOF so the Close frame is not lost to a reset; the
   * client waits for the server's EOF. Both bounded by the close timeout.
   */
  async #linger(buf: Uint8Array): Promise<void> {
    await this.flush();
    const server = this.#options.role === "server";
    if (server && this.protocol.failure === null) return;
    this.#timers.closing(performance.now());
    this.#schedule();
    if (server) await this.#transport.closeWrite().catch(() => {});
    while (!this.#closed) {
      const n = await this.#transport.read(buf);
      if (n === null) return;
    }
  }

  async #drain(): Promise<void> {
    let out: Uint8Array[] | null;
    while ((out = this.protocol.takeOutput()) !== null) {
      this.#inFlight = out.reduce((sum, chunk) => sum + chunk.length, 0);
      try {
        for (const chunk of out) await writeAll(this.#transport, chunk);
      } catch {
        // The peer is gone: nothing more can be written.
        this.#broken = true;
        this.protocol.discardOutput();
        this.abort();
        return;
      } finally {
        this.#inFlight = 0;
      }
    }
  }

  #alive(events: WsProtocolEvent[]): void {
    const now = performance.now();
    this.#timers.received(now);
    for (const event of events) {
      if ("type" in event && event.type === "pong") {
        // The next ping may now be due before the timeout the timer waits for.
        this.#timers.pong(now);
        this.#schedule();
      }
    }
  }

  // One timer at the timers' next deadline. A later deadline (the peer
  // kept talking) leaves the armed timer alone: it fires, finds nothing
  // due and re-arms, instead of a timer reset per read.
  #schedule(): void {
    if (this.#closed) return;
    const at = this.#timers.nextDeadline();
    if (this.#options.swept && !this.#timers.closeStarted) return;
    if (at === Infinity || at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timerAt = Infinity;
      this.tick(performance.now());
    }, Math.max(0, at - performance.now()));
  }
}
