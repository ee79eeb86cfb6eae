/**
 * A conformance check of a WebSocket echo server: a catalogue of RFC 6455
 * cases (handshake, framing, ping/pong, reserved bits and opcodes,
 * fragmentation, UTF-8, close, masking, limits), each run on its own raw
 * connection with netkit's codec, each with a timeout.
 *
 * @module
 */

import { closeQuietly, errorMessage } from "../../_io.ts";
import { escapeControl } from "../../escape.ts";
import { ClientHandshake } from "../client_handshake.ts";
import { sendHandshake } from "../dial.ts";
import { toWsUrl } from "../url.ts";
import {
  CaseContext,
  CaseFailure,
  type CaseTarget,
  type CheckCase,
  type Outcome,
} from "./_session.ts";
import { CATEGORIES, selectCases } from "./_catalogue.ts";

/**
 * The verdict of one case:
 * - `PASS`: the server did what RFC 6455 requires.
 * - `NON-STRICT`: acceptable but not the best behaviour (Autobahn's
 *   NON-STRICT), e.g. failing on a bad frame without first echoing the
 *   valid message before it, or finding invalid UTF-8 only at the end of
 *   the message.
 * - `INFO`: nothing to judge, the observation is reported (timings,
 *   behaviour the RFC leaves open).
 * - `FAIL`: the server broke a requirement, or did not answer in time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CheckVerdict } from "@netkit/netkit/ws";
 *
 * const verdicts: CheckVerdict[] = ["PASS", "NON-STRICT", "INFO", "FAIL"];
 * const failed = verdicts.filter((v) => v === "FAIL");
 * assert.ok(failed.length === 1);
 * ```
 */
export type CheckVerdict = "PASS" | "NON-STRICT" | "INFO" | "FAIL";

/**
 * The result of one case.
 */
export interface CaseResult {
  /** The case id, e.g. `1.1.2`. */
  id: string;
  /** What the case checks, with the RFC section. */
  title: string;
  /** What the client sent, in a few words. */
  sends: string;
  /** What RFC 6455 requires of the server, in a few words. */
  requires: string;
  /**
   * What the server did, e.g. `echoed text (125 B), then close 1000`; what
   * the server sent (a close reason, a status line) is escaped.
   */
  observed: string;
  /** The verdict. */
  verdict: CheckVerdict;
  /** How long the case took, in milliseconds. */
  durationMs: number;
}

/**
 * Everything {@linkcode checkServer} found, counted once: per verdict
 * (`pass`, `nonStrict`, `info`, `failed`) and `passed` as the last line of
 * `netkit ws check` says it (PASS, NON-STRICT and INFO: only FAIL is a
 * failure), so `passed + failed` is the number of cases run.
 */
export interface CheckReport {
  /** The URL that was checked. */
  url: string;
  /** One result per case run, in order. */
  results: CaseResult[];
  /** Cases that did not fail: PASS, NON-STRICT and INFO. */
  passed: number;
  /** Cases with verdict PASS. */
  pass: number;
  /** Cases with verdict FAIL. */
  failed: number;
  /** Cases with verdict NON-STRICT. */
  nonStrict: number;
  /** Cases with verdict INFO. */
  info: number;
}

/**
 * Options of {@linkcode checkServer}.
 */
export interface CheckServerOptions {
  /**
   * Which cases to run: comma-separated globs over case ids (`*` any
   * characters, `?` one); a pattern without wildcards also selects the
   * ids under it (`7.9` selects `7.9.1`…`7.9.9`). Default: all.
   */
  cases?: string;
  /**
   * Time allowed per case in milliseconds, connection included. A server
   * that has not done what the case needs by then fails it. The limits
   * cases (category 9) get four times as long. Default 5000.
   */
  timeoutMs?: number;
  /** Called with each result as soon as its case finishes. */
  onCase?: (result: CaseResult) => void;
  /** Extra PEM root certificates for `wss://`. */
  caCerts?: string[];
}

/**
 * The id and title of one case of the catalogue.
 */
export interface CheckCaseInfo {
  /** The case id, e.g. `6.4.1`. */
  id: string;
  /** What the case checks, with the RFC section. */
  title: string;
}

/**
 * The cases of the catalogue in run order: all of them, or those matching
 * `patterns` (comma-separated globs as in `--case`: `*` matches anything,
 * `?` one character, and `7.9` is `7.9` and `7.9.*`).
 *
 * @throws {RangeError} When a pattern matches no case.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listCases } from "@netkit/netkit/ws";
 *
 * const cases = listCases();
 * assert.ok(cases.some((c) => c.id === "2.5"));
 * ```
 */
