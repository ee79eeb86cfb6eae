// Each lab scenario asserts what the kernel showed, never how long it took.

import assert from "node:assert/strict";
import { type LabReport, type LabStep, runLab } from "../../../tcp/lab/mod.ts";
import { IN_CI } from "../../_helpers.ts";

/** Root with unshare, ip and nft: the namespace variants can run. */
function canUseNamespace(): boolean {
  if (Deno.uid() !== 0) return false;
  return ["unshare", "ip", "nft"].every((tool) => {
    try {
      new Deno.Command(tool, {
        args: [tool === "ip" ? "-V" : "--version"],
        stdout: "null",
        stderr: "null",
      }).outputSync();
      return true;
    } catch {
      return false;
    }
  });
}
// In CI (root there) a missing namespace is a failure, never a skip.
const NO_NAMESPACE = !canUseNamespace() && !IN_CI;
const hasPrlimit = (() => {
  try {
    return new Deno.Command("prlimit", { args: ["--version"], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

function stepWith(
  report: LabReport,
  match: (s: LabStep) => boolean,
  what: string,
): LabStep {
  const step = report.steps.find(match);
  assert.ok(step, `no step shows ${what}: ${JSON.stringify(report.steps)}`);
  return step;
}

function statesOf(step: LabStep): string[] {
  return Object.values(step.states);
}

function listenerOf(step: LabStep): { recvQ: number; sendQ: number } {
  const key = Object.keys(step.states).find((k) => step.states[k] === "LISTEN");
  assert.ok(key, `no listener in ${JSON.stringify(step)}`);
  return step.queues[key]!;
}

Deno.test("lab handshake: the kernel queues the connection before accept(); a full queue leaves SYN_SENT", async () => {
  const r = await runLab("handshake", { noNamespace: true });
  assert.equal(r.scenario, "handshake");
  const before = stepWith(
    r,
    (s) =>
      s.states.client === "ESTABLISHED" &&
      s.states["server for client"] === "ESTABLISHED" &&
      listenerOf(s).recvQ === 1,
    "an ESTABLISHED pair still in the accept queue",
  );
  assert.ok(before.event.includes("accept"));
  const after = r.steps[r.steps.indexOf(before) + 1]!;
  assert.equal(listenerOf(after).recvQ, 0);
  stepWith(
    r,
    (s) => s.states["client 2"] === "SYN_SENT",
    "client 2 in SYN_SENT",
  );
  assert.equal(r.outcomes["SYN_SENT (SYN dropped, queue full)"], 1);
  assert.ok(r.explanation.why.length > 0 && r.explanation.change.length > 0);
});

Deno.test("lab accept-overflow: backlog+1 queued, ListenOverflows moved, the rest in SYN_SENT", async () => {
  const backlog = 3;
  const r = await runLab("accept-overflow", {
    backlog,
    clients: 7,
    noNamespace: true,
  });
  assert.equal(r.facts.acceptQueue, backlog + 1);
  const full = stepWith(
    r,
    (s) => listenerOf(s).recvQ === backlog + 1,
    "backlog+1 in the accept queue",
  );
  // sock_diag's backlog, as ss -ltn's Send-Q shows it.
  assert.equal(listenerOf(full).sendQ, backlog);
  assert.ok(
    (r.kernel.TcpExtListenOverflows ?? 0) > 0,
    JSON.stringify(r.kernel),
  );
  assert.equal(r.outcomes["connected, queued, never served"], backlog + 1);
  // A client whose final ACK met the full queue is connected but not queued.
  assert.equal(
    (r.outcomes["connect() still retrying (SYN dropped)"] ?? 0) +
      (r.outcomes["connected, but the server dropped its final ACK"] ?? 0),
    7 - backlog - 1,
  );
  assert.ok(r.skipped.some((s) => s.includes("--no-namespace")));
});

Deno.test({
  name:
    "lab accept-overflow in a private namespace: tcp_abort_on_overflow=1 resets the overflow",
  ignore: NO_NAMESPACE,
  async fn() {
    const r = await runLab("accept-overflow", { backlog: 2 });
    assert.deepEqual(r.skipped, []);
    const ns = "[namespace, tcp_abort_on_overflow=1] ";
    assert.equal(
      r.outcomes[`${ns}connection reset by peer`],
      3,
      JSON.stringify(r.outcomes),
    );
    assert.equal(r.facts[`${ns}acceptQueue`], 3);
    assert.ok((r.kernel[`${ns}TcpExtListenOverflows`] ?? 0) > 0);
    assert.ok((r.kernel[`${ns}TcpOutRsts`] ?? 0) >= 3);
    stepWith(
      r,
      (s) => statesOf(s).filter((x) => x === "SYN_RECV").length === 3,
      "3 half-open requests",
    );
  },
});

Deno.test({
  name:
    "lab syn-retries: SYN and SYN-ACK retransmitted tcp_syn(ack)_retries times; a timeout and a reset",
  ignore: NO_NAMESPACE,
  async fn() {
    const r = await runLab("syn-retries");
    assert.deepEqual(r.skipped, []);
    assert.equal(
      r.outcomes["[namespace] client A: connection timed out"],
      1,
      JSON.stringify(r.outcomes),
    );
    assert.equal(
      r.outcomes["[namespace] client B: connection reset by peer"],
      1,
    );
    assert.equal(r.facts["[namespace] synRetransmits"], 2);
    assert.equal(r.facts["[namespace] synAckRetransmits"], 2);
    assert.equal(r.facts["[namespace] computedHalfOpenLifetimeS"], 7);
    stepWith(
      r,
      (s) =>
        statesOf(s).includes("SYN_RECV") && statesOf(s).includes("SYN_SENT"),
      "SYN_SENT and SYN_RECV",
    );
  },
});

Deno.test("lab syn-retries without a namespace says what was skipped and why", async () => {
  const r = await runLab("syn-retries", { noNamespace: true });
  assert.equal(r.steps.length, 0);
  assert.match(r.skipped[0]!, /private network namespace/);
});

Deno.test("lab close: FIN_WAIT2 and CLOSE_WAIT, then TIME_WAIT on the active closer only", async () => {
  const r = await runLab("close", { noNamespace: true });
  const half = stepWith(
    r,
    (s) =>
      s.states.client === "FIN_WAIT2" &&
      s.states["server for client"] === "CLOSE_WAIT",
    "FIN_WAIT2 / CLOSE_WAIT",
  );
  const end = stepWith(
    r,
    (s) => s.states.client === "TIME_WAIT",
    "TIME_WAIT on the client",
  );
  assert.ok(r.steps.indexOf(end) > r.steps.indexOf(half));
  assert.equal(end.states["server for client"], undefined);
  assert.equal(r.outcomes["half-close: client read after its FIN"], 1);
});

Deno.test({
  name:
    "lab close and handshake in a private namespace: FIN_WAIT1, LAST_ACK and SYN_RECV held by nftables",
  ignore: NO_NAMESPACE,
  async fn() {
    const close = await runLab("close");
    assert.deepEqual(close.skipped, []);
    const ns = "[namespace, ACKs held] ";
    const fw1 = stepWith(
      close,
      (s) =>
        s.event.startsWith(ns) && s.states.client === "FIN_WAIT1" &&
        s.states["server for client"] === "CLOSE_WAIT",
      "FIN_WAIT1 / CLOSE_WAIT",
    );
    const lastAck = stepWith(
      close,
      (s) =>
        s.event.startsWith(ns) && s.states.client === "TIME_WAIT" &&
        s.states["server for client"] === "LAST_ACK",
      "TIME_WAIT / LAST_ACK",
    );
    assert.ok(close.steps.indexOf(lastAck) > close.steps.indexOf(fw1));
    const hs = await runLab("handshake");
    assert.deepEqual(hs.skipped, []);
    const held = "[namespace, packets held] ";
    stepWith(
      hs,
      (s) =>
        s.event.startsWith(held) && s.states.client === "SYN_SENT" &&
        s.states["server for client"] === "SYN_RECV",
      "SYN_SENT / SYN_RECV",
    );
    stepWith(
      hs,
      (s) =>
        s.event.startsWith(held) && s.states.client === "ESTABLISHED" &&
        s.states["server for client"] === "SYN_RECV",
      "ESTABLISHED / SYN_RECV",
    );
  },
});

Deno.test("lab close-wait: CLOSE_WAIT sockets owned by the lab's pid, descriptors rising", async () => {
  const r = await runLab("close-wait", { clients: 4 });
  assert.equal(r.facts.pid, Deno.pid);
  assert.equal(r.facts.closeWaitOwnedByLab, 4);
  assert.equal(r.outcomes.CLOSE_WAIT, 4);
  // Each CLOSE_WAIT holds a descriptor until close(): the count rises by at
  // least one per connection, and falls again after close().
  const held = Number(r.facts.fdsHoldingCloseWait);
  assert.ok(held - Number(r.facts.fdsBefore) >= 4, JSON.stringify(r.facts));
  assert.ok(Number(r.facts.fdsAfterClose) <= held - 4);
});

Deno.test("lab time-wait: only the side that closes first holds TIME_WAIT", async () => {
  const r = await runLab("time-wait");
  assert.equal(r.facts.clientClosesFirst, "client:TIME_WAIT server:gone");
  assert.equal(r.facts.serverClosesFirst, "client:gone server:TIME_WAIT");
  assert.match(String(r.facts.localPortRange), /^\d+-\d+$/);
});

Deno.test({
  name:
    "lab emfile: back-offs under prlimit, queued clients served after recovery",
  ignore: !hasPrlimit && !IN_CI,
  async fn() {
    const r = await runLab("emfile", { nofile: 40, clients: 40 });
    assert.ok(Number(r.facts.queuedAtEmfile) > 0, JSON.stringify(r.facts));
    assert.ok(Number(r.facts.acceptBackoffs) > 0);
    assert.equal(r.facts.backoffLogged, true);
    assert.equal(r.outcomes["served after recovery"], 1);
    assert.equal(
      Number(r.facts.servedAtOnce) + Number(r.facts.queuedAtEmfile),
      40,
    );
  },
});

Deno.test("lab reset: a process dying with unread data resets its peer", async () => {
  const r = await runLab("reset");
  assert.equal(
    r.outcomes["connection reset by peer"],
    1,
    JSON.stringify(r.outcomes),
  );
  assert.ok((r.kernel.TcpExtTCPAbortOnClose ?? 0) >= 1);
  assert.equal(
    r.outcomes[
      "Deno close() after reading everything: read eof, then write ok"
    ],
    1,
  );
});

Deno.test("lab window: Send-Q and Recv-Q fill while the receiver does not read, then drain", async () => {
  const r = await runLab("window");
  assert.ok(Number(r.facts.fullRecvQ) > 0);
  assert.ok(Number(r.facts.fullSendQ) > 0);
  assert.equal(r.facts.writerBlocked, true);
  assert.equal(r.facts.zeroWindowProbeTimer, true);
  assert.equal(r.facts.drained, true);
  assert.equal(r.outcomes["every byte delivered"], 1);
  const last = r.steps.at(-1)!;
  assert.deepEqual(last.queues["sender (client)"], { recvQ: 0, sendQ: 0 });
});

Deno.test("lab udp-vs-tcp on loopback: every message arrives on both", async () => {
  const r = await runLab("udp-vs-tcp", { noNamespace: true });
  assert.equal(r.outcomes["UDP lost"], 0);
  assert.equal(r.outcomes["TCP lost"], 0);
  assert.equal(r.facts.tcpInOrder, true);
  assert.ok(r.skipped.some((s) => s.startsWith("reordering")));
});

Deno.test({
  name: "lab udp-vs-tcp with loss in a private namespace: losses only on UDP",
  ignore: NO_NAMESPACE,
  async fn() {
    const r = await runLab("udp-vs-tcp");
    assert.deepEqual(r.skipped.filter((s) => !s.startsWith("reordering")), []);
    const ns = "[namespace, 10% loss] ";
    assert.ok(r.outcomes[`${ns}UDP lost`]! > 0, JSON.stringify(r.outcomes));
    assert.equal(r.outcomes[`${ns}TCP lost`], 0);
    assert.equal(r.facts[`${ns}tcpInOrder`], true);
    assert.ok(Number(r.facts[`${ns}tcpRetransSegs`]) > 0);
  },
});

Deno.test("runLab: an unknown scenario is lab_unknown", async () => {
  await assert.rejects(runLab("nope"), (e: Error & { code?: string }) => {
    assert.equal(e.code, "lab_unknown");
    return true;
  });
});
