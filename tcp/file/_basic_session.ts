// The classic flow (--basic) as two small state machines with no I/O: the
// receiver takes as the name what arrives before the sender pauses (a
// newline ends it early), answers exactly "ok" (or "error: <reason>\n"),
// then takes everything until EOF; the sender writes the bare name, wants
// "ok", sends the content, half-closes and wants nothing but the close.
// Time is an input: the pause that ends a name, the grace period when the
// receiver stops, the sender's no-progress deadline. The drivers
// (_netcat_receive.ts, _netcat_send.ts) own the sockets, files and clock.

import { createHash, type Hash } from "node:crypto";
import { FileTransferError } from "./errors.ts";
import type { ReceivedFile, TransferFailure } from "./types.ts";
import { Inbox } from "./_inbox.ts";
import { checkRelativePath, decodePath, MAX_PATH_BYTES } from "./_safe_path.ts";
import { failureOf } from "./_failure.ts";

/**
 * How long the sender must stay silent for what arrived to count as the
 * whole name. A classic sender writes the name in one write and then waits
 * for "ok", so its name arrives at once and the pause follows.
 */
export const BASIC_NAME_PAUSE_MS = 150;
const LF = 0x0a;
const CR = 0x0d;
// A name is at most MAX_PATH_BYTES; one byte more shows it is too long.
const NAME_BUFFER = MAX_PATH_BYTES + 1024;
/**
 * How long a classic sender waits for "ok" after the name (the driver's
 * default): a classic receiver answers once the name's pause is over, and
 * a plain `nc -l` never does, so waiting for the no-progress deadline
 * (60 s) only hides that.
 */
export const BASIC_REPLY_TIMEOUT_MS = 5000;
/** Content is read in chunks of this size. */
export const BASIC_CHUNK = 1024 * 1024;
// What a receiver may say besides "ok"; more is cut off.
const REPLY_LIMIT = 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What the classic receiver core reports; "pauses" needs an answer. */
export type BasicReceiverEvent =
  /** The name arrived and passed the path rules (pauses): `accept()` or `refuse()`. */
  | { type: "name"; path: string; components: string[] }
  /** Content, hashed already; a view (see _inbox.ts). */
  | { type: "data"; bytes: Uint8Array; received: number }
  /** The receiver stops: "error: …" is queued; half-close after writing it. */
  | { type: "stopping" }
  /** EOF, or the content broke a limit (pauses): store unless `failure`, then `finish()`. */
  | { type: "end"; failure?: TransferFailure }
  /** The file's outcome; the session is over. */
  | { type: "file"; file: ReceivedFile }
  /** The session ended before a name was taken (closed, stopped). */
  | { type: "failed"; failure: TransferFailure };

type ReceiverStage =
  | "name"
  | "named"
  | "content"
  | "end"
  | "done";

