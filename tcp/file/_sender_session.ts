// The sending side of the file-transfer protocol as a state machine with
// no I/O: the receiver's bytes in, events out, and every frame the sender
// sends built (and sealed) here, the content frames in place in the
// driver's buffers. It holds the sender's half of the grammar (hello,
// proofs, FILE → ACCEPT | STATUS, START / DATA / END → STATUS, DONE →
// SESSION), every check on what the receiver says (its proof, the STATUS
// MACs, the stored digest) and the no-progress deadline, with time as an
// input. The driver (sender.ts, _send_content.ts) owns the socket, the
// files and the clock.

import { createHash, type Hash, timingSafeEqual } from "node:crypto";
import {
  codeFromWire,
  couldBeHello,
  createFrameCipher,
  decodeAccept,
  decodeHello,
  decodeNotice,
  decodeStatus,
  DIGEST_BYTES,
  encodeFileEntry,
  encodeFrame,
  encodeHello,
  encodeU64,
  endMac,
  EntryKind,
  FILE_PROTOCOL_VERSION,
  FLAG_NO_RESUME,
  FRAME_HEADER_BYTES,
  type FrameCipher,
  HELLO_BYTES,
  HELLO_FLAG_CODE,
  HELLO_FLAG_PLAIN_OVER_TLS,
  MAX_CONTROL_PAYLOAD,
  MAX_DATA_PAYLOAD,
  MessageType,
  SEAL_OVERHEAD,
  type SessionKeys,
  statusMac,
  writeFrameHeader,
} from "./protocol.ts";
import { FileTransferError, type FileTransferErrorCode } from "./errors.ts";
import type { TransferFailure } from "./types.ts";
import { escapeControl } from "../../escape.ts";
import { FrameInbox } from "./_inbox.ts";
import type { KeySchedule } from "./_key_schedule.ts";
import { CPACE_SHARE_BYTES } from "./_cpace.ts";
import { concatBytes } from "../../_bytes.ts";
import { failureOf } from "./_failure.ts";

// A content buffer holds [START frame][DATA header][content][tag][END
// frame], so the first and last chunks carry their control frames in the
// same write: no small write ever waits behind another for Nagle and
// delayed ACKs (TLS connections cannot turn Nagle off). Room is kept for
// sealed frames; unsealed ones use less of it.
const START_ROOM = FRAME_HEADER_BYTES + 8 + SEAL_OVERHEAD;
const END_ROOM = FRAME_HEADER_BYTES + 2 * DIGEST_BYTES + SEAL_OVERHEAD;
/** Where a chunk's content goes in a content buffer (room for frames before it). */
export const CONTENT_AT = START_ROOM + FRAME_HEADER_BYTES;
/** Size of a content buffer: a whole chunk with its frames. */
export const CONTENT_BUFFER_BYTES = CONTENT_AT + MAX_DATA_PAYLOAD +
  SEAL_OVERHEAD + END_ROOM;
/** Largest chunk of content per DATA frame. */
export const CONTENT_CHUNK = MAX_DATA_PAYLOAD;
// Room for the largest sealed control frame a receiver may send.
const INBOX_BYTES = MAX_CONTROL_PAYLOAD + 1024;
const ZEROS: Uint8Array = new Uint8Array(DIGEST_BYTES);

/** The receiver's verdict on one entry, its MAC checked. */
export interface EntryVerdict {
  /** `ok` (stored) or why not. */
  code: FileTransferErrorCode | "ok";
  /** The receiver's words (not escaped). */
  message: string;
  /** Where it was stored, relative to the receiver's folder. */
  storedAs: string;
}

/** What the sender core reports. */
export type SenderEvent =
  /** The receiver proved the token; entries may be offered. */
  | { type: "authenticated" }
  /**
   * `ACCEPT`: hash the first `verify` bytes of the local file through
   * `hashPrefix()` (0: nothing to check), then `startContent()`.
   */
  | { type: "accept"; offset: number; verify: number }
  /** The verdict on the offered entry; the next may be offered. */
  | { type: "verdict"; verdict: EntryVerdict }
  /** `SESSION`: the receiver confirmed the end of the session. */
  | { type: "done" }
  /** The session failed; close the connection. */
  | { type: "failed"; failure: TransferFailure };

