// The receiving side of the file-transfer protocol as a state machine with
// no I/O (python-websockets' protocol.py, quinn-proto's time as an input):
// bytes in, events and bytes to send out. It holds the whole grammar of a
// session (hello, proof, FILE / ACCEPT / START / DATA / END / STATUS /
// DONE), every check on what the sender says (frame limits and order, path
// rules, sizes, MACs, sealing) and the session's deadlines (the proof's
// slow-down, the grace period when the receiver stops). The driver
// (_receive_connection.ts) owns the socket, the disk, the pre-auth gate and
// the clock.
//
// Where the driver must act before the session can go on (check a proof's
// admission, prepare a file's target, store it), the core emits an event
// and pauses: it parses nothing more until the driver answers with the
// matching method, so replies leave in the protocol's order.

import { createHash, type Hash, timingSafeEqual } from "node:crypto";
import {
  codeToWire,
  couldBeHello,
  createFrameCipher,
  decodeFileEntry,
  decodeHello,
  decodeU64,
  DIGEST_BYTES,
  encodeAccept,
  encodeFrame,
  encodeHello,
  encodeNotice,
  encodeStatus,
  endMac,
  EntryKind,
  FILE_PROTOCOL_VERSION,
  type FileEntry,
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
} from "./protocol.ts";
import { FileTransferError } from "./errors.ts";
import type { ReceivedFile, TransferFailure } from "./types.ts";
import { FrameInbox } from "./_inbox.ts";
import type { KeySchedule, ShareExchange } from "./_key_schedule.ts";
import { CPACE_SHARE_BYTES } from "./_cpace.ts";
import { concatBytes } from "../../_bytes.ts";
import { checkRelativePath, decodePath } from "./_safe_path.ts";
import { failureOf, wireCode } from "./_failure.ts";

// Before authentication only the hello (44 bytes) and AUTH (37) arrive: a
// stranger costs two of these. Control messages then fit the next size; a
// file's frames need room for a whole (sealed) DATA frame.
const PRE_AUTH_BUFFER = 1024;
const CONTROL_BUFFER = MAX_CONTROL_PAYLOAD + 1024;
const FRAME_ROOM = FRAME_HEADER_BYTES + SEAL_OVERHEAD + 1024;
const DATA_BUFFER = MAX_DATA_PAYLOAD + FRAME_ROOM;
/** What a failed session reads and discards, at most, so its close does not reset the reason away. */
export const DRAIN_LIMIT = 64 * 1024 * 1024;
const HINT = "netkit file: this receiver speaks the netkit protocol; " +
  "start it with --basic for the name/ok/bytes flow\n";
const ZEROS: Uint8Array = new Uint8Array(DIGEST_BYTES);

/** An entry the sender offered that passed the core's checks. */
export interface OfferedEntry {
  /** Its place among the session's `FILE` messages, from 0. */
  index: number;
  /** A file or a directory. */
  kind: "file" | "directory";
  /** The relative path, checked against every path rule. */
  path: string;
  /** The path's components. */
  components: string[];
  /** Permission bits as sent. */
  mode: number;
  /** Announced size (0 for a directory). */
  size: number;
}

/**
 * What the receiver core reports. Events marked "pauses" need an answer
 * before the core parses anything more.
 */
export type ReceiverEvent =
  /** A well-formed hello of this version arrived; ours is queued. */
  | { type: "hello" }
  /** AUTH arrived (pauses): call `holdProof(at)`. */
  | { type: "proof" }
  /** The proof is right (pauses): call `admit()` or `refuse(failure)`. */
  | { type: "proven" }
  /** AUTH_OK is queued; every later frame is sealed. */
  | { type: "authenticated" }
  /**
   * A `FILE` passed the path and size rules (pauses): for a directory,
   * `directoryStored()`; for a file, `resumePoint()`, `hashPrefix()` and
   * `accept()`; or `refuseEntry(failure)`.
   */
  | { type: "entry"; entry: OfferedEntry }
  /** `START`: write from `from`; empty the part file first when `truncate`. */
  | { type: "start"; from: number; truncate: boolean }
  /**
   * File content, hashed already. `bytes` is a view (see _inbox.ts for how
   * long it stays valid); `received` counts the file's bytes so far.
   */
  | { type: "data"; bytes: Uint8Array; received: number }
  /**
   * `END` (pauses): `failure` is set when the size, hash or MAC is wrong
   * (or a write failed); otherwise store the file. Then `finishFile()`.
   */
  | { type: "end"; failure?: TransferFailure }
  /** An entry's outcome, its `STATUS` queued. */
  | { type: "file"; file: ReceivedFile }
  /** `DONE`: `SESSION` is queued; the session is over. */
  | { type: "done"; stored: number }
  /**
   * The session failed. What the peer should get is queued; `linger` asks
   * the driver to half-close and read until EOF (or the drain limit), so
   * its close does not reset that reason away.
   */
  | { type: "failed"; failure: TransferFailure; linger: boolean };

