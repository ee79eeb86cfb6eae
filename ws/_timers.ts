// A WebSocket connection's timers with time as an input (quinn-proto's
// `handle_timeout(now)` / `poll_timeout()`): the close linger and the
// keep-alive ping and its timeout. The core never reads a clock and never
// waits; its driver tells it the time, asks for the next deadline and
// arms one timer for it (or, on a server with thousands of connections,
// one interval sweeps them all). Tests drive it with made-up times.

/** Options of {@linkcode WsTimers}. */
export interface WsTimersOptions {
  /**
   * Milliseconds to wait for the peer's Close (or EOF) once the closing
   * handshake started; past it the transport is closed.
   */
  closeTimeoutMs: number;
  /** Milliseconds between keep-alive pings; absent or 0: no keep-alive. */
  pingIntervalMs?: number;
  /**
   * Milliseconds a ping may go unanswered before the peer counts as gone;
   * 0: never (pings then only keep the connection busy and measure round
   * trips, one every `pingIntervalMs`). Default `pingIntervalMs`.
   */
  pingTimeoutMs?: number;
  /**
   * `interval` (default): a ping every `pingIntervalMs` after the last
   * pong, which alone answers it (round-trip times on a busy connection
   * too). `idle`: a ping only after `pingIntervalMs` without a byte from
   * the peer, and any byte answers it (cheap for a server's many
   * connections).
   */
  keepAlive?: "interval" | "idle";
}

/**
 * What {@linkcode WsTimers.handleTimeout} found due: send a keep-alive
 * ping; the ping went unanswered; the close linger is over.
 */
export type WsTimeout = "ping" | "ping_timeout" | "close_timeout";

/** The timers of one connection, told the time (milliseconds, any origin). */
export class WsTimers {
  readonly #closeTimeoutMs: number;
  readonly #interval: number;
  readonly #timeout: number;
  readonly #idle: boolean;
  /** When the last ping round ended (interval) or the last byte came (idle). */
  #since: number;
  #pingSentAt: number | null = null;
  #closeDeadline = Infinity;
  #gone = false;

  constructor(options: WsTimersOptions, now: number) {
    this.#closeTimeoutMs = options.closeTimeoutMs;
    this.#interval = options.pingIntervalMs ?? 0;
    this.#timeout = options.pingTimeoutMs ?? this.#interval;
    this.#idle = options.keepAlive === "idle";
    this.#since = now;
  }

  /** Whether keep-alive pings are on. */
  get keepAlive(): boolean {
    return this.#interval > 0;
  }

  /** Whether the closing handshake's deadline is set. */
  get closeStarted(): boolean {
    return this.#closeDeadline !== Infinity;
  }

  /** Bytes arrived from the peer. */
  received(now: number): void {
    if (!this.#idle) return;
    this.#since = now;
    this.#pingSentAt = null;
  }

  /** A pong arrived from the peer. */
  pong(now: number): void {
    if (this.#idle || this.#pingSentAt === null) return;
    this.#pingSentAt = null;
    this.#since = now;
  }

  /**
   * The closing handshake started (or the connection is lingering after
   * it): the transport must be closed by `now + timeoutMs` (default the
   * close timeout). The earliest deadline wins; keep-alive stops.
   */
  closing(now: number, timeoutMs = this.#closeTimeoutMs): void {
    this.#closeDeadline = Math.min(this.#closeDeadline, now + timeoutMs);
  }

  /** The next time {@linkcode WsTimers.handleTimeout} has work; Infinity for none. */
  nextDeadline(): number {
    if (this.#closeDeadline !== Infinity) return this.#closeDeadline;
    if (this.#interval <= 0 || this.#gone) return Infinity;
    if (this.#pingSentAt === null) return this.#since + this.#interval;
    return this.#pingSentAt +
      (this.#timeout > 0 ? this.#timeout : this.#interval);
  }

  /**
   * What is due at `now`, at most one thing: `ping` (the core counts it as
   * sent now), `ping_timeout` (once; keep-alive then stops) or
   * `close_timeout`. Null when nothing is due yet.
   */
  handleTimeout(now: number): WsTimeout | null {
    if (this.#closeDeadline !== Infinity) {
      return now >= this.#closeDeadline ? "close_timeout" : null;
    }
    if (now < this.nextDeadline()) return null;
    if (this.#pingSentAt !== null && this.#timeout > 0) {
      this.#gone = true;
      return "ping_timeout";
    }
    this.#pingSentAt = now;
    return "ping";
  }
}
