/**
 * The file receiver: a handler on the shared TCP accept loop that stores
 * files sent with {@linkcode sendFiles} (or, in `basic` mode, by the
 * classic name / `ok` / bytes-until-EOF flow).
 *
 * @module
 */

import { createHash, type Hash, timingSafeEqual } from "node:crypto";
import { serverHandle } from "../../_server_handle.ts";
import { formatAddress } from "../../address.ts";
import { type ConnectionContext, serveTcp } from "../server.ts";
import { closeQuietly, delay, errorMessage, writeAll } from "../../_io.ts";
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
  createFrameCipher,
  decodeFileEntry,
  decodeHello,
  decodeU64,
  deriveKeys,
  DIGEST_BYTES,
  encodeAccept,
  encodeHello,
  encodeNotice,
  encodeStatus,
  endMac,
  EntryKind,
  FILE_PROTOCOL_VERSION,
  type FileEntry,
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
} from "./protocol.ts";
import {
  FrameReader,
  hashFilePrefix,
  type Recorder,
  writeFrame,
  writeRecorded,
} from "./_frame_io.ts";
import {
  checkRelativePath,
  decodePath,
  ensureDirectory,
  ensureParents,
  MAX_PATH_BYTES,
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
import {
  failureOf,
  peerText,
  type ReceiverConfig,
} from "./_receiver_config.ts";
import {
  createPreAuthGate,
  DEFAULT_AUTH_TIMEOUT_MS,
  DEFAULT_MAX_UNAUTHENTICATED,
  type PreAuthGate,
} from "./_pre_auth.ts";

const DEFAULT_IDLE_MS = 30_000;
const DEFAULT_GRACE_MS = 5_000;
// The receiver tells senders `shutting_down` when the grace period ends;
// the accept loop closes what is left this much later.
const NOTICE_MARGIN_MS = 500;
const DEFAULT_MAX_FILES = 100_000;
// Control messages fit the small buffers every connection starts with;
// a file's frames need room for a whole (sealed) DATA frame, so its
// session switches to buffers just big enough (two, see FrameReader).
const CONTROL_BUFFER = MAX_CONTROL_PAYLOAD + 1024;
// Before authentication only the hello (44 bytes) and AUTH (37) arrive; a
// --basic name is at most MAX_PATH_BYTES, and one byte more shows it is
// too long.
const PRE_AUTH_BUFFER = 1024;
const BASIC_NAME_BUFFER = MAX_PATH_BYTES + 1024;
const FRAME_ROOM = FRAME_HEADER_BYTES + SEAL_OVERHEAD + 1024;
const DATA_BUFFER = MAX_DATA_PAYLOAD + FRAME_ROOM;
const DRAIN_LIMIT = 64 * 1024 * 1024;
const RESUMABLE = new Set(["connection_closed", "timeout", "shutting_down"]);

/**
 * Generates a fresh random token: 128 bits, base64url, never starting with
 * `-` (a command line would take `--token -abc…` for an option: the
 * printed `send with:` line must work as printed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateToken } from "@netkit/netkit/tcp";
 *
 * const token = generateToken();
 * assert.equal(token.length, 22);
 * assert.match(token, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
 * ```
 */
export function generateToken(): string {
  for (;;) {
    const token = crypto.getRandomValues(new Uint8Array(16)).toBase64({
      alphabet: "base64url",
      omitPadding: true,
    });
    if (!token.startsWith("-")) return token;
  }
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
  const root = checkFolder(options.dir);
  const stats = {
    sessions: 0,
    sessionsFailed: 0,
    filesStored: 0,
    filesFailed: 0,
    authFailures: 0,
    authDelayed: 0,
    authTimeouts: 0,
    unauthenticatedDropped: 0,
    bytesStored: 0,
  };
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_MS;
  const gracePeriodMs = options.gracePeriodMs ?? DEFAULT_GRACE_MS;
  let claimed = false;
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
    claim() {
      if (!options.once) return true;
      if (claimed) return false;
      claimed = true;
      return true;
    },
  };
  const gate = createPreAuthGate({
    authTimeoutMs: options.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS,
    maxUnauthenticated: options.maxUnauthenticated ??
      DEFAULT_MAX_UNAUTHENTICATED,
  }, () => stats.unauthenticatedDropped++);
  const shared: Shared = {
    config,
    gate,
    basic: options.basic ?? false,
    tls: options.tls !== undefined,
    gracePeriodMs,
  };
  // Bound before the loop starts; assigned right after it does.
  let shutdownOnce: (() => void) | undefined;
  const server = serveTcp(async (conn, context) => {
    const session = await runSession(conn, context, shared);
    stats.sessions++;
    if (!session.ok) stats.sessionsFailed++;
    options.onSession?.(session);
    // Only a session that authenticated ends a `once` receiver.
    if (session.authenticated) shutdownOnce?.();
  }, {
    ...options,
    idleTimeoutMs,
    gracePeriodMs: gracePeriodMs + NOTICE_MARGIN_MS,
  });
  if (options.once) shutdownOnce = () => void server.shutdown();
  return serverHandle({
    addr: server.addr,
    finished: server.finished,
    stats: () => ({ ...server.stats(), ...stats }),
    shutdown: server.shutdown,
  });
}