/** Options of {@linkcode ReceiverSession}. */
export interface ReceiverSessionOptions {
  /** Where the session's keys come from. */
  keys: KeySchedule;
  /** The connection is TLS: a sender may ask for unsealed frames. */
  tls?: boolean;
  /** Largest file accepted, in bytes. */
  maxSize?: number;
  /** Most entries per session. */
  maxFiles?: number;
  /** This side's 32-byte hello nonce; random by default. */
  nonce?: Uint8Array;
  /** Words a message for the peer (the driver hides its folder). */
  peerText?: (message: string) => string;
}

type Stage =
  | "hello"
  | "share"
  | "auth"
  | "proof"
  | "proven"
  | "idle"
  | "entry"
  | "offered"
  | "content"
  | "end"
  | "done"
  | "failed"
  | "closed";

// Stages in which the core waits for the driver, not for bytes.
const PAUSED: ReadonlySet<Stage> = new Set([
  "proof",
  "proven",
  "entry",
  "end",
  "done",
  "closed",
]);

/** One session of the receiver, from the sender's hello to `SESSION`. */
export class ReceiverSession {
  readonly #schedule: KeySchedule;
  readonly #tls: boolean;
  readonly #maxSize: number;
  readonly #maxFiles: number;
  readonly #nonce: Uint8Array;
  readonly #peerText: (message: string) => string;
  #stage: Stage = "hello";
  #inbox = new FrameInbox(PRE_AUTH_BUFFER);
  #events: ReceiverEvent[] = [];
  #backlog: Uint8Array[] = [];
  #output: Uint8Array[] = [];
  #keys: SessionKeys | undefined;
  #exchange: ShareExchange | undefined;
  #cipher: FrameCipher | undefined;
  #plainOverTls = false;
  #authenticated = false;
  #proof = ZEROS;
  #proofAt = 0;
  #graceAt: number | undefined;
  #failure: TransferFailure | undefined;
  #drained = 0;
  #index = 0;
  #stored = 0;
  // The entry in progress.
  #entry: FileEntry | undefined;
  #offered: OfferedEntry | undefined;
  #file: ReceivedFile | undefined;
  #hash: Hash | undefined;
  #prefix = 0;
  #partSize = 0;
  #received = 0;
  #entryOpen = false;
  #diskFailure: TransferFailure | undefined;
  #endFailure: TransferFailure | undefined;
  #digest = ZEROS;

  constructor(options: ReceiverSessionOptions) {
    this.#schedule = options.keys;
    this.#tls = options.tls ?? false;
    this.#maxSize = options.maxSize ?? Number.MAX_SAFE_INTEGER;
    this.#maxFiles = options.maxFiles ?? Number.MAX_SAFE_INTEGER;
    this.#nonce = options.nonce ??
      crypto.getRandomValues(new Uint8Array(DIGEST_BYTES));
    this.#peerText = options.peerText ?? ((message) => message);
  }

  /** True once the sender proved the token and was admitted. */
  get authenticated(): boolean {
    return this.#authenticated;
  }

  /** Why the session failed, once it has. */
  get failure(): TransferFailure | undefined {
    return this.#failure;
  }

