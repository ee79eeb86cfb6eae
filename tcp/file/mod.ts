/**
 * File transfer over TCP: an authenticated, verified, resumable protocol
 * (receiver and sender), and the classic netcat flow (`basic`).
 *
 * The protocol is specified in `docs/file-transfer.md`.
 *
 * @example Send a file to a receiver on loopback
 * ```ts
 * import assert from "node:assert/strict";
 * import { sendFiles, serveFileReceiver } from "@netkit/netkit/tcp/file";
 *
 * const dir = await Deno.makeTempDir();
 * const src = await Deno.makeTempFile();
 * await Deno.writeTextFile(src, "hello");
 * await using receiver = serveFileReceiver({ port: 0, dir, token: "secret" });
 * const report = await sendFiles(receiver.addr, [src], { token: "secret" });
 * assert.equal(report.ok, true);
 * await Deno.remove(dir, { recursive: true });
 * await Deno.remove(src);
 * ```
 *
 * @module
 */

export * from "./code.ts";
export * from "./errors.ts";
export * from "./types.ts";
export * as fileProtocol from "./protocol.ts";
export * from "./receiver.ts";
export * from "./token.ts";
export * from "./sender.ts";
