/**
 * The file receiver: a handler on the shared TCP accept loop that stores
 * files sent with {@linkcode sendFiles} (or, in `basic` mode, by the
 * classic name / `ok` / bytes-until-EOF flow).
 *
 * @module
 */

import { createHash, type Hash, timingSafeEqual } from "node:crypto";
import { formatAddress } from "../../address.ts";
import { type ConnectionContext, serveTcp } from "../server.ts";
import { errorMessage, writeAll } from "../../_io.ts";
import { FileTransferError, type FileTransferErrorCode } from "./errors.ts";
import type {
  FileReceiver,
  FileReceiverOptions,
  ReceivedFile,
  ReceiveSession,
  TransferFailure,
} from "./types.ts";
import {
  codeToWire,
  couldBeHello,
  decodeFileEntry,
  decodeHello,
  decodeU64,
  deriveKeys,
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
  HELLO_BYTES,
  MAX_CONTROL_PAYLOAD,
  MAX_DATA_PAYLOAD,
  MessageType,
  type SessionKeys,
  statusMac,
} from "./protocol.ts";
import {
  FrameReader,
  hashFilePrefix,
  type Stream,
  writeRecorded,
} from "./_frame_io.ts";
import {
  checkRelativePath,
  decodePath,
  ensureDirectory,
  ensureParents,
} from "./_safe_path.ts";
import {
  commitPart,
  openPart,
  prepareTarget,
  removeQuietly,
  type Target,
} from "./_store.ts";
import { receiveBasic } from "./_netcat_receive.ts";
import { startWriteback, type Writeback } from "./_writeback.ts";
import { failureOf, type ReceiverConfig } from "./_receiver_config.ts";

const DEFAULT_IDLE_MS = 30_000;
// Sessions that end before authentication: they never end a `once` receiver.
const STRANGER = new Set(["auth_failed", "bad_hello", "version_mismatch"]);
const DEFAULT_MAX_FILES = 100_000;
// Control messages fit the small buffers every connection starts with;
// a big file switches its session to large ones (two, see FrameReader).
const CONTROL_BUFFER = MAX_CONTROL_PAYLOAD + 1024;
const DATA_BUFFER = 1024 * 1024;
const GROW_AT = 256 * 1024;
const DRAIN_LIMIT = 64 * 1024 * 1024;
const RESUMABLE = new Set(["connection_closed", "timeout", "shutting_down"]);

/**
 * Generates a fresh random token: 128 bits, base64url.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateToken } from "@netkit/netkit/tcp";
 *
 * assert.ok(generateToken().length === 22);
 * ```
 */
export function generateToken(): string {
  return crypto.getRandomValues(new Uint8Array(16)).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
}