  /**
   * True while the core wants bytes: not paused on the driver, not over
   * (a failed session reads and discards up to {@linkcode DRAIN_LIMIT}).
   */
  get wantsInput(): boolean {
    return !PAUSED.has(this.#stage);
  }

  /** True once the session is over: done, or failed. */
  get finished(): boolean {
    return this.#stage === "done" || this.#stage === "failed" ||
      this.#stage === "closed";
  }

  /** Room to read into; pass what was read to {@linkcode commit}. */
  space(): Uint8Array {
    if (this.#stage === "failed") this.#inbox.clear();
    return this.#inbox.space(this.#need());
  }

  /** `n` bytes were read into {@linkcode space}. */
  commit(n: number): ReceiverEvent[] {
    this.#inbox.commit(n);
    this.#parse();
    return this.#takeEvents();
  }

  /**
   * Bytes from anywhere (copied, in any split). What the core cannot take
   * yet, while it waits for the driver, is kept and parsed once the driver
   * has answered; after the session it is dropped. (A driver that reads
   * only while {@linkcode wantsInput} never makes it keep anything.)
   */
  receive(bytes: Uint8Array): ReceiverEvent[] {
    if (bytes.length > 0) this.#backlog.push(bytes.slice());
    this.#feedBacklog();
    return this.#takeEvents();
  }

  /** The sender closed its side (or the connection ended). */
  eof(): ReceiverEvent[] {
    if (this.#stage === "failed") {
      this.#stage = "closed";
    } else if (!this.finished) {
      this.#fail(
        new FileTransferError(
          "connection_closed",
          this.#stage === "hello"
            ? "the peer closed before its hello"
            : "the connection closed in the middle of the session",
        ),
        "none",
      );
    }
    return this.#takeEvents();
  }

  /** Frames and text to send, in order; empties the queue. */
  takeOutput(): Uint8Array[] {
    const out = this.#output;
    this.#output = [];
    return out;
  }

  /** The next moment {@linkcode handleTimeout} has work, if any. */
  pollTimeout(): number | undefined {
    if (this.finished) return undefined;
    const proof = this.#stage === "proof" ? this.#proofAt : undefined;
    if (proof === undefined) return this.#graceAt;
    return this.#graceAt === undefined ? proof : Math.min(proof, this.#graceAt);
  }

  /** Time passes: checks a held proof, ends a session whose grace is over. */
  handleTimeout(now: number): ReceiverEvent[] {
    if (this.#graceAt !== undefined && now >= this.#graceAt && !this.finished) {
      this.#fail(
        new FileTransferError("shutting_down", "the receiver is stopping"),
        "error",
      );
    } else if (this.#stage === "proof" && now >= this.#proofAt) {
      this.#checkProof();
    }
    return this.#takeEvents();
  }

