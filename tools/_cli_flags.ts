// The one list of flags the netkit command runs with, shared by
// `deno task install` and `deno task compile` (and mirrored by the `netkit`
// task in deno.json): UDP needs --unstable-net, and Deno 2.9 reads
// /proc/self/* and /proc/net/* (tcp states, tcp limits, UDP diagnosis)
// only under --allow-all.

/** Runtime flags of the installed script and of the compiled binary. */
export const RUNTIME_FLAGS: readonly string[] = [
  "--unstable-net",
  "--allow-all",
];

/** The project root, with a trailing slash. */
export const ROOT: string = new URL("..", import.meta.url).pathname;

/** The CLI's entry point. */
export const ENTRY: string = `${ROOT}cli/main.ts`;

/** A path the user typed: relative to where they typed it (INIT_CWD under `deno task`). */
export function userPath(path: string): string {
  if (path.startsWith("/")) return path;
  const base = Deno.env.get("INIT_CWD") ?? Deno.cwd();
  return `${base.replace(/\/$/, "")}/${path}`;
}

/** Quotes a word for sh when it needs it. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word)
    ? word
    : `'${word.replaceAll("'", `'\\''`)}'`;
}
