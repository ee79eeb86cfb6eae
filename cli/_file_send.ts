// `netkit file send HOST:PORT PATH...`: send files and folders to a
// receiver, resuming an interrupted transfer.

import { escapeControl } from "../escape.ts";
import type {
  SenderTlsOptions,
  SendReport,
  SentFile,
} from "../tcp/file/mod.ts";
import { addressArg, parseCommand, UsageError } from "./_args.ts";
import type { CliContext } from "./_command.ts";
import { DEFAULT_PORTS, DEFAULT_TIMEOUTS } from "./_defaults.ts";
import { EXIT, runInterruptible } from "./_exit.ts";
import { BASIC_WARNING, library, mbps, round3 } from "./_file_shared.ts";
import {
  jsonHelp,
  OUTPUT_FLAGS,
  readTlsClient,
  TLS_CLIENT_ALIASES,
  TLS_CLIENT_FLAGS,
  tlsClientHelp,
} from "./_flags.ts";
import { type HelpScreen, renderHelp } from "./_help.ts";
import { log, out, outJson, plural, selfCommand } from "./_output.ts";
import { formatAddress, type HostPort } from "../address.ts";
import { createProgressBar, formatBytes } from "./_progress.ts";
import { formatDuration, unitReader } from "./_units.ts";

/** `netkit file send --help`. */
export const SEND_HELP: HelpScreen = {
  usage: ["file send HOST:PORT PATH... [options]"],
  about: "Sends files and folders (recursively; empty folders kept, " +
    "symlinks skipped) in one session. Exits 0 only when the receiver " +
    "stored and verified every file. An interrupted transfer resumes from " +
    "the receiver's verified prefix: run the same command again (with a " +
    "code: a new one from the receiver).",
  options: [
    [
      "--code CODE",
      "the code the receiver printed, like 7-lantern-walnut-cobra " +
      "(default: $NETKIT_FILE_CODE)",
    ],
    ["--token T", "the receiver's token (default: $NETKIT_FILE_TOKEN)"],
    ["--tls", "use TLS, trusting the system's roots"],
    ...tlsClientHelp({ scope: "TLS", clientCert: false }),
    ["--no-resume", "send every file from its first byte"],
    [
      "--basic",
      "classic flow (one connection per file; nothing verified)",
    ],
    [
      "--timeout TIME",
      `give up after this long without progress (default ${
        formatDuration(DEFAULT_TIMEOUTS.fileSendMs)
      })`,
    ],
    jsonHelp("one JSON summary on stdout"),
    ["--quiet", "no per-file log lines"],
  ],
  examples: [
    "file send 127.0.0.1:7070 photos/ --code 7-lantern-walnut-cobra",
    "file send 127.0.0.1:7070 report.pdf --token TOKEN",
    "file send host:7070 big.iso --token TOKEN --ca cert.pem",
  ],
};

