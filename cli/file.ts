// `netkit file send` / `netkit file recv` (alias `file-transfer`): the CLI
// around tcp/file_receiver.ts and tcp/file_sender.ts.

import type { CliContext, Command } from "./_command.ts";
import { dispatch } from "./_command.ts";
import {
  addressArg,
  bytesFlag,
  intFlag,
  parseCommand,
  secondsFlag,
  UsageError,
} from "./_args.ts";
import {
  bindError,
  describeError,
  log,
  out,
  outJson,
  type RunningService,
  runServers,
  selfCommand,
} from "./_output.ts";
import { createProgressBar, formatBytes } from "./_progress.ts";
import { readCertAndKey, readPem } from "./_tls_files.ts";
import { formatAddress } from "../address.ts";
import type { ServerStats } from "../types.ts";
import type {
  FileReceiver,
  FileReceiverStats,
  ReceivedFile,
  ReceiveSession,
  SenderTlsOptions,
  SendReport,
  SentFile,
} from "../tcp/file/mod.ts";
import { NetkitError } from "../errors.ts";
import { escapeControl } from "../escape.ts";

// The library loads only when a subcommand runs, so `--help` starts fast;
// tests/cli check this against the protocol's FILE_DEFAULT_PORT.
const DEFAULT_PORT = 7070;

/** The file-transfer library, loaded on first use. */
function library() {
  return import("../tcp/file/mod.ts");
}

const HELP =
  `Usage: netkit file <command> [options]   (alias: netkit file-transfer)

Move files over TCP with authentication, SHA-256 verification, atomic
writes and resume.

Commands:
  recv   receive files into a folder (prints a token and the send command)
  send   send files and folders to a receiver

Run 'netkit file <command> --help' for its options.`;

const RECV_HELP = `Usage: netkit file recv [options]

Receive files from 'netkit file send'. Prints 'listening tcp HOST:PORT' on
stdout, then the token and the exact send command on stderr. Everything
after the token proof is encrypted (ChaCha20-Poly1305, keys derived from
the token). Files are written to '.<name>.netkit-part', fsynced, checked
(size and SHA-256) and only then renamed into place.

Options:
      --host H            address to bind (default 127.0.0.1)
      --port P            port to bind; 0 picks a free one (default ${DEFAULT_PORT})
      --dir DIR           folder to store into, created if missing (default: current)
      --token T           token senders must know (default: a fresh random one)
      --overwrite         replace existing files
      --rename            keep existing files, store the new one as 'name (1).ext'
      --max-size BYTES    refuse larger files (e.g. 500M, 4G)
      --max-files N       most files and folders per session (default 100000)
      --once              serve one authenticated session, exit 0 if it
                          succeeded, 1 if not (strangers do not count: a wrong
                          token, garbage or a dropped connection is refused and
                          it keeps waiting, serving others meanwhile)
      --max-conns N       connections waiting to authenticate at once; the
                          oldest is dropped for a newcomer (default 64)
      --auth-timeout S    seconds from connect to a valid token proof (or, with
                          --basic, the name); trickling does not extend it
                          (default 10)
      --tls-cert F        serve TLS with this certificate (PEM); needs --tls-key
      --tls-key F         private key (PEM) for --tls-cert
      --basic             classic flow: bare name, 'ok', bytes until EOF.
                          No authentication, no encryption, cannot detect
                          truncation.
      --idle-timeout S    drop a connection silent for S seconds (default 30)
      --grace S           seconds to let transfers finish on shutdown (default 5)
      --json              one JSON object per session on stdout
      --quiet             no per-file log lines
  -h, --help              show this help`;

const SEND_HELP = `Usage: netkit file send HOST:PORT PATH... [options]

Send files and folders (recursively; empty folders kept, symlinks skipped)
in one session. Exits 0 only when the receiver stored and verified every
file. An interrupted transfer resumes from the receiver's verified prefix.

Options:
      --token T           the receiver's token (default: $NETKIT_FILE_TOKEN)
      --tls-ca F          use TLS and trust this CA certificate (PEM)
      --tls               use TLS with the system's trusted roots
      --tls-insecure      use TLS without checking the certificate
      --no-resume         send every file from its first byte
      --basic             classic flow (one connection per file; nothing verified)
      --timeout S         give up after S seconds without progress (default 60)
      --json              one JSON summary on stdout
      --quiet             no per-file log lines
  -h, --help              show this help`;

const BASIC_WARNING =
  "warning: --basic mode has no authentication (anyone who can connect can " +
  "write files), no encryption (anyone on the path can read them) and cannot " +
  "detect truncation (a cut connection looks like a complete file)";