/**
 * Starts a file receiver on the shared accept loop: one session per
 * connection, any number of concurrent senders, each isolated.
 *
 * Files land in `<dir>/.<name>.netkit-part` first and become `<dir>/<name>`
 * only after their size and SHA-256 match the sender's and the data is
 * fsynced. An interrupted transfer leaves its partial file for resume.
 *
 * @example Receive into a temporary folder
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateToken, serveFileReceiver } from "@netkit/netkit/tcp";
 *
 * const dir = await Deno.makeTempDir();
 * await using receiver = serveFileReceiver({ dir, token: generateToken() });
 * assert.ok(receiver.addr.port > 0);
 * await receiver.shutdown();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function serveFileReceiver(options: FileReceiverOptions): FileReceiver {
  if (!options.basic && !options.token) {
    throw new TypeError(
      "serveFileReceiver needs a token unless basic mode is on (see generateToken())",
    );
  }
  const root = Deno.realPathSync(options.dir);
  if (!Deno.statSync(root).isDirectory) {
    throw new FileTransferError(
      "not_found",
      `'${options.dir}' is not a directory`,
    );
  }
  const stats = {
    sessions: 0,
    sessionsFailed: 0,
    filesStored: 0,
    filesFailed: 0,
    authFailures: 0,
    bytesStored: 0,
  };
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_MS;
  const config: ReceiverConfig = {
    root,
    idleTimeoutMs,
    token: options.token ?? "",
    existing: options.existing ?? "refuse",
    maxSize: options.maxSize ?? Number.MAX_SAFE_INTEGER,
    maxFiles: options.maxFiles ?? DEFAULT_MAX_FILES,
    locks: new Set(),
    stats,
    onProgress: options.onProgress,
    onFile: options.onFile,
  };
  // Bound before the loop starts; assigned right after it does.
  let shutdownOnce: (() => void) | undefined;
  const server = serveTcp(async (conn, context) => {
    const session = await runSession(
      conn,
      context,
      config,
      options.basic ?? false,
    );
    stats.sessions++;
    if (!session.ok) stats.sessionsFailed++;
    options.onSession?.(session);
    if (!STRANGER.has(session.error?.code ?? "")) shutdownOnce?.();
  }, {
    ...options,
    idleTimeoutMs,
    maxConnections: options.once ? 1 : options.maxConnections,
  });
  if (options.once) shutdownOnce = () => void server.shutdown();
  return {
    addr: server.addr,
    finished: server.finished,
    stats: () => ({ ...server.stats(), ...stats }),
    shutdown: server.shutdown,
    [Symbol.asyncDispose]: server.shutdown,
  };
}

/** Runs one session and reports it; never throws. */
async function runSession(
  conn: Deno.Conn,
  outer: ConnectionContext,
  config: ReceiverConfig,
  basic: boolean,
): Promise<ReceiveSession> {
  const started = performance.now();
  const session: ReceiveSession = {
    peer: formatAddress(conn.remoteAddr as Deno.NetAddr),
    ok: false,
    basic,
    authenticated: false,
    files: [],
    bytes: 0,
    durationMs: 0,
  };
  let lastActive = performance.now();
  const context: ConnectionContext = {
    signal: outer.signal,
    record(bytesIn, bytesOut) {
      lastActive = performance.now();
      outer.record(bytesIn, bytesOut);
    },
  };
  const reader = new FrameReader(conn, CONTROL_BUFFER, context.record);
  // Replies are small writes answering small writes: Nagle would add 40 ms each.
  if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
  try {
    if (basic) {
      await receiveBasic(conn, reader, context, config, session);
    } else {
      await protocolSession(conn, reader, context, config, session);
    }
    session.ok = session.files.every((f) => f.status === "stored");
  } catch (error) {
    session.error = failureOf(error);
    if (session.error.code === "connection_closed") {
      const idle = performance.now() - lastActive;
      if (context.signal.aborted) {
        session.error = {
          code: "shutting_down",
          message: "the receiver stopped",
        };
      } else if (config.idleTimeoutMs > 0 && idle >= config.idleTimeoutMs) {
        session.error = {
          code: "timeout",
          message: `nothing arrived for ${
            config.idleTimeoutMs / 1000
          } s (idle timeout)`,
        };
      }
    }
    if (session.error.code === "auth_failed") config.stats.authFailures++;
    if (!basic) await sendFatal(conn, reader, context, session.error);
  }
  session.durationMs = performance.now() - started;
  return session;
}

// Tells the sender why the session ends, then reads what it still sends so
// the close does not reset the connection before the reason arrives.
async function sendFatal(
  conn: Deno.Conn,
  reader: FrameReader,
  context: ConnectionContext,
  failure: TransferFailure,
): Promise<void> {
  if (failure.code === "connection_closed" || failure.code === "bad_hello") {
    return;
  }
  try {
    const code = failure.code === "internal" ? "disk_error" : failure.code;
    await writeRecorded(
      conn,
      encodeFrame(
        MessageType.ERROR,
        encodeNotice(codeToWire(code), 0, failure.message),
      ),
      context.record,
    );
    await conn.closeWrite();
    await reader.drain(DRAIN_LIMIT);
  } catch {
    // The sender is gone already.
  }
}

