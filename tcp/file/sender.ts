/**
 * The file sender: {@linkcode sendFiles} offers files and directories to a
 * receiver started with {@linkcode serveFileReceiver} and reports, per
 * file, whether the receiver stored and verified it.
 *
 * @module
 */

import { createHash, type Hash, timingSafeEqual } from "node:crypto";
import { type HostPort, parseAddress } from "../../address.ts";
import { closeQuietly, osMessage } from "../../_io.ts";
import { escapeControl } from "../../escape.ts";
import { FileTransferError } from "./errors.ts";
import type { SendFilesOptions, SendReport, SentFile } from "./types.ts";
import {
  codeFromWire,
  couldBeHello,
  createFrameCipher,
  decodeAccept,
  decodeHello,
  decodeNotice,
  decodeStatus,
  deriveKeys,
  DIGEST_BYTES,
  encodeFileEntry,
  encodeHello,
  encodeU64,
  endMac,
  EntryKind,
  FILE_PROTOCOL_VERSION,
  FLAG_NO_RESUME,
  FRAME_HEADER_BYTES,
  HELLO_BYTES,
  HELLO_FLAG_PLAIN_OVER_TLS,
  MAX_CONTROL_PAYLOAD,
  MAX_DATA_PAYLOAD,
  MessageType,
  SEAL_OVERHEAD,
  type SessionKeys,
  statusMac,
  writeFrameHeader,
} from "./protocol.ts";
import {
  FrameReader,
  hashFilePrefix,
  readFileFull,
  type Stream,
  writeFrame,
  writeRecorded,
} from "./_frame_io.ts";
import { openStream, startWatchdog, type Watchdog } from "./_connect.ts";
import { collectEntries, unsentFile, type WalkEntry } from "./_walk.ts";
import { sendBasic } from "./_netcat_send.ts";
import { failureOf } from "./_receiver_config.ts";

const DEFAULT_TIMEOUT_MS = 60_000;
// A data buffer holds [START frame][DATA header][content][tag][END frame],
// so the first and last chunks carry their control frames in the same
// write: no small write ever waits behind another for Nagle and delayed
// ACKs (TLS connections cannot turn Nagle off). Room is kept for sealed
// frames; unsealed ones use less of it.
const START_ROOM = FRAME_HEADER_BYTES + 8 + SEAL_OVERHEAD;
const END_ROOM = FRAME_HEADER_BYTES + 2 * DIGEST_BYTES + SEAL_OVERHEAD;
const DATA_AT = START_ROOM + FRAME_HEADER_BYTES;
const BUFFER_BYTES = DATA_AT + MAX_DATA_PAYLOAD + SEAL_OVERHEAD + END_ROOM;

/**
 * Sends files and directories (recursively, relative paths kept) in one
 * session to `address` (`"host:port"` or `{ hostname, port }`). Everything
 * after authentication is sealed (ChaCha20-Poly1305) unless verified TLS
 * already protects it. Throws a {@linkcode FileTransferError} when nothing
 * could be sent: a missing local path (`not_found`), nothing listening
 * (`connection_refused`), a version mismatch, a wrong token
 * (`auth_failed`). Otherwise resolves to a per-file report; `ok` is true
 * only when the receiver stored and verified every entry.
 *
 * @example Send a file to a receiver
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateToken, sendFiles, serveFileReceiver } from "@netkit/netkit/tcp";
 *
 * const dir = await Deno.makeTempDir();
 * const source = await Deno.makeTempFile();
 * await Deno.writeTextFile(source, "hello");
 * const token = generateToken();
 * await using receiver = serveFileReceiver({ dir, token });
 * const report = await sendFiles(receiver.addr, [source], { token });
 * assert.ok(report.ok && report.files[0]!.status === "stored");
 * await receiver.shutdown();
 * await Deno.remove(dir, { recursive: true });
 * await Deno.remove(source);
 * ```
 */