/** The `file` command: `send` and `recv`. */
export const fileCommand: Command = {
  name: "file",
  aliases: ["file-transfer"],
  summary: "send and receive files: authenticated, verified, resumable",
  run(argv: string[], context: CliContext): Promise<number> {
    return dispatch("file", argv, { recv, send, receive: recv }, HELP, context);
  },
};

async function recv(argv: string[]): Promise<number> {
  const cmd = "file recv";
  const { values } = parseCommand(cmd, argv, {
    host: { type: "string" },
    port: { type: "string" },
    dir: { type: "string" },
    token: { type: "string" },
    overwrite: { type: "boolean" },
    rename: { type: "boolean" },
    "max-size": { type: "string" },
    "max-files": { type: "string" },
    once: { type: "boolean" },
    "max-conns": { type: "string" },
    "auth-timeout": { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    basic: { type: "boolean" },
    "idle-timeout": { type: "string" },
    grace: { type: "string" },
    json: { type: "boolean" },
    quiet: { type: "boolean" },
  });
  if (values.help) {
    out(RECV_HELP);
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
  const tls = await readServerTls(cmd, values["tls-cert"], values["tls-key"]);
  const hostname: string = values.host ?? "127.0.0.1";
  const port = intFlag(cmd, "port", values.port, { max: 65535 }) ??
    DEFAULT_PORT;
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
      maxSize: bytesFlag(cmd, "max-size", values["max-size"]),
      maxFiles: intFlag(cmd, "max-files", values["max-files"], { min: 1 }),
      once: Boolean(values.once),
      maxUnauthenticated: intFlag(cmd, "max-conns", values["max-conns"], {
        min: 1,
      }),
      authTimeoutMs: secondsFlag(cmd, "auth-timeout", values["auth-timeout"]),
      tls: tls?.pem,
      idleTimeoutMs: secondsFlag(cmd, "idle-timeout", values["idle-timeout"]),
      gracePeriodMs: secondsFlag(cmd, "grace", values.grace) ?? 5000,
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
  const service = fileService(server);
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
  const onInterrupt = () => {
    progress.clear();
    log(
      "stopping: partial files are kept; senders resume by running the same send command again",
    );
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    await runServers([service], notes);
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
  return values.once && !counted?.ok ? 1 : 0;
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

async function readServerTls(
  cmd: string,
  certPath: string | undefined,
  keyPath: string | undefined,
): Promise<
  { pem: { cert: string; key: string }; certPath: string } | undefined
> {
  const pem = await readCertAndKey(
    cmd,
    ["tls-cert", "tls-key"],
    certPath,
    keyPath,
  );
  return pem && { pem, certPath: certPath! };
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
          ? `, ${st.unauthenticatedDropped} dropped over --max-conns`
          : "");
    },
  };
}

function sendHint(
  server: FileReceiver,
  token: string,
  certPath?: string,
): string {
  const tls = certPath ? ` --tls-ca ${shellWord(certPath)}` : "";
  return `${selfCommand()} file send ${
    formatAddress(server.addr)
  } PATH --token ${token}${tls}`;
}

function shellWord(text: string): string {
  return /^[\w./:@+-]+$/.test(text)
    ? text
    : `'${text.replaceAll("'", `'\\''`)}'`;
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

function mbps(bytes: number, seconds: number): number {
  return seconds > 0 ? Math.round((bytes / 1e6 / seconds) * 10) / 10 : 0;
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

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

async function send(argv: string[]): Promise<number> {
  const cmd = "file send";
  const { values, positionals } = parseCommand(cmd, argv, {
    token: { type: "string" },
    "tls-ca": { type: "string" },
    tls: { type: "boolean" },
    "tls-insecure": { type: "boolean" },
    "no-resume": { type: "boolean" },
    basic: { type: "boolean" },
    timeout: { type: "string" },
    json: { type: "boolean" },
    quiet: { type: "boolean" },
  }, { min: 2, max: Infinity, names: "HOST:PORT and PATH" });
  if (values.help) {
    out(SEND_HELP);
    return 0;
  }
  const address = addressArg(cmd, positionals[0]!, {
    defaultPort: DEFAULT_PORT,
  });
  const paths = positionals.slice(1);
  const token: string | undefined = values.token ?? envToken();
  if (!values.basic && !token) {
    throw new UsageError(
      "missing --token (the receiver prints it; or set NETKIT_FILE_TOKEN)",
      cmd,
    );
  }
  if (values.basic && values.token !== undefined) {
    throw new UsageError(
      "--basic has no authentication, so --token does not apply",
      cmd,
    );
  }
  const tls = await senderTls(
    cmd,
    values["tls-ca"],
    values.tls,
    values["tls-insecure"],
  );
  const quiet = Boolean(values.quiet);
  const progress = createProgressBar({ quiet });
  if (values.basic) log(BASIC_WARNING);
  // Ctrl-C: say how to continue instead of leaving a half-drawn bar.
  const onInterrupt = () => {
    progress.clear();
    log(
      values.basic
        ? "interrupted: --basic cannot resume; run the same command again to send from the start"
        : "interrupted: run the same command again to resume; the receiver keeps what arrived and checks it first",
    );
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  const { sendFiles } = await library();
  const report = await sendFiles(address, paths, {
    token,
    tls,
    basic: Boolean(values.basic),
    resume: !values["no-resume"],
    timeoutMs: secondsFlag(cmd, "timeout", values.timeout),
    onProgress: (p) => progress.update({ ...p, name: escapeControl(p.path) }),
    onFile: (file) => {
      progress.clear();
      if (!quiet) log(sentLine(file));
    },
  });
  Deno.removeSignalListener("SIGINT", onInterrupt);
  progress.clear();
  if (values.json) outJson(reportJson(report));
  else if (!quiet || !report.ok) log(reportLine(report));
  return report.ok ? 0 : 1;
}

function envToken(): string | undefined {
  try {
    return Deno.env.get("NETKIT_FILE_TOKEN") || undefined;
  } catch {
    return undefined;
  }
}

async function senderTls(
  cmd: string,
  caPath: string | undefined,
  system: boolean | undefined,
  insecure: boolean | undefined,
): Promise<SenderTlsOptions | undefined> {
  const chosen =
    [caPath !== undefined, Boolean(system), Boolean(insecure)].filter(Boolean)
      .length;
  if (chosen > 1) {
    throw new UsageError(
      "choose one of --tls-ca, --tls and --tls-insecure",
      cmd,
    );
  }
  if (insecure) return { insecure: true };
  if (caPath !== undefined) return { caCerts: [await readPem(caPath)] };
  if (system) return {};
  return undefined;
}

function sentLine(entry: SentFile): string {
  // The receiver chose storedAs and the messages: escaped before printing.
  const file = {
    ...entry,
    path: escapeControl(entry.path),
    storedAs: entry.storedAs === undefined
      ? undefined
      : escapeControl(entry.storedAs),
    error: entry.error && {
      ...entry.error,
      message: escapeControl(entry.error.message),
    },
  };
  const where = file.storedAs && file.storedAs !== file.path
    ? ` (stored as ${file.storedAs})`
    : "";
  switch (file.status) {
    case "stored":
      if (file.kind === "directory") {
        return `stored folder ${file.path}${where}`;
      }
      return `stored ${file.path}${where}: ${file.bytes} bytes` +
        (file.resumedFrom > 0 ? ` (resumed at ${file.resumedFrom})` : "") +
        `, verified sha256 ${file.sha256}`;
    case "sent":
      return `sent ${file.path}: ${file.bytes} bytes, sha256 ${file.sha256} (basic mode: not verified)`;
    case "skipped":
      return `skipped ${file.path}: ${file.error?.message}`;
    default:
      return `failed ${file.path}: ${file.error?.code}: ${file.error?.message}`;
  }
}

function reportLine(report: SendReport): string {
  const done =
    report.files.filter((f) => f.status === "stored" || f.status === "sent")
      .length;
  const failed = report.files.filter((f) => f.status === "failed").length;
  const skipped = report.files.filter((f) => f.status === "skipped").length;
  const base = `${done} of ${report.files.length} entries delivered` +
    (skipped ? `, ${skipped} skipped` : "") +
    `, ${formatBytes(report.bytes)} in ${
      (report.durationMs / 1000).toFixed(2)
    } s ` +
    `(${mbps(report.bytes, report.durationMs / 1000)} MB/s)`;
  if (report.ok) return base;
  const why = report.error
    ? `${report.error.code}: ${escapeControl(report.error.message)}`
    : `${failed} failed`;
  return `${base}; not complete: ${why}`;
}

function reportJson(report: SendReport): unknown {
  return {
    ok: report.ok,
    files: report.files.map((f) => ({
      path: f.path,
      source: f.source,
      storedAs: f.storedAs,
      kind: f.kind,
      bytes: f.bytes,
      sha256: f.sha256,
      status: f.status,
      resumedFrom: f.resumedFrom,
      error: f.error,
    })),
    bytes: report.bytes,
    seconds: round3(report.durationMs / 1000),
    mbps: mbps(report.bytes, report.durationMs / 1000),
    error: report.error,
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
  const port = options.port ?? DEFAULT_PORT;
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
