/**
 * The wire format of netkit's file transfer protocol, version 2: the fixed
 * hello, the length-prefixed frames, every message's payload, the
 * HKDF-SHA-256 key schedule, the ChaCha20-Poly1305 frame sealing and the
 * HMAC-SHA-256 MACs. `docs/file-transfer.md` is the prose version.
 *
 * Everything here is pure: bytes in, values out (or bytes out). The
 * receiver and sender do the I/O.
 *
 * @example Encode and decode a hello
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { decodeHello, encodeHello, FILE_PROTOCOL_VERSION } = fileProtocol;
 *
 * const nonce = crypto.getRandomValues(new Uint8Array(32));
 * const hello = decodeHello(encodeHello(nonce));
 * assert.ok(hello.version === FILE_PROTOCOL_VERSION);
 * ```
 *
 * @module
 */

import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
} from "node:crypto";
import { FileTransferError, type FileTransferErrorCode } from "./errors.ts";

/** The protocol version this build speaks. */
export const FILE_PROTOCOL_VERSION = 3;

/**
 * Sender hello flag (in the code field): the sender reached the receiver
 * over TLS whose certificate it verified, so frames need not be sealed a
 * second time. A receiver that does not serve TLS refuses it.
 */
export const HELLO_FLAG_PLAIN_OVER_TLS = 1;

/**
 * Sender hello flag (in the code field): the sender authenticates with a
 * code (CPace shares follow the hellos), not a token. A receiver of the
 * other kind refuses the hello with `mode_mismatch`.
 */
export const HELLO_FLAG_CODE = 2;

/** Bytes a sealed frame adds to its payload: the Poly1305 tag. */
export const SEAL_OVERHEAD = 16;

/** The TCP port `netkit file` uses by default. */
export const FILE_DEFAULT_PORT = 7070;

/**
 * The first 8 bytes of both hellos: `NKFT` then CR LF SUB LF, so a peer
 * that mangles line endings or speaks text is caught at once.
 */
export const FILE_MAGIC: Uint8Array = Uint8Array.of(
  0x4e,
  0x4b,
  0x46,
  0x54,
  0x0d,
  0x0a,
  0x1a,
  0x0a,
);

/** Size of the fixed hello both sides send first. */
export const HELLO_BYTES = 44;
/** Size of a frame header: type (1 byte) and payload length (u32, big-endian). */
export const FRAME_HEADER_BYTES = 5;
/** Largest payload of any message but `DATA`, checked before reading it. */
export const MAX_CONTROL_PAYLOAD = 64 * 1024;
/** Largest `DATA` payload. */
export const MAX_DATA_PAYLOAD = 1024 * 1024;
/** Length of nonces, proofs, digests and MACs. */
export const DIGEST_BYTES = 32;

/**
 * Message types. Sender to receiver: `AUTH` … `SENDER_SHARE`; receiver to
 * sender: `AUTH_OK` … `ERROR`. The two shares travel only in code mode.
 */
export const MessageType = {
  AUTH: 0x01,
  FILE: 0x02,
  START: 0x03,
  DATA: 0x04,
  END: 0x05,
  DONE: 0x06,
  SENDER_SHARE: 0x07,
  AUTH_OK: 0x10,
  ACCEPT: 0x11,
  STATUS: 0x12,
  SESSION: 0x13,
  RECEIVER_SHARE: 0x14,
  ERROR: 0x1f,
} as const;

/** One of the {@linkcode MessageType} values. */
export type MessageTypeValue = typeof MessageType[keyof typeof MessageType];

/** Entry kinds in a `FILE` message. */
export const EntryKind = { FILE: 0, DIRECTORY: 1 } as const;

/** `FILE` flag: the sender will not resume, so the receiver need not hash a prefix. */
export const FLAG_NO_RESUME = 1;

// Wire numbers of the error codes; 0 is "ok". Append only: never renumber.
const WIRE_CODES: readonly FileTransferErrorCode[] = [
  "version_mismatch",
  "bad_hello",
  "protocol_error",
  "message_too_large",
  "auth_failed",
  "integrity_failed",
  "unsafe_path",
  "exists",
  "too_large",
  "too_many_files",
  "size_mismatch",
  "hash_mismatch",
  "busy",
  "disk_error",
  "connection_closed",
  "timeout",
  "shutting_down",
  "refused",
  "not_found",
  "not_writable",
  "connection_refused",
  "mode_mismatch",
];

