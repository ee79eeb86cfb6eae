/**
 * One load on many machines: which shard this generator is (given, or
 * read from a scheduler's environment: Kubernetes Indexed Jobs, Slurm),
 * its share of the connections, the rate and the requests, and the
 * common start time every shard waits for.
 *
 * @module
 */

import { LoadError } from "./errors.ts";
import { delay } from "../_io.ts";
import type { LoadOptions } from "./options.ts";

/** This generator's place among `count` generators: `index` is 0 to `count − 1`. */
export interface LoadShard {
  /** Which shard, from 0. */
  index: number;
  /** How many shards share the load. */
  count: number;
}

const MAX_SHARDS = 100_000;

/**
 * Reads a shard from `I/N` (shard I of N, from 0), `N` (N shards, this
 * one's index from the scheduler: `JOB_COMPLETION_INDEX` of a Kubernetes
 * Indexed Job, or Slurm's `SLURM_PROCID`) or `auto` (both from Slurm:
 * `SLURM_PROCID` of `SLURM_NTASKS`; Kubernetes does not tell a pod how
 * many completions its Job has, so there the count must be given).
 * `env` is the environment to read (`Deno.env.toObject()`).
 *
 * @throws {LoadError} `bad_shard` naming what is wrong or missing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseShard } from "@netkit/netkit/load";
 *
 * assert.deepEqual(parseShard("2/3"), { index: 2, count: 3 });
 * assert.deepEqual(parseShard("3", { JOB_COMPLETION_INDEX: "1" }), { index: 1, count: 3 });
 * assert.deepEqual(
 *   parseShard("auto", { SLURM_PROCID: "0", SLURM_NTASKS: "4" }),
 *   { index: 0, count: 4 },
 * );
 * assert.throws(() => parseShard("3/3"), { code: "bad_shard" });
 * ```
 */
export function parseShard(
  text: string,
  env: Record<string, string | undefined> = {},
): LoadShard {
  const whole = (value: string | undefined, what: string, min: number) => {
    const n = value !== undefined && /^\d{1,9}$/.test(value)
      ? Number(value)
      : NaN;
    if (!(n >= min && n <= MAX_SHARDS)) {
      throw new LoadError(
        "bad_shard",
        `${what} must be a whole number from ${min} to ${MAX_SHARDS}, not ${
          JSON.stringify(value ?? "")
        }`,
      );
    }
    return n;
  };
  let shard: LoadShard;
  const slash = /^(\d+)\/(\d+)$/.exec(text);
  if (slash) {
    shard = {
      index: whole(slash[1], "the shard index", 0),
      count: whole(slash[2], "the shard count", 1),
    };
  } else if (/^\d+$/.test(text)) {
    const count = whole(text, "the shard count", 1);
    const k8s = env.JOB_COMPLETION_INDEX;
    const slurm = env.SLURM_PROCID;
    if (k8s === undefined && slurm === undefined) {
      throw new LoadError(
        "bad_shard",
        `--shard ${text} takes this shard's index from JOB_COMPLETION_INDEX (Kubernetes) or SLURM_PROCID (Slurm), and neither is set: give it as I/${text}`,
      );
    }
    if (k8s === undefined && env.SLURM_NTASKS !== undefined) {
      const tasks = whole(env.SLURM_NTASKS, "SLURM_NTASKS", 1);
      if (tasks !== count) {
        throw new LoadError(
          "bad_shard",
          `--shard ${text} but Slurm runs ${tasks} tasks (SLURM_NTASKS): every task must take its own share`,
        );
      }
    }
    shard = {
      index: whole(
        k8s ?? slurm,
        k8s !== undefined ? "JOB_COMPLETION_INDEX" : "SLURM_PROCID",
        0,
      ),
      count,
    };
  } else if (text === "auto") {
    if (env.SLURM_PROCID === undefined || env.SLURM_NTASKS === undefined) {
      throw new LoadError(
        "bad_shard",
        env.JOB_COMPLETION_INDEX !== undefined
          ? "a Kubernetes pod is not told how many completions its Job has: use --shard N with the Job's completions"
          : "--shard auto reads SLURM_PROCID and SLURM_NTASKS, which are not set: give the shard as I/N",
      );
    }
    shard = {
      index: whole(env.SLURM_PROCID, "SLURM_PROCID", 0),
      count: whole(env.SLURM_NTASKS, "SLURM_NTASKS", 1),
    };
  } else {
    throw new LoadError(
      "bad_shard",
      `a shard is I/N (e.g. 0/3), N (index from the scheduler) or auto, not ${
        JSON.stringify(text)
      }`,
    );
  }
  if (shard.index >= shard.count) {
    throw new LoadError(
      "bad_shard",
      `shard ${shard.index}/${shard.count}: the index runs from 0 to ${
        shard.count - 1
      }`,
    );
  }
  return shard;
}