async function protocolSession(
  conn: Deno.Conn,
  reader: FrameReader,
  context: ConnectionContext,
  config: ReceiverConfig,
  session: ReceiveSession,
): Promise<void> {
  const keys = await handshake(conn, reader, context, config);
  for (let index = 0;; index++) {
    if (context.signal.aborted) {
      throw new FileTransferError("shutting_down", "the receiver is stopping");
    }
    const frame = await reader.frame();
    if (frame.type === MessageType.DONE) {
      const stored = session.files.filter((f) => f.status === "stored").length;
      const failed = session.files.length - stored;
      const message = failed === 0 ? "all stored" : `${failed} not stored`;
      await send(
        conn,
        context,
        MessageType.SESSION,
        encodeNotice(0, stored, message),
      );
      return;
    }
    if (frame.type !== MessageType.FILE) {
      throw new FileTransferError(
        "protocol_error",
        `expected FILE or DONE, got message type ${frame.type}`,
      );
    }
    if (index >= config.maxFiles) {
      throw new FileTransferError(
        "too_many_files",
        `more than ${config.maxFiles} entries in one session`,
      );
    }
    const entry = decodeFileEntry(frame.payload);
    const file = await receiveEntry(
      { conn, reader, context, config, keys, session },
      entry,
      index,
    );
    session.files.push(file);
    if (file.status === "stored") config.stats.filesStored++;
    else config.stats.filesFailed++;
    config.onFile?.(file, session.peer);
  }
}

async function handshake(
  conn: Deno.Conn,
  reader: FrameReader,
  context: ConnectionContext,
  config: ReceiverConfig,
): Promise<SessionKeys> {
  if (!await reader.peek(HELLO_BYTES, couldBeHello)) {
    throw new FileTransferError(
      "connection_closed",
      "the peer closed before its hello",
    );
  }
  if (!couldBeHello(reader.buffered)) {
    // Likely a classic sender: say so in text it can show.
    const hint = "netkit file: this receiver speaks the netkit protocol; " +
      "start it with --basic for the name/ok/bytes flow\n";
    await writeRecorded(conn, new TextEncoder().encode(hint), context.record)
      .catch(() => {});
    throw new FileTransferError(
      "bad_hello",
      "the peer does not speak the netkit file protocol",
    );
  }
  const hello = decodeHello(await reader.exact(HELLO_BYTES));
  const nonce = crypto.getRandomValues(new Uint8Array(DIGEST_BYTES));
  if (hello.version !== FILE_PROTOCOL_VERSION) {
    await writeRecorded(
      conn,
      encodeHello(nonce, { code: codeToWire("version_mismatch") }),
      context.record,
    );
    throw new FileTransferError(
      "version_mismatch",
      `the sender speaks protocol version ${hello.version}; this receiver speaks ${FILE_PROTOCOL_VERSION}`,
    );
  }
  await writeRecorded(conn, encodeHello(nonce), context.record);
  const keys = deriveKeys(config.token, hello.nonce, nonce);
  const auth = await reader.frame();
  if (auth.type !== MessageType.AUTH || auth.payload.length !== DIGEST_BYTES) {
    throw new FileTransferError(
      "protocol_error",
      "expected AUTH after the hello",
    );
  }
  if (!timingSafeEqual(auth.payload, keys.senderProof)) {
    throw new FileTransferError("auth_failed", "wrong token");
  }
  await send(conn, context, MessageType.AUTH_OK, keys.receiverProof);
  return keys;
}

interface SessionIo {
  conn: Deno.Conn;
  reader: FrameReader;
  context: ConnectionContext;
  config: ReceiverConfig;
  keys: SessionKeys;
  session: ReceiveSession;
}

