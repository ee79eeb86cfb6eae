import assert from "node:assert/strict";
import {
  parseLimits,
  parseNetstat,
  readTcpLimits,
  synRecvTimes,
  type TcpReading,
} from "../../../tcp/proc/limits.ts";
import { ProcError } from "../../../errors.ts";
import { WAIT_MS, withTimeout } from "../../_helpers.ts";

const FIXTURES = new URL("../../fixtures/proc/", import.meta.url);
const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(name, FIXTURES));

Deno.test("parseLimits: soft and hard limits, 'unlimited', rows without units", () => {
  const limits = parseLimits(fixture("limits"));
  assert.deepEqual(limits["Max open files"], {
    soft: 1024,
    hard: 524288,
    units: "files",
  });
  assert.deepEqual(limits["Max cpu time"], {
    soft: "unlimited",
    hard: "unlimited",
    units: "seconds",
  });
  assert.deepEqual(limits["Max stack size"], {
    soft: 8388608,
    hard: "unlimited",
    units: "bytes",
  });
  assert.deepEqual(limits["Max nice priority"], {
    soft: 0,
    hard: 0,
    units: "",
  });
  assert.equal(Object.keys(limits).length, 16);
});

Deno.test("parseLimits: a malformed row names its line", () => {
  assert.throws(
    () =>
      parseLimits(fixture("limits_malformed"), { source: "limits_malformed" }),
    (e: unknown) =>
      e instanceof ProcError && e.code === "proc_parse" &&
      e.message.startsWith("limits_malformed: line 3:") &&
      e.message.includes("lots"),
  );
});

Deno.test("parseNetstat: paired lines of /proc/net/netstat and /proc/net/snmp", () => {
  const netstat = parseNetstat(fixture("netstat"));
  assert.equal(netstat.TcpExt!.ListenOverflows, 13);
  assert.equal(netstat.TcpExt!.TCPReqQFullDrop, 4);
  assert.equal(netstat.IpExt!.InOctets, 165591531);
  assert.deepEqual(netstat.MPTcpExt, { MPCapableSYNRX: 0, MPCapableSYNTX: 0 });
  const snmp = parseNetstat(fixture("snmp"), { source: "/proc/net/snmp" });
  assert.equal(snmp.Tcp!.MaxConn, -1);
  assert.equal(snmp.Tcp!.CurrEstab, 2);
  assert.equal(snmp.Tcp!.OutRsts, 24);
  assert.deepEqual(Object.keys(snmp), ["Ip", "Icmp", "Tcp", "Udp"]);
  // Older kernels have fewer counters: absent, not zero.
  const old = parseNetstat(fixture("netstat_old_kernel"));
  assert.equal(old.TcpExt!.ListenOverflows, 1);
  assert.equal(old.TcpExt!.TCPReqQFullDrop, undefined);
});

Deno.test("parseNetstat: a values line that does not match its names is rejected", () => {
  assert.throws(
    () => parseNetstat(fixture("netstat_malformed")),
    (e: unknown) =>
      e instanceof ProcError && e.code === "proc_parse" &&
      e.message ===
        "/proc/net/netstat: line 4: 2 values for 3 names in 'IpExt'",
  );
  assert.throws(
    () => parseNetstat("TcpExt: A B\n"),
    /line 1: 'TcpExt' names without a line of values/,
  );
  assert.throws(
    () => parseNetstat("TcpExt: A B\nTcpExt: 1 x\n"),
    /line 2: 'TcpExt B' is not a number/,
  );
  assert.throws(
    () => parseNetstat("TcpExt: A\nIpExt: 1\n"),
    /line 2: expected the values of 'TcpExt'/,
  );
});

Deno.test("synRecvTimes: 1 s initial timeout doubling, capped at 120 s", () => {
  assert.deepEqual(synRecvTimes(5), {
    lastRetransmitSeconds: 31,
    lifetimeSeconds: 63,
  });
  assert.deepEqual(synRecvTimes(0), {
    lastRetransmitSeconds: 0,
    lifetimeSeconds: 1,
  });
  assert.deepEqual(synRecvTimes(2), {
    lastRetransmitSeconds: 3,
    lifetimeSeconds: 7,
  });
  assert.deepEqual(synRecvTimes(6), {
    lastRetransmitSeconds: 63,
    lifetimeSeconds: 127,
  });
  // The 8th wait would be 128 s; the kernel caps the timeout at TCP_RTO_MAX.
  assert.deepEqual(synRecvTimes(7), {
    lastRetransmitSeconds: 127,
    lifetimeSeconds: 247,
  });
});

function value<T>(r: TcpReading<T>): T {
  assert.ok(r.available, `${r.name}: ${r.available ? "" : r.reason}`);
  return r.value;
}

async function sh(script: string): Promise<string> {
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", script],
    stdout: "piped",
  }).output();
  assert.ok(out.success);
  return new TextDecoder().decode(out.stdout).trim();
}

/** Reads one counter straight from the file, without netkit's parser. */
async function counter(
  path: string,
  group: string,
  name: string,
): Promise<number> {
  const lines = (await Deno.readTextFile(path)).split("\n").filter((l) =>
    l.startsWith(`${group}: `)
  );
  const names = lines[0]!.split(/\s+/);
  return Number(lines[1]!.split(/\s+/)[names.indexOf(name)]);
}

