/**
 * The file sender: {@linkcode sendFiles} offers files and directories to a
 * receiver started with {@linkcode serveFileReceiver} and reports, per
 * file, whether the receiver stored and verified it.
 *
 * @module
 */

import { type HostPort, parseAddress } from "../../address.ts";
import { osMessage } from "../../_io.ts";
import type { SendFilesOptions, SendReport, SentFile } from "./types.ts";
import { openStream } from "./_connect.ts";
import { collectEntries, unsentFile, type WalkEntry } from "./_walk.ts";
import { sendBasic } from "./_netcat_send.ts";
import { failureOf } from "./_failure.ts";
import { type SenderEvent, SenderSession } from "./_sender_session.ts";
import { codeKeySchedule, tokenKeySchedule } from "./_key_schedule.ts";
import { failureError, SendLink } from "./_send_link.ts";
import { contentBuffers, streamContent } from "./_send_content.ts";
import { readPrefix } from "./_file_read.ts";

const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * Sends files and directories (recursively, relative paths kept) in one
 * session to `address` (`"host:port"` or `{ hostname, port }`). Everything
 * after authentication is sealed (ChaCha20-Poly1305) unless verified TLS
 * already protects it. Throws a {@linkcode FileTransferError} when nothing
 * could be sent: a missing local path (`not_found`), nothing listening
 * (`connection_refused`), a version mismatch, a wrong token
 * (`auth_failed`). Otherwise resolves to a per-file report; `ok` is true
 * only when the receiver stored and verified every entry.
 *
 * @example Send a file to a receiver
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateToken, sendFiles, serveFileReceiver } from "@netkit/netkit/tcp";
 *
 * const dir = await Deno.makeTempDir();
 * const source = await Deno.makeTempFile();
 * await Deno.writeTextFile(source, "hello");
 * const token = generateToken();
 * await using receiver = serveFileReceiver({ dir, token });
 * const report = await sendFiles(receiver.addr, [source], { token });
 * assert.ok(report.ok && report.files[0]!.status === "stored");
 * await receiver.shutdown();
 * await Deno.remove(dir, { recursive: true });
 * await Deno.remove(source);
 * ```
 */
export async function sendFiles(
  to: string | HostPort,
  paths: string[],
  options: SendFilesOptions = {},
): Promise<SendReport> {
  const address = typeof to === "string" ? parseAddress(to) : to;
  if (!options.basic && !options.token === (options.code === undefined)) {
    throw new TypeError(
      "sendFiles needs the receiver's token or code (not both) unless basic mode is on",
    );
  }
  const started = performance.now();
  const entries = await collectEntries(paths);
  const report: SendReport = { ok: false, files: [], bytes: 0, durationMs: 0 };
  const finish = () => {
    report.durationMs = performance.now() - started;
    report.ok = !report.error &&
      report.files.every((f) =>
        f.status === "stored" || f.status === "sent" || f.status === "skipped"
      );
    return report;
  };
  if (options.basic) {
    await sendBasic(address, entries, options, report);
    return finish();
  }
  const stream = await openStream(address, options.tls);
  const link = new SendLink(
    stream,
    new SenderSession({
      keys: options.code !== undefined
        ? codeKeySchedule(options.code)
        : tokenKeySchedule(options.token!),
      // Verified TLS protects the frames already; anything else is sealed.
      plainOverTls: options.tls !== undefined && !options.tls.insecure,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      now: performance.now(),
    }),
  );
  try {
    await link.flush();
    await expect(link, "authenticated");
    await runEntries(link, entries, options, report);
  } catch (error) {
    if (report.files.length === 0 && report.error === undefined) {
      throw link.core.failure ? failureError(link.core.failure) : error;
    }
    report.error ??= link.core.failure ?? failureOf(error);
  } finally {
    await link.close();
  }
  return finish();
}

// The next event, which must be `type`: a failure is thrown.
async function expect<T extends SenderEvent["type"]>(
  link: SendLink,
  ...types: T[]
): Promise<Extract<SenderEvent, { type: T }>> {
  const event = await link.next();
  if (event.type === "failed") throw failureError(event.failure);
  if (!(types as string[]).includes(event.type)) {
    throw new Error(`unexpected sender event ${event.type}`);
  }
  return event as Extract<SenderEvent, { type: T }>;
}

async function runEntries(
  link: SendLink,
  entries: WalkEntry[],
  options: SendFilesOptions,
  report: SendReport,
): Promise<void> {
  const bufs = contentBuffers();
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const file = unsentFile(entry);
    try {
      if (entry.reason) {
        file.error = failureOf(entry.reason);
      } else if (entry.kind === "directory") {
        await sendDirectory(link, file);
      } else {
        await sendFile(link, file, { options, report, bufs });
      }
    } catch (error) {
      // The session cannot go on: this and every later entry failed.
      const failure = link.core.failure ?? failureOf(error);
      report.error = failure;
      file.error ??= failure;
      report.files.push(file);
      options.onFile?.(file);
      for (const rest of entries.slice(i + 1)) {
        const left: SentFile = {
          ...unsentFile(rest),
          error: rest.kind === "skip" ? failureOf(rest.reason) : failure,
        };
        report.files.push(left);
      }
      return;
    }
    report.files.push(file);
    options.onFile?.(file);
  }
  link.core.finish();
  await link.flush();
  await expect(link, "done");
}

async function sendDirectory(link: SendLink, file: SentFile): Promise<void> {
  const info = await Deno.stat(file.source);
  link.core.offer({
    kind: "directory",
    path: file.path,
    mode: info.mode ?? 0o755,
    size: 0,
    resume: false,
  });
  await link.flush();
  verdict(file, await expect(link, "verdict"));
}

function verdict(
  file: SentFile,
  event: Extract<SenderEvent, { type: "verdict" }>,
): void {
  const { code, message, storedAs } = event.verdict;
  if (code !== "ok") {
    file.error = { code, message };
    return;
  }
  file.status = "stored";
  file.storedAs = storedAs;
}

async function sendFile(
  link: SendLink,
  file: SentFile,
  io: { options: SendFilesOptions; report: SendReport; bufs: Uint8Array[] },
): Promise<void> {
  const { core } = link;
  const { options, report, bufs } = io;
  let handle: Deno.FsFile;
  let info: Deno.FileInfo;
  try {
    handle = await Deno.open(file.source, { read: true });
    info = await handle.stat();
  } catch (error) {
    file.error = {
      code: "disk_error",
      message: `cannot read '${file.source}': ${osMessage(error)}`,
    };
    return;
  }
  try {
    const size = info.size;
    file.bytes = size;
    core.offer({
      kind: "file",
      path: file.path,
      mode: info.mode ?? 0o644,
      size,
      resume: options.resume ?? true,
    });
    await link.flush();
    const first = await expect(link, "verdict", "accept");
    if (first.type === "verdict") return verdict(file, first);
    if (first.verify > 0) {
      // The receiver holds a prefix: hash ours to see whether it matches.
      await readPrefix(handle, first.verify, bufs[0]!, (chunk, done) => {
        core.hashPrefix(chunk);
        core.progress(performance.now());
        options.onProgress?.({
          path: file.path,
          bytes: done,
          size: first.verify,
          resumedFrom: 0,
          verifying: true,
        });
      });
    }
    const from = core.startContent();
    await handle.seek(from, Deno.SeekMode.Start);
    file.resumedFrom = from;
    try {
      await streamContent(link, handle, { from, size, bufs }, (n, progress) => {
        report.bytes += n;
        options.onProgress?.({ path: file.path, ...progress });
      });
    } finally {
      // What END said, once it went out.
      file.sha256 = core.digest;
    }
    verdict(file, await expect(link, "verdict"));
  } finally {
    handle.close();
  }
}
