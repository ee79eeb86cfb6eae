// The flag groups several commands share, each with one spelling, one
// help text and one reader: TLS client (--ca, --insecure, --cert, --key),
// TLS server (--tls-cert, --tls-key), server (--host, --port, --backlog,
// --max-conns, --idle-timeout, --grace), browser origins (--allow-origin)
// and output (--json). Old spellings
// stay as hidden aliases for one release (parseCommand's `aliases`).

import type { ParseArgsOptionsConfig } from "node:util";
import { UsageError } from "./_args.ts";
import {
  DEFAULT_BACKLOG,
  DEFAULT_GRACE_MS,
  DEFAULT_HOST,
} from "./_defaults.ts";
import type { HelpRow } from "./_help.ts";
import { readCertAndKey, readPem } from "./_tls_files.ts";
import { formatDuration, type UnitReader } from "./_units.ts";

// ------------------------------------------------------------ TLS client

/** `--ca FILE` (repeatable), `--insecure`, `--cert FILE`, `--key FILE`. */
export const TLS_CLIENT_FLAGS = {
  ca: { type: "string", multiple: true },
  insecure: { type: "boolean" },
  cert: { type: "string" },
  key: { type: "string" },
} as const satisfies ParseArgsOptionsConfig;

/** The client TLS flags' old names (file send), kept hidden for one release. */
export const TLS_CLIENT_ALIASES: Readonly<Record<string, string>> = {
  "tls-ca": "ca",
  "tls-insecure": "insecure",
};

/** Which of the client TLS flags a command has, and what they apply to. */
export interface TlsClientHelpOptions {
  /** What the flags apply to, e.g. `wss://`; shown before each text. */
  scope?: string;
  /** The command takes --insecure. Default true. */
  insecure?: boolean;
  /** The command takes --cert and --key. Default true. */
  clientCert?: boolean;
}

/** The help rows of the client TLS flags. */
export function tlsClientHelp(options: TlsClientHelpOptions = {}): HelpRow[] {
  const scope = options.scope ? `${options.scope}: ` : "";
  const rows: HelpRow[] = [[
    "--ca FILE",
    `${scope}also trust this PEM certificate (a test CA, a self-signed server); repeatable`,
  ]];
  if (options.insecure ?? true) {
    rows.push([
      "--insecure",
      `${scope}skip every certificate check (chain and name, like curl -k): encrypted, not authenticated`,
    ]);
  }
  if (options.clientCert ?? true) {
    rows.push(
      ["--cert FILE", `${scope}present this PEM client certificate`],
      ["--key FILE", "the client certificate's private key (PEM)"],
    );
  }
  return rows;
}

/** What the client TLS flags asked for, with the PEM files read. */
export interface TlsClientSettings {
  /** Extra trusted certificates (PEM text), from `--ca`. */
  caCerts?: string[];
  /** `--insecure`: no certificate checks. */
  insecure: boolean;
  /** `--cert`/`--key`: a client certificate and its key (PEM text). */
  clientCert?: { cert: string; key: string };
  /** Any of the flags was given. */
  given: string[];
}

/**
 * Reads the client TLS flags: `--ca` and `--insecure` exclude each other,
 * `--cert` and `--key` go together; the named files are read.
 */
export async function readTlsClient(
  command: string,
  values: { ca?: string[]; insecure?: boolean; cert?: string; key?: string },
): Promise<TlsClientSettings> {
  const given = [
    values.ca?.length && "--ca",
    values.insecure && "--insecure",
    values.cert !== undefined && "--cert",
    values.key !== undefined && "--key",
  ].filter((f): f is string => typeof f === "string");
  if (values.ca?.length && values.insecure) {
    throw new UsageError("choose one of --ca and --insecure", command);
  }
  const caCerts = values.ca?.length
    ? await Promise.all(values.ca.map(readPem))
    : undefined;
  const clientCert = await readCertAndKey(
    command,
    ["cert", "key"],
    values.cert,
    values.key,
  );
  return { caCerts, insecure: Boolean(values.insecure), clientCert, given };
}

// ------------------------------------------------------------ TLS server

/** `--tls-cert FILE`, `--tls-key FILE`. */
export const TLS_SERVER_FLAGS = {
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
} as const satisfies ParseArgsOptionsConfig;

/** The help rows of the server TLS flags; `what` is what TLS serves. */
export function tlsServerHelp(what: string): HelpRow[] {
  return [
    [
      "--tls-cert FILE",
      `${what} with this PEM certificate chain; needs --tls-key`,
    ],
    ["--tls-key FILE", "the certificate's private key (PEM)"],
  ];
}

/** The server certificate and key, read; `undefined` without the flags. */
export function readTlsServer(
  command: string,
  values: { "tls-cert"?: string; "tls-key"?: string },
): Promise<{ cert: string; key: string } | undefined> {
  return readCertAndKey(
    command,
    ["tls-cert", "tls-key"],
    values["tls-cert"],
    values["tls-key"],
  );
}

