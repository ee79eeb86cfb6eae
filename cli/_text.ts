// Prose that fits the terminal: the width to wrap to, and wrapping at
// spaces only (a word is never broken; a word longer than the line gets a
// line of its own). Help screens, the lab's explanations, `tcp limits`
// and every other long line of prose go through here.

/** The width used when the output is not a terminal and COLUMNS is unset. */
export const DEFAULT_WIDTH = 80;

/** Narrower than this, wrapping would make prose unreadable: it is the floor. */
const MIN_WIDTH = 20;

/**
 * The width, in columns, that text written to `stream` should fit: the
 * COLUMNS environment variable when it holds a number (the user's choice,
 * as ls and man read it), else the terminal's width when `stream` is a
 * terminal, else {@linkcode DEFAULT_WIDTH}. Never below 20.
 *
 * @example
 * ```ts ignore
 * const width = terminalWidth("stdout"); // 80 when piped
 * ```
 */
export function terminalWidth(stream: "stdout" | "stderr" = "stdout"): number {
  const fromEnv = Number(envIfAllowed("COLUMNS") ?? "");
  if (Number.isInteger(fromEnv) && fromEnv > 0) {
    return Math.max(MIN_WIDTH, fromEnv);
  }
  const file = stream === "stdout" ? Deno.stdout : Deno.stderr;
  if (!file.isTerminal()) return DEFAULT_WIDTH;
  try {
    return Math.max(MIN_WIDTH, Deno.consoleSize().columns);
  } catch {
    return DEFAULT_WIDTH;
  }
}

/** Options of {@linkcode wrapText}. */
export interface WrapOptions {
  /** Put before every line but the first. Default "". */
  indent?: string;
  /** Put before the first line. Default: `indent`. */
  firstIndent?: string;
}

/**
 * Splits `text` into lines of at most `width` columns, breaking at spaces
 * only; runs of spaces become one. A word wider than the room left on an
 * empty line is kept whole on its own line (cutting it would change what
 * a user copies). Newlines in `text` start new lines.
 *
 * @example
 * ```ts ignore
 * wrapText("one two three", 8); // ["one two", "three"]
 * wrapText("why: a b", 6, { indent: "  " }); // ["why: a", "  b"]
 * ```
 */
export function wrapText(
  text: string,
  width: number,
  options: WrapOptions = {},
): string[] {
  const indent = options.indent ?? "";
  let lead = options.firstIndent ?? indent;
  const lines: string[] = [];
  for (const paragraph of text.split("\n")) {
    let line = lead;
    let empty = true;
    for (const word of paragraph.split(" ")) {
      if (word === "") continue;
      if (empty) {
        line += word;
        empty = false;
      } else if (columns(line) + 1 + columns(word) <= width) {
        line += " " + word;
      } else {
        lines.push(line);
        line = indent + word;
      }
    }
    lines.push(empty ? line.trimEnd() : line);
    lead = indent;
  }
  return lines;
}

/**
 * Wraps one line of output to `width`, continuing under its own leading
 * spaces plus `extraIndent` (so an indented list item stays indented).
 * A line that fits is returned as it is.
 */
export function wrapLine(
  line: string,
  width: number,
  extraIndent = "",
): string[] {
  if (columns(line) <= width) return [line];
  const lead = /^ */.exec(line)![0];
  return wrapText(line.slice(lead.length), width, {
    firstIndent: lead,
    indent: lead + extraIndent,
  });
}

/** Columns `text` takes (code points: output is escaped, so no controls). */
export function columns(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function envIfAllowed(name: string): string | undefined {
  try {
    const state = Deno.permissions.querySync({ name: "env", variable: name })
      .state;
    return state === "granted" ? Deno.env.get(name) : undefined;
  } catch {
    return undefined;
  }
}
