// `netkit file recv`, and the file receiver `netkit serve` starts.

import { formatAddress } from "../address.ts";
import { NetkitError } from "../errors.ts";
import { escapeControl } from "../escape.ts";
import type {
  FileReceiver,
  FileReceiverStats,
  ReceivedFile,
  ReceiveSession,
} from "../tcp/file/mod.ts";
import type { ServerStats } from "../types.ts";
import { parseCommand, UsageError } from "./_args.ts";
import type { CliContext } from "./_command.ts";
import {
  DEFAULT_GRACE_MS,
  DEFAULT_LIMITS,
  DEFAULT_PORTS,
  DEFAULT_TIMEOUTS,
} from "./_defaults.ts";
import { signalExitCode } from "./_exit.ts";
import { BASIC_WARNING, library, mbps, round3 } from "./_file_shared.ts";
import {
  jsonHelp,
  OUTPUT_FLAGS,
  readServer,
  readTlsServer,
  serverFlags,
  serverHelp,
  TLS_SERVER_FLAGS,
  tlsServerHelp,
} from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import {
  bindError,
  describeError,
  log,
  out,
  outJson,
  type RunningService,
  runServers,
  selfCommand,
  shellQuote,
} from "./_output.ts";
import { createProgressBar, formatBytes } from "./_progress.ts";
import { formatDuration, unitReader } from "./_units.ts";

const PORT = DEFAULT_PORTS.file;

/** `netkit file recv --help`. */
export const RECV_HELP: HelpScreen = {
  usage: ["file recv [options]"],
  about: "Receives files from 'netkit file send'. Prints 'listening tcp " +
    "HOST:PORT' on stdout, then the token and the exact send command on " +
    "stderr. Everything after the token proof is encrypted " +
    "(ChaCha20-Poly1305, keys derived from the token). Files are written " +
    "to '.<name>.netkit-part', fsynced, checked (size and SHA-256) and only " +
    "then renamed into place.",
  options: [
    ...serverHelp({ port: PORT, flags: ["host", "port"] }),
    ["--dir DIR", "folder to store into, created if missing (default: .)"],
    ["--token T", "token senders must know (default: a fresh random one)"],
    ["--overwrite", "replace existing files"],
    [
      "--rename",
      "keep existing files, store the new one as 'name (1).ext'",
    ],
    ["--max-size SIZE", "refuse larger files (e.g. 500M, 4G)"],
    [
      "--max-files N",
      `most files and folders per session (default ${DEFAULT_LIMITS.fileMaxFiles})`,
    ],
    [
      "--once",
      "serve one authenticated session, exit 0 if it succeeded, 1 if not " +
      "(strangers do not count: a wrong token, garbage or a dropped " +
      "connection is refused and it keeps waiting, serving others meanwhile)",
    ],
    [
      "--max-pending N",
      "connections waiting to authenticate at once; the oldest is dropped " +
      `for a newcomer (default ${DEFAULT_LIMITS.fileMaxPending})`,
    ],
    [
      "--auth-timeout TIME",
      "from connect to a valid token proof (or, with --basic, the name); " +
      `trickling does not extend it (default ${
        formatDuration(DEFAULT_TIMEOUTS.fileAuthMs)
      })`,
    ],
    ...tlsServerHelp("serve TLS"),
    [
      "--basic",
      "classic flow: bare name, 'ok', bytes until EOF. No authentication, " +
      "no encryption, cannot detect truncation.",
    ],
    ...serverHelp({
      port: PORT,
      flags: ["idle-timeout", "grace"],
      idle: `drop a connection silent for this long (default ${
        formatDuration(DEFAULT_TIMEOUTS.fileIdleMs)
      })`,
      grace: "on SIGINT/SIGTERM, let transfers finish for this long " +
        `(default ${formatDuration(DEFAULT_GRACE_MS)}); partial files are ` +
        "kept for resuming",
    }),
    jsonHelp("one JSON object per session on stdout"),
    ["--quiet", "no per-file log lines"],
  ],
  examples: [
    "file recv --dir inbox",
    "file recv --dir inbox --once --tls-cert c.pem --tls-key k.pem",
  ],
};

