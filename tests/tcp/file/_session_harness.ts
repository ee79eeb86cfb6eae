// Bytes-only drivers for the file-transfer session cores: fixed nonces so
// every byte is known in advance, a hand-made peer for each side that
// builds (and seals) frames the way the other core would, and an in-memory
// disk that answers the receiver core's decisions.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  codeFromWire,
  createFrameCipher,
  decodeFrameHeader,
  decodeNotice,
  decodeStatus,
  deriveKeys,
  DIGEST_BYTES,
  encodeAccept,
  encodeFileEntry,
  encodeFrame,
  encodeHello,
  encodeNotice,
  encodeStatus,
  encodeU64,
  endMac,
  EntryKind,
  FRAME_HEADER_BYTES,
  type FrameCipher,
  HELLO_BYTES,
  MessageType,
  SEAL_OVERHEAD,
  type SessionKeys,
  statusMac,
} from "../../../tcp/file/protocol.ts";
import { tokenKeySchedule } from "../../../tcp/file/_key_schedule.ts";
import {
  type ReceiverEvent,
  ReceiverSession,
  type ReceiverSessionOptions,
} from "../../../tcp/file/_receiver_session.ts";
import {
  CONTENT_AT,
  CONTENT_BUFFER_BYTES,
  type EntryVerdict,
  type SenderEvent,
  SenderSession,
  type SenderSessionOptions,
} from "../../../tcp/file/_sender_session.ts";