export async function sendFiles(
  to: string | HostPort,
  paths: string[],
  options: SendFilesOptions = {},
): Promise<SendReport> {
  const address = typeof to === "string" ? parseAddress(to) : to;
  if (!options.basic && !options.token) {
    throw new TypeError(
      "sendFiles needs the receiver's token unless basic mode is on",
    );
  }
  const started = performance.now();
  const entries = await collectEntries(paths);
  const report: SendReport = { ok: false, files: [], bytes: 0, durationMs: 0 };
  const finish = () => {
    report.durationMs = performance.now() - started;
    report.ok = !report.error &&
      report.files.every((f) =>
        f.status === "stored" || f.status === "sent" || f.status === "skipped"
      );
    return report;
  };
  if (options.basic) {
    await sendBasic(address, entries, options, report);
    return finish();
  }
  const stream = await openStream(address, options.tls);
  const dog = startWatchdog(stream, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const record = () => dog.touch();
  // Room for the largest sealed control frame the receiver may send.
  const reader = new FrameReader(stream, MAX_CONTROL_PAYLOAD + 1024, record);
  try {
    // Verified TLS protects the frames already; anything else gets sealed.
    const verifiedTls = options.tls !== undefined && !options.tls.insecure;
    const keys = await timed(
      dog,
      () =>
        handshake({ stream, reader, token: options.token!, record }, {
          plainOverTls: verifiedTls,
        }),
    );
    const session: Session = {
      stream,
      reader,
      keys,
      dog,
      options,
      report,
      bufs: [
        new Uint8Array(BUFFER_BYTES),
        new Uint8Array(BUFFER_BYTES),
        new Uint8Array(BUFFER_BYTES),
      ],
      index: 0,
    };
    await timed(dog, () => runEntries(session, entries));
  } catch (error) {
    if (report.files.length === 0 && report.error === undefined) throw error;
    report.error ??= failureOf(error);
  } finally {
    dog.stop();
    closeQuietly(stream);
  }
  return finish();
}

// Converts the errors a watchdog close causes into a timeout.
async function timed<T>(dog: Watchdog, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (dog.expired) {
      throw new FileTransferError("timeout", "the receiver stopped answering", {
        cause: error,
      });
    }
    throw error;
  }
}

async function handshake(
  io: {
    stream: Stream;
    reader: FrameReader;
    token: string;
    record: () => void;
  },
  options: { plainOverTls: boolean },
): Promise<SessionKeys> {
  const { stream, reader, token, record } = io;
  const nonce = crypto.getRandomValues(new Uint8Array(DIGEST_BYTES));
  const senderHello = encodeHello(nonce, {
    code: options.plainOverTls ? HELLO_FLAG_PLAIN_OVER_TLS : 0,
  });
  await writeRecorded(stream, senderHello, record);
  if (!await reader.peek(HELLO_BYTES, couldBeHello)) {
    throw new FileTransferError(
      "connection_closed",
      "the receiver closed the connection before its hello",
    );
  }
  if (!couldBeHello(reader.buffered)) {
    throw new FileTransferError(
      "bad_hello",
      "the receiver does not speak the netkit file protocol (is it a --basic receiver? then send with --basic)",
    );
  }
  const receiverHello = (await reader.exact(HELLO_BYTES)).slice();
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
      `the receiver refused the hello (${code})`,
    );
  }
  const keys = deriveKeys(token, senderHello, receiverHello);
  await writeFrame(stream, undefined, {
    type: MessageType.AUTH,
    payload: keys.senderProof,
  }, record);
  const reply = await readReply(reader);
  if (reply.type !== MessageType.AUTH_OK) unexpected(reply, "AUTH_OK");
  if (
    reply.payload.length !== DIGEST_BYTES ||
    !timingSafeEqual(reply.payload, keys.receiverProof)
  ) {
    throw new FileTransferError(
      "auth_failed",
      "the receiver could not prove it knows the token",
    );
  }
  if (!options.plainOverTls) {
    reader.cipher = createFrameCipher(keys.senderKey, keys.receiverKey);
  }
  return keys;
}

interface Reply {
  type: number;
  payload: Uint8Array;
}

// Copies the payload out: the reader's buffers move on.
async function readReply(reader: FrameReader): Promise<Reply> {
  const frame = await reader.frame();
  return { type: frame.type, payload: frame.payload.slice() };
}

// ERROR ends the session with the receiver's reason; anything else
// unexpected is a protocol error.
function unexpected(reply: Reply, wanted: string): never {
  if (reply.type === MessageType.ERROR) {
    const notice = decodeNotice(reply.payload);
    const code = codeFromWire(notice.code);
    throw new FileTransferError(
      code === "ok" ? "protocol_error" : code,
      // Thrown errors get printed: the receiver's words are escaped here.
      `receiver: ${escapeControl(notice.message)}`,
    );
  }
  throw new FileTransferError(
    "protocol_error",
    `expected ${wanted}, got message type ${reply.type}`,
  );
}

interface Session {
  stream: Stream;
  reader: FrameReader;
  keys: SessionKeys;
  dog: Watchdog;
  options: SendFilesOptions;
  report: SendReport;
  bufs: Uint8Array[];
  index: number;
}

