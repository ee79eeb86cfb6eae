// The client side of one conformance case: a raw connection whose every
// received byte goes through FrameDecoder (server frames must be unmasked)
// and MessageAssembler, bounded by the case's deadline so that a server
// that never answers turns into a `timeout` event instead of a hang.

import { closeQuietly, errorMessage, isDisconnect } from "../../_io.ts";
import {
  decodeClose,
  encodeFrame,
  type Frame,
  FrameDecoder,
  type FrameInit,
  isProtocolError,
  OPCODE,
} from "../frame.ts";
import { MessageAssembler } from "../message.ts";
import { concatBytes } from "../../_bytes.ts";
import type { HttpResponseHead } from "../handshake.ts";
import { ClientHandshake } from "../client_handshake.ts";
import { type HandshakeExchange, sendHandshake } from "../dial.ts";
import { type RawConnection, rawConnection } from "../_raw_connection.ts";
import type { DialConn } from "../../tcp/dial.ts";
import { WsError } from "../errors.ts";
import {
  createPerMessageDeflate,
  type DeflateOptions,
  type DeflateParams,
  offerPerMessageDeflate,
  type PerMessageDeflate,
} from "../deflate.ts";

/** The verdict of one case. */
export type Verdict = "PASS" | "NON-STRICT" | "INFO" | "FAIL";

/** What a case concluded. */
export interface Outcome {
  verdict: Verdict;
  observed: string;
}

/** Thrown inside a case to end it with FAIL and this observation. */
export class CaseFailure extends Error {
  constructor(observed: string) {
    super(observed);
    this.name = "CaseFailure";
  }
}

/** What the server did, as the case sees it. */
export type ServerEvent =
  /** `compressed`: it came with RSV1 (permessage-deflate) and was inflated. */
  | { type: "text"; data: string; size: number; compressed?: boolean }
  | { type: "binary"; data: Uint8Array; compressed?: boolean }
  | { type: "ping"; payload: Uint8Array }
  | { type: "pong"; payload: Uint8Array }
  | {
    type: "close";
    code: number | null;
    reason: string;
    /** Set when the close frame itself breaks RFC 6455 §5.5.1. */
    problem?: string;
  }
  | { type: "eof"; reset: boolean }
  | { type: "timeout"; afterMs: number }
  /** A server frame that breaks RFC 6455 (masked, RSV bits, bad UTF-8…). */
  | { type: "bad"; reason: string };

/** One WebSocket connection of a case, after a successful handshake. */
export class Session {
  /** The server's handshake response. */
  readonly response: HttpResponseHead;
  readonly #raw: RawConnection;
  readonly #decoder: FrameDecoder;
  readonly #assembler = new MessageAssembler();
  readonly #codec: PerMessageDeflate | null;
  readonly #queue: ServerEvent[] = [];
  readonly #started: number;
  readonly #deadline: number;
  readonly #timer: ReturnType<typeof setTimeout>;
  #end: ServerEvent | null = null;
  #expired = false;
  #closed = false;
  #messageBytes = 0;