// ------------------------------------------------------- browser origins

/** `--allow-origin O` (repeatable): who a WebSocket listener lets in. */
export const ORIGIN_FLAGS = {
  "allow-origin": { type: "string", multiple: true },
} as const satisfies ParseArgsOptionsConfig;

/**
 * The help row of `--allow-origin`: one rule and one default for every
 * WebSocket listener; `note` adds what the default means there.
 */
export function originHelp(note = ""): HelpRow {
  return [
    "--allow-origin O",
    "let browsers in from origin O, e.g. https://app.example:8443 " +
    "(repeatable, exact match; * for any); others get 403, clients sending " +
    "no Origin (not browsers) always pass. Default: only pages from the " +
    `listener's own origin${note}`,
  ];
}

/** The origins given (`undefined` without the flag), each checked. */
export function readOrigins(
  command: string,
  values: { "allow-origin"?: string[] },
): string[] | undefined {
  const origins = values["allow-origin"];
  for (const origin of origins ?? []) {
    if (
      !/^[a-z][a-z0-9+.-]*:\/\/[^/]+$/i.test(origin) && origin !== "null" &&
      origin !== "*"
    ) {
      throw new UsageError(
        `--allow-origin takes an origin like https://example.com:8443 (no path) or *, not '${origin}'`,
        command,
      );
    }
  }
  return origins;
}

// ---------------------------------------------------------------- server

/** The server flags; a command picks those its server supports. */
export const SERVER_FLAGS = {
  host: { type: "string" },
  port: { type: "string" },
  backlog: { type: "string" },
  "max-conns": { type: "string" },
  "idle-timeout": { type: "string" },
  grace: { type: "string" },
} as const satisfies ParseArgsOptionsConfig;

/** The name of a server flag. */
export type ServerFlag = keyof typeof SERVER_FLAGS;

/** The spec of the server flags `names`, for parseCommand. */
export function serverFlags(
  names: readonly ServerFlag[],
): ParseArgsOptionsConfig {
  return Object.fromEntries(names.map((n) => [n, SERVER_FLAGS[n]]));
}

/** What the help rows of the server flags say. */
export interface ServerHelpOptions {
  /** The default port, e.g. 7007. */
  port: number;
  /** The flags the command has. */
  flags: readonly ServerFlag[];
  /** What happens beyond --max-conns. Default "are refused". */
  overMaxConns?: string;
  /** The --idle-timeout text, when the default text does not fit. */
  idle?: string;
  /** The --grace text, when the default text does not fit. */
  grace?: string;
}

/** The help rows of the server flags a command has. */
export function serverHelp(options: ServerHelpOptions): HelpRow[] {
  const text: Record<ServerFlag, HelpRow> = {
    host: ["--host HOST", `address to bind (default ${DEFAULT_HOST})`],
    port: [
      "--port PORT",
      `port to bind; 0 picks a free one (default ${options.port})`,
    ],
    backlog: [
      "--backlog N",
      `listen(2) backlog: connections the kernel queues before accept (default ${DEFAULT_BACKLOG})`,
    ],
    "max-conns": [
      "--max-conns N",
      `connections open at once; more ${options.overMaxConns ?? "are refused"}`,
    ],
    "idle-timeout": [
      "--idle-timeout TIME",
      options.idle ?? "close a connection silent for this long",
    ],
    grace: [
      "--grace TIME",
      options.grace ??
        `on SIGINT/SIGTERM, let connections finish for this long (default ${
          formatDuration(DEFAULT_GRACE_MS)
        }); a second Ctrl-C stops waiting`,
    ],
  };
  return options.flags.map((flag) => text[flag]);
}

/** What the server flags asked for, in the library's units. */
export interface ServerSettings {
  hostname: string;
  port: number;
  backlog?: number;
  maxConnections?: number;
  idleTimeoutMs?: number;
  gracePeriodMs: number;
}

/** Reads the server flags (absent ones: their defaults, or undefined). */
export function readServer(
  read: UnitReader,
  values: Partial<Record<ServerFlag, string>>,
  defaults: { port: number },
): ServerSettings {
  return {
    hostname: values.host ?? DEFAULT_HOST,
    port: read.count("port", values.port, { max: 65535 }) ?? defaults.port,
    backlog: read.count("backlog", values.backlog, { min: 1 }),
    maxConnections: read.count("max-conns", values["max-conns"], { min: 1 }),
    idleTimeoutMs: read.duration("idle-timeout", values["idle-timeout"]),
    gracePeriodMs: read.duration("grace", values.grace) ?? DEFAULT_GRACE_MS,
  };
}

// ---------------------------------------------------------------- output

/** `--json`. */
export const OUTPUT_FLAGS = {
  json: { type: "boolean" },
} as const satisfies ParseArgsOptionsConfig;

/** The help row of `--json`; `what` says what the JSON holds. */
export function jsonHelp(what: string): HelpRow {
  return ["--json", what];
}
