// The contract between cli/main.ts and each command module.

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

/** Runs a subcommand from a table, or prints help for the family. */
export async function dispatch(
  family: string,
  argv: string[],
  table: Record<
    string,
    (argv: string[], context: CliContext) => Promise<number>
  >,
  help: string,
  context: CliContext,
): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    const { out } = await import("./_output.ts");
    out(help);
    return sub === undefined ? 2 : 0;
  }
  const run = table[sub];
  if (!run) {
    const { UsageError } = await import("./_args.ts");
    throw new UsageError(
      `unknown command '${family} ${sub}' (try: ${
        Object.keys(table).join(", ")
      })`,
      family,
    );
  }
  return await run(rest, context);
}