  /**
   * Checks the proof at `at` (the pre-auth gate's slow-down after wrong
   * proofs from the same address; `now` for no delay).
   */
  holdProof(at: number): void {
    if (this.#expect("proof", "holdProof")) this.#proofAt = at;
  }

  /** Admits a proven sender: `AUTH_OK`, then every frame is sealed. */
  admit(): ReceiverEvent[] {
    if (!this.#expect("proven", "admit")) return [];
    this.#authenticated = true;
    this.#stage = "idle";
    this.#inbox.grow(CONTROL_BUFFER);
    this.#output.push(
      encodeFrame(MessageType.AUTH_OK, this.#keys!.receiverProof),
    );
    // Verified TLS protects the frames already; anything else is sealed.
    if (!this.#plainOverTls) {
      this.#cipher = createFrameCipher(
        this.#keys!.receiverKey,
        this.#keys!.senderKey,
      );
    }
    this.#events.push({ type: "authenticated" });
    return this.#resume();
  }

  /** Refuses a proven sender (a `once` receiver busy with another). */
  refuse(failure: TransferFailure): ReceiverEvent[] {
    if (!this.#expect("proven", "refuse")) return [];
    this.#fail(failure, "error");
    return this.#takeEvents();
  }

  /** The offered directory exists now. */
  directoryStored(): ReceiverEvent[] {
    if (!this.#expectEntry("entry", "directoryStored")) return [];
    const file = this.#file!;
    file.status = "stored";
    file.storedAs = file.path;
    this.#status(file, ZEROS);
    return this.#resume();
  }

  /** Refuses the offered entry; the session goes on with the next one. */
  refuseEntry(failure: TransferFailure): ReceiverEvent[] {
    if (!this.#expectEntry("entry", "refuseEntry")) return [];
    this.#file!.error = failure;
    this.#status(this.#file!, ZEROS);
    return this.#resume();
  }

  /**
   * How many bytes of a `partSize`-byte part file to hash for a resume
   * offer: all of them when the sender allows resuming and they are no
   * more than the file; else 0.
   */
  resumePoint(partSize: number): number {
    if (!this.#expect("entry", "resumePoint")) return 0;
    this.#partSize = partSize;
    const { flags, size } = this.#entry!;
    return (flags & FLAG_NO_RESUME) === 0 && partSize > 0 &&
        partSize <= size
      ? partSize
      : 0;
  }

  /** Bytes of the part file's prefix, in order. */
  hashPrefix(chunk: Uint8Array): void {
    if (!this.#expect("entry", "hashPrefix")) return;
    this.#hash!.update(chunk);
    this.#prefix += chunk.length;
  }

  /** Offers the hashed prefix (or 0) in `ACCEPT`; `START` is expected next. */
  accept(): ReceiverEvent[] {
    if (!this.#expect("entry", "accept")) return [];
    const offer = this.#prefix;
    const sha = offer > 0 ? new Uint8Array(this.#hash!.copy().digest()) : ZEROS;
    // Room for the largest DATA frame this file can bring, whole.
    this.#inbox.grow(
      Math.min(DATA_BUFFER, this.#entry!.size - offer + FRAME_ROOM),
    );
    this.#send(MessageType.ACCEPT, encodeAccept(offer, sha));
    this.#stage = "offered";
    return this.#resume();
  }

  /**
   * Writing the file failed: the rest of its content is read and
   * dropped, and `END` reports this failure.
   */
  diskFailed(failure: TransferFailure): void {
    this.#diskFailure ??= failure;
  }

  /**
   * Ends the file after `END`: stored under `storedAs`, or not stored
   * because of `failure` (the core's own verdict comes first).
   */
  finishFile(
    outcome: { storedAs?: string; failure?: TransferFailure },
  ): ReceiverEvent[] {
    if (!this.#expectEntry("end", "finishFile")) return [];
    const file = this.#file!;
    const failure = this.#diskFailure ?? this.#endFailure ?? outcome.failure;
    if (failure) {
      file.error = failure;
      this.#status(file, ZEROS);
    } else {
      if (outcome.storedAs === undefined) {
        throw new TypeError("finishFile needs storedAs or a failure");
      }
      file.status = "stored";
      file.storedAs = outcome.storedAs;
      file.sha256 = this.#digest.toHex();
      this.#status(file, this.#digest);
    }
    return this.#resume();
  }

  /**
   * The receiver stops: a session not yet admitted fails at once (the
   * driver closes it); an admitted one may finish what it is doing within
   * `graceMs`, takes no new entry, and is then told `shutting_down`.
   */
  stop(now: number, graceMs: number): ReceiverEvent[] {
    if (this.finished) return [];
    if (!this.#authenticated) {
      this.#fail(
        new FileTransferError("shutting_down", "the receiver stopped"),
        "none",
      );
    } else {
      this.#graceAt ??= now + graceMs;
    }
    return this.#takeEvents();
  }

  /** Ends the session for a reason of the driver's (a disk error). */
  abort(failure: TransferFailure): ReceiverEvent[] {
    if (!this.finished) this.#fail(failure, "error");
    return this.#takeEvents();
  }

  // --- parsing -------------------------------------------------------------

  // Bytes the item being parsed needs in one piece.
  #need(): number {
    switch (this.#stage) {
      case "hello":
        return HELLO_BYTES;
      case "failed":
        return 1;
      default:
        return this.#inbox.frameNeed;
    }
  }

  #parse(): void {
    try {
      while (!PAUSED.has(this.#stage)) {
        if (this.#stage === "failed") {
          this.#drain();
          return;
        }
        if (this.#stage === "hello") {
          if (!this.#hello()) return;
          continue;
        }
        if (!this.#frame()) return;
      }
    } catch (error) {
      this.#fail(failureOf(error), "error");
    }
  }

  #drain(): void {
    this.#drained += this.#inbox.length;
    this.#inbox.clear();
    if (this.#drained >= DRAIN_LIMIT) this.#stage = "closed";
  }

  #resume(): ReceiverEvent[] {
    this.#parse();
    this.#feedBacklog();
    return this.#takeEvents();
  }

  // Bytes given to receive() move into the inbox as far as the stage
  // takes them.
  #feedBacklog(): void {
    while (this.#backlog.length > 0) {
      if (this.#stage === "done" || this.#stage === "closed") {
        this.#backlog = [];
        return;
      }
      if (!this.wantsInput) return;
      if (this.#stage === "failed") this.#inbox.clear();
      const head = this.#backlog[0]!;
      const n = this.#inbox.copyIn(head, this.#need());
      if (n === 0) {
        this.#fail(
          new FileTransferError(
            "message_too_large",
            "more bytes than this stage of the session can hold",
          ),
          "error",
        );
        continue;
      }
      if (n === head.length) this.#backlog.shift();
      else this.#backlog[0] = head.subarray(n);
      this.#parse();
    }
  }

  #takeEvents(): ReceiverEvent[] {
    const events = this.#events;
    this.#events = [];
    return events;
  }

  // The sender's hello: the magic is checked as soon as bytes arrive, so
  // a classic sender (a bare file name) is told at once.
  #hello(): boolean {
    const buffered = this.#inbox.buffered;
    if (!couldBeHello(buffered)) {
      this.#output.push(new TextEncoder().encode(HINT));
      this.#fail(
        new FileTransferError(
          "bad_hello",
          "the peer does not speak the netkit file protocol",
        ),
        "none",
      );
      return false;
    }
    if (buffered.length < HELLO_BYTES) return false;
    const senderHello = this.#inbox.take(HELLO_BYTES).slice();
    const hello = decodeHello(senderHello);
    if (hello.version !== FILE_PROTOCOL_VERSION) {
      this.#output.push(
        encodeHello(this.#nonce, { code: codeToWire("version_mismatch") }),
      );
      this.#fail(
        new FileTransferError(
          "version_mismatch",
          `the sender speaks protocol version ${hello.version}; this receiver speaks ${FILE_PROTOCOL_VERSION}`,
        ),
        "linger",
      );
      return false;
    }
    this.#plainOverTls = (hello.code & HELLO_FLAG_PLAIN_OVER_TLS) !== 0;
    if (this.#plainOverTls && !this.#tls) {
      // Refused in the hello's code field, which every version can read.
      this.#output.push(
        encodeHello(this.#nonce, { code: codeToWire("protocol_error") }),
      );
      this.#fail(
        new FileTransferError(
          "protocol_error",
          "the sender asked for unsealed frames over TLS, but this connection is not TLS",
        ),
        "none",
      );
      return false;
    }
    const codeMode = this.#schedule.mode === "code";
    if (((hello.code & HELLO_FLAG_CODE) !== 0) !== codeMode) {
      // One secret per receiver: nothing to negotiate, nothing to downgrade.
      this.#output.push(
        encodeHello(this.#nonce, { code: codeToWire("mode_mismatch") }),
      );
      this.#fail(
        new FileTransferError(
          "mode_mismatch",
          codeMode
            ? "the sender has a token, but this receiver takes a code (send with --code)"
            : "the sender has a code, but this receiver takes a token (send with --token)",
        ),
        "none",
      );
      return false;
    }
    const receiverHello = encodeHello(this.#nonce);
    if (this.#schedule.mode === "code") {
      // Our CPace share goes with our hello; the sender's comes with its proof.
      this.#exchange = this.#schedule.begin(
        "receiver",
        senderHello,
        receiverHello,
      );
      this.#output.push(concatBytes([
        receiverHello,
        encodeFrame(MessageType.RECEIVER_SHARE, this.#exchange.share),
      ]));
      this.#stage = "share";
    } else {
      this.#output.push(receiverHello);
      this.#keys = this.#schedule.derive(senderHello, receiverHello);
      this.#stage = "auth";
    }
    this.#events.push({ type: "hello" });
    return true;
  }

  // One frame: its header is checked against the limits and the grammar
  // before any payload byte is waited for; then the whole frame is
  // opened (sealed) and handled. False when more bytes are needed.
  #frame(): boolean {
    const frame = this.#inbox.nextFrame(
      this.#cipher ? SEAL_OVERHEAD : 0,
      (type, length) => this.#checkHeader(type, length),
    );
    if (frame === null) return false;
    const payload = this.#cipher
      ? this.#cipher.open(frame.header, frame.body)
      : frame.body;
    this.#handle(frame.type, payload);
    return true;
  }

  #checkHeader(type: number, length: number): void {
    switch (this.#stage) {
      case "share":
        if (
          type !== MessageType.SENDER_SHARE || length !== CPACE_SHARE_BYTES
        ) {
          throw protocolError("expected the sender's share after the hello");
        }
        return;
      case "auth":
        if (type !== MessageType.AUTH || length !== DIGEST_BYTES) {
          throw protocolError("expected AUTH after the hello");
        }
        return;
      case "idle":
        if (type !== MessageType.FILE && type !== MessageType.DONE) {
          throw protocolError(
            `expected FILE or DONE, got message type ${type}`,
          );
        }
        return;
      case "offered":
        if (type !== MessageType.START) {
          throw protocolError("expected START after ACCEPT");
        }
        return;
      case "content": {
        if (type === MessageType.END) return;
        if (type !== MessageType.DATA) {
          throw protocolError(
            `expected DATA or END, got message type ${type}`,
          );
        }
        // A size lie is caught on the header, before its bytes are read.
        const plain = length - (this.#cipher ? SEAL_OVERHEAD : 0);
        if (this.#received + plain > this.#entry!.size) {
          throw new FileTransferError(
            "size_mismatch",
            `'${this.#file!.path}': more bytes than the ${
              this.#entry!.size
            } announced`,
          );
        }
        return;
      }
    }
  }

  #handle(type: number, payload: Uint8Array): void {
    switch (this.#stage) {
      case "share":
        return this.#share(payload);
      case "auth":
        this.#proof = payload.slice();
        this.#stage = "proof";
        this.#events.push({ type: "proof" });
        return;
      case "idle":
        if (type === MessageType.DONE) return this.#done();
        return this.#offer(payload);
      case "offered":
        return this.#start(decodeU64(payload));
      case "content":
        if (type === MessageType.END) return this.#end(payload);
        return this.#data(payload);
    }
  }

  // The sender's CPace share: the keys, unless it is a point whose
  // product is known without the code (CPace's abort).
  #share(payload: Uint8Array): void {
    const keys = this.#exchange!.finish(payload);
    this.#exchange = undefined;
    if (!keys) {
      throw protocolError(
        "the sender's share is a low-order point (refused: it would make the keys known without the code)",
      );
    }
    this.#keys = keys;
    this.#stage = "auth";
  }

  #checkProof(): void {
    if (!timingSafeEqual(this.#proof, this.#keys!.senderProof)) {
      const secret = this.#schedule.mode === "code" ? "code" : "token";
      this.#fail(
        new FileTransferError("auth_failed", `wrong ${secret}`),
        "error",
      );
      return;
    }
    this.#stage = "proven";
    this.#events.push({ type: "proven" });
  }

  #done(): void {
    const failed = this.#index - this.#stored;
    const message = failed === 0 ? "all stored" : `${failed} not stored`;
    this.#send(MessageType.SESSION, encodeNotice(0, this.#stored, message));
    this.#stage = "done";
    this.#events.push({ type: "done", stored: this.#stored });
  }

  // A FILE: the session's limits and the path rules are checked here, so
  // the driver only ever sees entries it may try to store.
  #offer(payload: Uint8Array): void {
    if (this.#graceAt !== undefined) {
      throw new FileTransferError("shutting_down", "the receiver is stopping");
    }
    if (this.#index >= this.#maxFiles) {
      throw new FileTransferError(
        "too_many_files",
        `more than ${this.#maxFiles} entries in one session`,
      );
    }
    const entry = decodeFileEntry(payload);
    const index = this.#index++;
    const kind = entry.kind === EntryKind.DIRECTORY ? "directory" : "file";
    const file: ReceivedFile = {
      path: "",
      kind,
      bytes: entry.size,
      sha256: "",
      status: "failed",
      resumedFrom: 0,
    };
    this.#entry = entry;
    this.#file = file;
    this.#entryOpen = true;
    this.#stage = "entry";
    let components: string[];
    try {
      file.path = decodePath(entry.path);
      if (kind === "file" && entry.size > this.#maxSize) {
        throw new FileTransferError(
          "too_large",
          `'${file.path}' is ${entry.size} bytes, over the receiver's limit of ${this.#maxSize}`,
        );
      }
      components = checkRelativePath(file.path);
    } catch (error) {
      file.error = failureOf(error);
      this.#status(file, ZEROS);
      return;
    }
    this.#hash = createHash("sha256");
    this.#prefix = 0;
    this.#partSize = 0;
    this.#diskFailure = undefined;
    this.#endFailure = undefined;
    this.#offered = {
      index,
      kind,
      path: file.path,
      components,
      mode: entry.mode,
      size: entry.size,
    };
    this.#events.push({ type: "entry", entry: this.#offered });
  }

  #start(from: number): void {
    if (from !== 0 && from !== this.#prefix) {
      throw protocolError(
        `START at ${from}, but the receiver offered 0 or ${this.#prefix}`,
      );
    }
    if (from === 0 && this.#prefix > 0) this.#hash = createHash("sha256");
    this.#received = from;
    this.#file!.resumedFrom = from;
    this.#stage = "content";
    this.#events.push({
      type: "start",
      from,
      truncate: from === 0 && this.#partSize > 0,
    });
  }

  // The hot path: the content is hashed here, from the view the driver
  // then writes.
  #data(bytes: Uint8Array): void {
    this.#received += bytes.length;
    if (!this.#diskFailure) this.#hash!.update(bytes);
    this.#events.push({ type: "data", bytes, received: this.#received });
  }

  #end(payload: Uint8Array): void {
    if (payload.length !== 2 * DIGEST_BYTES) {
      throw protocolError("END must carry 64 bytes");
    }
    const entry = this.#entry!;
    const path = this.#file!.path;
    const sha = payload.subarray(0, DIGEST_BYTES);
    this.#digest = new Uint8Array(this.#hash!.digest());
    let failure = this.#diskFailure;
    if (!failure && this.#received !== entry.size) {
      failure = {
        code: "size_mismatch",
        message:
          `'${path}': ${this.#received} bytes arrived, ${entry.size} were announced`,
      };
    }
    if (!failure && !timingSafeEqual(this.#digest, sha)) {
      failure = {
        code: "hash_mismatch",
        message:
          `'${path}': the SHA-256 of the received bytes is not the sender's`,
      };
    }
    const mac = endMac(this.#keys!.sessionKey, {
      index: this.#offered!.index,
      size: entry.size,
      path: entry.path,
      sha256: sha,
    });
    if (!failure && !timingSafeEqual(mac, payload.subarray(DIGEST_BYTES))) {
      failure = {
        code: "integrity_failed",
        message:
          `'${path}': the digest's authentication code is wrong (altered in transit?)`,
      };
    }
    this.#endFailure = failure;
    this.#stage = "end";
    this.#events.push(failure ? { type: "end", failure } : { type: "end" });
  }

  // --- output --------------------------------------------------------------

  #send(type: number, payload: Uint8Array): void {
    this.#output.push(
      this.#cipher
        ? this.#cipher.seal(type, payload)
        : encodeFrame(type, payload),
    );
  }

  // The entry's outcome: its STATUS, unless the session ended meanwhile
  // (the record is reported either way).
  #status(file: ReceivedFile, sha256: Uint8Array): void {
    this.#entryOpen = false;
    if (file.status === "stored") this.#stored++;
    this.#events.push({ type: "file", file });
    if (this.finished) return;
    this.#stage = "idle";
    const code = codeToWire(
      file.status === "stored" ? "ok" : wireCode(file.error),
    );
    const index = this.#index - 1;
    this.#send(
      MessageType.STATUS,
      encodeStatus({
        code,
        sha256,
        mac: statusMac(this.#keys!.sessionKey, { index, code, sha256 }),
        storedPath: file.storedAs ?? "",
        message: this.#peerText(file.error?.message ?? "stored"),
      }),
    );
  }

  // `error`: an ERROR frame (sealed once admitted) and linger; `linger`:
  // what is queued already, and linger; `none`: what is queued, then close.
  #fail(error: unknown, how: "error" | "linger" | "none"): void {
    if (this.finished) return;
    const failure = error instanceof FileTransferError
      ? { code: error.code, message: error.message }
      : error as TransferFailure;
    if (how === "error") {
      this.#send(
        MessageType.ERROR,
        encodeNotice(
          codeToWire(wireCode(failure)),
          0,
          this.#peerText(failure.message),
        ),
      );
    }
    this.#failure = failure;
    this.#inbox.clear();
    this.#stage = how === "none" ? "closed" : "failed";
    this.#events.push({ type: "failed", failure, linger: how !== "none" });
  }

  // Like #expect, but after the session ended an entry still open may be
  // finished (its outcome reported, no STATUS sent).
  #expectEntry(stage: Stage, method: string): boolean {
    return this.#expect(stage, method) || (this.finished && this.#entryOpen);
  }

  // False (a no-op) when the session ended meanwhile (it failed, or the
  // receiver stopped it); a call out of order is a driver bug.
  #expect(stage: Stage, method: string): boolean {
    if (this.#stage === stage) return true;
    if (this.finished) return false;
    throw new TypeError(
      `ReceiverSession.${method}() called while the session is in stage '${this.#stage}'`,
    );
  }
}

function protocolError(message: string): FileTransferError {
  return new FileTransferError("protocol_error", message);
}