Deno.test("readTcpLimits: values equal what /proc holds", async () => {
  const before = {
    overflows: await counter("/proc/net/netstat", "TcpExt", "ListenOverflows"),
    tw: await counter("/proc/net/netstat", "TcpExt", "TW"),
    active: await counter("/proc/net/snmp", "Tcp", "ActiveOpens"),
  };
  const limits = await readTcpLimits();
  const after = {
    overflows: await counter("/proc/net/netstat", "TcpExt", "ListenOverflows"),
    tw: await counter("/proc/net/netstat", "TcpExt", "TW"),
    active: await counter("/proc/net/snmp", "Tcp", "ActiveOpens"),
  };
  assert.equal(limits.pid, Deno.pid);
  // A child shell inherits this process's limits.
  const [soft, hard] = (await sh("ulimit -Sn; ulimit -Hn")).split("\n");
  const asLimit = (t: string) => (t === "unlimited" ? t : Number(t));
  assert.equal(value(limits.process.openFilesSoft), asLimit(soft!));
  assert.equal(value(limits.process.openFilesHard), asLimit(hard!));

  const sysctl = async (name: string) =>
    Number(await Deno.readTextFile(`/proc/sys/${name.replaceAll(".", "/")}`));
  assert.equal(
    value(limits.sysctl.somaxconn),
    await sysctl("net.core.somaxconn"),
  );
  assert.equal(
    value(limits.sysctl.tcpMaxSynBacklog),
    await sysctl("net.ipv4.tcp_max_syn_backlog"),
  );
  const retries = await sysctl("net.ipv4.tcp_synack_retries");
  assert.equal(value(limits.sysctl.tcpSynackRetries), retries);
  if (retries <= 6) {
    assert.equal(value(limits.sysctl.synRecvLastRetransmit), 2 ** retries - 1);
    assert.equal(value(limits.sysctl.synRecvLifetime), 2 ** (retries + 1) - 1);
  }
  assert.equal(
    value(limits.sysctl.tcpSyncookies),
    await sysctl("net.ipv4.tcp_syncookies"),
  );
  const abort = await sysctl("net.ipv4.tcp_abort_on_overflow");
  assert.equal(value(limits.sysctl.tcpAbortOnOverflow), abort);
  assert.match(
    limits.sysctl.tcpAbortOnOverflow.hint,
    abort === 0 ? /^0: .*drops the client's final ACK/ : /^1: .*RST/,
  );
  assert.equal(
    value(limits.sysctl.tcpFinTimeout),
    await sysctl("net.ipv4.tcp_fin_timeout"),
  );
  assert.equal(limits.sysctl.tcpFinTimeout.unit, "s");

  // Counters only grow (other tests run at the same time): bracket them.
  const between = (r: TcpReading<number>, lo: number, hi: number) => {
    const v = value(r);
    assert.ok(lo <= v && v <= hi, `${r.name}: ${lo} <= ${v} <= ${hi}`);
  };
  between(limits.tcpExt.ListenOverflows, before.overflows, after.overflows);
  between(limits.tcpExt.TW, before.tw, after.tw);
  between(limits.tcp.ActiveOpens, before.active, after.active);
  for (
    const r of [...Object.values(limits.tcpExt), ...Object.values(limits.tcp)]
  ) {
    assert.ok(r.meaning.length > 0 && r.hint.length > 0, r.name);
  }
});

Deno.test("readTcpLimits: descriptors in use match /proc/self/fd", async () => {
  const limits = await readTcpLimits();
  // Listing the directory holds one descriptor while it runs.
  const listed = [...Deno.readDirSync("/proc/self/fd")].length - 1;
  assert.equal(value(limits.process.descriptorsInUse), listed);
  using _file = await Deno.open(new URL("limits", FIXTURES));
  const more = await readTcpLimits();
  assert.equal(value(more.process.descriptorsInUse), listed + 1);
});

Deno.test("readTcpLimits: another process's limits; unreadable values say why", async () => {
  // A shell that says "ready" once its limit is set, then blocks reading
  // stdin: from then on its descriptors stay put. (Waiting only for
  // `exec sleep` to show in comm raced the new program's start-up, which
  // opens and closes files of its own: about once in twenty runs the two
  // counts below differed by one.)
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", "ulimit -Sn 123; echo ready; read line"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const stdout = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  try {
    const first = await withTimeout(stdout.read(), WAIT_MS, "'ready'");
    assert.equal(first.value, "ready\n");
    const limits = await readTcpLimits({ pid: child.pid });
    assert.equal(limits.pid, child.pid);
    assert.equal(value(limits.process.openFilesSoft), 123);
    const fds = [...Deno.readDirSync(`/proc/${child.pid}/fd`)].length;
    assert.equal(value(limits.process.descriptorsInUse), fds);
  } finally {
    await child.stdin.close().catch(() => {});
    await stdout.cancel().catch(() => {});
    await child.status;
  }
  // Above pid_max's ceiling (2^22): no such process can exist.
  const gone = await readTcpLimits({ pid: 2 ** 22 + 1 });
  for (const r of Object.values(gone.process)) {
    assert.equal(r.available, false);
    assert.match(
      r.available ? "" : r.reason,
      new RegExp(`/proc/${2 ** 22 + 1}/.*not found`),
    );
  }
  assert.equal(gone.sysctl.somaxconn.available, true);
});
