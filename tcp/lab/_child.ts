// The lab's subprocesses: netkit itself, re-run under `unshare -n` (a
// private network namespace where, as root, the whole scenario runs) or as
// a server that must die with its socket open.

import { TcpError } from "../errors.ts";
import { errorMessage } from "../../_io.ts";
import type { LabOptions, LabReport } from "./types.ts";
import type { Recorder } from "./_recorder.ts";

/** How long a lab subprocess (a server under test) may run before it is killed. */
export const CHILD_TIMEOUT_MS = 30_000;
/** How long a whole scenario in its namespace may run (syn-retries takes about 12 s, emfile up to 20 s). */
export const NAMESPACE_TIMEOUT_MS = 90_000;

/** The command that runs netkit's CLI. */
export function netkitCommand(options: LabOptions): string[] {
  if (options.netkitCommand) return options.netkitCommand;
  if (Deno.build.standalone) return [Deno.execPath()];
  return [
    Deno.execPath(),
    "run",
    "--unstable-net",
    "--allow-all",
    new URL("../../cli/main.ts", import.meta.url).href,
  ];
}

/** Why the namespace variants cannot run here, or `undefined` if they can. */
export async function namespaceUnavailable(): Promise<string | undefined> {
  if (Deno.uid() !== 0) {
    return "not root: a private network namespace (unshare -n) and its sysctls and nftables rules need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)";
  }
  for (
    const [tool, flag] of [["unshare", "--version"], ["ip", "-V"], [
      "nft",
      "--version",
    ]]
  ) {
    if (!(await runs(tool!, [flag!]))) {
      return `'${tool}' is not installed (util-linux, iproute2, nftables)`;
    }
  }
  return undefined;
}