export const TOKEN = "correct horse battery staple";
export const SENDER_NONCE: Uint8Array = Uint8Array.from(
  { length: 32 },
  (_, i) => i,
);
export const RECEIVER_NONCE: Uint8Array = Uint8Array.from(
  { length: 32 },
  (_, i) => 32 + i,
);
export const enc = new TextEncoder();

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Deterministic bytes. */
export function bytesOf(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** One frame read back: its type and (opened) payload. */
export interface Frame {
  type: number;
  payload: Uint8Array;
}

/**
 * Splits a byte stream into frames; `open` opens the sealed ones (from the
 * index `sealedFrom` on).
 */
export function readFrames(
  bytes: Uint8Array,
  cipher?: FrameCipher,
  sealedFrom = 0,
): Frame[] {
  const frames: Frame[] = [];
  let at = 0;
  while (at < bytes.length) {
    assert.ok(bytes.length - at >= FRAME_HEADER_BYTES, "a whole header");
    const sealed = cipher !== undefined && frames.length >= sealedFrom;
    const header = decodeFrameHeader(
      bytes.subarray(at),
      sealed ? SEAL_OVERHEAD : 0,
    );
    const end = at + FRAME_HEADER_BYTES + header.length;
    assert.ok(end <= bytes.length, "a whole frame");
    const body = bytes.subarray(at + FRAME_HEADER_BYTES, end);
    frames.push({
      type: header.type,
      payload: sealed
        ? cipher.open(bytes.subarray(at, at + FRAME_HEADER_BYTES), body)
        : body.slice(),
    });
    at = end;
  }
  return frames;
}

/** The wire code word of an ERROR or STATUS frame. */
export function codeOf(frame: Frame): string {
  if (frame.type === MessageType.ERROR) {
    return `error:${codeFromWire(decodeNotice(frame.payload).code)}`;
  }
  assert.equal(frame.type, MessageType.STATUS);
  return codeFromWire(decodeStatus(frame.payload).code);
}

/**
 * What a sender says to a receiver core, made by hand: the hellos are
 * fixed, so the keys are known before the receiver says anything.
 */
export class SenderPeer {
  readonly hello: Uint8Array;
  readonly keys: SessionKeys;
  /** Seals what this peer sends, opens what the receiver sends. */
  readonly cipher: FrameCipher;
  index = 0;

  constructor(options: { flags?: number; token?: string } = {}) {
    this.hello = encodeHello(SENDER_NONCE, { code: options.flags ?? 0 });
    this.keys = deriveKeys(
      options.token ?? TOKEN,
      this.hello,
      encodeHello(RECEIVER_NONCE),
    );
    this.cipher = createFrameCipher(this.keys.senderKey, this.keys.receiverKey);
  }

  /** The hello and AUTH, in clear. */
  opening(): Uint8Array {
    return concat([
      this.hello,
      encodeFrame(MessageType.AUTH, this.keys.senderProof),
    ]);
  }

  sealed(type: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
    return this.cipher.seal(type, payload);
  }

  file(
    path: string,
    size: number,
    options: { kind?: number; flags?: number; mode?: number } = {},
  ): Uint8Array {
    return this.sealed(
      MessageType.FILE,
      encodeFileEntry({
        kind: options.kind ?? EntryKind.FILE,
        flags: options.flags ?? 0,
        mode: options.mode ?? 0o644,
        size,
        path: enc.encode(path),
      }),
    );
  }

  start(offset = 0): Uint8Array {
    return this.sealed(MessageType.START, encodeU64(offset));
  }

  data(bytes: Uint8Array): Uint8Array {
    return this.sealed(MessageType.DATA, bytes);
  }

  /** END with the right MAC for `sha` (or `mac` as given). */
  end(
    path: string,
    size: number,
    sha: Uint8Array,
    mac?: Uint8Array,
  ): Uint8Array {
    const payload = new Uint8Array(2 * DIGEST_BYTES);
    payload.set(sha, 0);
    payload.set(
      mac ??
        endMac(this.keys.sessionKey, {
          index: this.index,
          size,
          path: enc.encode(path),
          sha256: sha,
        }),
      DIGEST_BYTES,
    );
    return this.sealed(MessageType.END, payload);
  }
}

/** A receiver core with the fixed nonce and the token schedule. */
export function receiverCore(
  options: Partial<ReceiverSessionOptions> = {},
): ReceiverSession {
  return new ReceiverSession({
    keys: tokenKeySchedule(TOKEN),
    nonce: RECEIVER_NONCE,
    ...options,
  });
}

/** Feeds `bytes` and returns the event types. */
export function types(events: { type: string }[]): string[] {
  return events.map((e) => e.type);
}

/**
 * A receiver core past the handshake: hello, AUTH, proof checked at once,
 * admitted. Returns the core, the peer, and the receiver's hello and
 * AUTH_OK (in clear) as they were sent.
 */
export function admitted(
  options: Partial<ReceiverSessionOptions> = {},
  peerOptions: { flags?: number } = {},
): { core: ReceiverSession; peer: SenderPeer; opening: Uint8Array } {
  const core = receiverCore(options);
  const peer = new SenderPeer(peerOptions);
  assert.deepEqual(types(core.receive(peer.opening())), ["hello", "proof"]);
  core.holdProof(0);
  assert.deepEqual(types(core.handleTimeout(0)), ["proven"]);
  assert.deepEqual(types(core.admit()), ["authenticated"]);
  const opening = concat(core.takeOutput());
  assert.equal(opening.length, HELLO_BYTES + FRAME_HEADER_BYTES + DIGEST_BYTES);
  return { core, peer, opening };
}

/** The receiver's sealed frames queued since the last call. */
export function replies(core: ReceiverSession, peer: SenderPeer): Frame[] {
  return readFrames(concat(core.takeOutput()), peer.cipher);
}

/** An in-memory folder that answers the receiver core's decisions. */
export class MemoryDisk {
  /** Stored files by path. */
  readonly files = new Map<string, Uint8Array>();
  /** Part files by path (left by earlier sessions, or in progress). */
  readonly parts = new Map<string, Uint8Array>();
  readonly directories = new Set<string>();
  #path = "";
  #part: Uint8Array[] = [];

  /** Answers every decision in `events` (and in what they lead to). */
  answer(core: ReceiverSession, events: ReceiverEvent[]): ReceiverEvent[] {
    const all: ReceiverEvent[] = [];
    for (const event of events) {
      all.push(event);
      switch (event.type) {
        case "proof":
          core.holdProof(0);
          all.push(...this.answer(core, core.handleTimeout(0)));
          break;
        case "proven":
          all.push(...this.answer(core, core.admit()));
          break;
        case "entry": {
          const { entry } = event;
          if (entry.kind === "directory") {
            this.directories.add(entry.path);
            all.push(...this.answer(core, core.directoryStored()));
            break;
          }
          this.#path = entry.path;
          const part = this.parts.get(entry.path) ?? new Uint8Array(0);
          const n = core.resumePoint(part.length);
          if (n > 0) {
            // In two pieces, as a driver reading a big prefix would.
            core.hashPrefix(part.subarray(0, n >> 1));
            core.hashPrefix(part.subarray(n >> 1, n));
          }
          this.#part = [part];
          all.push(...this.answer(core, core.accept()));
          break;
        }
        case "start": {
          const kept = event.truncate
            ? new Uint8Array(0)
            : this.#part[0]!.subarray(0, event.from);
          this.#part = [kept];
          break;
        }
        case "data":
          // A copy: the view's life is the inbox's business (see below).
          this.#part.push(event.bytes.slice());
          break;
        case "end": {
          const body = concat(this.#part);
          if (event.failure) {
            this.parts.delete(this.#path);
            all.push(...this.answer(core, core.finishFile({})));
          } else {
            this.files.set(this.#path, body);
            this.parts.delete(this.#path);
            all.push(
              ...this.answer(core, core.finishFile({ storedAs: this.#path })),
            );
          }
          break;
        }
      }
    }
    return all;
  }
}

/** An entry a scripted sender offers. */
export interface ScriptEntry {
  kind: "file" | "directory";
  path: string;
  /** File content; its length is the announced size. */
  data?: Uint8Array;
  /** Default true. */
  resume?: boolean;
}

/**
 * Drives a sender core the way sender.ts does, from events only: offers
 * the entries in order, checks a resume prefix, sends content in chunks of
 * `chunk` bytes (START with the first, END with the last), then DONE.
 */
export class SenderScript {
  readonly core: SenderSession;
  readonly entries: ScriptEntry[];
  readonly chunk: number;
  readonly verdicts: EntryVerdict[] = [];
  readonly events: SenderEvent[] = [];
  #next = 0;
  #buf = new Uint8Array(CONTENT_BUFFER_BYTES);

  constructor(
    entries: ScriptEntry[],
    options: { chunk?: number; core?: SenderSession } = {},
  ) {
    this.entries = entries;
    this.chunk = options.chunk ?? 1000;
    this.core = options.core ?? senderCore();
  }

  /** Reacts to `events`; returns the bytes the sender then has to send. */
  react(events: SenderEvent[]): Uint8Array[] {
    const out: Uint8Array[] = [];
    const take = () => {
      for (const b of this.core.takeOutput()) out.push(b.slice());
    };
    take();
    for (const event of events) {
      this.events.push(event);
      switch (event.type) {
        case "authenticated":
          this.#offerNext();
          break;
        case "verdict":
          this.verdicts.push(event.verdict);
          this.#offerNext();
          break;
        case "accept": {
          const data = this.entries[this.#next - 1]!.data!;
          if (event.verify > 0) {
            this.core.hashPrefix(data.subarray(0, event.verify));
          }
          let at = this.core.startContent();
          while (at < data.length) {
            const n = Math.min(this.chunk, data.length - at);
            this.#buf.set(data.subarray(at, at + n), CONTENT_AT);
            this.core.sealContent(this.#buf, n);
            take();
            at += n;
          }
          if (this.core.streaming) this.core.endContent();
          break;
        }
      }
      take();
    }
    return out;
  }

  #offerNext(): void {
    const entry = this.entries[this.#next++];
    if (!entry) return this.core.finish();
    this.core.offer({
      kind: entry.kind,
      path: entry.path,
      mode: entry.kind === "directory" ? 0o755 : 0o644,
      size: entry.data?.length ?? 0,
      resume: entry.resume ?? true,
    });
  }
}

/** A sender core with the fixed nonce and the token schedule. */
export function senderCore(
  options: Partial<SenderSessionOptions> = {},
): SenderSession {
  return new SenderSession({
    keys: tokenKeySchedule(TOKEN),
    nonce: SENDER_NONCE,
    now: 0,
    ...options,
  });
}

/** Both directions of a whole session, as recorded by {@linkcode runPair}. */
export interface Recording {
  /** What the sender sent, one element per round. */
  up: Uint8Array[];
  /** What the receiver answered, one element per round. */
  down: Uint8Array[];
  receiverEvents: ReceiverEvent[];
}

/**
 * Runs a scripted sender against a receiver core over an in-memory pipe,
 * round by round, until neither has anything to say.
 */
export function runPair(
  script: SenderScript,
  receiver: ReceiverSession,
  disk: MemoryDisk,
): Recording {
  const up: Uint8Array[] = [];
  const down: Uint8Array[] = [];
  const receiverEvents: ReceiverEvent[] = [];
  let toReceiver = concat(script.react([]));
  for (let rounds = 0; rounds < 10_000 && toReceiver.length > 0; rounds++) {
    up.push(toReceiver);
    receiverEvents.push(...disk.answer(receiver, receiver.receive(toReceiver)));
    const toSender = concat(receiver.takeOutput());
    if (toSender.length === 0) break;
    down.push(toSender);
    toReceiver = concat(script.react(script.core.receive(toSender, 0)));
  }
  return { up, down, receiverEvents };
}

/** What a receiver says to a sender core, made by hand. */
export class ReceiverPeer {
  readonly hello: Uint8Array;
  readonly keys: SessionKeys;
  /** Seals what this peer sends, opens what the sender sends. */
  readonly cipher: FrameCipher;
  index = 0;

  constructor(options: { token?: string; flags?: number } = {}) {
    this.hello = encodeHello(RECEIVER_NONCE);
    this.keys = deriveKeys(
      options.token ?? TOKEN,
      encodeHello(SENDER_NONCE, { code: options.flags ?? 0 }),
      this.hello,
    );
    this.cipher = createFrameCipher(this.keys.receiverKey, this.keys.senderKey);
  }

  /** The hello and AUTH_OK, in clear. */
  opening(proof?: Uint8Array): Uint8Array {
    return concat([
      this.hello,
      encodeFrame(MessageType.AUTH_OK, proof ?? this.keys.receiverProof),
    ]);
  }

  sealed(type: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
    return this.cipher.seal(type, payload);
  }

  accept(offset = 0, prefixSha: Uint8Array = new Uint8Array(32)): Uint8Array {
    return this.sealed(MessageType.ACCEPT, encodeAccept(offset, prefixSha));
  }

  /** STATUS for the current entry (MAC right unless `mac` is given). */
  status(
    code: number,
    sha: Uint8Array = new Uint8Array(32),
    mac?: Uint8Array,
  ): Uint8Array {
    const payload = encodeStatus({
      code,
      sha256: sha,
      mac: mac ??
        statusMac(this.keys.sessionKey, {
          index: this.index,
          code,
          sha256: sha,
        }),
      storedPath: "stored/path",
      message: code === 0 ? "stored" : "refused",
    });
    this.index++;
    return this.sealed(MessageType.STATUS, payload);
  }

  error(code: number, message: string): Uint8Array {
    return this.sealed(MessageType.ERROR, encodeNotice(code, 0, message));
  }
}