  constructor(
    raw: RawConnection,
    started: number,
    deadline: number,
    codec: PerMessageDeflate | null = null,
  ) {
    this.#raw = raw;
    this.#codec = codec;
    this.#decoder = new FrameDecoder({
      expectMasked: false,
      allowedRsv: codec ? 4 : 0,
    });
    this.response = raw.response;
    this.#started = started;
    this.#deadline = deadline;
    // Past the deadline the connection is closed, which settles any read or
    // write in progress: a server that stops reading cannot block a case.
    this.#timer = setTimeout(() => {
      this.#expired = true;
      closeQuietly(raw.conn);
    }, Math.max(0, deadline - Date.now()));
  }

  /** Milliseconds since the case started. */
  elapsed(): number {
    return Date.now() - this.#started;
  }

  /** Encodes and sends one frame, masked with a random key unless `mask` says otherwise. */
  send(frame: FrameInit, chop?: number): Promise<void> {
    return this.write(
      encodeFrame({ ...frame, mask: frame.mask ?? true }),
      chop,
    );
  }

  /**
   * Compresses `data` with the session's permessage-deflate context and
   * sends it as one message with RSV1, in `fragments` frames (default 1).
   */
  sendCompressed(
    opcode: number,
    data: Uint8Array,
    fragments = 1,
  ): Promise<void> {
    if (!this.#codec) throw new Error("no permessage-deflate on this session");
    const payload = this.#codec.compress(data) as Uint8Array;
    const step = Math.ceil(payload.length / fragments);
    const frames: Uint8Array[] = [];
    for (let i = 0; i < fragments; i++) {
      const part = payload.subarray(i * step, (i + 1) * step);
      frames.push(encodeFrame({
        opcode: i === 0 ? opcode : OPCODE.continuation,
        rsv: i === 0 ? 4 : 0,
        fin: i === fragments - 1,
        payload: part,
        mask: true,
      }));
    }
    return this.write(concatBytes(frames));
  }

  /**
   * Writes bytes, in separate writes of `chop` bytes when given. A server
   * that already dropped the connection is not an error here: the case
   * reads what the server did next.
   */
  async write(bytes: Uint8Array, chop?: number): Promise<void> {
    if (this.#closed || this.#expired) return;
    try {
      if (chop === undefined || chop >= bytes.length) {
        await this.#raw.sendRaw(bytes);
      } else {
        for (let at = 0; at < bytes.length; at += chop) {
          await this.#raw.sendRaw(bytes.subarray(at, at + chop));
        }
      }
    } catch (error) {
      if (this.#expired || isDisconnect(error)) return;
      throw error;
    }
  }

  /**
   * The next thing the server did. Waits until the case deadline, or at
   * most `windowMs` (then `timeout` with the connection still usable).
   * Pings from the server are answered and skipped.
   */
  async next(windowMs?: number): Promise<ServerEvent> {
    const started = Date.now();
    for (;;) {
      const queued = this.#queue.shift();
      if (queued) {
        if (queued.type === "ping") {
          await this.send({ opcode: OPCODE.pong, payload: queued.payload });
          continue;
        }
        return queued;
      }
      if (this.#end) return this.#end;
      if (this.#expired || this.#closed) return this.#timeout();
      const until = windowMs === undefined
        ? this.#deadline
        : Math.min(this.#deadline, started + windowMs);
      const chunk = await this.#raw.readChunk(until - Date.now());
      if (!("kind" in chunk)) {
        this.#decode(chunk);
      } else if (chunk.kind === "timeout") {
        if (windowMs !== undefined && Date.now() < this.#deadline) {
          return { type: "timeout", afterMs: Date.now() - started };
        }
        // The deadline timer closes the connection; the read settles then.
      } else if (this.#expired || this.#closed) {
        return this.#timeout();
      } else {
        this.#end = { type: "eof", reset: chunk.reset };
      }
    }
  }

  /** Puts an event back, to be returned by the next {@linkcode Session.next}. */
  unread(event: ServerEvent): void {
    this.#queue.unshift(event);
  }

  /** Whether the case deadline has passed. */
  get expired(): boolean {
    return this.#expired;
  }

  /** Closes the connection and waits for the read in flight to settle. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#raw.close();
    this.#codec?.close();
  }

  #timeout(): ServerEvent {
    return { type: "timeout", afterMs: this.elapsed() };
  }

  #decode(bytes: Uint8Array): void {
    for (const item of this.#decoder.push(bytes)) {
      if (isProtocolError(item)) {
        this.#queue.push({ type: "bad", reason: item.reason });
      } else {
        this.#frame(item);
      }
    }
  }

  #frame(frame: Frame): void {
    switch (frame.opcode) {
      case OPCODE.ping:
        this.#queue.push({ type: "ping", payload: frame.payload });
        return;
      case OPCODE.pong:
        this.#queue.push({ type: "pong", payload: frame.payload });
        return;
      case OPCODE.close:
        this.#queue.push(parseClose(frame.payload));
        return;
    }
    this.#messageBytes += frame.payload.length;
    for (const event of this.#assembler.push(frame)) {
      if ("kind" in event) {
        this.#queue.push({ type: "bad", reason: event.reason });
      } else if (event.type === "compressed") {
        this.#inflated(event.opcode, event.payload);
        this.#messageBytes = 0;
      } else if (event.type === "text") {
        this.#queue.push({
          type: "text",
          data: event.data,
          size: this.#messageBytes,
        });
        this.#messageBytes = 0;
      } else if (event.type === "binary") {
        this.#queue.push({ type: "binary", data: event.data });
        this.#messageBytes = 0;
      }
    }
  }

  #inflated(opcode: 1 | 2, payload: Uint8Array): void {
    let data: Uint8Array;
    try {
      data = this.#codec!.decompress(payload) as Uint8Array;
    } catch (error) {
      this.#queue.push({
        type: "bad",
        reason: `compressed message: ${errorMessage(error)}`,
      });
      return;
    }
    if (opcode === OPCODE.binary) {
      this.#queue.push({ type: "binary", data, compressed: true });
      return;
    }
    try {
      const text = new TextDecoder("utf-8", { fatal: true }).decode(data);
      this.#queue.push({
        type: "text",
        data: text,
        size: data.length,
        compressed: true,
      });
    } catch {
      this.#queue.push({ type: "bad", reason: "invalid UTF-8 once inflated" });
    }
  }
}

/**
 * A close frame's payload judged by the one close rule (`decodeClose`),
 * keeping the code and reason visible when the rule rejects them, so the
 * observation can say what the server sent.
 */
function parseClose(payload: Uint8Array): ServerEvent {
  const decoded = decodeClose(payload);
  if (!isProtocolError(decoded)) return { type: "close", ...decoded };
  const code = payload.length >= 2 ? payload[0]! << 8 | payload[1]! : null;
  const reason = payload.length > 2
    ? new TextDecoder().decode(payload.subarray(2))
    : "";
  return { type: "close", code, reason, problem: decoded.reason };
}

/** Where and how a case connects. */
export interface CaseTarget {
  url: URL;
  caCerts?: string[];
}

/**
 * What a case runs in: its deadline and its connections, all closed by
 * the runner when the case ends however it ends.
 */
export class CaseContext {
  readonly url: URL;
  readonly caCerts: string[] | undefined;
  /** The case's time budget in milliseconds. */
  readonly timeoutMs: number;
  /** How long to wait to decide whether the server reacted "at once". */
  readonly windowMs: number;
  readonly started: number = Date.now();
  readonly deadline: number;
  readonly #sessions: Session[] = [];
  readonly #conns: DialConn[] = [];

  constructor(target: CaseTarget, timeoutMs: number) {
    this.url = target.url;
    this.caCerts = target.caCerts;
    this.timeoutMs = timeoutMs;
    this.windowMs = Math.min(1000, Math.max(100, Math.floor(timeoutMs / 4)));
    this.deadline = this.started + timeoutMs;
  }

  /** Milliseconds left before the deadline (at least 1). */
  remaining(): number {
    return Math.max(1, this.deadline - Date.now());
  }

  /** Opens a WebSocket connection; a refused handshake ends the case with FAIL. */
  async open(): Promise<Session> {
    const { raw } = await this.#upgrade(new ClientHandshake(this.url));
    return this.#session(raw);
  }

  /**
   * Opens a connection offering permessage-deflate with `offer`. Returns
   * the session and the agreed parameters, or `null` when the server
   * declined (then nothing is left open). An answer RFC 7692 forbids ends
   * the case with FAIL.
   */
  async openDeflate(
    offer: DeflateOptions = {},
    maxInflatedSize = 16 * 1024 * 1024,
  ): Promise<{ session: Session; params: DeflateParams } | null> {
    const handshake = new ClientHandshake(this.url, { deflate: offer });
    const offered = offerPerMessageDeflate(offer);
    const { raw, params } = await this.#upgrade(handshake, offered);
    if (params === null) {
      await raw.close();
      return null;
    }
    const codec = createPerMessageDeflate(params, "client", {
      maxInflatedSize,
    });
    if (!codec.sync) {
      codec.close();
      await raw.close();
      throw new CaseFailure(
        "this runtime lacks node:zlib's synchronous handle",
      );
    }
    return { session: this.#session(raw, codec), params };
  }

  /** The handshake through the one edge, judged by its core. */
  async #upgrade(
    handshake: ClientHandshake,
    offered?: string,
  ): Promise<{ raw: RawConnection; params: DeflateParams | null }> {
    const raw = rawConnection(
      await this.#request(handshake.request),
      handshake,
    );
    const [problem] = handshake.check(raw.response);
    if (problem) {
      await raw.close();
      throw new CaseFailure(
        problem.code === "bad_extension"
          ? `offered '${offered}': ${problem.message}`
          : `handshake failed: ${problem.message}`,
      );
    }
    return { raw, params: handshake.accept(raw.response).deflate };
  }

  #session(raw: RawConnection, codec: PerMessageDeflate | null = null) {
    const session = new Session(raw, this.started, this.deadline, codec);
    this.#sessions.push(session);
    return session;
  }

  /**
   * Sends a raw handshake request and returns the response head, or the
   * way the server failed to give one.
   */
  async handshake(
    head: string,
  ): Promise<HttpResponseHead | { failure: string; timeout: boolean }> {
    try {
      const { conn, response } = await this.#request(head);
      closeQuietly(conn);
      return response;
    } catch (error) {
      if (!(error instanceof CaseFailure)) throw error;
      return {
        failure: error.message,
        timeout: error.message.startsWith("timeout"),
      };
    }
  }

  async #request(head: string): Promise<HandshakeExchange> {
    try {
      const exchange = await sendHandshake(this.url, head, {
        timeoutMs: this.remaining(),
        caCerts: this.caCerts,
      });
      this.#conns.push(exchange.conn);
      return exchange;
    } catch (error) {
      if (error instanceof WsError && error.code === "timeout") {
        throw new CaseFailure(
          `timeout after ${
            Date.now() - this.started
          } ms waiting for the handshake response`,
        );
      }
      throw new CaseFailure(errorMessage(error));
    }
  }

  /** Closes every connection the case opened. */
  async closeAll(): Promise<void> {
    for (const conn of this.#conns) closeQuietly(conn);
    await Promise.all(this.#sessions.map((s) => s.close()));
  }
}

/** One case of the catalogue. */
export interface CheckCase {
  /** Dotted id, Autobahn-style where the case matches one: `1.1.2`. */
  id: string;
  /** One sentence: what the case checks and the RFC section. */
  title: string;
  /** What the client sends, in a few words. */
  sends: string;
  /** What RFC 6455 requires of the server, in a few words. */
  requires: string;
  /** Multiplies the per-case timeout (the limits cases move megabytes). */
  budget?: number;
  /** Runs the case; throwing CaseFailure ends it with FAIL. */
  run(context: CaseContext): Promise<Outcome>;
}