/** Runs `netkit file send`. */
export async function runSend(
  argv: string[],
  _context: CliContext,
): Promise<number> {
  const cmd = "file send";
  const { values, positionals } = parseCommand(cmd, argv, {
    code: { type: "string" },
    token: { type: "string" },
    tls: { type: "boolean" },
    ca: TLS_CLIENT_FLAGS.ca,
    insecure: TLS_CLIENT_FLAGS.insecure,
    "no-resume": { type: "boolean" },
    basic: { type: "boolean" },
    timeout: { type: "string" },
    ...OUTPUT_FLAGS,
    quiet: { type: "boolean" },
  }, {
    min: 2,
    max: Infinity,
    names: "HOST:PORT and PATH",
    aliases: TLS_CLIENT_ALIASES,
  });
  if (values.help) {
    out(renderHelp(SEND_HELP));
    return 0;
  }
  const address = addressArg(cmd, positionals[0]!, {
    defaultPort: DEFAULT_PORTS.file,
  });
  const paths = positionals.slice(1);
  if (values.basic && (values.token ?? values.code) !== undefined) {
    throw new UsageError(
      `--basic has no authentication, so --${
        values.code !== undefined ? "code" : "token"
      } does not apply`,
      cmd,
    );
  }
  if (values.token !== undefined && values.code !== undefined) {
    throw new UsageError("--code and --token exclude each other", cmd);
  }
  // What was typed wins over the environment; a code over a token.
  const typed = values.code ?? values.token;
  const code: string | undefined = values.code ??
    (typed === undefined ? env("NETKIT_FILE_CODE") : undefined);
  const token: string | undefined = code === undefined
    ? values.token ?? env("NETKIT_FILE_TOKEN")
    : undefined;
  if (!values.basic && !token && !code) {
    throw new UsageError(
      "missing --code (the receiver prints it) or --token " +
        "(or set NETKIT_FILE_CODE or NETKIT_FILE_TOKEN)",
      cmd,
    );
  }
  const { sendFiles, codeProblem } = await library();
  const problem = code === undefined ? undefined : codeProblem(code);
  if (problem) throw new UsageError(`--code: ${problem}`, cmd);
  const timeoutMs = unitReader(cmd).duration("timeout", values.timeout, {
    minMs: 1,
  }) ?? DEFAULT_TIMEOUTS.fileSendMs;
  const tls = await senderTls(cmd, values);
  const quiet = Boolean(values.quiet);
  const progress = createProgressBar({ quiet });
  if (values.basic) log(BASIC_WARNING);
  // The library cannot stop a send midway: Ctrl-C says how to continue
  // (instead of leaving a half-drawn bar) and exits 130 at once.
  return await runInterruptible(async () => {
    const report = await sendFiles(address, paths, {
      token,
      code,
      tls,
      basic: Boolean(values.basic),
      resume: !values["no-resume"],
      timeoutMs,
      onProgress: (p) => progress.update({ ...p, name: escapeControl(p.path) }),
      onFile: (file) => {
        progress.clear();
        if (!quiet) log(sentLine(file));
      },
    });
    progress.clear();
    if (values.json) outJson(reportJson(report));
    else if (!quiet || !report.ok) log(reportLine(report));
    if (values.basic && noClassicReceiver(report)) {
      log(noClassicReceiverHint(address));
    }
    return report.ok ? EXIT.ok : EXIT.failure;
  }, {
    exitAtOnce: true,
    onInterrupt: () => {
      progress.clear();
      log(
        values.basic
          ? "interrupted: --basic cannot resume; run the same command again to send from the start"
          : code !== undefined
          ? "interrupted: the receiver keeps what arrived and checks it first; " +
            "a code serves one session, so ask for a new code and send again to resume"
          : "interrupted: run the same command again to resume; the receiver keeps what arrived and checks it first",
      );
    },
  });
}

/** A file failed by timeout before a byte went out: no "ok" came. */
function noClassicReceiver(report: SendReport): boolean {
  return report.files.some((f) =>
    f.status === "failed" && f.error?.code === "timeout" && f.bytes === 0
  );
}

/** What to run on the other side when the receiver never says "ok". */
function noClassicReceiverHint(address: HostPort): string {
  const where = formatAddress(address);
  return [
    'the receiver never answered "ok": --basic needs a classic receiver; ' +
    "on the other side run:",
    `  ${selfCommand()} file recv --basic --port ${address.port}`,
    `a plain nc -l cannot answer (its file now starts with the name); to send to one: nc ${
      where.replace(/:(\d+)$/, " $1")
    } < FILE`,
  ].join("\n");
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

async function senderTls(
  cmd: string,
  values: { ca?: string[]; tls?: boolean; insecure?: boolean },
): Promise<SenderTlsOptions | undefined> {
  const chosen = [values.ca?.length, values.tls, values.insecure]
    .filter(Boolean).length;
  if (chosen > 1) {
    throw new UsageError("choose one of --ca, --tls and --insecure", cmd);
  }
  const { caCerts, insecure } = await readTlsClient(cmd, values);
  if (insecure) return { insecure: true };
  if (caCerts) return { caCerts };
  if (values.tls) return {};
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
      return `stored ${file.path}${where}: ${plural(file.bytes, "byte")}` +
        (file.resumedFrom > 0 ? ` (resumed at ${file.resumedFrom})` : "") +
        `, verified sha256 ${file.sha256}`;
    case "sent":
      return `sent ${file.path}: ${
        plural(file.bytes, "byte")
      }, sha256 ${file.sha256} (basic mode: not verified)`;
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
  const base =
    `${done} of ${plural(report.files.length, "entry", "entries")} delivered` +
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
