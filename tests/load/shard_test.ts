import assert from "node:assert/strict";
import {
  parseShard,
  parseStartTime,
  shardLoadOptions,
  shareOf,
} from "../../load/mod.ts";

Deno.test("shards: I/N, N with the index from Kubernetes or Slurm, auto from Slurm", () => {
  assert.deepEqual(parseShard("0/1"), { index: 0, count: 1 });
  assert.deepEqual(parseShard("4/5"), { index: 4, count: 5 });
  assert.deepEqual(
    parseShard("3", { JOB_COMPLETION_INDEX: "2" }),
    { index: 2, count: 3 },
  );
  assert.deepEqual(
    parseShard("4", { SLURM_PROCID: "3", SLURM_NTASKS: "4" }),
    { index: 3, count: 4 },
  );
  assert.deepEqual(
    parseShard("auto", { SLURM_PROCID: "1", SLURM_NTASKS: "2" }),
    { index: 1, count: 2 },
  );
  for (
    const [text, env] of [
      ["3/3", {}],
      ["0/0", {}],
      ["-1/3", {}],
      ["1/x", {}],
      ["3", {}],
      ["3", { JOB_COMPLETION_INDEX: "3" }],
      ["3", { SLURM_PROCID: "0", SLURM_NTASKS: "4" }],
      ["auto", { JOB_COMPLETION_INDEX: "0" }],
      ["auto", {}],
      ["auto", { SLURM_PROCID: "5", SLURM_NTASKS: "5" }],
      ["", {}],
    ] as const
  ) {
    assert.throws(
      () => parseShard(text, env),
      { code: "bad_shard" },
      `${text} ${JSON.stringify(env)}`,
    );
  }
});

Deno.test("shards: shares are whole, differ by at most one and add up", () => {
  for (const total of [1, 2, 7, 10, 99, 100, 1001]) {
    for (const parts of [1, 2, 3, 7]) {
      if (total < parts) continue;
      const shares = Array.from(
        { length: parts },
        (_, i) => shareOf(total, parts, i),
      );
      assert.equal(shares.reduce((a, b) => a + b, 0), total);
      assert.ok(Math.max(...shares) - Math.min(...shares) <= 1);
    }
  }
  const all = [0, 1, 2].map((index) =>
    shardLoadOptions(
      { connections: 10, requests: 1000, ratePerSecond: 3000 },
      { index, count: 3 },
    )
  );
  assert.deepEqual(all.map((o) => o.connections), [4, 3, 3]);
  assert.deepEqual(all.map((o) => o.requests), [334, 333, 333]);
  assert.deepEqual(all.map((o) => o.ratePerSecond), [1000, 1000, 1000]);
  assert.throws(
    () => shardLoadOptions({ connections: 2 }, { index: 0, count: 3 }),
    { code: "bad_shard" },
  );
  assert.throws(
    () =>
      shardLoadOptions({ connections: 9, requests: 2 }, { index: 0, count: 3 }),
    { code: "bad_shard" },
  );
});

Deno.test("start times: ISO 8601 with a zone or @seconds; no zone refused", () => {
  assert.equal(parseStartTime("2030-01-01T00:00:00Z"), Date.UTC(2030, 0, 1));
  assert.equal(
    parseStartTime("2030-01-01T02:00:00+02:00"),
    Date.UTC(2030, 0, 1),
  );
  assert.equal(parseStartTime("@1893456000.5"), 1893456000500);
  for (const bad of ["2030-01-01T00:00:00", "tomorrow", "@", "+10s", ""]) {
    assert.throws(() => parseStartTime(bad), { code: "bad_option" }, bad);
  }
});