/** Runs `netkit file recv`. */
export async function runRecv(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const cmd = "file recv";
  const { values } = parseCommand(cmd, argv, {
    ...serverFlags(["host", "port", "idle-timeout", "grace"]),
    dir: { type: "string" },
    token: { type: "string" },
    overwrite: { type: "boolean" },
    rename: { type: "boolean" },
    "max-size": { type: "string" },
    "max-files": { type: "string" },
    once: { type: "boolean" },
    "max-pending": { type: "string" },
    "auth-timeout": { type: "string" },
    ...TLS_SERVER_FLAGS,
    basic: { type: "boolean" },
    ...OUTPUT_FLAGS,
    quiet: { type: "boolean" },
  }, { aliases: { "max-conns": "max-pending" } });
  if (values.help) {
    out(renderHelp(RECV_HELP));
    return 0;
  }
  if (values.overwrite && values.rename) {
    throw new UsageError("--overwrite and --rename exclude each other", cmd);
  }
  if (values.basic && values.token !== undefined) {
    throw new UsageError(
      "--basic has no authentication, so --token does not apply",
      cmd,
    );
  }
  const read = unitReader(cmd);
  const { hostname, port, idleTimeoutMs, gracePeriodMs } = readServer(
    read,
    values,
    { port: PORT },
  );
  const limits = {
    maxSize: read.size("max-size", values["max-size"]),
    maxFiles: read.count("max-files", values["max-files"], { min: 1 }) ??
      DEFAULT_LIMITS.fileMaxFiles,
    maxUnauthenticated:
      read.count("max-pending", values["max-pending"], { min: 1 }) ??
        DEFAULT_LIMITS.fileMaxPending,
    authTimeoutMs: read.duration("auth-timeout", values["auth-timeout"]) ??
      DEFAULT_TIMEOUTS.fileAuthMs,
    idleTimeoutMs: idleTimeoutMs ?? DEFAULT_TIMEOUTS.fileIdleMs,
    gracePeriodMs,
  };
  const pem = await readTlsServer(cmd, values);
  const tls = pem && { pem, certPath: values["tls-cert"] as string };
  const dir: string = values.dir ?? ".";
  await makeFolder(dir);
  const token: string | undefined = values.basic
    ? undefined
    : values.token ?? (await library()).generateToken();
  const quiet = Boolean(values.quiet);
  const json = Boolean(values.json);
  const progress = createProgressBar({ quiet });
  const say = (line: string) => {
    progress.clear();
    log(line);
  };
  let server: FileReceiver;
  // With --once: the authenticated session that ended the receiver.
  let counted: ReceiveSession | undefined;
  try {
    server = (await library()).serveFileReceiver({
      hostname,
      port,
      dir,
      token,
      basic: Boolean(values.basic),
      existing: values.overwrite
        ? "overwrite"
        : values.rename
        ? "rename"
        : "refuse",
      ...limits,
      once: Boolean(values.once),
      tls: tls?.pem,
      onProgress: (p) =>
        progress.update({ ...p, name: `${escapeControl(p.path)} ← ${p.peer}` }),
      onFile: quiet ? undefined : (file, peer) => say(fileLine(file, peer)),
      onSession: (session) => {
        if (session.authenticated) counted ??= session;
        if (json) {
          progress.clear();
          outJson(sessionJson(session));
        } else if (!quiet) {
          say(sessionLine(session));
        }
      },
    });
  } catch (error) {
    if (error instanceof UsageError || error instanceof NetkitError) {
      throw error;
    }
    throw bindError(error, hostname, port);
  }
  const notes = values.basic
    ? [
      BASIC_WARNING,
      `send with: ${selfCommand()} file send ${
        formatAddress(server.addr)
      } PATH --basic`,
    ]
    : [
      `token: ${token}`,
      `send with: ${sendHint(server, token!, tls?.certPath)}`,
    ];
  let stoppedBy: Deno.Signal | undefined;
  await runServers([fileService(server)], {
    notes,
    onStop: (signal) => {
      stoppedBy = signal;
      progress.clear();
      log(
        "stopping: partial files are kept; senders resume by running the same send command again",
      );
    },
  });
  if (!values.once || counted?.ok) return 0;
  // --once asked for one session: a signal before it is an interruption.
  return stoppedBy && !counted ? signalExitCode(stoppedBy) : 1;
}

// The folder is created if missing; failing that is a coded error, not a
// raw OS one.
async function makeFolder(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (error) {
    const { FileTransferError } = await library();
    throw new FileTransferError(
      "not_writable",
      `cannot create the folder '${dir}': ${describeError(error)}`,
      { cause: error },
    );
  }
}

