// Every code netkit throws is in its family's documented list: the test
// walks every non-test source file of the library and the CLI for errors
// built with a literal code (`new WsError("timeout", …`, `super("usage"`
// in a NetkitError subclass) and checks the code against the list in the
// family's errors file, whose JSDoc list must also match its code type.
// And the /proc family: a ProcError, also a TcpError for older catches.

import assert from "node:assert/strict";
import { NetkitError, ProcError } from "../errors.ts";
import { TcpError } from "../tcp/errors.ts";
import { UdpError } from "../udp/errors.ts";
import { readProcRequired } from "../_proc.ts";

const ROOT = new URL("..", import.meta.url);

/** Each family's class, the file that lists its codes, and its code type (none for NetkitError). */
const FAMILIES: Record<string, { file: string; type?: string }> = {
  NetkitError: { file: "errors.ts" },
  ProcError: { file: "errors.ts", type: "ProcErrorCode" },
  TcpError: { file: "tcp/errors.ts", type: "TcpErrorCode" },
  UdpError: { file: "udp/errors.ts", type: "UdpErrorCode" },
  WsError: { file: "ws/errors.ts", type: "WsErrorCode" },
  FileTransferError: {
    file: "tcp/file/errors.ts",
    type: "FileTransferErrorCode",
  },
  RelayError: { file: "relay/errors.ts", type: "RelayErrorCode" },
  LoadError: { file: "load/errors.ts", type: "LoadErrorCode" },
  HttpError: { file: "http/errors.ts", type: "HttpErrorCode" },
};

/**
 * The codes a JSDoc list documents: the `- \`code\`:` items (a bullet may
 * name several) of the doc comment that holds `anchor`.
 */
export function documentedCodes(source: string, anchor: string): string[] {
  const at = source.indexOf(anchor);
  assert.ok(at >= 0, `no '${anchor}'`);
  const comment = source.slice(
    source.lastIndexOf("/**", at),
    source.indexOf("*/", at),
  );
  const codes: string[] = [];
  for (
    const bullet of comment.matchAll(/^\s*\* - ((?:`[a-z_]+`(?:, )?)+):/gm)
  ) {
    for (const code of bullet[1]!.matchAll(/`([a-z_]+)`/g)) {
      codes.push(code[1]!);
    }
  }
  return codes;
}

/** The string literals of `export type NAME = | "a" | "b";`. */
export function unionCodes(source: string, type: string): string[] {
  const match = new RegExp(`export type ${type} =([^;]*);`).exec(source);
  assert.ok(match, `no type ${type}`);
  return [...match[1]!.matchAll(/"([a-z_]+)"/g)].map((m) => m[1]!);
}

/** Each literal code thrown in `source`, with the family that throws it. */
export function thrownCodes(
  source: string,
): { family: string; code: string }[] {
  const found = [
    ...source.matchAll(/\bnew\s+(\w+Error)\(\s*["'`]([a-z_]+)["'`]/g),
  ].map((m) => ({ family: m[1]!, code: m[2]! }));
  // A class of its own on NetkitError (the CLI's UsageError) gives its code
  // to super(): those are plain NetkitError codes.
  if (/class \w+ extends NetkitError/.test(source)) {
    for (const m of source.matchAll(/\bsuper\(\s*["'`]([a-z_]+)["'`]/g)) {
      found.push({ family: "NetkitError", code: m[1]! });
    }
  }
  return found.filter((t) => t.family in FAMILIES);
}

async function sourceFiles(dir = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(new URL(dir || ".", ROOT))) {
    const path = dir + entry.name;
    if (entry.isDirectory) {
      if (
        !["tests", "bench", "tools", "node_modules", "dist"].includes(
          entry.name,
        ) && !entry.name.startsWith(".")
      ) files.push(...await sourceFiles(path + "/"));
    } else if (path.endsWith(".ts")) files.push(path);
  }
  return files;
}

async function lists(): Promise<Map<string, string[]>> {
  const result = new Map<string, string[]>();
  for (const [family, { file }] of Object.entries(FAMILIES)) {
    const source = await Deno.readTextFile(new URL(file, ROOT));
    const anchor = family === "NetkitError"
      ? "Codes a plain `NetkitError` carries"
      : `Stable codes of {@linkcode ${family}}`;
    result.set(family, documentedCodes(source, anchor));
  }
  return result;
}

Deno.test("thrownCodes finds literal codes, across lines and in super()", () => {
  const source = `
    throw new WsError("timeout", "late");
    throw new TcpError(
      "bind_failed",
      "in use",
    );
    throw new TypeError("not a code");
    class UsageError extends NetkitError { constructor() { super("usage", "m"); } }
  `;
  assert.deepEqual(thrownCodes(source), [
    { family: "WsError", code: "timeout" },
    { family: "TcpError", code: "bind_failed" },
    { family: "NetkitError", code: "usage" },
  ]);
});

Deno.test("every family's JSDoc code list matches its code type", async () => {
  const documented = await lists();
  for (const [family, { file, type }] of Object.entries(FAMILIES)) {
    assert.ok(documented.get(family)!.length > 0, `${family}: no list`);
    if (type === undefined) continue;
    const source = await Deno.readTextFile(new URL(file, ROOT));
    assert.deepEqual(
      [...documented.get(family)!].sort(),
      unionCodes(source, type).sort(),
      `${file}: the list above ${type} and the type disagree`,
    );
  }
});

Deno.test("every code thrown in the library and the CLI is in its family's list", async () => {
  const documented = await lists();
  const missing: string[] = [];
  let count = 0;
  for (const file of await sourceFiles()) {
    const source = await Deno.readTextFile(new URL(file, ROOT));
    for (const { family, code } of thrownCodes(source)) {
      count++;
      if (!documented.get(family)!.includes(code)) {
        missing.push(`${file}: ${family} "${code}"`);
      }
    }
  }
  assert.ok(count > 200, `only ${count} thrown codes found`);
  assert.deepEqual(missing, []);
});

Deno.test("/proc failures are ProcErrors, not TcpErrors (UDP and load code reading /proc fail in their own family)", async () => {
  const error = await readProcRequired("/proc/net/netkit_no_such_file").then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof ProcError, `expected ProcError, got ${error}`);
  assert.equal(error.code, "proc_unavailable");
  assert.equal(error.name, "ProcError");
  assert.ok(error instanceof NetkitError);
  assert.ok(!(error instanceof TcpError));
  assert.ok(!(new TcpError("timeout", "late") instanceof ProcError));
  assert.ok(new TcpError("timeout", "late") instanceof TcpError);
  assert.ok(!(new UdpError("timeout", "late") instanceof TcpError));
  assert.ok(!(new NetkitError("bad_address", "x") instanceof TcpError));
});
