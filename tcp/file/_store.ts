// Where received bytes go: the receiver's folder (checked at start),
// partial files next to their final place, and the one atomic step that
// turns a verified partial file into the final file.

import { FileTransferError } from "./errors.ts";
import { createHash } from "node:crypto";
import { errorMessage } from "../../_io.ts";
import {
  checkRelativePath,
  checkTarget,
  ensureParents,
  joinPath,
  MAX_COMPONENT_BYTES,
  PART_SUFFIX,
  renamedName,
} from "./_safe_path.ts";

import type { ExistingPolicy } from "./types.ts";

/**
 * The receiver's folder as a real path. It must exist, be a folder and
 * take new files, or nothing could ever be stored: refusing to start is
 * clearer than refusing every file.
 */
export function checkFolder(dir: string): string {
  let root: string;
  try {
    root = Deno.realPathSync(dir);
  } catch (error) {
    throw new FileTransferError(
      "not_found",
      `the folder '${dir}' does not exist`,
      { cause: error },
    );
  }
  if (!Deno.statSync(root).isDirectory) {
    throw new FileTransferError("not_found", `'${dir}' is not a folder`);
  }
  try {
    const probe = Deno.makeTempFileSync({
      dir: root,
      prefix: ".netkit-probe-",
    });
    Deno.removeSync(probe);
  } catch (error) {
    throw new FileTransferError(
      "not_writable",
      `cannot create files in '${dir}': ${errorMessage(error)}`,
      { cause: error },
    );
  }
  return root;
}

/** A checked place for one incoming file. */
export interface Target {
  /** The relative path as sent. */
  path: string;
  /** Its components. */
  components: string[];
  /** Absolute parent folder. */
  dir: string;
  /** Final file name. */
  name: string;
  /** Absolute final path. */
  finalPath: string;
  /** Absolute partial-file path: `<dir>/.<name>.netkit-part`. */
  partPath: string;
}

/**
 * Checks `path`, creates its parent folders under `root` and refuses an
 * existing target unless the policy allows it.
 */
export async function prepareTarget(
  root: string,
  path: string,
  policy: ExistingPolicy,
): Promise<Target> {
  const components = checkRelativePath(path);
  await ensureParents(root, components, path);
  const name = components[components.length - 1]!;
  const dir = joinPath(root, components.slice(0, -1));
  const finalPath = `${dir}/${name}`;
  const partPath = `${dir}/${partName(name)}`;
  const state = await checkTarget(finalPath, path);
  if (state === "file" && policy === "refuse") {
    throw new FileTransferError(
      "exists",
      `'${path}' exists (the receiver can use --overwrite or --rename)`,
    );
  }
  await checkPart(partPath, path);
  return { path, components, dir, name, finalPath, partPath };
}

/**
 * `.<name>.netkit-part`; a name too long for that gets a shortened,
 * stable form (a prefix and a hash of the full name), so resume still finds it.
 */
export function partName(name: string): string {
  const plain = `.${name}${PART_SUFFIX}`;
  if (encoder.encode(plain).length <= MAX_COMPONENT_BYTES) return plain;
  const digest = createHash("sha256").update(name).digest("hex").slice(0, 16);
  let prefix = name;
  const room = MAX_COMPONENT_BYTES - PART_SUFFIX.length - 1 - 17;
  while (encoder.encode(prefix).length > room) prefix = prefix.slice(0, -1);
  return `.${prefix}~${digest}${PART_SUFFIX}`;
}

const encoder = new TextEncoder();

async function checkPart(partPath: string, path: string): Promise<void> {
  try {
    const info = await Deno.lstat(partPath);
    if (!info.isFile) {
      throw new FileTransferError(
        "unsafe_path",
        `the partial file of '${path}' is not a regular file`,
      );
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** Opens (creating if needed) the partial file for reading and writing. */
export async function openPart(target: Target): Promise<Deno.FsFile> {
  return await Deno.open(target.partPath, {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
}

/** Removes a partial file, ignoring one that is already gone. */
export async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch {
    // Gone already, or the disk error that brought us here.
  }
}

/**
 * Moves a verified, fsynced partial file to its final name and returns the
 * relative path it was stored under. `refuse` and `rename` never replace a
 * file that appeared meanwhile (a hard link fails if the name exists).
 */
export async function commitPart(
  target: Target,
  policy: ExistingPolicy,
): Promise<string> {
  if (policy === "overwrite") {
    await Deno.rename(target.partPath, target.finalPath);
    await syncDir(target.dir);
    return target.path;
  }
  const parent = target.components.slice(0, -1);
  for (let n = 0; n < 10_000; n++) {
    const name = n === 0 ? target.name : renamedName(target.name, n);
    const finalPath = `${target.dir}/${name}`;
    if (await placeNoReplace(target.partPath, finalPath)) {
      await syncDir(target.dir);
      return [...parent, name].join("/");
    }
    if (policy === "refuse") {
      await removeQuietly(target.partPath);
      throw new FileTransferError(
        "exists",
        `'${target.path}' appeared while it was being received`,
      );
    }
  }
  await removeQuietly(target.partPath);
  throw new FileTransferError("exists", `no free name for '${target.path}'`);
}

// True when placed; false when the name is taken.
async function placeNoReplace(from: string, to: string): Promise<boolean> {
  try {
    await Deno.link(from, to);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    // Filesystems without hard links: check, then rename (a small race).
    if (await checkTarget(to, to) === "file") return false;
    await Deno.rename(from, to);
    return true;
  }
  await Deno.remove(from);
  return true;
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename itself durable; not every platform can fsync a folder.
  try {
    using handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch {
    // Best effort.
  }
}