async function receiveEntry(
  io: SessionIo,
  entry: FileEntry,
  index: number,
): Promise<ReceivedFile> {
  const file: ReceivedFile = {
    path: "",
    kind: entry.kind === EntryKind.DIRECTORY ? "directory" : "file",
    bytes: entry.size,
    sha256: "",
    status: "failed",
    resumedFrom: 0,
  };
  let target: Target;
  try {
    file.path = decodePath(entry.path);
    if (entry.kind === EntryKind.DIRECTORY) {
      const components = checkRelativePath(file.path);
      await ensureParents(io.config.root, components, file.path);
      await ensureDirectory(io.config.root, components, file.path, entry.mode);
      file.status = "stored";
      file.storedAs = file.path;
      await sendStatus(io, index, file, new Uint8Array(DIGEST_BYTES));
      return file;
    }
    if (entry.size > io.config.maxSize) {
      throw new FileTransferError(
        "too_large",
        `'${file.path}' is ${entry.size} bytes, over the receiver's limit of ${io.config.maxSize}`,
      );
    }
    target = await prepareTarget(io.config.root, file.path, io.config.existing);
  } catch (error) {
    return await refuse(io, index, file, error);
  }
  if (io.config.locks.has(target.partPath)) {
    return await refuse(
      io,
      index,
      file,
      new FileTransferError(
        "busy",
        `'${file.path}' is being received from another sender`,
      ),
    );
  }
  io.config.locks.add(target.partPath);
  try {
    let part: Deno.FsFile;
    try {
      part = await openPart(target);
    } catch (error) {
      return await refuse(io, index, file, error);
    }
    try {
      await receiveContent(io, entry, index, target, part, file);
    } catch (error) {
      // A cut connection keeps its partial file for resume; a breach does not.
      if (!RESUMABLE.has(failureOf(error).code)) {
        await removeQuietly(target.partPath);
      }
      throw error;
    } finally {
      part.close();
    }
    if (file.status !== "stored") await removeQuietly(target.partPath);
  } finally {
    io.config.locks.delete(target.partPath);
  }
  await sendStatus(
    io,
    index,
    file,
    file.sha256
      ? Uint8Array.fromHex(file.sha256)
      : new Uint8Array(DIGEST_BYTES),
  );
  return file;
}

// Refusals before any content byte: the session goes on with the next entry.
async function refuse(
  io: SessionIo,
  index: number,
  file: ReceivedFile,
  error: unknown,
): Promise<ReceivedFile> {
  file.error = failureOf(error);
  await sendStatus(io, index, file, new Uint8Array(DIGEST_BYTES));
  return file;
}

/**
 * Offers a resume point, reads START, DATA… and END, and leaves the file
 * stored (status "stored") or explains why not in `file.error`. Throws
 * only when the session cannot go on (cut connection, protocol breach).
 */
async function receiveContent(
  io: SessionIo,
  entry: FileEntry,
  index: number,
  target: Target,
  part: Deno.FsFile,
  file: ReceivedFile,
): Promise<void> {
  const { reader, config, context } = io;
  const size = entry.size;
  const existing = (await part.stat()).size;
  let hash = createHash("sha256");
  let offer = 0;
  let prefixSha = new Uint8Array(DIGEST_BYTES);
  if (
    (entry.flags & FLAG_NO_RESUME) === 0 && existing > 0 && existing <= size
  ) {
    // Hashing a big prefix is work for this connection, not idleness.
    await hashFilePrefix(part, existing, {
      hash,
      buf: new Uint8Array(MAX_DATA_PAYLOAD),
      onChunk: () => context.record(0, 0),
    });
    offer = existing;
    prefixSha = new Uint8Array(hash.copy().digest());
  }
  if (size - offer >= GROW_AT) reader.grow(DATA_BUFFER);
  await send(
    io.conn,
    context,
    MessageType.ACCEPT,
    encodeAccept(offer, prefixSha),
  );
  const start = await reader.frame();
  if (start.type !== MessageType.START) {
    throw new FileTransferError(
      "protocol_error",
      "expected START after ACCEPT",
    );
  }
  const from = decodeU64(start.payload);
  if (from !== 0 && from !== offer) {
    throw new FileTransferError(
      "protocol_error",
      `START at ${from}, but the receiver offered 0 or ${offer}`,
    );
  }
  if (from === 0 && existing > 0) {
    await part.truncate(0);
    hash = createHash("sha256");
  }
  await part.seek(from, Deno.SeekMode.Start);
  file.resumedFrom = from;
  await using writeback = await startWriteback(target.partPath, size - from);
  const end = await receiveData(io, part, writeback, hash, file, from, size);
  const digest = new Uint8Array(hash.digest());
  let failure = end.failure;
  if (!failure && end.received !== size) {
    failure = new FileTransferError(
      "size_mismatch",
      `'${file.path}': ${end.received} bytes arrived, ${size} were announced`,
    );
  }
  if (!failure && !timingSafeEqual(digest, end.sha256)) {
    failure = new FileTransferError(
      "hash_mismatch",
      `'${file.path}': the SHA-256 of the received bytes is not the sender's`,
    );
  }
  const mac = endMac(io.keys.sessionKey, {
    index,
    size,
    path: entry.path,
    sha256: end.sha256,
  });
  if (!failure && !timingSafeEqual(mac, end.mac)) {
    failure = new FileTransferError(
      "integrity_failed",
      `'${file.path}': the digest's authentication code is wrong (altered in transit?)`,
    );
  }
  if (failure) {
    file.error = failureOf(failure);
    return;
  }
  try {
    await writeback.finish();
    await part.sync();
    await Deno.chmod(target.partPath, entry.mode & 0o777);
    file.storedAs = await commitPart(target, config.existing);
  } catch (error) {
    file.error = failureOf(error);
    return;
  }
  file.sha256 = digest.toHex();
  file.status = "stored";
  config.stats.bytesStored += size;
}