// The folder must exist, be a folder and take new files, or nothing could
// ever be stored: refuse to start rather than refuse every file.
function checkFolder(dir: string): string {
  let root: string;
  try {
    root = Deno.realPathSync(dir);
  } catch (error) {
    throw new FileTransferError(
      "not_found",
      `the folder '${dir}' does not exist`,
      { cause: error },
    );
  }
  if (!Deno.statSync(root).isDirectory) {
    throw new FileTransferError("not_found", `'${dir}' is not a folder`);
  }
  try {
    const probe = Deno.makeTempFileSync({
      dir: root,
      prefix: ".netkit-probe-",
    });
    Deno.removeSync(probe);
  } catch (error) {
    throw new FileTransferError(
      "not_writable",
      `cannot create files in '${dir}': ${errorMessage(error)}`,
      { cause: error },
    );
  }
  return root;
}

interface Shared {
  config: ReceiverConfig;
  gate: PreAuthGate;
  basic: boolean;
  tls: boolean;
  gracePeriodMs: number;
}

/** Writes one session's frames in order, sealed once authenticated. */
interface Outbox {
  send(type: number, payload?: Uint8Array): Promise<void>;
  /** Set once ERROR went out: nothing more is sent. */
  noticeSent: boolean;
}

function createOutbox(
  conn: Deno.Conn,
  reader: FrameReader,
  record: (bytesIn: number, bytesOut: number) => void,
): Outbox {
  let chain: Promise<void> = Promise.resolve();
  const outbox: Outbox = {
    noticeSent: false,
    send(type, payload) {
      // Sealed inside the chain, so counters follow the wire order.
      const p = chain.then(() =>
        writeFrame(conn, reader.cipher, { type, payload }, record)
      );
      chain = p.catch(() => {});
      return p;
    },
  };
  return outbox;
}

