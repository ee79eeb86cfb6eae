// One layout for every help screen: Usage, what the command does, its
// options (with units), more sections where needed, and examples. Screens
// are data; this file lays them out to the terminal's width, never wider
// than 80 columns, wrapping at spaces only.

import { terminalWidth, wrapText } from "./_text.ts";

/** One row of a two-column list: `["--grace TIME", "what it does"]`. */
export type HelpRow = readonly [left: string, text: string];

/** A titled part of a help screen: rows, prose, or both (prose first). */
export interface HelpSection {
  /** E.g. `Endpoints`. */
  title: string;
  /** Prose under the title (paragraphs separated by a blank line). */
  text?: string;
  /** Two-column rows. */
  rows?: readonly HelpRow[];
}

/** A help screen, as data. */
export interface HelpScreen {
  /** Usage lines, each after `netkit ` (e.g. `echo serve [options]`). */
  usage: readonly string[];
  /** What the command does: paragraphs separated by a blank line. */
  about: string;
  /** Subcommands, for a family's screen (`netkit echo --help`). */
  commands?: readonly HelpRow[];
  /** Options; `-h, --help` is added at the end. */
  options?: readonly HelpRow[];
  /** Sections after the options. */
  sections?: readonly HelpSection[];
  /** Command lines (after `netkit `); every screen has at least one. */
  examples: readonly string[];
}

/** Help never gets wider than this, even on a wide terminal. */
export const MAX_HELP_WIDTH = 80;

/** The widest left column; a longer entry puts its text on the next line. */
const MAX_LEFT = 24;

/** What the TIME, SIZE and N placeholders of option rows mean. */
const UNIT_NOTES: [RegExp, string][] = [
  [
    /\bTIME\b/,
    "TIME is a duration: 500ms, 2s, 1.5s, 1m, 1h; a bare number is seconds.",
  ],
  [
    /\bSIZE\b/,
    "SIZE is in bytes: 65536, 64k, 1MiB, 10M (k, M, G: powers of 1024).",
  ],
];

/** The width help is laid out to: the terminal's, at most 80 columns. */
export function helpWidth(): number {
  return Math.min(MAX_HELP_WIDTH, terminalWidth("stdout"));
}

/**
 * Lays out `screen` in `width` columns (default {@linkcode helpWidth}).
 *
 * @example
 * ```ts ignore
 * renderHelp({
 *   usage: ["echo ping HOST:PORT [options]"],
 *   about: "Round-trip times with a ping(8)-style summary.",
 *   options: [["-c, --count N", "probes to send (default 5)"]],
 *   examples: ["echo ping 127.0.0.1:7007 -c 3"],
 * });
 * ```
 */
export function renderHelp(
  screen: HelpScreen,
  width: number = helpWidth(),
): string {
  const lines: string[] = [];
  screen.usage.forEach((usage, i) => {
    const head = i === 0 ? "Usage: " : "       ";
    const words = `netkit ${usage}`;
    // Continuation lines go under the first argument.
    const command = /^netkit (?:\S+ )?(?:[a-z]\S* )?/.exec(words)?.[0] ?? "";
    lines.push(
      ...wrapText(keepGroups(words), width, {
        firstIndent: head,
        indent: " ".repeat(Math.min(head.length + command.length, 40)),
      }).map((line) => line.replaceAll(NBSP, " ")),
    );
  });
  lines.push("", ...prose(screen.about, width));
  if (screen.commands?.length) {
    lines.push("", "Commands:", ...rows(screen.commands, width));
  }
  const options: HelpRow[] = [
    ...screen.options ?? [],
    ["-h, --help", "show this help"],
  ];
  lines.push("", "Options:", ...rows(alignShort(options), width));
  for (const section of screen.sections ?? []) {
    lines.push("", `${section.title}:`);
    if (section.text) lines.push(...prose(section.text, width, "  "));
    if (section.text && section.rows?.length) lines.push("");
    if (section.rows?.length) lines.push(...rows(section.rows, width));
  }
  const used = [...screen.options ?? [], ...screen.sections ?? []]
    .flatMap((item) => "title" in item ? item.rows ?? [] : [item])
    .map(([left]) => left).join(" ");
  const notes = UNIT_NOTES.filter(([re]) => re.test(used)).map(([, n]) => n);
  if (notes.length) lines.push("", ...prose(notes.join(" "), width));
  lines.push(
    "",
    screen.examples.length === 1 ? "Example:" : "Examples:",
    ...screen.examples.flatMap((e) =>
      wrapText(`netkit ${e}`, width, { firstIndent: "  ", indent: "      " })
    ),
  );
  return lines.join("\n");
}

const NBSP = "\u00a0";

/** `[--watch [TIME]]` stays on one line: spaces inside brackets do not break. */
function keepGroups(usage: string): string {
  let depth = 0;
  let result = "";
  for (const c of usage) {
    if (c === "[") depth++;
    if (c === "]") depth = Math.max(0, depth - 1);
    result += c === " " && depth > 0 ? NBSP : c;
  }
  return result;
}

/** Paragraphs wrapped to `width`, a blank line between them. */
function prose(text: string, width: number, indent = ""): string[] {
  return text.split("\n\n").flatMap((paragraph, i) => [
    ...(i > 0 ? [""] : []),
    ...paragraph.split("\n").flatMap((line) => {
      // A line starting with spaces keeps them (a list item, a command).
      const lead = /^ */.exec(line)![0];
      return wrapText(line.slice(lead.length), width, {
        firstIndent: indent + lead,
        indent: indent + lead + (lead ? "  " : ""),
      });
    }),
  ]);
}

/** `--host H` rows line up under `-p, --port P` rows when a list has both. */
function alignShort(list: readonly HelpRow[]): HelpRow[] {
  const anyShort = list.some(([left]) => /^-\w,/.test(left));
  return list.map(([left, text]) => [
    anyShort && left.startsWith("--") ? `    ${left}` : left,
    text,
  ]);
}

/** Two columns: the left padded to the widest (at most 24), the text wrapped. */
function rows(list: readonly HelpRow[], width: number): string[] {
  const left = Math.min(
    MAX_LEFT,
    Math.max(...list.map(([l]) => l.length)),
  );
  const indent = " ".repeat(2 + left + 2);
  return list.flatMap(([l, text]) => {
    if (l.length > left) {
      return [
        `  ${l}`,
        ...wrapText(text, width, { firstIndent: indent, indent }),
      ];
    }
    return wrapText(text, width, {
      firstIndent: `  ${l.padEnd(left)}  `,
      indent,
    });
  });
}