/** Options of {@linkcode SenderSession}. */
export interface SenderSessionOptions {
  /** Where the session's keys come from. */
  keys: KeySchedule;
  /** Verified TLS protects the connection: ask for unsealed frames. */
  plainOverTls?: boolean;
  /** Milliseconds without progress before the session fails; 0 never. */
  timeoutMs?: number;
  /** The time now, in milliseconds (any fixed origin). */
  now: number;
  /** This side's 32-byte hello nonce; random by default. */
  nonce?: Uint8Array;
}

/** An entry to offer. */
export interface EntryOffer {
  /** A file or a directory. */
  kind: "file" | "directory";
  /** The relative path the receiver is offered. */
  path: string;
  /** Permission bits. */
  mode: number;
  /** Size in bytes (0 for a directory). */
  size: number;
  /** Whether a partial file on the receiver may be continued. */
  resume: boolean;
}

type Stage =
  | "hello"
  | "share"
  | "auth"
  | "ready"
  | "offered"
  | "accepted"
  | "stream"
  | "verdict"
  | "ending"
  | "done"
  | "failed";

/** One session of the sender, from its hello to the receiver's `SESSION`. */
export class SenderSession {
  readonly #schedule: KeySchedule;
  readonly #plainOverTls: boolean;
  readonly #timeoutMs: number;
  readonly #senderHello: Uint8Array;
  #receiverHello: Uint8Array | undefined;
  #stage: Stage = "hello";
  #inbox = new FrameInbox(INBOX_BYTES);
  #events: SenderEvent[] = [];
  #output: Uint8Array[] = [];
  #keys: SessionKeys | undefined;
  #cipher: FrameCipher | undefined;
  #failure: TransferFailure | undefined;
  #lastProgress: number;
  #index = 0;
  // The entry in progress.
  #offer: EntryOffer | undefined;
  #pathBytes = new Uint8Array(0);
  #acceptSha: Uint8Array = ZEROS;
  #verify = 0;
  #prefixed = 0;
  #hash: Hash | undefined;
  #from = 0;
  #sent = 0;
  #started = false;
  #digest: Uint8Array | undefined;

  constructor(options: SenderSessionOptions) {
    this.#schedule = options.keys;
    this.#plainOverTls = options.plainOverTls ?? false;
    this.#timeoutMs = options.timeoutMs ?? 0;
    this.#lastProgress = options.now;
    const nonce = options.nonce ??
      crypto.getRandomValues(new Uint8Array(DIGEST_BYTES));
    this.#senderHello = encodeHello(nonce, {
      code: (this.#plainOverTls ? HELLO_FLAG_PLAIN_OVER_TLS : 0) |
        (this.#schedule.mode === "code" ? HELLO_FLAG_CODE : 0),
    });
    this.#output.push(this.#senderHello);
  }

  /** Why the session failed, once it has. */
  get failure(): TransferFailure | undefined {
    return this.#failure;
  }

  /** True once the session is over: `SESSION` arrived, or it failed. */
  get finished(): boolean {
    return this.#stage === "done" || this.#stage === "failed";
  }

  /** True while content frames are wanted (`sealContent`, `endContent`). */
  get streaming(): boolean {
    return this.#stage === "stream";
  }

  /** Hex SHA-256 of the content of the last file whose `END` was sent. */
  get digest(): string {
    return this.#digest?.toHex() ?? "";
  }

