/**
 * The WebSocket protocol core: bytes in, events and bytes out, no I/O
 * (the shape of python-websockets' `protocol.py`). The server, the client,
 * `ws verify` and `ws check` drive it; sockets and timers live in them.
 *
 * @module
 */

import {
  encodeClose,
  encodeFrame,
  type Frame,
  FrameDecoder,
  isValidCloseCode,
  OPCODE,
  type ProtocolError,
} from "./frame.ts";
import { MessageAssembler, type WsEvent } from "./message.ts";
import { WsError } from "./errors.ts";
import { concatBytes } from "../_bytes.ts";
import {
  createPerMessageDeflate,
  type DeflateParams,
  type PerMessageDeflate,
} from "./deflate.ts";

/**
 * Which end of the connection a {@linkcode WsProtocol} plays: a server
 * requires masked frames and sends unmasked ones, a client the reverse.
 */
export type WsRole = "server" | "client";

/**
 * Options of {@linkcode WsProtocol}.
 */
export interface WsProtocolOptions {
  /** `server` or `client`. */
  role: WsRole;
  /**
   * Largest message in bytes, fragments counted as their headers arrive:
   * the frame that would cross it fails the connection with 1009 before
   * its payload is buffered. Default 64 MiB.
   */
  maxMessageSize?: number;
  /**
   * An extension negotiated RSV1 (permessage-deflate): RSV1 messages are
   * then delivered as `compressed` events instead of failing with 1002.
   * Default false.
   */
  rsv1?: boolean;
  /**
   * permessage-deflate parameters the handshake agreed on: RSV1 is then
   * accepted on the first frame of a data message, such messages are
   * inflated (the inflated size limited to `maxMessageSize` while
   * inflating: past it, 1009) and text checked as UTF-8 after inflating,
   * and `sendText`/`sendBinary`/`sendMessage` compress. Call
   * `[Symbol.dispose]()` when the connection ends to free the zlib state.
   */
  deflate?: DeflateParams;
  /** Answer each ping with a pong automatically. Default true. */
  autoPong?: boolean;
  /** Text events also carry their UTF-8 `bytes` (for echo and relays). */
  keepTextBytes?: boolean;
}

/**
 * What a {@linkcode WsProtocol} reports from received bytes: messages,
 * pings and pongs, the peer's close, or the protocol error that failed
 * the connection (the Close frame for it is already queued).
 */
export type WsProtocolEvent = WsEvent;

/**
 * Where the closing handshake stands:
 * - `open`: data flows both ways.
 * - `closing`: this end sent Close and waits for the peer's.
 * - `closed`: both Closes were exchanged, or the connection failed; the
 *   transport should be closed once the output is written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { WsProtocolState } from "@netkit/netkit/ws";
 *
 * const states: WsProtocolState[] = ["open", "closing", "closed"];
 * assert.ok(states.includes("closing"));
 * ```
 */
export type WsProtocolState = "open" | "closing" | "closed";

const MAX_REASON_BYTES = 123;
const KEY_POOL = 4096;
// Payloads from this size on are written from where they are, not copied
// into a joined buffer: the copy would cost more than the extra write.
const BY_REFERENCE = 16 * 1024;
const encoder = new TextEncoder();
// Shared until a client's first frame: a server never masks.
const NO_KEYS = new Uint8Array(0);
const FATAL_UTF8 = new TextDecoder("utf-8", { fatal: true });

// The core does no I/O and never waits: it needs the synchronous zlib
// handle, which Deno 2.9 has (ws/_zlib.ts). Without it the engine cannot
// use permessage-deflate, and says so (once, when a connection is set up
// with it) rather than half-working.
let syncZlib: boolean | undefined;

function checkSyncZlib(params: DeflateParams): void {
  if (syncZlib === undefined) {
    const probe = createPerMessageDeflate(params, "server");
    syncZlib = probe.sync;
    probe.close();
  }
  if (!syncZlib) {
    throw new WsError(
      "protocol_error",
      "permessage-deflate needs node:zlib's synchronous handle, which this runtime lacks",
    );
  }
}