/** One classic-flow connection on the receiving side. */
export class BasicReceiver {
  readonly #maxSize: number;
  readonly #peerText: (message: string) => string;
  #stage: ReceiverStage = "name";
  #inbox = new Inbox(NAME_BUFFER);
  #events: BasicReceiverEvent[] = [];
  #output: Uint8Array[] = [];
  #lastByteAt = 0;
  #eof = false;
  #stopped = false;
  #graceAt: number | undefined;
  #hash: Hash = createHash("sha256");
  #endFailure: TransferFailure | undefined;
  readonly #file: ReceivedFile = {
    path: "",
    kind: "file",
    bytes: 0,
    sha256: "",
    status: "failed",
    resumedFrom: 0,
  };

  constructor(
    options: {
      maxSize?: number;
      peerText?: (message: string) => string;
    } = {},
  ) {
    this.#maxSize = options.maxSize ?? Number.MAX_SAFE_INTEGER;
    this.#peerText = options.peerText ?? ((message) => message);
  }

  /** True while the core wants bytes. */
  get wantsInput(): boolean {
    return this.#stage === "name" || this.#stage === "content";
  }

  /** True while the name arrives (a pause may end it: see {@linkcode pollTimeout}). */
  get naming(): boolean {
    return this.#stage === "name";
  }

  /** True once the session is over. */
  get finished(): boolean {
    return this.#stage === "done";
  }

  /**
   * Room to read into; pass what was read to {@linkcode commit}. A read
   * may stay pending across a pause or a decision: the buffer only grows
   * for content here, at the next call, never under a read in flight.
   */
  space(): Uint8Array {
    if (this.#stopped) this.#inbox.clear();
    if (this.#stage === "content") this.#inbox.grow(BASIC_CHUNK);
    return this.#inbox.space(1);
  }

  /** `n` bytes were read into {@linkcode space} at `now`. */
  commit(n: number, now: number): BasicReceiverEvent[] {
    this.#inbox.commit(n);
    this.#lastByteAt = now;
    this.#parse();
    return this.#takeEvents();
  }

  /** Bytes from anywhere (copied in, in any split) at `now`. */
  receive(bytes: Uint8Array, now: number): BasicReceiverEvent[] {
    let at = 0;
    while (at < bytes.length && this.wantsInput) {
      const room = this.space();
      const n = Math.min(room.length, bytes.length - at);
      room.set(bytes.subarray(at, at + n), 0);
      at += n;
      this.#inbox.commit(n);
      this.#lastByteAt = now;
      this.#parse();
    }
    return this.#takeEvents();
  }

  /** The sender closed its write side (or the connection ended). */
  eof(): BasicReceiverEvent[] {
    this.#eof = true;
    if (this.#stage === "name") {
      if (this.#inbox.length === 0) {
        this.#fail({
          code: "connection_closed",
          message: "the peer closed before sending a name",
        });
      } else {
        this.#named(this.#inbox.take(this.#inbox.length).slice());
      }
    } else if (this.#stage === "content") {
      this.#end(
        this.#stopped
          // What arrived before the close may be any prefix of the file.
          ? { code: "shutting_down", message: "the receiver stopped" }
          : undefined,
      );
    }
    return this.#takeEvents();
  }

  /**
   * The connection broke (a reset): before a name the session fails; while
   * content flows the file fails, since a cut stream is not a whole file.
   */
  abort(failure: TransferFailure): BasicReceiverEvent[] {
    if (this.#stage === "name") this.#fail(failure);
    else if (this.#stage === "content") this.#end(failure);
    return this.#takeEvents();
  }

  /** The next moment {@linkcode handleTimeout} has work, if any. */
  pollTimeout(): number | undefined {
    if (this.#stage === "name" && this.#inbox.length > 0) {
      return this.#lastByteAt + BASIC_NAME_PAUSE_MS;
    }
    return this.#stage === "content" && !this.#stopped
      ? this.#graceAt
      : undefined;
  }

  /** Time passes: a pause ends the name; the grace period ends the content. */
  handleTimeout(now: number): BasicReceiverEvent[] {
    const at = this.pollTimeout();
    if (at === undefined || now < at) return [];
    if (this.#stage === "name") {
      this.#named(this.#inbox.take(this.#inbox.length).slice());
    } else {
      // The classic flow's way to complain: one text line, then close.
      this.#stopped = true;
      this.#inbox.clear();
      this.#output.push(encoder.encode("error: the receiver is stopping\n"));
      this.#events.push({ type: "stopping" });
    }
    return this.#takeEvents();
  }

  /** Text to send, in order; empties the queue. */
  takeOutput(): Uint8Array[] {
    const out = this.#output;
    this.#output = [];
    return out;
  }

  /** Takes the file: exactly "ok", then the content flows. */
  accept(): BasicReceiverEvent[] {
    if (!this.#expect("named", "accept")) return [];
    // Exactly "ok": classic senders compare the whole reply with it.
    this.#output.push(encoder.encode("ok"));
    this.#stage = "content";
    if (this.#eof) this.#end(undefined);
    else this.#parse();
    return this.#takeEvents();
  }

  /** Refuses the file: "error: <reason>\n". */
  refuse(failure: TransferFailure): BasicReceiverEvent[] {
    if (!this.#expect("named", "refuse")) return [];
    this.#refuse(failure);
    return this.#takeEvents();
  }

  /**
   * Ends the file after `end`: stored under `storedAs`, or not because
   * of `failure` (the core's own reason comes first; a reason of the
   * driver's is told the sender, if it still listens).
   */
  finish(
    outcome: { storedAs?: string; failure?: TransferFailure },
  ): BasicReceiverEvent[] {
    if (!this.#expect("end", "finish")) return [];
    const file = this.#file;
    const failure = this.#endFailure ?? outcome.failure;
    if (failure) {
      if (!this.#endFailure) this.#complain(failure);
      file.error = failure;
    } else {
      if (outcome.storedAs === undefined) {
        throw new TypeError("finish needs storedAs or a failure");
      }
      file.storedAs = outcome.storedAs;
      file.sha256 = this.#hash.digest("hex");
      file.status = "stored";
    }
    this.#stage = "done";
    this.#events.push({ type: "file", file });
    return this.#takeEvents();
  }

  /**
   * The receiver stops: before a name was taken the session ends at once;
   * while content flows the sender gets `graceMs`, then "error: the
   * receiver is stopping", and nothing of the file is kept.
   */
  stop(now: number, graceMs: number): BasicReceiverEvent[] {
    if (this.#stage === "name" || this.#stage === "named") {
      this.#fail({ code: "shutting_down", message: "the receiver stopped" });
    } else if (this.#stage === "content") {
      this.#graceAt ??= now + graceMs;
    }
    return this.#takeEvents();
  }

  #parse(): void {
    if (this.#stage === "name") this.#name();
    else if (this.#stage === "content") this.#content();
  }

  // The name: up to a newline (a CR before it is dropped; what follows is
  // content), else everything before the sender pauses or closes.
  #name(): void {
    const buffered = this.#inbox.buffered;
    const lf = buffered.indexOf(LF);
    const limit = lf === -1 ? buffered.length : lf;
    if (limit > MAX_PATH_BYTES) {
      this.#refuse({
        code: "unsafe_path",
        message: `the name is longer than ${MAX_PATH_BYTES} bytes`,
      });
      return;
    }
    if (lf === -1) return;
    const line = this.#inbox.take(lf + 1).subarray(0, lf);
    const end = lf > 0 && line[lf - 1] === CR ? lf - 1 : lf;
    this.#named(line.slice(0, end));
  }

  #named(name: Uint8Array): void {
    // Shown (escaped) in logs even when refused: it is what the peer sent.
    this.#file.path = decoder.decode(name);
    let components: string[];
    try {
      this.#file.path = decodePath(name);
      components = checkRelativePath(this.#file.path);
    } catch (error) {
      this.#refuse(failureOf(error));
      return;
    }
    this.#stage = "named";
    this.#events.push({ type: "name", path: this.#file.path, components });
  }

  #content(): void {
    if (this.#stopped) {
      this.#inbox.clear();
      return;
    }
    const n = this.#inbox.length;
    if (n === 0) return;
    const bytes = this.#inbox.take(n);
    this.#file.bytes += n;
    if (this.#file.bytes > this.#maxSize) {
      const failure = {
        code: "too_large" as const,
        message:
          `'${this.#file.path}' is over the receiver's limit of ${this.#maxSize} bytes`,
      };
      this.#complain(failure);
      this.#end(failure);
      return;
    }
    this.#hash.update(bytes);
    this.#events.push({ type: "data", bytes, received: this.#file.bytes });
  }

  #end(failure: TransferFailure | undefined): void {
    this.#endFailure = failure;
    this.#stage = "end";
    this.#inbox.clear();
    this.#events.push(failure ? { type: "end", failure } : { type: "end" });
  }

  #refuse(failure: TransferFailure): void {
    this.#complain(failure);
    this.#file.error = failure;
    this.#stage = "done";
    this.#events.push({ type: "file", file: this.#file });
  }

  #complain(failure: TransferFailure): void {
    this.#output.push(
      encoder.encode(`error: ${this.#peerText(failure.message)}\n`),
    );
  }

  #fail(failure: TransferFailure): void {
    this.#stage = "done";
    this.#events.push({ type: "failed", failure });
  }

  #takeEvents(): BasicReceiverEvent[] {
    const events = this.#events;
    this.#events = [];
    return events;
  }

  #expect(stage: ReceiverStage, method: string): boolean {
    if (this.#stage === stage) return true;
    if (this.#stage === "done") return false;
    throw new TypeError(
      `BasicReceiver.${method}() called while the session is in stage '${this.#stage}'`,
    );
  }
}