/** Runs one session and reports it; never throws. */
async function runSession(
  conn: Deno.Conn,
  outer: ConnectionContext,
  shared: Shared,
): Promise<ReceiveSession> {
  const { config, gate, basic } = shared;
  const started = performance.now();
  const peerAddr = conn.remoteAddr as Deno.NetAddr;
  const session: ReceiveSession = {
    peer: formatAddress(peerAddr),
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
  // Small until the peer authenticates: a stranger costs two of these.
  const reader = new FrameReader(
    conn,
    basic ? BASIC_NAME_BUFFER : PRE_AUTH_BUFFER,
    context.record,
  );
  const outbox = createOutbox(conn, reader, context.record);
  const ticket = gate.admit(conn);
  const stop = watchShutdown(conn, context.signal, session, {
    gracePeriodMs: shared.gracePeriodMs,
    notify: () =>
      (basic ? notifyBasic : notify)(
        conn,
        outbox,
        context.record,
      ),
  });
  // Replies are small writes answering small writes: Nagle would add 40 ms each.
  if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
  const io: SessionIo = {
    conn,
    reader,
    outbox,
    context,
    config,
    session,
    shared,
    peerHost: peerAddr.hostname,
    authenticated: () => {
      session.authenticated = true;
      ticket.authenticated();
    },
  };
  try {
    if (basic) {
      await receiveBasic({
        conn,
        reader,
        context,
        config,
        session,
        authenticated: io.authenticated,
        // The sender was told the receiver stops: its EOF ends nothing.
        stopped: () => outbox.noticeSent,
      });
    } else {
      await protocolSession(io);
    }
    session.ok = session.authenticated &&
      session.files.every((f) => f.status === "stored");
  } catch (error) {
    session.error = sessionFailure(error, {
      closedBy: ticket.closedBy,
      aborted: context.signal.aborted,
      idle: config.idleTimeoutMs > 0 &&
        performance.now() - lastActive >= config.idleTimeoutMs,
      config,
    });
    if (session.error.code === "auth_failed") config.stats.authFailures++;
    if (ticket.closedBy === "deadline") config.stats.authTimeouts++;
    if (!basic && !outbox.noticeSent) {
      await sendFatal(conn, reader, outbox, session.error, config.root);
    }
  } finally {
    ticket.end();
    stop();
  }
  session.durationMs = performance.now() - started;
  return session;
}

// Strangers are dropped at once when the receiver stops; an authenticated
// session may finish within the grace period, then its sender is told.
function watchShutdown(
  conn: Deno.Conn,
  signal: AbortSignal,
  session: ReceiveSession,
  options: { gracePeriodMs: number; notify: () => void },
): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onAbort = () => {
    if (!session.authenticated) return closeQuietly(conn);
    timer = setTimeout(options.notify, options.gracePeriodMs);
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  return () => {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  };
}

// ERROR shutting_down, then the write side closes; the sender stops on it
// and closes, which ends this session's reads.
function notify(
  conn: Deno.Conn,
  outbox: Outbox,
  _record: Recorder,
): void {
  if (outbox.noticeSent) return;
  outbox.noticeSent = true;
  outbox.send(
    MessageType.ERROR,
    encodeNotice(codeToWire("shutting_down"), 0, "the receiver is stopping"),
  ).then(() => conn.closeWrite()).catch(() => {});
}

// The classic flow's way to complain: one text line, then close.
function notifyBasic(conn: Deno.Conn, outbox: Outbox, record: Recorder): void {
  if (outbox.noticeSent) return;
  outbox.noticeSent = true;
  writeRecorded(
    conn,
    new TextEncoder().encode("error: the receiver is stopping\n"),
    record,
  ).then(() => conn.closeWrite()).catch(() => {});
}

function sessionFailure(
  error: unknown,
  why: {
    closedBy: "deadline" | "evicted" | undefined;
    aborted: boolean;
    idle: boolean;
    config: ReceiverConfig;
  },
): TransferFailure {
  const failure = failureOf(error);
  // The gate closed the connection: whatever the read then threw (EOF, a
  // closed resource), that is why the session ended.
  if (why.closedBy === "deadline") {
    return {
      code: "timeout",
      message: "the peer did not authenticate within the deadline",
    };
  }
  if (why.closedBy === "evicted") {
    return {
      code: "connection_closed",
      message:
        "dropped while unauthenticated to make room for a newer connection (--max-pending)",
    };
  }
  if (failure.code !== "connection_closed" && failure.code !== "internal") {
    return failure;
  }
  if (why.aborted) {
    return { code: "shutting_down", message: "the receiver stopped" };
  }
  if (why.idle) {
    return {
      code: "timeout",
      message: `nothing arrived for ${
        why.config.idleTimeoutMs / 1000
      } s (idle timeout)`,
    };
  }
  return failure;
}

// Tells the sender why the session ends, then reads what it still sends so
// the close does not reset the connection before the reason arrives.
async function sendFatal(
  conn: Deno.Conn,
  reader: FrameReader,
  outbox: Outbox,
  failure: TransferFailure,
  root: string,
): Promise<void> {
  if (failure.code === "connection_closed" || failure.code === "bad_hello") {
    return;
  }
  outbox.noticeSent = true;
  try {
    const code = failure.code === "internal" ? "disk_error" : failure.code;
    await outbox.send(
      MessageType.ERROR,
      encodeNotice(codeToWire(code), 0, peerText(failure.message, root)),
    );
    await conn.closeWrite();
    await reader.drain(DRAIN_LIMIT);
  } catch {
    // The sender is gone already.
  }
}

async function protocolSession(io: SessionIo): Promise<void> {
  const { reader, context, config, session } = io;
  io.keys = await handshake(io);
  for (let index = 0;; index++) {
    if (context.signal.aborted) {
      throw new FileTransferError("shutting_down", "the receiver is stopping");
    }
    const frame = await reader.frame();
    if (frame.type === MessageType.DONE) {
      const stored = session.files.filter((f) => f.status === "stored").length;
      const failed = session.files.length - stored;
      const message = failed === 0 ? "all stored" : `${failed} not stored`;
      await io.outbox.send(
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
    const file = await receiveEntry(io, entry, index);
    session.files.push(file);
    if (file.status === "stored") config.stats.filesStored++;
    else config.stats.filesFailed++;
    config.onFile?.(file, session.peer);
  }
}

async function handshake(io: SessionIo): Promise<SessionKeys> {
  const { conn, reader, context, config, shared } = io;
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
  const senderHello = (await reader.exact(HELLO_BYTES)).slice();
  const hello = decodeHello(senderHello);
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
  const plainOverTls = (hello.code & HELLO_FLAG_PLAIN_OVER_TLS) !== 0;
  if (plainOverTls && !shared.tls) {
    // Refused in the hello's code field, which every version can read.
    await writeRecorded(
      conn,
      encodeHello(nonce, { code: codeToWire("protocol_error") }),
      context.record,
    );
    io.outbox.noticeSent = true;
    throw new FileTransferError(
      "protocol_error",
      "the sender asked for unsealed frames over TLS, but this connection is not TLS",
    );
  }
  const receiverHello = encodeHello(nonce);
  await writeRecorded(conn, receiverHello, context.record);
  const keys = deriveKeys(config.token, senderHello, receiverHello);
  // The header is checked before any payload byte is waited for.
  const authHeader = await reader.header();
  if (
    authHeader.type !== MessageType.AUTH || authHeader.length !== DIGEST_BYTES
  ) {
    throw new FileTransferError(
      "protocol_error",
      "expected AUTH after the hello",
    );
  }
  const auth = { payload: await reader.payload(authHeader) };
  const wait = shared.gate.delayFor(io.peerHost);
  if (wait > 0) {
    // Wrong proofs came from this address lately: answer more slowly.
    config.stats.authDelayed++;
    io.session.authDelayMs = Math.round(wait);
    await delay(wait, context.signal);
  }
  if (!timingSafeEqual(auth.payload, keys.senderProof)) {
    shared.gate.failed(io.peerHost);
    throw new FileTransferError("auth_failed", "wrong token");
  }
  if (!config.claim()) {
    throw new FileTransferError(
      "busy",
      "this --once receiver is already serving another session",
    );
  }
  io.authenticated();
  reader.grow(CONTROL_BUFFER);
  await io.outbox.send(MessageType.AUTH_OK, keys.receiverProof);
  // Every later frame, both ways, is sealed (unless verified TLS already
  // protects it).
  if (!plainOverTls) {
    reader.cipher = createFrameCipher(keys.receiverKey, keys.senderKey);
  }
  return keys;
}

interface SessionIo {
  conn: Deno.Conn;
  reader: FrameReader;
  outbox: Outbox;
  context: ConnectionContext;
  config: ReceiverConfig;
  keys?: SessionKeys;
  session: ReceiveSession;
  shared: Shared;
  peerHost: string;
  authenticated(): void;
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
      onChunk: (done) => {
        context.record(0, 0);
        config.onProgress?.({
          path: file.path,
          bytes: done,
          size: existing,
          resumedFrom: 0,
          peer: io.session.peer,
          verifying: true,
        });
      },
    });
    offer = existing;
    prefixSha = new Uint8Array(hash.copy().digest());
  }
  // Room for the largest DATA frame this file can bring, whole.
  reader.grow(Math.min(DATA_BUFFER, size - offer + FRAME_ROOM));
  await io.outbox.send(MessageType.ACCEPT, encodeAccept(offer, prefixSha));
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
  const mac = endMac(io.keys!.sessionKey, {
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

// The hot path: socket → (open) → hash and part file, with one file write
// in flight while the next frame is read. A sealed frame opens into its
// own array; an unsealed one (over TLS) is copied out of the reader's
// buffers, which may move on twice (header, payload) while it is written.
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
      const header = await reader.header();
      if (header.type === MessageType.END) {
        const payload = await reader.payload(header);
        await settle();
        if (payload.length !== 2 * DIGEST_BYTES) {
          throw new FileTransferError(
            "protocol_error",
            "END must carry 64 bytes",
          );
        }
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
      const plainLength = header.length - (reader.cipher ? SEAL_OVERHEAD : 0);
      if (received + plainLength > size) {
        throw new FileTransferError(
          "size_mismatch",
          `'${file.path}': more bytes than the ${size} announced`,
        );
      }
      const opened = await reader.payload(header);
      const chunk = reader.cipher ? opened : opened.slice();
      received += chunk.length;
      session.bytes += chunk.length;
      if (!failure) {
        hash.update(chunk);
        await settle();
      }
      if (!failure) {
        const n = chunk.length;
        pending = writeAll(part, chunk).then(() => writeback.wrote(n));
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
  await io.outbox.send(
    MessageType.STATUS,
    encodeStatus({
      code,
      sha256,
      mac: statusMac(io.keys!.sessionKey, { index, code, sha256 }),
      storedPath: file.storedAs ?? "",
      message: peerText(file.error?.message ?? "stored", io.config.root),
    }),
  );
}

function wireCode(failure: TransferFailure | undefined): FileTransferErrorCode {
  if (!failure || failure.code === "internal") return "disk_error";
  return failure.code;
}