/**
 * An RFC 6455 connection after the opening handshake, as a state machine.
 * {@linkcode WsProtocol.receive} takes bytes as they arrive (any split)
 * and returns events; the `send*` methods queue frames; and
 * {@linkcode WsProtocol.takeOutput} returns everything queued in as few
 * buffers as possible, so a driver writes once per read. Pings are answered and the
 * peer's Close is echoed without the driver's help. Limits are checked
 * where bytes arrive: frame and message sizes before buffering, control
 * frames ≤ 125 bytes, masking direction (an unmasked client frame is 1002
 * on a server), reserved bits and opcodes, UTF-8 of text fragment by
 * fragment, close codes and reasons. The buffered memory of a connection
 * stays below `maxMessageSize` plus what the driver reads at once.
 *
 * Frames with RSV1 are accepted only when `rsv1` says an extension
 * negotiated it; such messages come out as `compressed` events, and
 * {@linkcode WsProtocol.sendFrame} sends an already-compressed payload.
 *
 * @example A server answering a masked text frame and a ping in one read
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeFrame, OPCODE, WsProtocol } from "@netkit/netkit/ws";
 *
 * const server = new WsProtocol({ role: "server" });
 * const bytes = new Uint8Array([
 *   ...encodeFrame({ opcode: OPCODE.text, payload: new TextEncoder().encode("hi"), mask: true }),
 *   ...encodeFrame({ opcode: OPCODE.ping, mask: true }),
 * ]);
 * const events = server.receive(bytes);
 * assert.deepEqual(events.map((e) => "type" in e && e.type), ["text", "ping"]);
 * server.sendText("hi");
 * // The pong and the echo leave in one buffer.
 * const [out, ...more] = server.takeOutput()!;
 * assert.equal(more.length, 0);
 * assert.deepEqual([...out!], [0x8a, 0x00, 0x81, 0x02, 0x68, 0x69]);
 * ```
 */
export class WsProtocol {
  readonly #role: WsRole;
  readonly #decoder: FrameDecoder;
  readonly #assembler: MessageAssembler;
  readonly #autoPong: boolean;
  #state: WsProtocolState = "open";
  #closeSent = false;
  #closeReceived = false;
  #peerClose: { code: number | null; reason: string } | null = null;
  #failure: ProtocolError | null = null;
  // The Close that answers the peer's Close or a protocol error waits
  // until the driver takes the output, so replies to the messages that came
  // before it in the same read still go out first (Autobahn 3.2, 7.1.1).
  #deferredClose: { code?: number; reason: string } | null = null;
  #output: Uint8Array[] = [];
  // Validation state of a text frame still arriving (see #checkPartialText).
  #partialText:
    | { buffer: ArrayBufferLike; checked: number; decoder: TextDecoder }
    | null = null;
  #outputBytes = 0;
  #keys = NO_KEYS;
  #keyAt = 0;
  // permessage-deflate: the agreed parameters, and the zlib contexts,
  // made at the first compressed message either way (an idle connection
  // then costs no zlib state: a few hundred KB each otherwise).
  readonly #deflate: DeflateParams | null;
  readonly #maxMessageSize: number;
  #codecState: PerMessageDeflate | null = null;
  readonly #keepTextBytes: boolean;
  #disposed = false;