function fileService(server: FileReceiver): RunningService {
  return {
    kind: "tcp",
    name: "file",
    server,
    summary: (stats: ServerStats) => {
      const st = stats as FileReceiverStats;
      return `${st.sessions} sessions (${st.sessionsFailed} failed), ${st.filesStored} stored, ` +
        `${st.filesFailed} refused or failed, ${st.authFailures} wrong tokens` +
        (st.authDelayed ? ` (${st.authDelayed} slowed down)` : "") +
        (st.authTimeouts
          ? `, ${st.authTimeouts} too slow to authenticate`
          : "") +
        (st.unauthenticatedDropped
          ? `, ${st.unauthenticatedDropped} dropped over --max-pending`
          : "");
    },
  };
}

function sendHint(
  server: FileReceiver,
  token: string,
  certPath?: string,
): string {
  const tls = certPath ? ` --ca ${shellQuote(certPath)}` : "";
  return `${selfCommand()} file send ${
    formatAddress(server.addr)
  } PATH --token ${token}${tls}`;
}

// Names, reasons and paths come from the peer: escaped before printing.
function fileLine(file: ReceivedFile, peer: string): string {
  const path = escapeControl(file.path);
  const name = file.storedAs && file.storedAs !== file.path
    ? `${path} (as ${escapeControl(file.storedAs)})`
    : path;
  if (file.status === "stored") {
    if (file.kind === "directory") return `stored folder ${name} from ${peer}`;
    const resumed = file.resumedFrom > 0
      ? `, resumed at ${file.resumedFrom}`
      : "";
    return `stored ${name} from ${peer}: ${file.bytes} bytes${resumed}, sha256 ${file.sha256}`;
  }
  return `refused ${name || "(no name)"} from ${peer}: ${file.error?.code}: ${
    escapeControl(file.error?.message ?? "")
  }`;
}

function sessionLine(session: ReceiveSession): string {
  const stored = session.files.filter((f) => f.status === "stored").length;
  const head = `session from ${session.peer}${
    session.basic ? " (basic)" : ""
  }: `;
  const counts =
    `${stored} of ${session.files.length} stored, ${
      formatBytes(session.bytes)
    } in ` +
    `${(session.durationMs / 1000).toFixed(2)} s (${
      mbps(session.bytes, session.durationMs / 1000)
    } MB/s)`;
  if (session.ok) return `${head}ok, ${counts}`;
  const why = session.error
    ? `${session.error.code}: ${escapeControl(session.error.message)}`
    : "some files were not stored";
  const slowed = session.authDelayMs
    ? `, proof check delayed ${session.authDelayMs} ms after wrong proofs from this address`
    : "";
  return `${head}failed (${why}), ${counts}${slowed}`;
}

function sessionJson(session: ReceiveSession): unknown {
  return {
    peer: session.peer,
    ok: session.ok,
    basic: session.basic,
    authenticated: session.authenticated,
    files: session.files.map((f) => ({
      path: f.path,
      storedAs: f.storedAs,
      kind: f.kind,
      bytes: f.bytes,
      sha256: f.sha256,
      status: f.status,
      resumedFrom: f.resumedFrom,
      error: f.error,
    })),
    bytes: session.bytes,
    seconds: round3(session.durationMs / 1000),
    mbps: mbps(session.bytes, session.durationMs / 1000),
    error: session.error,
    authDelayMs: session.authDelayMs,
    note: session.authDelayMs
      ? "proof check delayed: wrong proofs came from this address shortly before"
      : undefined,
  };
}

/**
 * Starts the file receiver `netkit serve` runs: into `dir` (created if
 * missing), with a fresh token; `hint` is the exact send command to print.
 */
export async function startFileService(options: {
  hostname: string;
  port?: number;
  dir: string;
  gracePeriodMs?: number;
}): Promise<{ service: RunningService; hint: string }> {
  await makeFolder(options.dir);
  const token = (await library()).generateToken();
  const port = options.port ?? PORT;
  let server: FileReceiver;
  try {
    server = (await library()).serveFileReceiver({
      hostname: options.hostname,
      port,
      dir: options.dir,
      token,
      gracePeriodMs: options.gracePeriodMs,
      onFile: (file, peer) => log(`file: ${fileLine(file, peer)}`),
      onSession: (session) => {
        if (!session.ok) log(`file: ${sessionLine(session)}`);
      },
    });
  } catch (error) {
    throw bindError(error, options.hostname, port);
  }
  return { service: fileService(server), hint: sendHint(server, token) };
}