async function runs(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/**
 * Runs the whole scenario as `netkit tcp lab <scenario> --inside-namespace
 * --json` in a new network namespace with loopback up, and returns its
 * report: its timeline, counters and packets are the namespace's alone.
 */
export async function runInNamespace(
  scenario: string,
  options: LabOptions,
): Promise<LabReport> {
  const args: string[] = [];
  if (options.backlog !== undefined) {
    args.push("--backlog", `${options.backlog}`);
  }
  if (options.clients !== undefined) {
    args.push("--clients", `${options.clients}`);
  }
  if (options.nofile !== undefined) args.push("--nofile", `${options.nofile}`);
  if (options.packets === "all") args.push("--packets");
  const command = [
    "-n",
    "--",
    "sh",
    "-c",
    'ip link set lo up && exec "$@"',
    "netkit-lab",
    ...netkitCommand(options),
    "tcp",
    "lab",
    scenario,
    "--inside-namespace",
    "--json",
    ...args,
  ];
  const netns = await Deno.readLink("/proc/self/ns/net").catch(() => "");
  const child = new Deno.Command("unshare", {
    args: command,
    env: { [PARENT_NETNS]: netns },
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, NAMESPACE_TIMEOUT_MS);
  const result = await child.output().finally(() => clearTimeout(timer));
  const stdout = new TextDecoder().decode(result.stdout);
  if (!result.success) {
    const stderr = new TextDecoder().decode(result.stderr).trim();
    throw new TcpError(
      "lab_failed",
      `'${scenario}' in its own network namespace failed (exit ${result.code}): ${
        stderr.split("\n").slice(-3).join(" ").slice(0, 400)
      }`,
    );
  }
  try {
    return JSON.parse(stdout) as LabReport;
  } catch (error) {
    throw new TcpError(
      "lab_failed",
      `'${scenario}' in its own network namespace printed no report: ${
        errorMessage(error)
      }`,
    );
  }
}

/**
 * Refuses to run the namespace side (sysctls, nftables rules) unless this
 * process is in a network namespace of its own: `--inside-namespace` typed
 * by hand on the host, or handed the parent's own namespace, must not
 * switch the host's tcp_abort_on_overflow on.
 */
export async function assertPrivateNamespace(
  parent: string | undefined = Deno.env.get(PARENT_NETNS),
): Promise<void> {
  // The parent names the namespace it left; /proc/1 may be unreadable (as in
  // containers), so it cannot serve as the reference.
  const own = await Deno.readLink("/proc/self/ns/net").catch(() => undefined);
  if (parent === undefined || own === undefined || own === parent) {
    throw new TcpError(
      "lab_failed",
      "refusing to change sysctls or nftables rules outside the private network namespace the lab creates (it runs this part under 'unshare -n' itself)",
    );
  }
}

/** The environment variable that carries the parent's network namespace to the child. */
export const PARENT_NETNS = "NETKIT_LAB_PARENT_NETNS";

/** Writes a sysctl of the current network namespace (root, inside `unshare -n`). */
export async function setSysctl(name: string, value: number): Promise<void> {
  await assertPrivateNamespace();
  await Deno.writeTextFile(
    `/proc/sys/${name.replaceAll(".", "/")}`,
    `${value}\n`,
  );
}

/** Loads an nftables ruleset (`nft -f -`). */
export async function nft(ruleset: string): Promise<void> {
  await assertPrivateNamespace();
  const child = new Deno.Command("nft", {
    args: ["-f", "-"],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(ruleset));
  await writer.close();
  const result = await child.output();
  if (!result.success) {
    throw new TcpError(
      "lab_failed",
      `nft refused the lab's rules: ${
        new TextDecoder().decode(result.stderr).trim().slice(0, 300)
      }`,
    );
  }
}

/** A netkit subprocess whose stdout and stderr are collected as they come. */
export interface NetkitChild {
  /** The process. */
  process: Deno.ChildProcess;
  /** Resolves with the port of its first `listening tcp HOST:PORT` line. */
  listening: Promise<number>;
  /** Stderr so far. */
  stderr(): string;
  /** Stdout so far. */
  stdout(): string;
  /** Resolves when it exits (killed after {@linkcode CHILD_TIMEOUT_MS}). */
  status: Promise<Deno.CommandStatus>;
}

/** Starts netkit with `args`, optionally behind a wrapper such as `prlimit …`. */
export function spawnNetkit(
  args: string[],
  options: LabOptions,
  wrapper: string[] = [],
): NetkitChild {
  const argv = [...wrapper, ...netkitCommand(options), ...args];
  let process: Deno.ChildProcess;
  try {
    process = new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
  } catch (error) {
    throw new TcpError(
      "lab_failed",
      `cannot run ${argv[0]}: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  let out = "";
  let err = "";
  const port = Promise.withResolvers<number>();
  const collect = async (
    stream: ReadableStream<Uint8Array>,
    add: (text: string) => void,
  ) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) add(dec.decode(chunk, { stream: true }));
  };
  const reading = Promise.all([
    collect(process.stdout, (t) => {
      out += t;
      const m = /listening tcp \S+:(\d+)\n/.exec(out);
      if (m) port.resolve(Number(m[1]));
    }),
    collect(process.stderr, (t) => err += t),
  ]);
  const timer = setTimeout(() => {
    try {
      process.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, CHILD_TIMEOUT_MS);
  const status = process.status.then(async (s) => {
    clearTimeout(timer);
    await reading;
    port.reject(
      new TcpError(
        "lab_failed",
        `netkit ${args.join(" ")} exited (${s.code}) before listening: ${
          err.trim().split("\n").slice(-2).join(" ").slice(0, 300)
        }`,
      ),
    );
    return s;
  });
  port.promise.catch(() => {});
  return {
    process,
    listening: port.promise,
    stderr: () => err,
    stdout: () => out,
    status,
  };
}

/** Where a scenario runs: in the lab's own namespace, or on the host and why. */
export interface Where {
  /** In the lab's own network namespace (root): variants run, packets are captured. */
  inside: boolean;
  /** On the host: why not in a namespace (not root, a tool missing, --no-namespace, …). */
  why?: string;
}

/**
 * Runs a variant of a scenario that changes sysctls or firewall rules: in
 * the lab's own namespace, as a new part of the timeline under `prefix`;
 * on the host it is skipped, saying why. A variant that fails is reported
 * as skipped with its error.
 */
export async function variant(
  rec: Recorder,
  where: Where,
  part: { prefix: string; what: string; run: () => Promise<void> },
): Promise<void> {
  if (!where.inside) {
    rec.skip(
      `${part.what}: ${where.why ?? "not in a private network namespace"}`,
    );
    return;
  }
  await rec.section(part.prefix);
  try {
    await part.run();
  } catch (error) {
    rec.skip(`${part.what}: ${errorMessage(error)}`);
  }
}