/** What the classic sender core reports. */
export type BasicSenderEvent =
  /** The receiver said "ok": send the content, then `endContent()`. */
  | { type: "ok" }
  /** The receiver closed after the content without complaint. */
  | { type: "sent"; sha256: string }
  /** Refused, timed out or cut. */
  | { type: "failed"; failure: TransferFailure };

type SenderStage = "reply" | "refusal" | "content" | "closing" | "done";

/** One classic-flow connection on the sending side: one file. */
export class BasicSender {
  readonly #path: string;
  readonly #timeoutMs: number;
  readonly #replyBy: number | undefined;
  readonly #replyTimeoutMs: number;
  #stage: SenderStage = "reply";
  #inbox = new Inbox(REPLY_LIMIT * 2);
  #said = "";
  #events: BasicSenderEvent[] = [];
  #output: Uint8Array[] = [];
  #hash = createHash("sha256");
  #lastProgress: number;
  #failure: TransferFailure | undefined;

  constructor(
    options: {
      path: string;
      timeoutMs?: number;
      /** The receiver must answer "ok" within this, counted from `now`. */
      replyTimeoutMs?: number;
      now: number;
    },
  ) {
    this.#path = options.path;
    this.#timeoutMs = options.timeoutMs ?? 0;
    this.#replyTimeoutMs = options.replyTimeoutMs ?? 0;
    this.#replyBy = this.#replyTimeoutMs > 0
      ? options.now + this.#replyTimeoutMs
      : undefined;
    this.#lastProgress = options.now;
    // The bare name, no newline: a classic receiver keeps everything it
    // reads first as the name.
    this.#output.push(encoder.encode(options.path));
  }