async function runEntries(s: Session, entries: WalkEntry[]): Promise<void> {
  const record = () => s.dog.touch();
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const file = unsentFile(entry);
    try {
      if (entry.kind === "skip") {
        file.error = failureOf(entry.reason);
      } else if (entry.reason) {
        file.error = failureOf(entry.reason);
      } else if (entry.kind === "directory") {
        await sendDirectory(s, file);
      } else {
        await sendFile(s, file);
      }
    } catch (error) {
      // The session cannot go on: this and every later entry failed.
      const failure = s.dog.expired
        ? {
          code: "timeout" as const,
          message: "the receiver stopped answering",
        }
        : failureOf(error);
      s.report.error = failure;
      file.error ??= failure;
      s.report.files.push(file);
      s.options.onFile?.(file);
      for (const rest of entries.slice(i + 1)) {
        const left: SentFile = {
          ...unsentFile(rest),
          error: rest.kind === "skip" ? failureOf(rest.reason) : failure,
        };
        s.report.files.push(left);
      }
      return;
    }
    s.report.files.push(file);
    s.options.onFile?.(file);
  }
  await writeFrame(
    s.stream,
    s.reader.cipher,
    { type: MessageType.DONE },
    record,
  );
  const reply = await readReply(s.reader);
  if (reply.type !== MessageType.SESSION) unexpected(reply, "SESSION");
}

async function sendDirectory(s: Session, file: SentFile): Promise<void> {
  const info = await Deno.stat(file.source);
  await offer(s, EntryKind.DIRECTORY, info.mode ?? 0o755, 0, file.path, 0);
  const reply = await readReply(s.reader);
  applyStatus(s, file, reply, new Uint8Array(DIGEST_BYTES));
}

async function offer(
  s: Session,
  kind: number,
  mode: number,
  size: number,
  path: string,
  flags: number,
): Promise<void> {
  const payload = encodeFileEntry({
    kind,
    flags,
    mode: mode & 0o7777,
    size,
    path: new TextEncoder().encode(path),
  });
  await writeFrame(
    s.stream,
    s.reader.cipher,
    { type: MessageType.FILE, payload },
    () => s.dog.touch(),
  );
}

// Reads the receiver's verdict on the current entry and checks its MAC.
function applyStatus(
  s: Session,
  file: SentFile,
  reply: Reply,
  expectedSha: Uint8Array | undefined,
): void {
  if (reply.type !== MessageType.STATUS) unexpected(reply, "STATUS");
  const status = decodeStatus(reply.payload);
  const mac = statusMac(s.keys.sessionKey, {
    index: s.index,
    code: status.code,
    sha256: status.sha256,
  });
  s.index++;
  if (!timingSafeEqual(mac, status.mac)) {
    throw new FileTransferError(
      "integrity_failed",
      "the receiver's verdict failed its authentication code (altered in transit?)",
    );
  }
  const code = codeFromWire(status.code);
  if (code !== "ok") {
    file.error = { code, message: status.message };
    return;
  }
  if (expectedSha && !timingSafeEqual(status.sha256, expectedSha)) {
    throw new FileTransferError(
      "hash_mismatch",
      `'${file.path}': the receiver stored other bytes`,
    );
  }
  file.status = "stored";
  file.storedAs = status.storedPath;
}

async function sendFile(s: Session, file: SentFile): Promise<void> {
  let handle: Deno.FsFile;
  let info: Deno.FileInfo;
  try {
    handle = await Deno.open(file.source, { read: true });
    info = await handle.stat();
  } catch (error) {
    file.error = {
      code: "disk_error",
      message: `cannot read '${file.source}': ${osMessage(error)}`,
    };
    return;
  }
  try {
    const size = info.size;
    file.bytes = size;
    const resume = s.options.resume ?? true;
    await offer(
      s,
      EntryKind.FILE,
      info.mode ?? 0o644,
      size,
      file.path,
      resume ? 0 : FLAG_NO_RESUME,
    );
    const first = await readReply(s.reader);
    if (first.type === MessageType.STATUS) {
      applyStatus(s, file, first, undefined);
      return;
    }
    if (first.type !== MessageType.ACCEPT) {
      unexpected(first, "ACCEPT or STATUS");
    }
    const accept = decodeAccept(first.payload);
    let hash = createHash("sha256");
    let from = 0;
    if (resume && accept.offset > 0 && accept.offset <= size) {
      await hashFilePrefix(handle, accept.offset, {
        hash,
        buf: s.bufs[0]!,
        onChunk: (done) => {
          s.dog.touch();
          s.options.onProgress?.({
            path: file.path,
            bytes: done,
            size: accept.offset,
            resumedFrom: 0,
            verifying: true,
          });
        },
      });
      if (
        timingSafeEqual(new Uint8Array(hash.copy().digest()), accept.prefixSha)
      ) {
        from = accept.offset;
      } else {
        hash = createHash("sha256");
      }
    }
    await handle.seek(from, Deno.SeekMode.Start);
    file.resumedFrom = from;
    const reply = await streamContent(s, handle, hash, file, from, size);
    applyStatus(
      s,
      file,
      reply,
      file.sha256 ? Uint8Array.fromHex(file.sha256) : undefined,
    );
  } finally {
    handle.close();
  }
}

