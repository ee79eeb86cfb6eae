// deploy/: the Kubernetes manifests rendered offline by `kubectl kustomize`
// (there is no cluster here) with the fields that matter asserted, and the
// Slurm batch script checked by `bash -n` and then run for real with a
// stand-in `srun` that starts its tasks on this machine.

import assert from "node:assert/strict";
import {
  cliCommand,
  missingPeer,
  PROJECT_ROOT,
  runProgram,
} from "../_helpers.ts";

/** `kubectl kustomize DIR` as JSON documents (through python3-yaml). */
// deno-lint-ignore no-explicit-any
async function kustomize(dir: string): Promise<Record<string, any>[]> {
  const rendered = await runProgram("kubectl", ["kustomize", dir]);
  assert.equal(rendered.code, 0, rendered.stderr);
  const json = await runProgram("/usr/bin/python3", [
    "-c",
    "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(sys.stdin))))",
  ], { stdin: rendered.stdout });
  assert.equal(json.code, 0, json.stderr);
  return JSON.parse(json.stdout);
}

Deno.test({
  name:
    "deploy/kubernetes renders offline: an Indexed Job whose completions equal the --shard count, env from the generated ConfigMap",
  ignore: missingPeer("kubectl", "python3"),
}, async () => {
  const docs = await kustomize(`${PROJECT_ROOT}deploy/kubernetes`);
  const job = docs.find((d) => d.kind === "Job")!;
  const config = docs.find((d) => d.kind === "ConfigMap")!;
  assert.ok(job && config, JSON.stringify(docs.map((d) => d.kind)));
  assert.equal(job.apiVersion, "batch/v1");
  assert.equal(job.spec.completionMode, "Indexed");
  const container = job.spec.template.spec.containers[0];
  assert.deepEqual(container.command, ["netkit"]);
  const args: string[] = container.args;
  assert.deepEqual(args.slice(0, 3), ["load", "$(PROTOCOL)", "$(TARGET)"]);
  // --shard N: the index comes from JOB_COMPLETION_INDEX, N must be the
  // number of completions, all running at once.
  const shards = Number(args[args.indexOf("--shard") + 1]);
  assert.equal(job.spec.completions, shards);
  assert.equal(job.spec.parallelism, shards);
  assert.equal(job.spec.backoffLimit, 0);
  assert.equal(job.spec.template.spec.restartPolicy, "Never");
  for (const flag of ["--start-at", "--json", "--allow-remote"]) {
    assert.ok(args.includes(flag), flag);
  }
  // Every $(VAR) in the arguments comes from the ConfigMap the Job reads
  // (kustomize renames it with a hash and follows the reference).
  assert.equal(container.envFrom[0].configMapRef.name, config.metadata.name);
  for (const [, name] of args.join(" ").matchAll(/\$\((\w+)\)/g)) {
    assert.ok(name! in config.data, `${name} is not in the ConfigMap`);
  }
  assert.match(config.data.START_AT, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  // The shard arguments are what `netkit load` accepts, as a pod would
  // run them (index 1 of the Job).
  const run = await runProgram(cliCommand([]).cmd, [
    ...cliCommand([]).args,
    "load",
    "http",
    "http://127.0.0.1:9/",
    "--shard",
    String(shards),
    "--start-at",
    "2000-01-01T00:00:00Z",
    "--json",
  ], { env: { JOB_COMPLETION_INDEX: "1" } });
  // The start time of the example is long past: refused, after the
  // shard was read from the environment.
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /start time .* passed/);
});

Deno.test("deploy/slurm: the batch script parses (bash -n)", async () => {
  const r = await runProgram("bash", [
    "-n",
    `${PROJECT_ROOT}deploy/slurm/netkit-load.sbatch`,
  ]);
  assert.equal(r.code, 0, r.stderr);
});

// A stand-in for Slurm's srun: starts SLURM_NTASKS copies of the command
// with SLURM_PROCID set, each with its --output/--error (%t: the rank).
const FAKE_SRUN = `#!/usr/bin/env bash
set -euo pipefail
out=/dev/stdout; err=/dev/stderr
while [[ $# -gt 0 ]]; do
  case "$1" in
    --output=*) out="\${1#--output=}"; shift ;;
    --error=*) err="\${1#--error=}"; shift ;;
    *) break ;;
  esac
done
pids=()
for ((t = 0; t < SLURM_NTASKS; t++)); do
  SLURM_PROCID=$t "$@" >"\${out//%t/$t}" 2>"\${err//%t/$t}" &
  pids+=($!)
done
status=0
for p in "\${pids[@]}"; do wait "$p" || status=1; done
exit $status
`;

Deno.test("deploy/slurm: the batch script run with a stand-in srun: three shards start together and merge to the server's count", async () => {
  let served = 0;
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => (served++, new Response("ok")),
  );
  const dir = await Deno.makeTempDir({ prefix: "netkit-slurm-" });
  try {
    const bin = `${dir}/bin`;
    await Deno.mkdir(bin);
    await Deno.writeTextFile(`${bin}/srun`, FAKE_SRUN, { mode: 0o755 });
    const nk = cliCommand([]);
    await Deno.writeTextFile(
      `${bin}/netkit`,
      `#!/bin/sh\ncd '${PROJECT_ROOT}' && exec ${
        [nk.cmd, ...nk.args].map((w) => `'${w}'`).join(" ")
      } "$@"\n`,
      { mode: 0o755 },
    );
    const results = `${dir}/results`;
    const run = await runProgram(
      "bash",
      [`${PROJECT_ROOT}deploy/slurm/netkit-load.sbatch`],
      {
        cwd: dir,
        env: {
          PATH: `${bin}:${Deno.env.get("PATH")}`,
          HOME: Deno.env.get("HOME") ?? dir,
          SLURM_NTASKS: "3",
          SLURM_JOB_ID: "42",
          TARGET: `http://127.0.0.1:${server.addr.port}/`,
          CONNECTIONS: "5",
          REQUESTS: "900",
          START_IN: "8",
          RESULTS: results,
        },
        timeoutMs: 120_000,
      },
    );
    assert.equal(run.code, 0, run.stderr);
    const shards = await Promise.all(
      [0, 1, 2].map(async (i) =>
        JSON.parse(await Deno.readTextFile(`${results}/shard-${i}.json`))
      ),
    );
    assert.deepEqual(shards.map((s) => s.requests), [300, 300, 300]);
    assert.deepEqual(shards.map((s) => s.parameters.shard), [
      "0/3",
      "1/3",
      "2/3",
    ]);
    const merged = JSON.parse(
      await Deno.readTextFile(`${results}/merged.json`),
    );
    assert.equal(merged.requests, 900);
    assert.equal(served, 900);
    assert.equal(merged.connections, 5);
    const report = await Deno.readTextFile(`${results}/report.html`);
    assert.match(report, /^<!doctype html>/);
    assert.equal((report.match(/<article class="run"/g) ?? []).length, 3);
    // The human summary of the merge on the job's output.
    assert.match(run.stdout, /requests +900 ok of 900 sent/);
    assert.match(run.stdout, /3 runs merged/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