  /** Why the session failed, once it has. */
  get failure(): TransferFailure | undefined {
    return this.#failure;
  }

  /** True while the core wants the receiver's bytes (its reply, its close). */
  get wantsInput(): boolean {
    return this.#stage === "reply" || this.#stage === "refusal" ||
      this.#stage === "closing";
  }

  /** True once the session is over. */
  get finished(): boolean {
    return this.#stage === "done";
  }

  /** Room to read into; pass what was read to {@linkcode commit}. */
  space(): Uint8Array {
    return this.#inbox.space(1);
  }

  /** `n` bytes were read into {@linkcode space} at `now`. */
  commit(n: number, now: number): BasicSenderEvent[] {
    this.#inbox.commit(n);
    this.#lastProgress = now;
    this.#parse();
    return this.#takeEvents();
  }

  /** Bytes from anywhere (copied in, in any split) at `now`. */
  receive(bytes: Uint8Array, now: number): BasicSenderEvent[] {
    let at = 0;
    while (at < bytes.length && this.wantsInput) {
      at += this.#inbox.copyIn(bytes.subarray(at), 1);
      this.#lastProgress = now;
      this.#parse();
    }
    return this.#takeEvents();
  }

  /** The receiver closed the connection. */
  eof(): BasicSenderEvent[] {
    this.#eof();
    return this.#takeEvents();
  }