/**
 * The number a code travels as: 0 for ok, then 1… in the order of
 * `docs/file-transfer.md`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { codeFromWire, codeToWire } = fileProtocol;
 *
 * assert.ok(codeFromWire(codeToWire("exists")) === "exists");
 * ```
 */
export function codeToWire(code: FileTransferErrorCode | "ok"): number {
  return code === "ok" ? 0 : WIRE_CODES.indexOf(code) + 1;
}

/**
 * The code of a wire number; unknown numbers (from a newer peer) become
 * `protocol_error`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { codeFromWire } = fileProtocol;
 *
 * assert.ok(codeFromWire(0) === "ok");
 * ```
 */
export function codeFromWire(n: number): FileTransferErrorCode | "ok" {
  if (n === 0) return "ok";
  return WIRE_CODES[n - 1] ?? "protocol_error";
}

/** A decoded hello. */
export interface Hello {
  /** The peer's protocol version. */
  version: number;
  /** 0 from a sender; from a receiver, 0 or the wire code of why it refuses. */
  code: number;
  /** 32 random bytes. */
  nonce: Uint8Array;
}

/**
 * Encodes the fixed 44-byte hello: magic (8), version (u16), code (u16),
 * nonce (32). Its layout never changes between versions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { encodeHello } = fileProtocol;
 *
 * assert.ok(encodeHello(new Uint8Array(32)).length === 44);
 * ```
 */
export function encodeHello(
  nonce: Uint8Array,
  options: { version?: number; code?: number } = {},
): Uint8Array {
  const out = new Uint8Array(HELLO_BYTES);
  const view = new DataView(out.buffer);
  out.set(FILE_MAGIC, 0);
  view.setUint16(8, options.version ?? FILE_PROTOCOL_VERSION);
  view.setUint16(10, options.code ?? 0);
  out.set(nonce.subarray(0, DIGEST_BYTES), 12);
  return out;
}

/**
 * True when `bytes` could still be the start of a hello: used to reject a
 * peer speaking something else as soon as its first bytes arrive.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { couldBeHello } = fileProtocol;
 *
 * assert.ok(!couldBeHello(new TextEncoder().encode("photo.jpg\n")));
 * ```
 */
export function couldBeHello(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, FILE_MAGIC.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== FILE_MAGIC[i]) return false;
  return true;
}

/**
 * Decodes a 44-byte hello; throws `bad_hello` when the magic is wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { decodeHello, encodeHello } = fileProtocol;
 *
 * assert.ok(decodeHello(encodeHello(new Uint8Array(32))).code === 0);
 * ```
 */
export function decodeHello(bytes: Uint8Array): Hello {
  if (bytes.length < HELLO_BYTES || !couldBeHello(bytes)) {
    throw new FileTransferError(
      "bad_hello",
      "the peer does not speak the netkit file protocol",
    );
  }
  const view = viewOf(bytes);
  return {
    version: view.getUint16(8),
    code: view.getUint16(10),
    nonce: bytes.slice(12, 12 + DIGEST_BYTES),
  };
}

/**
 * Wraps a payload in a frame: type (u8), length (u32 big-endian), payload.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { encodeFrame, MessageType } = fileProtocol;
 *
 * assert.ok(encodeFrame(MessageType.DONE).length === 5);
 * ```
 */