  /** Room to read into; pass what was read to {@linkcode commit}. */
  space(): Uint8Array {
    if (this.finished) this.#inbox.clear();
    return this.#inbox.space(
      this.#stage === "hello" ? HELLO_BYTES : this.#inbox.frameNeed,
    );
  }

  /** `n` bytes were read into {@linkcode space} at `now`. */
  commit(n: number, now: number): SenderEvent[] {
    this.#inbox.commit(n);
    this.#lastProgress = now;
    this.#parse();
    return this.#takeEvents();
  }

  /** Bytes from anywhere (copied in, in any split) at `now`. */
  receive(bytes: Uint8Array, now: number): SenderEvent[] {
    let at = 0;
    while (at < bytes.length) {
      const room = this.space();
      const n = Math.min(room.length, bytes.length - at);
      room.set(bytes.subarray(at, at + n), 0);
      at += n;
      this.#inbox.commit(n);
      this.#lastProgress = now;
      this.#parse();
    }
    return this.#takeEvents();
  }

  /** The receiver closed the connection (or it was cut). */
  eof(): SenderEvent[] {
    this.#fail(
      new FileTransferError(
        "connection_closed",
        this.#stage === "hello"
          ? "the receiver closed the connection before its hello"
          : "the connection closed in the middle of the session",
      ),
    );
    return this.#takeEvents();
  }

  /** Bytes moved at `now` (a write finished, a chunk was read or hashed). */
  progress(now: number): void {
    this.#lastProgress = now;
  }

  /** The moment the no-progress deadline passes, if one runs. */
  pollTimeout(): number | undefined {
    if (this.finished || !(this.#timeoutMs > 0)) return undefined;
    return this.#lastProgress + this.#timeoutMs;
  }

  /** Time passes: fails the session when nothing moved for too long. */
  handleTimeout(now: number): SenderEvent[] {
    const at = this.pollTimeout();
    if (at !== undefined && now >= at) {
      this.#fail(
        new FileTransferError("timeout", "the receiver stopped answering"),
      );
    }
    return this.#takeEvents();
  }

  /** Frames to send, in order; empties the queue. */
  takeOutput(): Uint8Array[] {
    const out = this.#output;
    this.#output = [];
    return out;
  }

  /** Offers an entry (`FILE`); a `verdict` or an `accept` follows. */
  offer(entry: EntryOffer): void {
    if (!this.#expect("ready", "offer")) return;
    this.#offer = entry;
    this.#pathBytes = new TextEncoder().encode(entry.path);
    this.#digest = undefined;
    this.#send(
      MessageType.FILE,
      encodeFileEntry({
        kind: entry.kind === "directory" ? EntryKind.DIRECTORY : EntryKind.FILE,
        flags: entry.resume ? 0 : FLAG_NO_RESUME,
        mode: entry.mode & 0o7777,
        size: entry.size,
        path: this.#pathBytes,
      }),
    );
    this.#stage = "offered";
  }

  /** Bytes of the local file's prefix, in order, after an `accept`. */
  hashPrefix(chunk: Uint8Array): void {
    if (!this.#expect("accepted", "hashPrefix")) return;
    this.#hash!.update(chunk);
    this.#prefixed += chunk.length;
  }

  /**
   * Decides where the content starts: at the receiver's offer when the
   * hashed prefix matches its digest, else at 0 (the file changed).
   */
  startContent(): number {
    if (!this.#expect("accepted", "startContent")) return 0;
    const matches = this.#verify > 0 && this.#prefixed === this.#verify &&
      timingSafeEqual(
        new Uint8Array(this.#hash!.copy().digest()),
        this.#acceptSha,
      );
    this.#from = matches ? this.#verify : 0;
    if (!matches) this.#hash = createHash("sha256");
    this.#sent = this.#from;
    this.#started = false;
    this.#stage = "stream";
    return this.#from;
  }

  /**
   * The hot path: `n` bytes of content sit at {@linkcode CONTENT_AT} in
   * `buf` (a {@linkcode CONTENT_BUFFER_BYTES} buffer). Hashes them and
   * builds the frames around them in place (`START` before the first
   * chunk, `END` after the last, sealed unless verified TLS); the queued
   * output is a view of `buf`, so `buf` must stay untouched until it is
   * written. Touches nothing but `buf`: it may run while the previous
   * buffer is still being written.
   */
  sealContent(buf: Uint8Array, n: number): void {
    if (!this.#expect("stream", "sealContent")) return;
    const size = this.#offer!.size;
    if (this.#sent + n > size) {
      throw new FileTransferError(
        "size_mismatch",
        `'${this.#offer!.path}': more content than the ${size} bytes announced`,
      );
    }
    const content = buf.subarray(CONTENT_AT, CONTENT_AT + n);
    this.#hash!.update(content);
    this.#sent += n;
    let head = CONTENT_AT - FRAME_HEADER_BYTES;
    if (!this.#started) {
      head -= this.#startBytes();
      this.#put(buf, head, MessageType.START, encodeU64(this.#from));
      this.#started = true;
    }
    // Sealing copies the ciphertext over the plaintext it was made from.
    let to = this.#put(
      buf,
      CONTENT_AT - FRAME_HEADER_BYTES,
      MessageType.DATA,
      content,
    );
    if (this.#sent >= size) {
      to = this.#put(buf, to, MessageType.END, this.#endPayload());
      this.#stage = "verdict";
    }
    this.#output.push(buf.subarray(head, to));
  }

  /**
   * Ends the content before the announced size (the file shrank; an
   * empty file): `START` if none went out yet, then `END`. The receiver
   * reports a size mismatch for a short file.
   */
  endContent(): void {
    if (!this.#expect("stream", "endContent")) return;
    const out = new Uint8Array(this.#startBytes() + END_ROOM);
    let to = 0;
    if (!this.#started) {
      to = this.#put(out, to, MessageType.START, encodeU64(this.#from));
    }
    to = this.#put(out, to, MessageType.END, this.#endPayload());
    this.#output.push(out.subarray(0, to));
    this.#stage = "verdict";
  }

  /** No more entries (`DONE`); `done` follows. */
  finish(): void {
    if (!this.#expect("ready", "finish")) return;
    this.#send(MessageType.DONE, new Uint8Array(0));
    this.#stage = "ending";
  }

  // --- parsing -------------------------------------------------------------

  #parse(): void {
    try {
      while (!this.finished) {
        if (this.#stage === "hello") {
          if (!this.#hello()) return;
          continue;
        }
        if (!this.#frame()) return;
      }
    } catch (error) {
      this.#fail(error);
    }
    if (this.finished) this.#inbox.clear();
  }

  #takeEvents(): SenderEvent[] {
    const events = this.#events;
    this.#events = [];
    return events;
  }

  #hello(): boolean {
    const buffered = this.#inbox.buffered;
    if (!couldBeHello(buffered)) {
      throw new FileTransferError(
        "bad_hello",
        "the receiver does not speak the netkit file protocol (is it a --basic receiver? then send with --basic)",
      );
    }
    if (buffered.length < HELLO_BYTES) return false;
    const receiverHello = this.#inbox.take(HELLO_BYTES).slice();
    const hello = decodeHello(receiverHello);
    if (hello.version !== FILE_PROTOCOL_VERSION) {
      throw new FileTransferError(
        "version_mismatch",
        `the receiver speaks protocol version ${hello.version}; this sender speaks ${FILE_PROTOCOL_VERSION}`,
      );
    }
    if (hello.code !== 0) {
      const code = codeFromWire(hello.code);
      throw new FileTransferError(
        code === "ok" ? "protocol_error" : code,
        code === "mode_mismatch"
          ? (this.#schedule.mode === "code"
            ? "the receiver takes a token, not a code: send with --token"
            : "the receiver takes a code, not a token: send with --code (the receiver printed it)")
          : `the receiver refused the hello (${code})`,
      );
    }
    if (this.#schedule.mode === "code") {
      // The receiver's CPace share follows its hello.
      this.#receiverHello = receiverHello;
      this.#stage = "share";
      return true;
    }
    this.#keys = this.#schedule.derive(this.#senderHello, receiverHello);
    this.#output.push(encodeFrame(MessageType.AUTH, this.#keys.senderProof));
    this.#stage = "auth";
    return true;
  }

  // The receiver's share: ours and the proof go back in one write. A
  // low-order share is refused: it would let a receiver without the code
  // know the keys.
  #share(payload: Uint8Array): void {
    if (
      this.#schedule.mode !== "code" || payload.length !== CPACE_SHARE_BYTES
    ) {
      throw new FileTransferError(
        "protocol_error",
        "the receiver's share is not 32 bytes",
      );
    }
    const exchange = this.#schedule.begin(
      "sender",
      this.#senderHello,
      this.#receiverHello!,
    );
    const keys = exchange.finish(payload);
    if (!keys) {
      throw new FileTransferError(
        "protocol_error",
        "the receiver's share is a low-order point (refused: it would make the keys known without the code)",
      );
    }
    this.#keys = keys;
    this.#output.push(concatBytes([
      encodeFrame(MessageType.SENDER_SHARE, exchange.share),
      encodeFrame(MessageType.AUTH, keys.senderProof),
    ]));
    this.#stage = "auth";
  }

  #frame(): boolean {
    const frame = this.#inbox.nextFrame(
      this.#cipher ? SEAL_OVERHEAD : 0,
      (type) => {
        // What the receiver may say is known before its payload arrives.
        if (type !== MessageType.ERROR && !this.#allowed().has(type)) {
          throw new FileTransferError(
            "protocol_error",
            `expected ${this.#expected()}, got message type ${type}`,
          );
        }
      },
    );
    if (frame === null) return false;
    const payload = this.#cipher
      ? this.#cipher.open(frame.header, frame.body)
      : frame.body;
    if (frame.type === MessageType.ERROR) this.#error(payload);
    else this.#handle(frame.type, payload);
    return true;
  }

  #allowed(): ReadonlySet<number> {
    switch (this.#stage) {
      case "share":
        return RECEIVER_SHARE;
      case "auth":
        return AUTH_OK;
      case "offered":
        return this.#offer!.kind === "file" ? ACCEPT_OR_STATUS : STATUS;
      case "verdict":
        return STATUS;
      case "ending":
        return SESSION;
      default:
        return NONE;
    }
  }

  #expected(): string {
    switch (this.#stage) {
      case "share":
        return "the receiver's share";
      case "auth":
        return "AUTH_OK";
      case "offered":
        return this.#offer!.kind === "file" ? "ACCEPT or STATUS" : "STATUS";
      case "verdict":
        return "STATUS";
      case "ending":
        return "SESSION";
      default:
        return "nothing";
    }
  }

  // ERROR ends the session with the receiver's reason.
  #error(payload: Uint8Array): void {
    const notice = decodeNotice(payload);
    const code = codeFromWire(notice.code);
    throw new FileTransferError(
      code === "ok" ? "protocol_error" : code,
      // Thrown errors get printed: the receiver's words are escaped here.
      `receiver: ${escapeControl(notice.message)}`,
    );
  }

  #handle(type: number, payload: Uint8Array): void {
    switch (type) {
      case MessageType.RECEIVER_SHARE:
        return this.#share(payload);
      case MessageType.AUTH_OK:
        return this.#authOk(payload);
      case MessageType.ACCEPT:
        return this.#accept(payload);
      case MessageType.STATUS:
        return this.#status(payload);
      case MessageType.SESSION:
        this.#stage = "done";
        this.#events.push({ type: "done" });
        return;
    }
  }

  // The receiver must prove it knows the token before anything is sent.
  #authOk(proof: Uint8Array): void {
    if (
      proof.length !== DIGEST_BYTES ||
      !timingSafeEqual(proof, this.#keys!.receiverProof)
    ) {
      throw new FileTransferError(
        "auth_failed",
        `the receiver could not prove it knows the ${
          this.#schedule.mode === "code" ? "code" : "token"
        }`,
      );
    }
    // Every later frame, both ways, is sealed (unless verified TLS
    // already protects it).
    if (!this.#plainOverTls) {
      this.#cipher = createFrameCipher(
        this.#keys!.senderKey,
        this.#keys!.receiverKey,
      );
    }
    this.#stage = "ready";
    this.#events.push({ type: "authenticated" });
  }

  #accept(payload: Uint8Array): void {
    const { offset, prefixSha } = decodeAccept(payload);
    const offer = this.#offer!;
    this.#acceptSha = prefixSha;
    this.#verify = offer.resume && offset > 0 && offset <= offer.size
      ? offset
      : 0;
    this.#prefixed = 0;
    this.#hash = createHash("sha256");
    this.#stage = "accepted";
    this.#events.push({ type: "accept", offset, verify: this.#verify });
  }

  // The verdict on the current entry: its MAC binds it to this session and
  // entry, and a "stored" must name the digest that was sent.
  #status(payload: Uint8Array): void {
    const status = decodeStatus(payload);
    const mac = statusMac(this.#keys!.sessionKey, {
      index: this.#index,
      code: status.code,
      sha256: status.sha256,
    });
    this.#index++;
    if (!timingSafeEqual(mac, status.mac)) {
      throw new FileTransferError(
        "integrity_failed",
        "the receiver's verdict failed its authentication code (altered in transit?)",
      );
    }
    const code = codeFromWire(status.code);
    if (
      code === "ok" && this.#stage === "verdict" && this.#digest &&
      !timingSafeEqual(status.sha256, this.#digest)
    ) {
      throw new FileTransferError(
        "hash_mismatch",
        `'${this.#offer!.path}': the receiver stored other bytes`,
      );
    }
    this.#stage = "ready";
    this.#events.push({
      type: "verdict",
      verdict: { code, message: status.message, storedAs: status.storedPath },
    });
  }

  // --- output --------------------------------------------------------------

  #send(type: number, payload: Uint8Array): void {
    this.#output.push(
      this.#cipher
        ? this.#cipher.seal(type, payload)
        : encodeFrame(type, payload),
    );
  }

  #startBytes(): number {
    return FRAME_HEADER_BYTES + 8 + (this.#cipher ? SEAL_OVERHEAD : 0);
  }

  // Puts frame `type` into `buf` at `at`, sealed when the session is;
  // returns where it ends. Called in wire order: the seal counter counts.
  #put(buf: Uint8Array, at: number, type: number, payload: Uint8Array): number {
    if (this.#cipher) return this.#cipher.sealInto(type, payload, buf, at);
    writeFrameHeader(buf.subarray(at), type, payload.length);
    // Content was read into place already.
    if (payload.buffer !== buf.buffer) {
      buf.set(payload, at + FRAME_HEADER_BYTES);
    }
    return at + FRAME_HEADER_BYTES + payload.length;
  }

  // Finishes the hash; END carries the digest and its MAC.
  #endPayload(): Uint8Array {
    this.#digest = new Uint8Array(this.#hash!.digest());
    const mac = endMac(this.#keys!.sessionKey, {
      index: this.#index,
      size: this.#offer!.size,
      path: this.#pathBytes,
      sha256: this.#digest,
    });
    const end = new Uint8Array(2 * DIGEST_BYTES);
    end.set(this.#digest, 0);
    end.set(mac, DIGEST_BYTES);
    return end;
  }

  #fail(error: unknown): void {
    if (this.finished) return;
    this.#failure = failureOf(error);
    this.#stage = "failed";
    this.#inbox.clear();
    this.#events.push({ type: "failed", failure: this.#failure });
  }

  // False (a no-op) once the session is over; a call out of order is a
  // driver bug.
  #expect(stage: Stage, method: string): boolean {
    if (this.#stage === stage) return true;
    if (this.finished) return false;
    throw new TypeError(
      `SenderSession.${method}() called while the session is in stage '${this.#stage}'`,
    );
  }
}

const NONE: ReadonlySet<number> = new Set();
const RECEIVER_SHARE: ReadonlySet<number> = new Set([
  MessageType.RECEIVER_SHARE,
]);
const AUTH_OK: ReadonlySet<number> = new Set([MessageType.AUTH_OK]);
const STATUS: ReadonlySet<number> = new Set([MessageType.STATUS]);
const ACCEPT_OR_STATUS: ReadonlySet<number> = new Set([
  MessageType.ACCEPT,
  MessageType.STATUS,
]);
const SESSION: ReadonlySet<number> = new Set([MessageType.SESSION]);