  #eof(): void {
    if (this.#stage === "reply" || this.#stage === "refusal") {
      this.#said += decoder.decode(this.#inbox.take(this.#inbox.length));
      this.#refused();
    } else if (this.#stage === "closing") {
      // After "ok" only the newline some receivers add may come; anything
      // else is a complaint.
      const rest = this.#said.trim();
      if (rest !== "") {
        this.#fail(
          new FileTransferError(
            "refused",
            `receiver: ${rest.replace(/^error:\s*/i, "")}`,
          ),
        );
      } else {
        this.#stage = "done";
        this.#events.push({ type: "sent", sha256: this.#hash.digest("hex") });
      }
    } else if (this.#stage === "content") {
      this.#fail({
        code: "connection_closed",
        message: "the connection was cut",
      });
    }
  }

  /** The content, in order, as it is sent. */
  content(chunk: Uint8Array): void {
    if (this.#stage === "content") this.#hash.update(chunk);
  }

  /** All content is sent: the driver half-closes and reads to EOF. */
  endContent(): void {
    if (this.#stage === "content") this.#stage = "closing";
  }

  /** Bytes moved at `now`. */
  progress(now: number): void {
    this.#lastProgress = now;
  }

  /** The moment the no-progress deadline passes, if one runs. */
  pollTimeout(): number | undefined {
    if (this.finished) return undefined;
    const progress = this.#timeoutMs > 0
      ? this.#lastProgress + this.#timeoutMs
      : undefined;
    const reply = this.#stage === "reply" ? this.#replyBy : undefined;
    if (reply === undefined) return progress;
    return progress === undefined ? reply : Math.min(progress, reply);
  }

  /** Time passes: fails the session when nothing moved for too long. */
  handleTimeout(now: number): BasicSenderEvent[] {
    if (
      this.#stage === "reply" && this.#replyBy !== undefined &&
      now >= this.#replyBy
    ) {
      this.#fail({
        code: "timeout",
        message: `the receiver has not answered "ok" within ${
          this.#replyTimeoutMs / 1000
        } s (a classic receiver answers once it has the name; a plain nc -l never does)`,
      });
      return this.#takeEvents();
    }
    const at = this.pollTimeout();
    if (at !== undefined && now >= at) {
      this.#fail({
        code: "timeout",
        message: this.#stage === "reply"
          ? "the receiver did not answer"
          : "the receiver stopped answering",
      });
    }
    return this.#takeEvents();
  }

  /** Bytes to send (the name); empties the queue. */
  takeOutput(): Uint8Array[] {
    const out = this.#output;
    this.#output = [];
    return out;
  }

  #parse(): void {
    if (this.#stage === "reply") {
      if (this.#inbox.length < 2) return;
      if (decoder.decode(this.#inbox.buffered.subarray(0, 2)) === "ok") {
        this.#inbox.take(2);
        this.#stage = "content";
        this.#events.push({ type: "ok" });
        // What came with "ok" is judged after the content.
        this.#said = decoder.decode(this.#inbox.take(this.#inbox.length));
        return;
      }
      this.#stage = "refusal";
    }
    if (this.#stage === "refusal" || this.#stage === "closing") {
      this.#said += decoder.decode(this.#inbox.take(this.#inbox.length));
      if (this.#said.length >= REPLY_LIMIT) {
        if (this.#stage === "refusal") this.#refused();
        else this.#eof();
      }
    }
  }

  #refused(): void {
    const said = this.#said.trim().replace(/^error:\s*/i, "");
    this.#fail(
      new FileTransferError(
        "refused",
        `the receiver refused '${this.#path}': ${
          said || "it closed without a reply"
        }`,
      ),
    );
  }

  #fail(error: Error | TransferFailure): void {
    if (this.finished) return;
    this.#failure = error instanceof Error ? failureOf(error) : error;
    this.#stage = "done";
    this.#events.push({ type: "failed", failure: this.#failure });
  }

  #takeEvents(): BasicSenderEvent[] {
    const events = this.#events;
    this.#events = [];
    return events;
  }
}
