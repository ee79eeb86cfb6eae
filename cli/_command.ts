// The contract between cli/main.ts and each command module, and the one
// dispatcher of a family's subcommands (`netkit echo serve`).

import type { HelpScreen } from "./_help.ts";

/** A top-level command such as `echo` or `ws`. */
export interface Command {
  /** The word users type. */
  name: string;
  /** Other words that run the same command (`file-transfer` for `file`). */
  aliases?: string[];
  /** One line for `netkit --help`. */
  summary: string;
  /** Runs the command with the arguments after its name; resolves to the exit code. */
  run(argv: string[], context: CliContext): Promise<number>;
}

/** Settings that apply to every command. */
export interface CliContext {
  /** `--debug`: show stack traces and internal detail. */
  debug: boolean;
}

/** Runs one subcommand with the arguments after its name. */
export type SubcommandRun = (
  argv: string[],
  context: CliContext,
) => Promise<number>;

/** One subcommand of a family: its word, help line and lazy module. */
export interface Subcommand {
  /** The word users type (`serve`). */
  name: string;
  /** Other words for it (`receive` for `file recv`). */
  aliases?: string[];
  /** One line for the family's help. */
  summary: string;
  /** Loads its module (only when it runs: start-up time is the module graph). */
  load: () => Promise<SubcommandRun>;
}

/** A family's help screen without its Commands list (built from the table). */
export type FamilyHelp = Omit<HelpScreen, "commands" | "usage">;

/**
 * Runs a subcommand from `table`, or prints the family's help: `--help`,
 * `-h` and `help` print it on stdout (exit 0; `help SUB` is `SUB --help`);
 * no subcommand prints it on stderr (exit 2, a usage mistake).
 */
export async function dispatch(
  family: string,
  argv: string[],
  table: Subcommand[],
  help: FamilyHelp,
  context: CliContext,
): Promise<number> {
  let [sub, ...rest] = argv;
  if (sub === "help" && rest[0] !== undefined && !rest[0].startsWith("-")) {
    [sub, ...rest] = [rest[0], "--help"];
  }
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    const [{ log, out }, { renderHelp }] = await Promise.all([
      import("./_output.ts"),
      import("./_help.ts"),
    ]);
    const text = renderHelp({
      ...help,
      about: `${help.about}\n\nRun 'netkit ${family} <command> --help' ` +
        `(or 'netkit help ${family} <command>') for a command's options.`,
      usage: [`${family} <command> [options]`],
      commands: table.map((s) => [s.name, s.summary] as const),
    });
    (sub === undefined ? log : out)(text);
    return sub === undefined ? 2 : 0;
  }
  const entry = table.find((s) => s.name === sub || s.aliases?.includes(sub));
  if (!entry) {
    const { UsageError } = await import("./_args.ts");
    throw new UsageError(
      `unknown command '${family} ${sub}' (try: ${
        table.map((s) => s.name).join(", ")
      })`,
      family,
    );
  }
  return await (await entry.load())(rest, context);
}
