// Turns the sender's arguments into the ordered list of entries a session
// offers: directories before their contents, symlinks reported and skipped.

import { FileTransferError } from "./errors.ts";
import type { SentFile } from "./types.ts";
import { checkRelativePath } from "./_safe_path.ts";
import { osMessage } from "../../_io.ts";

/** One thing the sender found on disk. */
export interface WalkEntry {
  /** Relative path sent to the receiver. */
  path: string;
  /** Local path. */
  source: string;
  /** What it is; `skip` entries are reported, never sent. */
  kind: "file" | "directory" | "skip";
  /** Why it is skipped, or why its name cannot be sent. */
  reason?: FileTransferError;
}

/**
 * Lists `paths` recursively. A path that does not exist throws
 * `not_found` before anything is sent.
 */
export async function collectEntries(paths: string[]): Promise<WalkEntry[]> {
  const entries: WalkEntry[] = [];
  for (const source of paths) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(source);
    } catch (error) {
      throw new FileTransferError(
        "not_found",
        `cannot send '${source}': ${osMessage(error)}`,
        { cause: error },
      );
    }
    await visit(source, await baseName(source), info, entries);
  }
  return entries;
}

async function visit(
  source: string,
  path: string,
  info: Deno.FileInfo,
  entries: WalkEntry[],
): Promise<void> {
  if (info.isSymlink) {
    entries.push(skip(source, path, "a symlink; symlinks are not followed"));
    return;
  }
  if (!info.isFile && !info.isDirectory) {
    entries.push(skip(source, path, "not a regular file or directory"));
    return;
  }
  const entry: WalkEntry = {
    path,
    source,
    kind: info.isDirectory ? "directory" : "file",
  };
  try {
    checkRelativePath(path);
  } catch (error) {
    entry.reason = error as FileTransferError;
  }
  entries.push(entry);
  if (!info.isDirectory) return;
  const names: string[] = [];
  for await (const child of Deno.readDir(source)) names.push(child.name);
  names.sort();
  for (const name of names) {
    const child = `${source.replace(/\/+$/, "")}/${name}`;
    await visit(child, `${path}/${name}`, await Deno.lstat(child), entries);
  }
}

function skip(source: string, path: string, why: string): WalkEntry {
  return {
    path,
    source,
    kind: "skip",
    reason: new FileTransferError("unsafe_path", `'${source}' is ${why}`),
  };
}

// The name an argument is sent under: its last component, as scp -r does.
async function baseName(source: string): Promise<string> {
  const trimmed = source.replace(/\/+$/, "");
  const last = trimmed.slice(trimmed.lastIndexOf("/") + 1);
  if (last !== "" && last !== "." && last !== "..") return last;
  const real = await Deno.realPath(source);
  const name = real.slice(real.lastIndexOf("/") + 1);
  if (name === "") {
    throw new FileTransferError(
      "unsafe_path",
      `cannot send '${source}' as a whole`,
    );
  }
  return name;
}

/**
 * The sender's report on `entry` before anything was sent: skipped for a
 * symlink or special file, failed until the receiver says otherwise.
 */
export function unsentFile(entry: WalkEntry): SentFile {
  return {
    path: entry.path,
    source: entry.source,
    kind: entry.kind === "skip" ? "other" : entry.kind,
    bytes: 0,
    sha256: "",
    status: entry.kind === "skip" ? "skipped" : "failed",
    resumedFrom: 0,
  };
}