/**
 * Shard `index`'s part of `total` things split `parts` ways: whole shares
 * that differ by at most one and add up to `total`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shareOf } from "@netkit/netkit/load";
 *
 * assert.deepEqual([0, 1, 2].map((i) => shareOf(10, 3, i)), [4, 3, 3]);
 * ```
 */
export function shareOf(total: number, parts: number, index: number): number {
  return Math.floor(total / parts) + (index < total % parts ? 1 : 0);
}

/**
 * The options of one shard: its share of `connections` (default 1) and
 * `requests` (whole shares adding up to the totals), and `1/count` of the
 * rates, so the shards together drive the load the options describe.
 *
 * @throws {LoadError} `bad_shard` when there are fewer connections (or
 * requests) than shards.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shardLoadOptions } from "@netkit/netkit/load";
 *
 * const o = shardLoadOptions({ connections: 10, ratePerSecond: 3000 }, { index: 0, count: 3 });
 * assert.equal(o.connections, 4);
 * assert.equal(o.ratePerSecond, 1000);
 * ```
 */
export function shardLoadOptions<T extends LoadOptions>(
  options: T,
  shard: LoadShard,
): T {
  const { index, count } = shard;
  const connections = options.connections ?? 1;
  if (connections < count) {
    throw new LoadError(
      "bad_shard",
      `${count} shards need at least ${count} connections in all, not ${connections}`,
    );
  }
  if (options.requests !== undefined && options.requests < count) {
    throw new LoadError(
      "bad_shard",
      `${count} shards need at least ${count} requests in all, not ${options.requests}`,
    );
  }
  const out: T = {
    ...options,
    connections: shareOf(connections, count, index),
    shard: `${index}/${count}`,
  };
  if (options.requests !== undefined) {
    out.requests = shareOf(options.requests, count, index);
  }
  if (options.ratePerSecond !== undefined) {
    out.ratePerSecond = options.ratePerSecond / count;
  }
  if (options.connectRatePerSecond !== undefined) {
    out.connectRatePerSecond = options.connectRatePerSecond / count;
  }
  return out;
}

/**
 * Reads a start time every generator can agree on: ISO 8601 with a time
 * zone (`2030-01-02T15:04:05Z`, `…+02:00`) or `@SECONDS` since the epoch
 * (as `date +@%s` prints it), to milliseconds since the epoch. A time
 * without a zone is refused: machines in different zones would read it
 * differently.
 *
 * @throws {LoadError} `bad_option` naming the accepted forms.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseStartTime } from "@netkit/netkit/load";
 *
 * assert.equal(parseStartTime("2030-01-01T00:00:00Z"), Date.UTC(2030, 0, 1));
 * assert.equal(parseStartTime("@1893456000"), 1893456000_000);
 * assert.throws(() => parseStartTime("2030-01-01 00:00"), { code: "bad_option" });
 * ```
 */
export function parseStartTime(text: string): number {
  const epoch = /^@(\d{1,12}(?:\.\d{1,3})?)$/.exec(text);
  if (epoch) return Math.round(Number(epoch[1]) * 1000);
  const iso =
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;
  const ms = iso.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) {
    throw new LoadError(
      "bad_option",
      `a start time is ISO 8601 with a zone (2030-01-02T15:04:05Z) or @SECONDS since the epoch, not ${
        JSON.stringify(text)
      }`,
    );
  }
  return ms;
}

/**
 * Waits until the wall clock (`Date.now()`) reaches `startAt`, in ms since
 * the epoch: how every shard begins together. A moment already past is
 * refused: that shard would begin after the others. An aborted `signal`
 * ends the wait early.
 *
 * @throws {LoadError} `start_passed`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { waitForStart } from "@netkit/netkit/load";
 *
 * const at = Date.now() + 50;
 * await waitForStart(at);
 * assert.ok(Date.now() >= at);
 * await assert.rejects(waitForStart(Date.now() - 1000), { code: "start_passed" });
 * ```
 */
export async function waitForStart(
  startAt: number,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  const wait = startAt - Date.now();
  if (wait < 0) {
    throw new LoadError(
      "start_passed",
      `the start time ${
        new Date(startAt).toISOString()
      } passed ${-wait} ms ago: give every generator a time still ahead`,
    );
  }
  // Timers fire early or late by a little and overflow past 24 days: wait
  // in steps until the wall clock says so.
  const signal = options.signal;
  for (let left = wait; left > 0 && !signal?.aborted;) {
    await delay(Math.min(left, 2 ** 30), signal);
    left = startAt - Date.now();
  }
}
