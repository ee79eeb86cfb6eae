// `netkit file recv`, and the file receiver `netkit serve` starts.

import { formatAddress } from "../address.ts";
import { NetkitError } from "../errors.ts";
import { escapeControl } from "../escape.ts";
import type {
  FileReceiver,
  FileReceiverStats,
  ReceivedFile,
  ReceiveSession,
  StrangerSummary,
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
  plural,
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
    "HOST:PORT' on stdout, then a code to read aloud (like " +
    "'7-lantern-walnut-cobra') and the exact send command on stderr. The " +
    "code serves one sender and ends after a few wrong attempts; a " +
    "recording of the connection gives nothing to test guesses against " +
    "(CPace). Everything after the proof is encrypted (ChaCha20-Poly1305). " +
    "Files are written to '.<name>.netkit-part', fsynced, checked (size " +
    "and SHA-256) and only then renamed into place.",
  options: [
    ...serverHelp({ port: PORT, flags: ["host", "port"] }),
    ["--dir DIR", "folder to store into, created if missing (default: .)"],
    [
      "--code-attempts N",
      "wrong codes before the code ends and the receiver stops " +
      `(default ${DEFAULT_LIMITS.fileCodeAttempts})`,
    ],
    [
      "--token T",
      "a token instead of a code, for scripts: senders use --token T; " +
      "the receiver serves any number of sessions",
    ],
    ["--random-token", "a fresh 128-bit token instead of a code"],
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
      "with a token: serve one authenticated session, exit 0 if it " +
      "succeeded, 1 if not (strangers do not count: a wrong token, garbage " +
      "or a dropped connection is refused and it keeps waiting, serving " +
      "others meanwhile). A code always serves one session.",
    ],
    [
      "--max-pending N",
      "connections waiting to authenticate at once; one more drops one: " +
      "a silent one first, then the oldest of the address holding the " +
      `most (default ${DEFAULT_LIMITS.fileMaxPending})`,
    ],
    [
      "--auth-timeout TIME",
      "from connect to a valid proof (or, with --basic, the name); " +
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
  sections: [{
    title: "Strangers",
    text: "Wrong tokens are checked at most 100 times per 10s across all " +
      "addresses (besides a slow-down per address), so guessers with many " +
      "addresses gain nothing: a 6-digit --token lasts about 14 hours on " +
      "average against them, 8 random letters and digits thousands of " +
      "years, the default token forever. Their sessions are logged one by " +
      "one up to 20 per 10s, then as one summary line per 10s.",
  }],
  examples: [
    "file recv --dir inbox",
    "file recv --dir inbox --random-token --once --json",
    "file recv --dir inbox --tls-cert c.pem --tls-key k.pem",
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
    "random-token": { type: "boolean" },
    "code-attempts": { type: "string" },
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
  const secrets = [
    values.token !== undefined && "--token",
    values["random-token"] && "--random-token",
    values["code-attempts"] !== undefined && "--code-attempts",
  ].filter(Boolean);
  if (values.basic && secrets.length > 0) {
    throw new UsageError(
      `--basic has no authentication, so ${secrets[0]} does not apply`,
      cmd,
    );
  }
  if (secrets.length > 1) {
    throw new UsageError(`${secrets.join(" and ")} exclude each other`, cmd);
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
    codeAttempts:
      read.count("code-attempts", values["code-attempts"], { min: 1 }) ??
        DEFAULT_LIMITS.fileCodeAttempts,
    idleTimeoutMs: idleTimeoutMs ?? DEFAULT_TIMEOUTS.fileIdleMs,
    gracePeriodMs,
  };
  const pem = await readTlsServer(cmd, values);
  const tls = pem && { pem, certPath: values["tls-cert"] as string };
  const dir: string = values.dir ?? ".";
  await makeFolder(dir);
  const lib = await library();
  // A code unless a token was asked for (scripts) or --basic has no secret.
  const token: string | undefined = values.basic ? undefined : values.token ??
    (values["random-token"] ? lib.generateToken() : undefined);
  const code = values.basic || token !== undefined
    ? undefined
    : lib.generateCode();
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
      code,
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
        const left = code === undefined
          ? undefined
          : server.stats().codeAttemptsLeft;
        if (json) {
          progress.clear();
          outJson({ ...sessionJson(session), codeAttemptsLeft: left });
        } else if (!quiet) {
          say(sessionLine(session));
        }
        if (left !== undefined && session.error?.code === "auth_failed") {
          say(
            left > 0
              ? `wrong code: ${left} of ${limits.codeAttempts} attempts left`
              : `the code has ended after ${limits.codeAttempts} wrong attempts: ` +
                "nobody can use it now, nothing was written; run " +
                "'file recv' again for a new code",
          );
        }
      },
      onStrangers: (summary) => {
        if (json) {
          progress.clear();
          outJson({ strangers: summary });
        } else {
          say(strangersLine(summary));
        }
      },
    });
  } catch (error) {
    if (error instanceof UsageError || error instanceof NetkitError) {
      throw error;
    }
    throw bindError(error, hostname, port);
  }
  const sendWith = sendHint(server, { token, code }, tls?.certPath);
  const notes = values.basic
    ? [BASIC_WARNING, `send with: ${sendWith}`]
    : code !== undefined
    ? [
      `code: ${code}`,
      `send with: ${sendWith}`,
      `the code serves one sender and ends after ${limits.codeAttempts} ` +
      "wrong attempts",
    ]
    : [`token: ${token}`, `send with: ${sendWith}`];
  // Scripts read the secret and the command from stdout, not the log.
  const start = () =>
    outJson({ listening: formatAddress(server.addr), code, token, sendWith });
  let stoppedBy: Deno.Signal | undefined;
  await runServers([fileService(server)], {
    notes,
    onReady: json ? start : undefined,
    onStop: (signal) => {
      stoppedBy = signal;
      progress.clear();
      log(
        "stopping: partial files are kept; senders resume by running the same send command again",
      );
    },
  });
  // A code serves one session, as --once does.
  if (!(values.once || code !== undefined) || counted?.ok) return 0;
  // One session was asked for: a signal before it is an interruption.
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
      return `${
        plural(st.sessions, "session")
      } (${st.sessionsFailed} failed), ${st.filesStored} stored, ` +
        `${st.filesFailed} refused or failed, ${
          plural(
            st.authFailures,
            st.codeAttemptsLeft === undefined ? "wrong token" : "wrong code",
          )
        }` +
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
  secret: { token?: string; code?: string },
  certPath?: string,
): string {
  const tls = certPath ? ` --ca ${shellQuote(certPath)}` : "";
  const auth = secret.code !== undefined
    ? ` --code ${secret.code}`
    : secret.token !== undefined
    ? ` --token ${secret.token}`
    : " --basic";
  return `${selfCommand()} file send ${
    formatAddress(server.addr)
  } PATH${auth}${tls}`;
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
    return `stored ${name} from ${peer}: ${
      plural(file.bytes, "byte")
    }${resumed}, sha256 ${file.sha256}`;
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

/** `strangers: 4,785 more sessions ended unauthenticated in the last 10s (…)`. */
function strangersLine(summary: StrangerSummary): string {
  const codes = Object.entries(summary.codes)
    .sort(([, a], [, b]) => b - a)
    .map(([code, n]) => `${n} ${code}`)
    .join(", ");
  return `strangers: ${summary.sessions} more sessions ended unauthenticated ` +
    `in the last ${
      formatDuration(Math.round(summary.periodMs / 1000) * 1000)
    } (${codes}), not logged ` +
    "one by one";
}

function sessionJson(session: ReceiveSession): Record<string, unknown> {
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
      onStrangers: (summary) => log(`file: ${strangersLine(summary)}`),
    });
  } catch (error) {
    throw bindError(error, options.hostname, port);
  }
  return {
    service: fileService(server),
    hint: sendHint(server, { token }),
  };
}
