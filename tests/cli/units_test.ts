// cli/_units.ts: durations, sizes and counts, as every command reads them.

import assert from "node:assert/strict";
import { UsageError } from "../../cli/_args.ts";
import {
  formatDuration,
  formatSize,
  MAX_DURATION_MS,
  parseDuration,
  parseSize,
  unitReader,
} from "../../cli/_units.ts";

const usage = (command: string, message: RegExp) => (e: unknown) =>
  e instanceof UsageError && e.code === "usage" && e.command === command &&
  message.test(e.message);

Deno.test("parseDuration: units, fractions, and a bare number is seconds", () => {
  const cases: [string, number][] = [
    ["0", 0],
    ["5", 5000],
    ["1.5", 1500],
    ["0.2", 200],
    [".5", 500],
    ["250ms", 250],
    ["2s", 2000],
    ["1.5s", 1500],
    ["1m", 60_000],
    ["1.5m", 90_000],
    ["1h", 3_600_000],
    ["0.4ms", 0],
    ["1.0005", 1001],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
  for (
    const bad of [
      "",
      "abc",
      "-1",
      "1e3",
      "5.",
      "1 s",
      "s",
      "1sec",
      "1S",
      "Infinity",
      "2d",
      "1m30s",
    ]
  ) {
    assert.equal(parseDuration(bad), undefined, bad);
  }
});

Deno.test("parseSize: bytes, k/M/G/T in powers of 1024, with or without iB/B", () => {
  const cases: [string, number][] = [
    ["0", 0],
    ["65536", 65536],
    ["64k", 64 * 1024],
    ["64K", 64 * 1024],
    ["64KiB", 64 * 1024],
    ["64kb", 64 * 1024],
    ["1MiB", 1024 ** 2],
    ["10M", 10 * 1024 ** 2],
    ["1.5M", 1.5 * 1024 ** 2],
    ["2G", 2 * 1024 ** 3],
    ["1T", 1024 ** 4],
    ["12B", 12],
  ];
  for (const [text, bytes] of cases) assert.equal(parseSize(text), bytes, text);
  for (const bad of ["", "1.5", "-1", "M", "1 K", "10X", "1e3", "0.1k"]) {
    assert.equal(parseSize(bad), undefined, bad);
  }
});

Deno.test("formatDuration and formatSize write what the flags accept back", () => {
  for (const ms of [0, 1, 250, 1000, 1500, 5000, 60_000, 90_000, 3_600_000]) {
    assert.equal(parseDuration(formatDuration(ms)), ms, String(ms));
  }
  assert.equal(formatDuration(250), "250ms");
  assert.equal(formatDuration(5000), "5s");
  assert.equal(formatDuration(60_000), "1m");
  assert.equal(formatDuration(3_600_000), "1h");
  for (const bytes of [0, 1000, 1024, 65536, 256 * 1024, 16 * 1024 ** 2]) {
    assert.equal(parseSize(formatSize(bytes)), bytes, String(bytes));
  }
  assert.equal(formatSize(65536), "64k");
  assert.equal(formatSize(16 * 1024 ** 2), "16M");
});

Deno.test("unitReader.duration: milliseconds out; errors name the flag, the unit and an example", () => {
  const read = unitReader("echo ping");
  assert.equal(read.duration("interval", undefined), undefined);
  assert.equal(read.duration("interval", "0.2"), 200);
  assert.equal(read.duration("interval", "250ms"), 250);
  assert.throws(
    () => read.duration("timeout", "abc"),
    usage(
      "echo ping",
      /^--timeout takes a duration like 5 \(seconds\), 1\.5s or 500ms, not 'abc'$/,
    ),
  );
  assert.equal(read.duration("watch", "100ms", { minMs: 100 }), 100);
  assert.throws(
    () => read.duration("watch", "0.05", { minMs: 100 }),
    usage(
      "echo ping",
      /^--watch takes a duration of at least 100ms, not '0\.05'$/,
    ),
  );
  assert.throws(
    () => read.duration("timeout", "0.1ms", { minMs: 1 }),
    usage("echo ping", /at least 1ms \(it is rounded to whole milliseconds\)/),
  );
  assert.equal(read.duration("d", "10m", { maxMs: 600_000 }), 600_000);
  assert.throws(
    () => read.duration("d", "11m", { maxMs: 600_000 }),
    usage("echo ping", /^--d takes a duration of at most 10m, not '11m'$/),
  );
  // Past 2^31-1 ms a timer fires at once: refused, not "now".
  assert.equal(read.duration("grace", "596h"), 596 * 3_600_000);
  assert.ok(596 * 3_600_000 <= MAX_DURATION_MS);
  assert.throws(
    () => read.duration("grace", "597h"),
    usage("echo ping", /at most/),
  );
});

Deno.test("unitReader.size and .count: bounds inclusive, errors say the unit", () => {
  const read = unitReader("relay");
  assert.equal(
    read.size("buffer", "1k", { min: 1024, max: 64 * 1024 ** 2 }),
    1024,
  );
  assert.equal(
    read.size("buffer", "64M", { min: 1024, max: 64 * 1024 ** 2 }),
    64 * 1024 ** 2,
  );
  assert.throws(
    () => read.size("buffer", "1023", { min: 1024, max: 64 * 1024 ** 2 }),
    usage("relay", /^--buffer takes a size from 1k to 64M, not '1023'$/),
  );
  assert.throws(
    () => read.size("buffer", "big"),
    usage(
      "relay",
      /^--buffer takes a size like 65536 \(bytes\), 64k or 1MiB, not 'big'$/,
    ),
  );
  assert.equal(read.count("n", "1", { min: 1, max: 5 }), 1);
  assert.equal(read.count("n", "5", { min: 1, max: 5 }), 5);
  assert.equal(read.count("n", "0"), 0);
  for (const bad of ["0", "6", "-1", "1.5", "1e3", "", " 2", "two"]) {
    assert.throws(
      () => read.count("n", bad, { min: 1, max: 5 }),
      usage("relay", /^--n takes a whole number from 1 to 5, not '/),
      bad,
    );
  }
  assert.throws(
    () => read.count("max-conns", "0", { min: 1 }),
    usage("relay", /^--max-conns takes a whole number of at least 1, not '0'$/),
  );
});

Deno.test("unitReader.rate: a number per second above 0", () => {
  const read = unitReader("load tcp");
  assert.equal(read.rate("rate", "100"), 100);
  assert.equal(read.rate("rate", "0.5"), 0.5);
  for (const bad of ["0", "-1", "abc", "1e3", ""]) {
    assert.throws(
      () => read.rate("rate", bad),
      usage("load tcp", /^--rate takes a number per second above 0/),
      bad,
    );
  }
});
