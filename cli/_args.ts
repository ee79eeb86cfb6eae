// Argument parsing for every command: node:util parseArgs plus the
// conventions netkit's commands share (usage errors, numbers, addresses).

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { NetkitError } from "../errors.ts";
import {
  type HostPort,
  parseAddress,
  type ParseAddressOptions,
} from "../address.ts";

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends NetkitError {
  /** The command whose `--help` the user should read, e.g. `echo serve`. */
  readonly command: string;
  constructor(message: string, command = "") {
    super("usage", message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** What {@linkcode parseCommand} returns. */
export interface Parsed<T> {
  values: T;
  positionals: string[];
}

// deno-lint-ignore no-explicit-any
type Values = Record<string, any>;

/**
 * Parses `argv` strictly: unknown options and a wrong count of positionals
 * are usage errors naming the command. `--help`/`-h` is added to every
 * command and reported as `values.help`.
 */
export function parseCommand<T extends Values = Values>(
  command: string,
  argv: string[],
  options: ParseArgsOptionsConfig,
  positionals: { min?: number; max?: number; names?: string } = {},
): Parsed<T> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { help: { type: "boolean", short: "h" }, ...options },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(rewordParseError(error, argv), command);
  }
  const values = parsed.values as T;
  if (!values.help) {
    const count = parsed.positionals.length;
    const min = positionals.min ?? 0;
    const max = positionals.max ?? 0;
    if (count < min) {
      throw new UsageError(
        `missing ${positionals.names ?? "argument"}`,
        command,
      );
    }
    if (count > max) {
      throw new UsageError(
        `unexpected argument '${parsed.positionals[max]}'`,
        command,
      );
    }
  }
  return { values, positionals: parsed.positionals };
}

function rewordParseError(error: unknown, argv: string[]): string {
  const text = error instanceof Error ? error.message : String(error);
  // parseArgs refuses a value that starts with a dash (`--port -5`) in four
  // lines; say it in one, with the value.
  const ambiguous = /Option '([^']+)' argument is ambiguous/.exec(text);
  if (ambiguous) {
    const value = argv[argv.indexOf(ambiguous[1]!) + 1] ?? "";
    return `option '${ambiguous[1]}' cannot take '${value}'`;
  }
  const unknown = /Unknown option '([^']+)'/.exec(text);
  if (unknown) return `unknown option '${unknown[1]}'`;
  const missing = /Option '([^']+)' argument missing/.exec(text);
  if (missing) {
    return `option '${
      missing[1]!.split(",").pop()!.trim().replace(/ <value>$/, "")
    }' needs a value`;
  }
  return text.split(". ")[0]!;
}

/** Parses an integer flag within bounds; `undefined` stays `undefined`. */
export function intFlag(
  command: string,
  name: string,
  text: string | undefined,
  bounds: { min?: number; max?: number } = {},
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  const min = bounds.min ?? 0;
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  if (!/^\d+$/.test(text) || value < min || value > max) {
    const range = bounds.max === undefined
      ? `of at least ${min}`
      : `from ${min} to ${max}`;
    throw new UsageError(
      `--${name} takes a whole number ${range}, not '${text}'`,
      command,
    );
  }
  return value;
}

/** Parses a duration in (possibly fractional) seconds into milliseconds. */
export function secondsFlag(
  command: string,
  name: string,
  text: string | undefined,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(value)) {
    throw new UsageError(
      `--${name} takes seconds, e.g. 5 or 0.5, not '${text}'`,
      command,
    );
  }
  return Math.round(value * 1000);
}

/** Parses a byte count: a whole number with an optional K, M or G suffix (powers of 1024). */
export function bytesFlag(
  command: string,
  name: string,
  text: string | undefined,
): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+)([KMG]i?B?)?$/i.exec(text);
  if (!match) {
    throw new UsageError(
      `--${name} takes a size like 1048576, 512K or 10M, not '${text}'`,
      command,
    );
  }
  const unit = (match[2] ?? "").charAt(0).toUpperCase();
  const scale = unit === "K"
    ? 1024
    : unit === "M"
    ? 1024 ** 2
    : unit === "G"
    ? 1024 ** 3
    : 1;
  return Number(match[1]) * scale;
}

/**
 * Parses an address argument, turning a bad one into a usage error;
 * `connect: true` also refuses port 0 (a server's "any port", never a peer).
 */
export function addressArg(
  command: string,
  text: string,
  options: ParseAddressOptions & { connect?: boolean } = {},
): HostPort {
  let address: HostPort;
  try {
    address = parseAddress(text, options);
  } catch (error) {
    throw new UsageError(
      error instanceof Error ? error.message : String(error),
      command,
    );
  }
  if (options.connect && address.port === 0) {
    throw new UsageError(
      `bad address '${text}': port 0 cannot be connected to`,
      command,
    );
  }
  return address;
}