  /**
   * Creates the state machine of an open connection.
   *
   * @param options The role, limits and negotiated extension bits.
   */
  constructor(options: WsProtocolOptions) {
    this.#role = options.role;
    const maxMessageSize = options.maxMessageSize ?? 64 * 1024 * 1024;
    this.#decoder = new FrameDecoder({
      expectMasked: options.role === "server",
      maxPayload: maxMessageSize,
      maxMessageSize,
      allowedRsv: options.rsv1 || options.deflate ? 4 : 0,
    });
    this.#keepTextBytes = options.keepTextBytes ?? false;
    this.#maxMessageSize = maxMessageSize;
    this.#deflate = options.deflate ?? null;
    if (this.#deflate) checkSyncZlib(this.#deflate);
    this.#assembler = new MessageAssembler({
      maxMessageSize,
      keepTextBytes: options.keepTextBytes ?? false,
    });
    this.#autoPong = options.autoPong ?? true;
  }

  /** Whether permessage-deflate is in use. */
  get compressing(): boolean {
    return this.#deflate !== null;
  }

  /** Frees the compression state (a no-op without permessage-deflate). */
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#codecState?.close();
  }

  /** Where the closing handshake stands. */
  get state(): WsProtocolState {
    return this.#state;
  }

  /** Whether this end has sent its Close frame. */
  get closeSent(): boolean {
    return this.#closeSent;
  }

  /** Whether the peer's Close frame has arrived. */
  get closeReceived(): boolean {
    return this.#closeReceived;
  }

  /** The peer's Close code and reason, once it arrived. */
  get peerClose(): { code: number | null; reason: string } | null {
    return this.#peerClose;
  }

  /** The protocol error that failed the connection, if any. */
  get failure(): ProtocolError | null {
    return this.#failure;
  }

  /** Bytes queued and not yet taken by {@linkcode WsProtocol.takeOutput}. */
  get pendingBytes(): number {
    return this.#outputBytes;
  }

  /** Whether {@linkcode WsProtocol.takeOutput} has something to return. */
  get hasOutput(): boolean {
    return this.#outputBytes > 0 || this.#deferredClose !== null;
  }

  /**
   * Consumes received bytes (the caller may reuse the buffer afterwards)
   * and returns the events they complete, in order. Everything after the
   * peer's Close or a protocol error is ignored.
   */
  receive(bytes: Uint8Array): WsProtocolEvent[] {
    if (this.#closeReceived || this.#failure) return [];
    return this.#consume(this.#decoder.push(bytes));
  }

  /**
   * Where a driver may read the rest of a large frame's payload straight
   * from the socket (at least `min` bytes of it still to come), or `null`;
   * then it calls {@linkcode WsProtocol.receiveInPlace}. See
   * {@linkcode FrameDecoder.payloadSpace}.
   */
  receiveSpace(min = 0): Uint8Array | null {
    if (this.#closeReceived || this.#failure) return null;
    return this.#decoder.payloadSpace(min);
  }

  /**
   * Like {@linkcode WsProtocol.receive} for `n` bytes already read into
   * {@linkcode WsProtocol.receiveSpace}.
   */
  receiveInPlace(n: number): WsProtocolEvent[] {
    if (this.#closeReceived || this.#failure) return [];
    return this.#consume(this.#decoder.pushInPlace(n));
  }

  #consume(items: Array<Frame | ProtocolError>): WsProtocolEvent[] {
    const events: WsProtocolEvent[] = [];
    for (const item of items) {
      if ("kind" in item) {
        this.#fail(item, events);
        return events;
      }
      for (let event of this.#assembler.push(item)) {
        if (this.#deflate && "type" in event && event.type === "compressed") {
          event = this.#inflate(event.opcode, event.payload);
        }
        if ("kind" in event) {
          this.#fail(event, events);
          return events;
        }
        events.push(event);
        if (event.type === "ping") {
          if (this.#autoPong && !this.#closeSent) {
            this.#queue(OPCODE.pong, event.payload, true, 0);
          }
        } else if (event.type === "close") {
          this.#peerClosed(event.code, event.reason);
          return events;
        }
      }
    }
    this.#checkPartialText(events);
    return events;
  }

  /**
   * Invalid UTF-8 fails the connection when the bytes arrive, not when
   * their frame is complete (Autobahn 6.4.4): the arrived part of a text
   * frame that starts a message is validated as it grows. (Later
   * fragments are checked per frame by the assembler, whose decoder
   * carries code points split across fragments.)
   */
  #checkPartialText(events: WsProtocolEvent[]): void {
    const partial = this.#decoder.partial;
    // A compressed frame's bytes are DEFLATE data, checked after inflating.
    if (
      partial === null || partial.opcode !== OPCODE.text || partial.rsv !== 0
    ) {
      this.#partialText = null;
      return;
    }
    const { bytes } = partial;
    if (this.#partialText?.buffer !== bytes.buffer) {
      this.#partialText = {
        buffer: bytes.buffer,
        checked: 0,
        decoder: new TextDecoder("utf-8", { fatal: true }),
      };
    }
    const state = this.#partialText;
    if (bytes.length === state.checked) return;
    try {
      state.decoder.decode(bytes.subarray(state.checked), { stream: true });
      state.checked = bytes.length;
    } catch {
      this.#partialText = null;
      this.#fail(
        {
          kind: "protocol_error",
          closeCode: 1007,
          reason: "invalid UTF-8 in a text message",
        },
        events,
      );
    }
  }

  /** Queues a text message; false (nothing queued) once Close was sent. */
  sendText(text: string): boolean {
    return this.sendMessage(OPCODE.text, encoder.encode(text));
  }

  /** Queues a binary message; false (nothing queued) once Close was sent. */
  sendBinary(data: Uint8Array): boolean {
    return this.sendMessage(OPCODE.binary, data);
  }

  /**
   * Queues one whole message (`OPCODE.text` with UTF-8 bytes, or
   * `OPCODE.binary`), compressed with RSV1 when permessage-deflate is in
   * use. False (nothing queued) once Close was sent.
   */
  sendMessage(opcode: number, data: Uint8Array): boolean {
    if (this.#closeSent || this.#disposed) return false;
    if (this.#deflate === null) {
      this.#queue(opcode, data, true, 0);
      return true;
    }
    this.#queue(opcode, this.#codec().compress(data) as Uint8Array, true, 4);
    return true;
  }

  #codec(): PerMessageDeflate {
    return this.#codecState ??= createPerMessageDeflate(
      this.#deflate!,
      this.#role,
      { maxInflatedSize: this.#maxMessageSize },
    );
  }

  #inflate(opcode: 1 | 2, payload: Uint8Array): WsProtocolEvent {
    let data: Uint8Array;
    try {
      data = this.#codec().decompress(payload) as Uint8Array;
    } catch (error) {
      const tooLarge = error instanceof WsError &&
        error.code === "message_too_large";
      return {
        kind: "protocol_error",
        closeCode: tooLarge ? 1009 : 1002,
        reason: tooLarge
          ? "message too large once inflated"
          : "invalid compressed data",
      };
    }
    if (opcode === OPCODE.binary) return { type: "binary", data };
    let text: string;
    try {
      text = FATAL_UTF8.decode(data);
    } catch {
      return {
        kind: "protocol_error",
        closeCode: 1007,
        reason: "invalid UTF-8 in a text message",
      };
    }
    return this.#keepTextBytes
      ? { type: "text", data: text, bytes: data }
      : { type: "text", data: text };
  }

  /**
   * Queues one data frame as given: `fin: false` starts or continues a
   * fragmented message, `rsv: 4` marks a payload an extension already
   * compressed. False (nothing queued) once Close was sent.
   */
  sendFrame(
    opcode: number,
    payload: Uint8Array,
    options: { fin?: boolean; rsv?: number } = {},
  ): boolean {
    if (this.#closeSent) return false;
    this.#queue(opcode, payload, options.fin ?? true, options.rsv ?? 0);
    return true;
  }

  /** Queues a ping (payload ≤ 125 bytes); false once Close was sent. */
  sendPing(payload: Uint8Array = new Uint8Array(0)): boolean {
    if (this.#closeSent) return false;
    if (payload.length > 125) {
      throw new WsError(
        "protocol_error",
        "a ping payload is at most 125 bytes",
      );
    }
    this.#queue(OPCODE.ping, payload, true, 0);
    return true;
  }

  /**
   * Starts the closing handshake (or answers the peer's): queues a Close
   * with `code` (absent: an empty Close) and `reason`, cut to 123 bytes on
   * a character boundary. Does nothing once Close was sent.
   *
   * @throws {WsError} `bad_close` for a code that may not be sent (1005,
   * 1006, 1015, outside 1000–4999).
   */
  close(code?: number, reason = ""): void {
    if (code !== undefined && !isValidCloseCode(code)) {
      throw new WsError("bad_close", `close code ${code} may not be sent`);
    }
    if (this.#closeSent || this.#deferredClose) return;
    this.#sendClose(code, reason);
  }

  /**
   * Everything queued since the last call (`null` when nothing is), as
   * few buffers as possible for as few writes as possible: adjacent small
   * frames are joined into one buffer, while a large unmasked payload is
   * passed on as it is, not copied (so a payload given to `send*` must not
   * be changed until it has been taken).
   */
  takeOutput(): Uint8Array[] | null {
    if (this.#deferredClose) {
      const { code, reason } = this.#deferredClose;
      this.#deferredClose = null;
      this.#sendClose(code, reason);
    }
    if (this.#output.length === 0) return null;
    const chunks = this.#output;
    this.#output = [];
    this.#outputBytes = 0;
    if (chunks.length === 1) return chunks;
    const out: Uint8Array[] = [];
    let run: Uint8Array[] = [];
    let runBytes = 0;
    const endRun = () => {
      if (run.length === 1) out.push(run[0]!);
      else if (run.length > 1) out.push(concatBytes(run, runBytes));
      run = [];
      runBytes = 0;
    };
    for (const chunk of chunks) {
      if (chunk.length >= BY_REFERENCE) {
        endRun();
        out.push(chunk);
      } else {
        run.push(chunk);
        runBytes += chunk.length;
      }
    }
    endRun();
    return out;
  }

  /** Drops queued output (a transport that can no longer write). */
  discardOutput(): void {
    this.#output = [];
    this.#outputBytes = 0;
    this.#deferredClose = null;
  }

  #peerClosed(code: number | null, reason: string): void {
    this.#closeReceived = true;
    this.#peerClose = { code, reason };
    // Echo the code and reason (RFC 6455 §5.5.1); an empty Close gets an empty one.
    if (!this.#closeSent) {
      this.#deferredClose = { code: code ?? undefined, reason };
    }
    this.#state = "closed";
  }

  #fail(error: ProtocolError, events: WsProtocolEvent[]): void {
    this.#failure = error;
    events.push(error);
    if (!this.#closeSent) {
      this.#deferredClose = { code: error.closeCode, reason: error.reason };
    }
    this.#state = "closed";
  }

  #sendClose(code: number | undefined, reason: string): void {
    this.#closeSent = true;
    if (this.#state === "open") this.#state = "closing";
    this.#deferredClose = null;
    this.#queue(
      OPCODE.close,
      code === undefined ? encodeClose() : encodeClose(code, cut(reason)),
      true,
      0,
    );
  }

  #queue(opcode: number, payload: Uint8Array, fin: boolean, rsv: number) {
    if (this.#role === "server" && payload.length >= BY_REFERENCE) {
      // Header and payload as two chunks: a large payload is not copied.
      const header = encodeFrame({ opcode, fin, rsv, length: payload.length });
      this.#output.push(header, payload);
      this.#outputBytes += header.length + payload.length;
      return;
    }
    const frame = encodeFrame({
      opcode,
      payload,
      fin,
      rsv,
      mask: this.#role === "client" ? this.#nextKey() : false,
    });
    this.#output.push(frame);
    this.#outputBytes += frame.length;
  }

  // One getRandomValues call per 1024 masking keys instead of one per frame.
  #nextKey(): Uint8Array {
    if (this.#keyAt + 4 > this.#keys.length) {
      this.#keys = crypto.getRandomValues(new Uint8Array(KEY_POOL));
      this.#keyAt = 0;
    }
    const key = this.#keys.subarray(this.#keyAt, this.#keyAt + 4);
    this.#keyAt += 4;
    return key;
  }
}

/** `reason` cut to at most 123 UTF-8 bytes without splitting a character. */
function cut(reason: string): string {
  if (reason.length <= MAX_REASON_BYTES / 3) return reason;
  const bytes = encoder.encode(reason);
  if (bytes.length <= MAX_REASON_BYTES) return reason;
  let end = MAX_REASON_BYTES;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}