export function encodeFrame(
  type: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  writeFrameHeader(out, type, payload.length);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Writes a frame header into the first 5 bytes of `into` (the sender puts
 * file bytes right after it, so a `DATA` frame goes out in one write).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { MessageType, writeFrameHeader } = fileProtocol;
 *
 * const buf = new Uint8Array(8);
 * writeFrameHeader(buf, MessageType.DATA, 3);
 * assert.ok(buf[4] === 3);
 * ```
 */
export function writeFrameHeader(
  into: Uint8Array,
  type: number,
  length: number,
): void {
  into[0] = type;
  viewOf(into).setUint32(1, length);
}

/** A decoded frame header. */
export interface FrameHeader {
  /** The message type. */
  type: number;
  /** Payload length in bytes. */
  length: number;
}

/**
 * Decodes a frame header and enforces the size limits before any payload
 * is read: `DATA` up to {@linkcode MAX_DATA_PAYLOAD}, others up to
 * {@linkcode MAX_CONTROL_PAYLOAD}, plus `overhead` (the tag of a sealed
 * frame, {@linkcode SEAL_OVERHEAD}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { decodeFrameHeader, encodeFrame, MessageType } = fileProtocol;
 *
 * const header = decodeFrameHeader(encodeFrame(MessageType.DONE));
 * assert.ok(header.type === MessageType.DONE && header.length === 0);
 * ```
 */
export function decodeFrameHeader(
  bytes: Uint8Array,
  overhead = 0,
): FrameHeader {
  const type = bytes[0]!;
  const length = viewOf(bytes).getUint32(1);
  const limit = overhead +
    (type === MessageType.DATA ? MAX_DATA_PAYLOAD : MAX_CONTROL_PAYLOAD);
  if (length > limit) {
    throw new FileTransferError(
      "message_too_large",
      `message type ${type} of ${length} bytes is over the ${limit}-byte limit`,
    );
  }
  return { type, length };
}

/** A `FILE` message: one entry the sender offers. */
export interface FileEntry {
  /** {@linkcode EntryKind}: file or directory. */
  kind: number;
  /** Flags such as {@linkcode FLAG_NO_RESUME}. */
  flags: number;
  /** Permission bits (only `0o777` are applied). */
  mode: number;
  /** Size in bytes (0 for directories). */
  size: number;
  /** Relative path, UTF-8, `/`-separated. */
  path: Uint8Array;
}

/**
 * Encodes a `FILE` payload: kind (u8), flags (u8), mode (u32), size (u64),
 * then the path bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { decodeFileEntry, encodeFileEntry } = fileProtocol;
 *
 * const path = new TextEncoder().encode("a/b.txt");
 * const entry = decodeFileEntry(encodeFileEntry({ kind: 0, flags: 0, mode: 0o644, size: 5, path }));
 * assert.ok(entry.size === 5);
 * ```
 */
export function encodeFileEntry(entry: FileEntry): Uint8Array {
  const out = new Uint8Array(14 + entry.path.length);
  const view = viewOf(out);
  out[0] = entry.kind;
  out[1] = entry.flags;
  view.setUint32(2, entry.mode);
  view.setBigUint64(6, BigInt(entry.size));
  out.set(entry.path, 14);
  return out;
}

/**
 * Decodes a `FILE` payload; throws `protocol_error` on a short payload, an
 * unknown kind or a size past 2^53.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { decodeFileEntry } = fileProtocol;
 *
 * try {
 *   decodeFileEntry(new Uint8Array(3));
 * } catch (error) {
 *   assert.ok((error as { code: string }).code === "protocol_error");
 * }
 * ```
 */
export function decodeFileEntry(payload: Uint8Array): FileEntry {
  if (payload.length < 14) throw protocolError("FILE message too short");
  const view = viewOf(payload);
  const kind = payload[0]!;
  if (kind !== EntryKind.FILE && kind !== EntryKind.DIRECTORY) {
    throw protocolError(`unknown entry kind ${kind}`);
  }
  return {
    kind,
    flags: payload[1]!,
    mode: view.getUint32(2),
    size: readU64(view, 6),
    path: payload.slice(14),
  };
}

/**
 * Encodes a u64 payload (`START`'s offset).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { decodeU64, encodeU64 } = fileProtocol;
 *
 * assert.ok(decodeU64(encodeU64(42)) === 42);
 * ```
 */
export function encodeU64(n: number): Uint8Array {
  const out = new Uint8Array(8);
  viewOf(out).setBigUint64(0, BigInt(n));
  return out;
}

/**
 * Decodes a payload that must be exactly one u64.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { decodeU64, encodeU64 } = fileProtocol;
 *
 * assert.ok(decodeU64(encodeU64(0)) === 0);
 * ```
 */
export function decodeU64(payload: Uint8Array): number {
  if (payload.length !== 8) throw protocolError("expected an 8-byte offset");
  return readU64(viewOf(payload), 0);
}

/**
 * Encodes an `ACCEPT` payload: the offset the receiver holds (u64) and the
 * SHA-256 of that prefix (32 bytes, zeros when the offset is 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { decodeAccept, encodeAccept } = fileProtocol;
 *
 * assert.ok(decodeAccept(encodeAccept(0, new Uint8Array(32))).offset === 0);
 * ```
 */
export function encodeAccept(
  offset: number,
  prefixSha: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(8 + DIGEST_BYTES);
  viewOf(out).setBigUint64(0, BigInt(offset));
  out.set(prefixSha, 8);
  return out;
}

/**
 * Decodes an `ACCEPT` payload.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { decodeAccept, encodeAccept } = fileProtocol;
 *
 * assert.ok(decodeAccept(encodeAccept(7, new Uint8Array(32))).offset === 7);
 * ```
 */
export function decodeAccept(
  payload: Uint8Array,
): { offset: number; prefixSha: Uint8Array } {
  if (payload.length !== 8 + DIGEST_BYTES) {
    throw protocolError("ACCEPT message has the wrong length");
  }
  return {
    offset: readU64(viewOf(payload), 0),
    prefixSha: payload.slice(8),
  };
}

/** A `STATUS` message: the receiver's verdict on one entry. */
export interface FileStatus {
  /** Wire code: 0 stored, else why not. */
  code: number;
  /** SHA-256 of what the receiver stored (zeros if nothing). */
  sha256: Uint8Array;
  /** HMAC of the verdict under the session key. */
  mac: Uint8Array;
  /** Relative path the entry was stored under (differs with `--rename`). */
  storedPath: string;
  /** Human-readable reason. */
  message: string;
}

/**
 * Encodes a `STATUS` payload: code (u16), sha256 (32), mac (32), stored
 * path length (u16) and bytes, then the message (UTF-8, to the end).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { decodeStatus, encodeStatus } = fileProtocol;
 *
 * const z = new Uint8Array(32);
 * const status = decodeStatus(encodeStatus({ code: 0, sha256: z, mac: z, storedPath: "a", message: "" }));
 * assert.ok(status.storedPath === "a");
 * ```
 */
export function encodeStatus(status: FileStatus): Uint8Array {
  const stored = encoder.encode(status.storedPath);
  const message = encoder.encode(truncate(status.message));
  const out = new Uint8Array(68 + stored.length + message.length);
  const view = viewOf(out);
  view.setUint16(0, status.code);
  out.set(status.sha256, 2);
  out.set(status.mac, 34);
  view.setUint16(66, stored.length);
  out.set(stored, 68);
  out.set(message, 68 + stored.length);
  return out;
}

/**
 * Decodes a `STATUS` payload.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { decodeStatus, encodeStatus } = fileProtocol;
 *
 * const z = new Uint8Array(32);
 * const status = decodeStatus(encodeStatus({ code: 8, sha256: z, mac: z, storedPath: "", message: "exists" }));
 * assert.ok(status.message === "exists");
 * ```
 */
export function decodeStatus(payload: Uint8Array): FileStatus {
  if (payload.length < 68) throw protocolError("STATUS message too short");
  const view = viewOf(payload);
  const storedLength = view.getUint16(66);
  if (68 + storedLength > payload.length) {
    throw protocolError("STATUS message path runs past its end");
  }
  return {
    code: view.getUint16(0),
    sha256: payload.slice(2, 34),
    mac: payload.slice(34, 66),
    storedPath: decoder.decode(payload.subarray(68, 68 + storedLength)),
    message: decoder.decode(payload.subarray(68 + storedLength)),
  };
}

/**
 * Encodes an `ERROR` or `SESSION` payload: code (u16), count (u32), then a
 * UTF-8 message. `ERROR` carries count 0; `SESSION` the entries stored.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { codeToWire, decodeNotice, encodeNotice } = fileProtocol;
 *
 * const notice = decodeNotice(encodeNotice(codeToWire("auth_failed"), 0, "wrong token"));
 * assert.ok(notice.message === "wrong token");
 * ```
 */
export function encodeNotice(
  code: number,
  count: number,
  message: string,
): Uint8Array {
  const text = encoder.encode(truncate(message));
  const out = new Uint8Array(6 + text.length);
  const view = viewOf(out);
  view.setUint16(0, code);
  view.setUint32(2, count);
  out.set(text, 6);
  return out;
}

/**
 * Decodes an `ERROR` or `SESSION` payload.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { decodeNotice, encodeNotice } = fileProtocol;
 *
 * assert.ok(decodeNotice(encodeNotice(0, 3, "")).count === 3);
 * ```
 */
export function decodeNotice(
  payload: Uint8Array,
): { code: number; count: number; message: string } {
  if (payload.length < 6) throw protocolError("notice message too short");
  const view = viewOf(payload);
  return {
    code: view.getUint16(0),
    count: view.getUint32(2),
    message: decoder.decode(payload.subarray(6)),
  };
}

/** The keys of one session, derived from the secret and both hellos. */
export interface SessionKeys {
  /** What the sender sends in `AUTH`. */
  senderProof: Uint8Array;
  /** What the receiver sends in `AUTH_OK`. */
  receiverProof: Uint8Array;
  /** Key of the MACs on `END` and `STATUS`. */
  sessionKey: Uint8Array;
  /** ChaCha20-Poly1305 key of the frames the sender sends. */
  senderKey: Uint8Array;
  /** ChaCha20-Poly1305 key of the frames the receiver sends. */
  receiverKey: Uint8Array;
}

/**
 * Derives every key of a session with HKDF-SHA-256: input key material the
 * token's UTF-8 bytes (in code mode: the 64-byte CPace ISK, which already
 * binds both hellos), salt the sender's 44-byte hello followed by the
 * receiver's, info `netkit-file/2 ` and a label (`sender proof`,
 * `receiver proof`, `mac`, `sender key`, `receiver key`), 32 bytes each.
 * Both nonces (and the sender's flags) are in the salt, so every session
 * gets fresh keys and a flipped flag fails authentication. The secret itself
 * never crosses the wire. (The `/2` in the labels names the key schedule,
 * unchanged since version 2.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { deriveKeys, encodeHello } = fileProtocol;
 *
 * const hello = encodeHello(new Uint8Array(32));
 * const keys = deriveKeys("secret", hello, hello);
 * assert.ok(keys.senderProof.length === 32);
 * assert.notDeepEqual(keys.senderKey, keys.receiverKey);
 * ```
 */
export function deriveKeys(
  secret: string | Uint8Array,
  senderHello: Uint8Array,
  receiverHello: Uint8Array,
): SessionKeys {
  const ikm = typeof secret === "string" ? encoder.encode(secret) : secret;
  const salt = new Uint8Array(senderHello.length + receiverHello.length);
  salt.set(senderHello, 0);
  salt.set(receiverHello, senderHello.length);
  const derive = (label: string) =>
    new Uint8Array(
      hkdfSync(
        "sha256",
        ikm,
        salt,
        encoder.encode(`netkit-file/2 ${label}`),
        32,
      ),
    );
  return {
    senderProof: derive("sender proof"),
    receiverProof: derive("receiver proof"),
    sessionKey: derive("mac"),
    senderKey: derive("sender key"),
    receiverKey: derive("receiver key"),
  };
}

/**
 * Seals outgoing and opens incoming frames of one session: ChaCha20-Poly1305
 * with the 5-byte frame header (type, sealed length) as associated data and
 * a 12-byte nonce of 4 zero bytes and a u64 counter (big-endian) that
 * starts at 0 in each direction and counts frames. A reordered, replayed,
 * dropped, altered or truncated frame fails to open.
 */
export interface FrameCipher {
  /** A whole sealed frame: header, ciphertext, tag. */
  seal(type: number, payload: Uint8Array): Uint8Array;
  /**
   * Seals a frame into `out` at `at`: header, ciphertext and tag; returns
   * where it ends. Lets the sender put several frames in one write.
   */
  sealInto(
    type: number,
    payload: Uint8Array,
    out: Uint8Array,
    at: number,
  ): number;
  /** The plaintext of a sealed payload; throws `integrity_failed`. */
  open(header: Uint8Array, sealed: Uint8Array): Uint8Array;
}

const AEAD = "chacha20-poly1305";

function counterNonce(counter: number): Uint8Array {
  const nonce = new Uint8Array(12);
  viewOf(nonce).setBigUint64(4, BigInt(counter));
  return nonce;
}

/**
 * The {@linkcode FrameCipher} of one side: `sendKey` seals what it sends,
 * `receiveKey` opens what it receives (the sender passes `senderKey,
 * receiverKey`, the receiver the other way round).
 *
 * @example A sealed frame opens on the other side, and only once
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { createFrameCipher, MessageType } = fileProtocol;
 *
 * const a = new Uint8Array(32).fill(1);
 * const b = new Uint8Array(32).fill(2);
 * const sender = createFrameCipher(a, b);
 * const receiver = createFrameCipher(b, a);
 * const frame = sender.seal(MessageType.DONE, new Uint8Array(0));
 * assert.equal(frame.length, 5 + 16);
 * assert.deepEqual(receiver.open(frame.subarray(0, 5), frame.subarray(5)), new Uint8Array(0));
 * assert.throws(() => receiver.open(frame.subarray(0, 5), frame.subarray(5)));
 * ```
 */
export function createFrameCipher(
  sendKey: Uint8Array,
  receiveKey: Uint8Array,
): FrameCipher {
  let sent = 0;
  let received = 0;
  const sealInto = (
    type: number,
    payload: Uint8Array,
    out: Uint8Array,
    at: number,
  ): number => {
    const header = out.subarray(at, at + FRAME_HEADER_BYTES);
    writeFrameHeader(header, type, payload.length + SEAL_OVERHEAD);
    const cipher = createCipheriv(AEAD, sendKey, counterNonce(sent++), {
      authTagLength: SEAL_OVERHEAD,
    });
    cipher.setAAD(header, { plaintextLength: payload.length });
    // `update` returns a new buffer, so sealing in place is safe.
    const body = cipher.update(payload);
    cipher.final();
    let end = at + FRAME_HEADER_BYTES;
    out.set(body, end);
    end += body.length;
    out.set(cipher.getAuthTag(), end);
    return end + SEAL_OVERHEAD;
  };
  return {
    sealInto,
    seal(type, payload) {
      const out = new Uint8Array(
        FRAME_HEADER_BYTES + payload.length + SEAL_OVERHEAD,
      );
      sealInto(type, payload, out, 0);
      return out;
    },
    open(header, sealed) {
      if (sealed.length < SEAL_OVERHEAD) throw unopened();
      const n = sealed.length - SEAL_OVERHEAD;
      const decipher = createDecipheriv(
        AEAD,
        receiveKey,
        counterNonce(received++),
        { authTagLength: SEAL_OVERHEAD },
      );
      decipher.setAuthTag(sealed.subarray(n));
      decipher.setAAD(header, { plaintextLength: n });
      const plain = decipher.update(sealed.subarray(0, n));
      try {
        decipher.final();
      } catch {
        throw unopened();
      }
      return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
    },
  };
}

function unopened(): FileTransferError {
  return new FileTransferError(
    "integrity_failed",
    "a frame failed to decrypt: it was altered, reordered or replayed in transit, or the peer does not hold the session key",
  );
}

/** What an `END` MAC covers. */
export interface EndMacFields {
  /** The file's index in the session, from 0. */
  index: number;
  /** The file's size in bytes. */
  size: number;
  /** The relative path as sent (UTF-8). */
  path: Uint8Array;
  /** The SHA-256 of the content. */
  sha256: Uint8Array;
}

/** What a `STATUS` MAC covers. */
export interface StatusMacFields {
  /** The file's index in the session, from 0. */
  index: number;
  /** The status code on the wire. */
  code: number;
  /** The SHA-256 the receiver computed. */
  sha256: Uint8Array;
}

/**
 * The MAC of an `END`: `HMAC-SHA-256(sessionKey, "end" || index (u32) ||
 * size (u64) || path || sha256)`. It binds the digest to this file of this
 * session, so a man in the middle cannot swap content and digest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { endMac } = fileProtocol;
 *
 * const z = new Uint8Array(32);
 * assert.ok(
 *   endMac(z, { index: 0, size: 0, path: new Uint8Array(0), sha256: z }).length === 32,
 * );
 * ```
 */
export function endMac(
  sessionKey: Uint8Array,
  fields: EndMacFields,
): Uint8Array {
  const { index, size, path, sha256 } = fields;
  const fixed = new Uint8Array(12);
  viewOf(fixed).setUint32(0, index);
  viewOf(fixed).setBigUint64(4, BigInt(size));
  return new Uint8Array(
    createHmac("sha256", sessionKey).update("end").update(fixed).update(path)
      .update(sha256).digest(),
  );
}

/**
 * The MAC of a `STATUS`: `HMAC-SHA-256(sessionKey, "status" || index (u32)
 * || code (u16) || sha256)`, so the sender can trust a "stored".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileProtocol } from "@netkit/netkit/tcp";
 * const { statusMac } = fileProtocol;
 *
 * const z = new Uint8Array(32);
 * assert.ok(statusMac(z, { index: 0, code: 0, sha256: z }).length === 32);
 * ```
 */
export function statusMac(
  sessionKey: Uint8Array,
  fields: StatusMacFields,
): Uint8Array {
  const { index, code, sha256 } = fields;
  const fixed = new Uint8Array(6);
  viewOf(fixed).setUint32(0, index);
  viewOf(fixed).setUint16(4, code);
  return new Uint8Array(
    createHmac("sha256", sessionKey).update("status").update(fixed)
      .update(sha256).digest(),
  );
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readU64(view: DataView, at: number): number {
  const big = view.getBigUint64(at);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw protocolError("a size or offset is past 2^53");
  }
  return Number(big);
}

function protocolError(message: string): FileTransferError {
  return new FileTransferError("protocol_error", message);
}

// Messages stay far below the control limit.
function truncate(message: string): string {
  return message.length > 1000 ? message.slice(0, 1000) + "…" : message;
}
