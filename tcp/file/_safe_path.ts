// Path rules shared by the netkit protocol and --basic mode: what a sender
// may name, and how a name becomes a place under the receiver's folder
// without ever leaving it.

import { FileTransferError } from "./errors.ts";

/** Longest relative path accepted, in UTF-8 bytes. */
export const MAX_PATH_BYTES = 4096;
/** Longest path component accepted, in UTF-8 bytes (NAME_MAX on Linux). */
export const MAX_COMPONENT_BYTES = 255;
/** Suffix of the receiver's partial files; names ending in it are reserved. */
export const PART_SUFFIX = ".netkit-part";

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
// C0 controls, DEL and C1 controls: they garble terminals and logs.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function unsafe(path: string, why: string): FileTransferError {
  const shown = JSON.stringify(
    path.length > 200 ? path.slice(0, 200) + "…" : path,
  );
  return new FileTransferError("unsafe_path", `unsafe path ${shown}: ${why}`);
}

/** Decodes a path sent as bytes; invalid UTF-8 is an unsafe path. */
export function decodePath(bytes: Uint8Array): string {
  if (bytes.length > MAX_PATH_BYTES) {
    throw unsafe("", `longer than ${MAX_PATH_BYTES} bytes`);
  }
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw unsafe("", "not valid UTF-8");
  }
}

/**
 * Checks a relative path against every rule and returns its components.
 * Throws `FileTransferError("unsafe_path")` naming the broken rule.
 */
export function checkRelativePath(path: string): string[] {
  if (path === "") throw unsafe(path, "empty path");
  if (encoder.encode(path).length > MAX_PATH_BYTES) {
    throw unsafe(path, `longer than ${MAX_PATH_BYTES} bytes`);
  }
  if (path.includes("\0")) throw unsafe(path, "contains NUL");
  if (CONTROL.test(path)) throw unsafe(path, "contains a control character");
  if (path.includes("\\")) throw unsafe(path, "contains a backslash");
  if (path.startsWith("/")) {
    throw unsafe(path, "absolute paths are not allowed");
  }
  const components = path.split("/");
  for (const c of components) {
    if (c === "") throw unsafe(path, "empty path component");
    if (c === ".") throw unsafe(path, "'.' components are not allowed");
    if (c === "..") throw unsafe(path, "'..' components are not allowed");
    if (encoder.encode(c).length > MAX_COMPONENT_BYTES) {
      throw unsafe(
        path,
        `a component is longer than ${MAX_COMPONENT_BYTES} bytes`,
      );
    }
    if (c.startsWith(".") && c.endsWith(PART_SUFFIX)) {
      throw unsafe(path, `names ending in ${PART_SUFFIX} are reserved`);
    }
  }
  return components;
}

/** Joins a root folder and checked components. */
export function joinPath(root: string, components: string[]): string {
  if (components.length === 0) return root;
  return root.endsWith("/")
    ? root + components.join("/")
    : `${root}/${components.join("/")}`;
}

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * Makes sure every parent folder of `components` under `root` is a real
 * directory, creating the missing ones. A symlink anywhere on the way is
 * refused, so nothing can resolve outside `root`.
 */
export async function ensureParents(
  root: string,
  components: string[],
  path: string,
): Promise<void> {
  for (let i = 1; i < components.length; i++) {
    await ensureDirectory(root, components.slice(0, i), path, 0o755);
  }
}

/** Makes `components` under `root` an existing real directory. */
export async function ensureDirectory(
  root: string,
  components: string[],
  path: string,
  mode: number,
): Promise<void> {
  const at = joinPath(root, components);
  let info = await lstatOrNull(at);
  if (info === null) {
    try {
      // The owner must be able to write into folders it receives.
      await Deno.mkdir(at, { mode: (mode & 0o777) | 0o700 });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    info = await lstatOrNull(at);
  }
  if (info === null) throw unsafe(path, "a folder vanished while creating it");
  if (info.isSymlink) {
    throw unsafe(
      path,
      `'${components.join("/")}' is a symlink; symlinks are not followed`,
    );
  }
  if (!info.isDirectory) {
    throw new FileTransferError(
      "exists",
      `'${components.join("/")}' exists and is not a directory`,
    );
  }
}

/** What is at the final place of a file: nothing, a file, or something refused. */
export async function checkTarget(
  target: string,
  path: string,
): Promise<"missing" | "file"> {
  const info = await lstatOrNull(target);
  if (info === null) return "missing";
  if (info.isSymlink) {
    throw unsafe(path, "the target is a symlink; symlinks are not followed");
  }
  if (!info.isFile) {
    throw new FileTransferError(
      "exists",
      `'${path}' exists and is not a regular file`,
    );
  }
  return "file";
}

/** `name (n).ext` for `--rename`; a leading dot does not start an extension. */
export function renamedName(name: string, n: number): string {
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return `${name} (${n})`;
  return `${name.slice(0, dot)} (${n})${name.slice(dot)}`;
}
