/**
 * The file receiver: a handler on the shared TCP accept loop that stores
 * files sent with {@linkcode sendFiles} (or, in `basic` mode, by the
 * classic name / `ok` / bytes-until-EOF flow).
 *
 * @module
 */

import { serverHandle } from "../../_server_handle.ts";
import { serveTcp } from "../server.ts";
import type { FileReceiver, FileReceiverOptions } from "./types.ts";
import type { ReceiverConfig } from "./_receiver_config.ts";
import type { Shared } from "./_receive_io.ts";
import { serveConnection } from "./_receive_connection.ts";
import { checkFolder } from "./_store.ts";
import { codeKeySchedule, tokenKeySchedule } from "./_key_schedule.ts";
import { createCodeBudget, DEFAULT_CODE_ATTEMPTS } from "./_code_budget.ts";
import {
  createPreAuthGate,
  DEFAULT_AUTH_TIMEOUT_MS,
  DEFAULT_MAX_UNAUTHENTICATED,
} from "./_pre_auth.ts";

const DEFAULT_IDLE_MS = 30_000;
const DEFAULT_GRACE_MS = 5_000;
// The receiver tells senders `shutting_down` when the grace period ends;
// the accept loop closes what is left this much later.
const NOTICE_MARGIN_MS = 500;
const DEFAULT_MAX_FILES = 100_000;

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
  if (!options.basic && !options.token === (options.code === undefined)) {
    throw new TypeError(
      "serveFileReceiver needs a token or a code (not both) unless basic mode is on (see generateToken(), generateCode())",
    );
  }
  const codeMode = !options.basic && options.code !== undefined;
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
    keys: codeMode
      ? codeKeySchedule(options.code!)
      : tokenKeySchedule(options.token ?? ""),
    existing: options.existing ?? "refuse",
    maxSize: options.maxSize ?? Number.MAX_SAFE_INTEGER,
    maxFiles: options.maxFiles ?? DEFAULT_MAX_FILES,
    locks: new Set(),
    stats,
    onProgress: options.onProgress,
    onFile: options.onFile,
    claim() {
      // A code serves one sender.
      if (!options.once && !codeMode) return true;
      if (claimed) return false;
      claimed = true;
      return true;
    },
  };
  const authTimeoutMs = options.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS;
  const gate = createPreAuthGate({
    authTimeoutMs,
    maxUnauthenticated: options.maxUnauthenticated ??
      DEFAULT_MAX_UNAUTHENTICATED,
    onDrop: () => stats.unauthenticatedDropped++,
    onStrangers: options.onStrangers,
  });
  const code = codeMode
    ? createCodeBudget(options.codeAttempts ?? DEFAULT_CODE_ATTEMPTS)
    : undefined;
  const shared: Shared = {
    config,
    gate,
    code,
    basic: options.basic ?? false,
    tls: options.tls !== undefined,
    gracePeriodMs,
  };
  // Bound before the loop starts; assigned right after it does.
  let shutdownOnce: (() => void) | undefined;
  const server = serveTcp(async (conn, context) => {
    const session = await serveConnection(conn, context, shared);
    stats.sessions++;
    if (!session.ok) stats.sessionsFailed++;
    // Strangers' sessions past a burst are summarized (onStrangers); a
    // wrong code is always reported (there are a few at most).
    const wrongCode = code !== undefined &&
      session.error?.code === "auth_failed";
    if (session.authenticated || wrongCode || gate.report(session)) {
      options.onSession?.(session);
    }
    // Only a session that authenticated ends a `once` receiver; a code
    // also ends with its last wrong attempt (once that sender has been
    // told): nobody can use it now.
    if (session.authenticated || code?.left === 0) shutdownOnce?.();
  }, {
    ...options,
    idleTimeoutMs,
    gracePeriodMs: gracePeriodMs + NOTICE_MARGIN_MS,
    // The gate's deadline (from accept, a real close) covers TLS too.
    handshakeTimeoutMs: authTimeoutMs > 0 ? 0 : undefined,
  });
  if (options.once || codeMode) shutdownOnce = () => void server.shutdown();
  return serverHandle({
    addr: server.addr,
    finished: server.finished.then(() => gate.close()),
    stats: () => ({
      ...server.stats(),
      ...stats,
      ...(code ? { codeAttemptsLeft: code.left } : {}),
    }),
    shutdown: server.shutdown,
  });
}