// The hot path: file → hash → (seal) → socket from the same buffer,
// reading the next chunk while the previous one is written. A reply that
// arrives early (the receiver gave up) stops the stream.
async function streamContent(
  s: Session,
  handle: Deno.FsFile,
  hash: Hash,
  file: SentFile,
  from: number,
  size: number,
): Promise<Reply> {
  const record = () => s.dog.touch();
  const cipher = s.reader.cipher;
  let early = false;
  const replyP = readReply(s.reader);
  replyP.then(() => early = true, () => early = true);
  const startPayload = encodeU64(from);
  // Puts frame `type` into `buf` at `at`, sealed when the session is;
  // returns where it ends. Called in wire order: the seal counter counts.
  const put = (buf: Uint8Array, at: number, type: number, p: Uint8Array) => {
    if (cipher) return cipher.sealInto(type, p, buf, at);
    writeFrameHeader(buf.subarray(at), type, p.length);
    // DATA content was read into place already.
    if (p.buffer !== buf.buffer) buf.set(p, at + FRAME_HEADER_BYTES);
    return at + FRAME_HEADER_BYTES + p.length;
  };
  const startBytes = FRAME_HEADER_BYTES + 8 + (cipher ? SEAL_OVERHEAD : 0);
  const want = (at: number) => Math.min(MAX_DATA_PAYLOAD, size - at);
  const content = (buf: Uint8Array, n: number) =>
    buf.subarray(DATA_AT, DATA_AT + n);
  let offset = from;
  let first = true;
  let ended = false;
  let i = 0;
  let writing: Promise<void> = Promise.resolve();
  let reading: Promise<number> = offset < size
    ? readFileFull(handle, content(s.bufs[0]!, want(offset)))
    : Promise.resolve(0);
  try {
    while (offset < size) {
      const n = await reading;
      if (n === 0) break; // The file shrank: END now, the receiver reports the size.
      const buf = s.bufs[i]!;
      const next = (i + 1) % s.bufs.length;
      offset += n;
      // Three buffers: this one is hashed while the previous one is still
      // being written and the next one is already being read.
      if (offset < size) {
        reading = readFileFull(handle, content(s.bufs[next]!, want(offset)));
        reading.catch(() => 0);
      }
      hash.update(content(buf, n));
      await writing;
      if (early) break;
      s.report.bytes += n;
      let head = DATA_AT - FRAME_HEADER_BYTES;
      if (first) {
        head -= startBytes;
        put(buf, head, MessageType.START, startPayload);
        first = false;
      }
      // Sealing copies the ciphertext over the plaintext it was made from.
      let to = put(
        buf,
        DATA_AT - FRAME_HEADER_BYTES,
        MessageType.DATA,
        content(buf, n),
      );
      if (offset >= size) {
        to = put(buf, to, MessageType.END, endPayload(s, hash, file, size));
        ended = true;
      }
      writing = writeRecorded(s.stream, buf.subarray(head, to), record);
      // Awaited on the next turn; a failure meanwhile (the receiver gone
      // while the next block is read) is not unhandled: that ends the
      // process instead of reporting why the receiver stopped.
      writing.catch(() => {});
      s.options.onProgress?.({
        path: file.path,
        bytes: offset,
        size,
        resumedFrom: from,
      });
      i = next;
    }
    await writing;
    await reading;
    if (!early && !ended) {
      const out = new Uint8Array(startBytes + END_ROOM);
      let to = 0;
      if (first) to = put(out, to, MessageType.START, startPayload);
      to = put(out, to, MessageType.END, endPayload(s, hash, file, size));
      await writeRecorded(s.stream, out.subarray(0, to), record);
    }
  } catch (error) {
    // A failed write usually means the receiver said why and closed.
    await reading.catch(() => 0);
    const reply = await replyP.catch(() => undefined);
    if (reply) return reply;
    throw error;
  }
  return await replyP;
}

// Finishes the hash and builds END's payload: the digest and its MAC.
function endPayload(
  s: Session,
  hash: Hash,
  file: SentFile,
  size: number,
): Uint8Array {
  const digest = new Uint8Array(hash.digest());
  file.sha256 = digest.toHex();
  const mac = endMac(s.keys.sessionKey, {
    index: s.index,
    size,
    path: new TextEncoder().encode(file.path),
    sha256: digest,
  });
  const end = new Uint8Array(2 * DIGEST_BYTES);
  end.set(digest, 0);
  end.set(mac, DIGEST_BYTES);
  return end;
}