export function listCases(patterns?: string): CheckCaseInfo[] {
  return selectCases(patterns).map((c) => ({ id: c.id, title: c.title }));
}

/**
 * Category titles by the first number of a case id (Autobahn's names where
 * they exist).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CHECK_CATEGORIES } from "@netkit/netkit/ws/check";
 *
 * assert.equal(CHECK_CATEGORIES["2"], "Pings/Pongs");
 * ```
 */
export const CHECK_CATEGORIES: Readonly<Record<string, string>> = CATEGORIES;

const DEFAULT_TIMEOUT_MS = 5000;

/**
 * Runs the catalogue (or the cases selected by `options.cases`) against
 * the echo server at `url`, one case at a time, one connection per case,
 * over TCP or TLS (`wss://`). Each case has a timeout, so a server that
 * hangs fails cases instead of hanging the check.
 *
 * "Fail the connection" (RFC 6455 §7.1.7) is satisfied by a close frame
 * with the required code or by the server closing TCP; frames from the
 * server are decoded strictly (a masked or malformed server frame fails
 * the case).
 *
 * @throws {WsError} `bad_url` when `url` is not `ws://` or `wss://`;
 * `connect_failed`, `timeout` or `bad_http` when the server cannot be
 * reached or does not speak HTTP (checked once, before any case).
 * @throws {RangeError} When `options.cases` selects no case.
 *
 * @example Check a server's framing and close handling
 * ```ts ignore
 * import { checkServer } from "@netkit/netkit/ws";
 *
 * const report = await checkServer("ws://127.0.0.1:8080/ws", {
 *   cases: "1.*,7.*",
 *   onCase: (r) => console.log(r.id, r.verdict, r.observed),
 * });
 * console.log(`${report.failed} failed`);
 * ```
 */
export async function checkServer(
  url: string | URL,
  options: CheckServerOptions = {},
): Promise<CheckReport> {
  const target: CaseTarget = { url: toWsUrl(url), caCerts: options.caCerts };
  const cases = selectCases(options.cases);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0)) {
    throw new RangeError(`timeoutMs must be positive, not ${timeoutMs}`);
  }
  await reachable(target, timeoutMs);
  const report: CheckReport = {
    url: target.url.href,
    results: [],
    passed: 0,
    pass: 0,
    failed: 0,
    nonStrict: 0,
    info: 0,
  };
  for (const c of cases) {
    const result = await runCase(c, target, timeoutMs);
    report.results.push(result);
    if (result.verdict !== "FAIL") report.passed++;
    if (result.verdict === "PASS") report.pass++;
    else if (result.verdict === "FAIL") report.failed++;
    else if (result.verdict === "NON-STRICT") report.nonStrict++;
    else report.info++;
    options.onCase?.(result);
  }
  return report;
}

/** One handshake before the cases, so an unreachable server is one error, not a table of failures. */
async function reachable(target: CaseTarget, timeoutMs: number) {
  const { request } = new ClientHandshake(target.url);
  const { conn } = await sendHandshake(target.url, request, {
    timeoutMs,
    caCerts: target.caCerts,
  });
  closeQuietly(conn);
}

async function runCase(
  c: CheckCase,
  target: CaseTarget,
  timeoutMs: number,
): Promise<CaseResult> {
  const budget = timeoutMs * (c.budget ?? 1);
  const context = new CaseContext(target, budget);
  const started = performance.now();
  const run = c.run(context);
  // Sessions enforce the deadline themselves; this only guards against a
  // case that waits on something else.
  let guard: ReturnType<typeof setTimeout> | undefined;
  const stop = new Promise<Outcome>((resolve) => {
    guard = setTimeout(
      () =>
        resolve({ verdict: "FAIL", observed: `timeout after ${budget} ms` }),
      budget + 1000,
    );
  });
  let outcome: Outcome;
  try {
    outcome = await Promise.race([run, stop]);
  } catch (error) {
    outcome = {
      verdict: "FAIL",
      observed: error instanceof CaseFailure
        ? error.message
        : `error: ${errorMessage(error)}`,
    };
  } finally {
    clearTimeout(guard);
    await context.closeAll();
    await run.catch(() => {});
    // A case stopped by the guard may have opened one more connection.
    await context.closeAll();
  }
  return {
    id: c.id,
    title: c.title,
    sends: c.sends,
    requires: c.requires,
    // Quotes the server (close reasons, status lines): escaped.
    observed: escapeControl(outcome.observed),
    verdict: outcome.verdict,
    durationMs: Math.round(performance.now() - started),
  };
}
