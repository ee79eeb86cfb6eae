// Argument parsing for every command: node:util parseArgs plus the
// conventions netkit's commands share (usage errors, hidden aliases,
// addresses). Units (durations, sizes, counts) are cli/_units.ts's.

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

/** What {@linkcode parseCommand} checks besides the options. */
export interface CommandShape {
  /** Fewest positional arguments. Default 0. */
  min?: number;
  /** Most positional arguments. Default 0. */
  max?: number;
  /** How a missing positional is named: `missing HOST:PORT`. */
  names?: string;
  /**
   * Hidden old spellings: `{"tls-ca": "ca"}` makes `--tls-ca F` mean
   * `--ca F` (not shown in help; kept for one release after a rename).
   */
  aliases?: Readonly<Record<string, string>>;
}

/**
 * Parses `argv` strictly: unknown options and a wrong count of positionals
 * are usage errors naming the command. `--help`/`-h` is added to every
 * command and reported as `values.help`.
 */
export function parseCommand<T extends Values = Values>(
  command: string,
  argv: string[],
  options: ParseArgsOptionsConfig,
  shape: CommandShape = {},
): Parsed<T> {
  const aliases = Object.entries(shape.aliases ?? {});
  const spec: ParseArgsOptionsConfig = {
    help: { type: "boolean", short: "h" },
    ...options,
  };
  for (const [old, name] of aliases) {
    const { short: _, ...target } = options[name]!;
    spec[old] = target;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: spec,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(rewordParseError(error, argv), command);
  }
  const values = parsed.values as T;
  for (const [old, name] of aliases) {
    if (values[old] === undefined) continue;
    const value = values[old];
    delete values[old];
    if (Array.isArray(value)) {
      (values as Values)[name] = [...values[name] ?? [], ...value];
    } else if (values[name] !== undefined) {
      throw new UsageError(`--${old} is --${name}: give it once`, command);
    } else {
      (values as Values)[name] = value;
    }
  }
  if (!values.help) {
    const count = parsed.positionals.length;
    const min = shape.min ?? 0;
    const max = shape.max ?? 0;
    if (count < min) {
      throw new UsageError(`missing ${shape.names ?? "argument"}`, command);
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