interface DataEnd {
  received: number;
  sha256: Uint8Array;
  mac: Uint8Array;
  failure?: FileTransferError;
}

// The hot path: socket → hash and part file from the same buffer, with
// one file write in flight while the next chunk is read.
async function receiveData(
  io: SessionIo,
  part: Deno.FsFile,
  writeback: Writeback,
  hash: Hash,
  file: ReceivedFile,
  from: number,
  size: number,
): Promise<DataEnd> {
  const { reader, config, session } = io;
  let received = from;
  let failure: FileTransferError | undefined;
  let pending: Promise<void> | undefined;
  const settle = async () => {
    if (!pending) return;
    try {
      await pending;
    } catch (error) {
      failure ??= diskError(file.path, error);
    }
    pending = undefined;
  };
  let lastReport = 0;
  try {
    for (;;) {
      await settle();
      const header = await reader.header();
      if (header.type === MessageType.END) {
        if (header.length !== 2 * DIGEST_BYTES) {
          throw new FileTransferError(
            "protocol_error",
            "END must carry 64 bytes",
          );
        }
        const payload = await reader.exact(header.length);
        return {
          received,
          sha256: payload.slice(0, DIGEST_BYTES),
          mac: payload.slice(DIGEST_BYTES),
          failure,
        };
      }
      if (header.type !== MessageType.DATA) {
        throw new FileTransferError(
          "protocol_error",
          `expected DATA or END, got message type ${header.type}`,
        );
      }
      if (received + header.length > size) {
        throw new FileTransferError(
          "size_mismatch",
          `'${file.path}': more bytes than the ${size} announced`,
        );
      }
      let left = header.length;
      while (left > 0) {
        const chunk = await reader.some(left);
        left -= chunk.length;
        received += chunk.length;
        session.bytes += chunk.length;
        if (failure) continue;
        hash.update(chunk);
        await settle();
        if (!failure) {
          const n = chunk.length;
          pending = writeAll(part, chunk).then(() => writeback.wrote(n));
        }
      }
      if (config.onProgress && received - lastReport >= MAX_CONTROL_PAYLOAD) {
        lastReport = received;
        config.onProgress({
          path: file.path,
          bytes: received,
          size,
          resumedFrom: from,
          peer: session.peer,
        });
      }
    }
  } finally {
    await settle();
  }
}

function diskError(path: string, error: unknown): FileTransferError {
  return new FileTransferError(
    "disk_error",
    `'${path}': cannot write: ${errorMessage(error)}`,
    { cause: error },
  );
}

async function sendStatus(
  io: SessionIo,
  index: number,
  file: ReceivedFile,
  sha256: Uint8Array,
): Promise<void> {
  const code = codeToWire(
    file.status === "stored" ? "ok" : wireCode(file.error),
  );
  await send(
    io.conn,
    io.context,
    MessageType.STATUS,
    encodeStatus({
      code,
      sha256,
      mac: statusMac(io.keys.sessionKey, { index, code, sha256 }),
      storedPath: file.storedAs ?? "",
      message: file.error?.message ?? "stored",
    }),
  );
}

function wireCode(failure: TransferFailure | undefined): FileTransferErrorCode {
  if (!failure || failure.code === "internal") return "disk_error";
  return failure.code;
}

async function send(
  stream: Stream,
  context: ConnectionContext,
  type: number,
  payload: Uint8Array,
): Promise<void> {
  await writeRecorded(stream, encodeFrame(type, payload), context.record);
}
