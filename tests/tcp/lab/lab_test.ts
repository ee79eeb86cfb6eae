// Each lab scenario asserts what the kernel showed, never how long it took.

import assert from "node:assert/strict";
import {
  type LabPacket,
  type LabReport,
  type LabStep,
  runLab,
} from "../../../tcp/lab/mod.ts";
import { assertPrivateNamespace } from "../../../tcp/lab/_child.ts";
import { labDiagram } from "../../../tcp/lab/mod.ts";
import { sequenceSvg, sequenceText } from "../../../view/mod.ts";
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

/** Every captured packet of the run, in order. */
function packetsOf(report: LabReport): LabPacket[] {
  return report.steps.flatMap((s) => s.packets ?? []);
}

function noted(p: LabPacket, kind: string): boolean {
  return p.notes.some((n) => n.kind === kind);
}

/** Steps in time order, none past the run's own length: the times are the run's. */
function assertTimesWithin(report: LabReport, runMs: number): void {
  let last = 0;
  for (const step of report.steps) {
    assert.ok(step.t >= last, `step times go back: ${step.t} after ${last}`);
    assert.ok(step.t <= runMs, `step at ${step.t} ms of a ${runMs} ms run`);
    last = step.t;
  }
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
    "lab accept-overflow in its own namespace: ignored SYNs on the wire; with tcp_abort_on_overflow=1 an RST from the server",
  ignore: NO_NAMESPACE,
  async fn() {
    const r = await runLab("accept-overflow", { backlog: 2 });
    assert.deepEqual(r.skipped, []);
    assert.equal(r.namespace, "own");
    // The plain part, now counted in a namespace where nothing else runs.
    assert.equal(r.outcomes["connected, queued, never served"], 3);
    assert.equal(r.outcomes["connect() still retrying (SYN dropped)"], 3);
    assert.equal(r.facts.synsIgnoredOnTheWire, 3);
    // Each of clients 4-6 retransmitted its SYN (a slow machine may show a
    // client's second retransmission too) and no SYN-ACK came between.
    const ignored = packetsOf(r).filter((p) =>
      p.tcp!.flagText === "S" && noted(p, "retransmission")
    );
    assert.deepEqual(
      [...new Set(ignored.map((p) => p.role))].sort(),
      ["client 4", "client 5", "client 6"],
    );
    for (const p of ignored) {
      assert.match(p.notes[0]!.text, /no SYN-ACK came back/);
    }
    const ns = "[tcp_abort_on_overflow=1] ";
    assert.equal(
      r.outcomes[`${ns}connection reset by peer`],
      3,
      JSON.stringify(r.outcomes),
    );
    assert.equal(r.facts[`${ns}acceptQueue`], 3);
    assert.ok((r.kernel[`${ns}TcpExtListenOverflows`] ?? 0) > 0);
    assert.ok((r.kernel[`${ns}TcpOutRsts`] ?? 0) >= 3);
    const half = stepWith(
      r,
      (s) => statesOf(s).filter((x) => x === "SYN_RECV").length === 3,
      "3 half-open requests",
    );
    assert.ok(half.event.startsWith(ns));
    const reset = stepWith(
      r,
      (s) => s.event.startsWith(`${ns}the held final ACKs`),
      "the reset step",
    );
    const rsts = reset.packets!.filter((p) => noted(p, "reset"));
    assert.equal(rsts.length, 3);
    for (const p of rsts) {
      assert.equal(p.from, "server");
      assert.match(
        p.notes.find((n) => n.kind === "reset")!.text,
        /^RST from the server/,
      );
      assert.match(p.role ?? "", /^client [1-3]$/);
    }
  },
});

Deno.test({
  name:
    "lab syn-retries: SYN and SYN-ACK retransmitted tcp_syn(ack)_retries times at doubling intervals on the wire; a timeout and a reset; step times inside the run",
  ignore: NO_NAMESPACE,
  async fn() {
    const began = performance.now();
    const r = await runLab("syn-retries");
    const runMs = performance.now() - began;
    assert.deepEqual(r.skipped, []);
    assert.equal(
      r.outcomes["client A: connection timed out"],
      1,
      JSON.stringify(r.outcomes),
    );
    assert.equal(r.outcomes["client B: connection reset by peer"], 1);
    assert.equal(r.facts.synRetransmits, 2);
    assert.equal(r.facts.synAckRetransmits, 2);
    assert.equal(r.facts.computedHalfOpenLifetimeS, 7);
    assert.equal(r.facts.tcp_syn_retries, 2);
    assert.equal(r.facts.intervalsMeasured, "on the wire");
    // The timeout doubles: each interval longer than the one before
    // (the order is asserted, not the times).
    for (
      const fact of ["synRetransmitIntervalsMs", "synAckRetransmitIntervalsMs"]
    ) {
      const intervals = String(r.facts[fact]).split(",").map(Number);
      assert.equal(intervals.length, 2, `${fact}: ${r.facts[fact]}`);
      assert.ok(intervals[1]! > intervals[0]!, `${fact}: ${r.facts[fact]}`);
    }
    assert.ok(
      r.steps.some((s) =>
        /SYN \(2\), [\d.]+ s after the previous copy on the wire \(tcp_syn_retries = 2/
          .test(s.event)
      ),
    );
    stepWith(
      r,
      (s) =>
        statesOf(s).includes("SYN_RECV") && statesOf(s).includes("SYN_SENT"),
      "SYN_SENT and SYN_RECV",
    );
    // #21: steps that ran in the namespace carried the child's whole run
    // added to their times.
    assertTimesWithin(r, runMs);
  },
});

Deno.test("lab syn-retries without a namespace says what was skipped and why, packets included", async () => {
  const r = await runLab("syn-retries", { noNamespace: true });
  assert.equal(r.steps.length, 0);
  assert.equal(r.namespace, "host");
  assert.match(r.skipped[0]!, /private network namespace/);
  assert.ok(r.skipped.includes("packets: not captured: --no-namespace"));
  assert.equal(r.capture, undefined);
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
    "lab close and handshake in their own namespace: FIN/ACK per side with states; FIN_WAIT1, LAST_ACK and SYN_RECV held by nftables",
  ignore: NO_NAMESPACE,
  async fn() {
    const close = await runLab("close");
    assert.deepEqual(close.skipped, []);
    // The four-way close on the wire, each side's FIN and its ACK.
    const shut = stepWith(
      close,
      (s) => s.event.startsWith("client shutdown"),
      "the half-close step",
    );
    assert.deepEqual(
      shut.packets!.map((p) => [p.from, p.tcp!.flagText, p.states]),
      [
        ["client", "F.", { client: "FIN_WAIT1", server: "CLOSE_WAIT" }],
        ["server", ".", { client: "FIN_WAIT2", server: "CLOSE_WAIT" }],
      ],
    );
    const last = stepWith(
      close,
      (s) => s.event.startsWith("server close()"),
      "the server's close",
    );
    assert.deepEqual(
      last.packets!.map((p) => [p.from, p.tcp!.flagText, p.states]),
      [
        ["server", "F.", { client: "TIME_WAIT", server: "LAST_ACK" }],
        ["client", ".", { client: "TIME_WAIT", server: "CLOSED" }],
      ],
    );
    assert.ok(noted(last.packets![0]!, "time-wait"));
    const ns = "[ACKs held] ";
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
    // The FIN whose ACK was dropped went out again.
    assert.ok(
      packetsOf(close).some((p) =>
        p.from === "client" && p.tcp!.flags & 0x01 && noted(p, "retransmission")
      ),
    );
    // Its diagram: a note per step, an arrow per packet.
    const diagram = labDiagram(close);
    assert.equal(
      diagram.items.filter((i) => i.kind === "arrow").length,
      packetsOf(close).length,
    );
    assert.ok(
      diagram.items.filter((i) => i.kind === "note").length >=
        close.steps.length,
    );
    assert.ok(
      sequenceText(diagram, { width: 72 }).every((l) => l.length <= 72),
    );
    assert.equal(
      sequenceSvg(diagram).match(/<g class="arrow /g)?.length,
      packetsOf(close).length,
    );
    const hs = await runLab("handshake");
    assert.deepEqual(hs.skipped, []);
    const queued = stepWith(
      hs,
      (s) => s.event.startsWith("client connect() returned"),
      "the handshake step",
    );
    assert.deepEqual(
      queued.packets!.map((p) =>
        `${p.from} ${p.tcp!.flagText} ${p.notes[0]?.text}`
      ),
      [
        "client S handshake 1/3 (SYN)",
        "server S. handshake 2/3 (SYN-ACK)",
        "client . handshake 3/3 (ACK)",
      ],
    );
    const held = "[packets held] ";
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
  // The lab's pid: this process's, or that of the netkit it ran in its namespace.
  assert.equal(typeof r.facts.pid, "number");
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

Deno.test("lab window: Send-Q and Recv-Q fill while the receiver does not read, then drain; as root the zero window and the probes on the wire", async () => {
  const r = await runLab("window");
  assert.ok(Number(r.facts.fullRecvQ) > 0);
  assert.ok(Number(r.facts.fullSendQ) > 0);
  assert.equal(r.facts.writerBlocked, true);
  assert.equal(r.facts.zeroWindowProbeTimer, true);
  assert.equal(r.facts.drained, true);
  assert.equal(r.outcomes["every byte delivered"], 1);
  const drained = stepWith(
    r,
    (s) => s.event.startsWith("the receiver reads again"),
    "the drained step",
  );
  assert.deepEqual(drained.queues["sender (client)"], { recvQ: 0, sendQ: 0 });
  if (NO_NAMESPACE) return;
  const zero = packetsOf(r).filter((p) => noted(p, "zero-window"));
  assert.ok(zero.length > 0);
  assert.ok(zero.every((p) => p.from === "server" && p.windowBytes === 0));
  const probes = packetsOf(r).filter((p) => noted(p, "window-probe"));
  assert.ok(probes.length >= 2);
  assert.ok(probes.every((p) => p.from === "client"));
  assert.ok(Number(r.facts.zeroWindowAdvertisements) > 0);
});

Deno.test("lab udp-vs-tcp on loopback: every message arrives on both", async () => {
  const r = await runLab("udp-vs-tcp", { noNamespace: true });
  assert.equal(r.outcomes["UDP lost"], 0);
  assert.equal(r.outcomes["TCP lost"], 0);
  assert.equal(r.facts.tcpInOrder, true);
  assert.ok(r.skipped.some((s) => s.startsWith("reordering")));
});

Deno.test({
  name:
    "lab udp-vs-tcp with loss in its own namespace: lost datagrams seen on the wire, TCP segments retransmitted, losses only on UDP",
  ignore: NO_NAMESPACE,
  async fn() {
    const r = await runLab("udp-vs-tcp");
    assert.deepEqual(r.skipped.filter((s) => !s.startsWith("reordering")), []);
    const ns = "[10% loss] ";
    const lost = r.outcomes[`${ns}UDP lost`]!;
    assert.ok(lost > 0, JSON.stringify(r.outcomes));
    assert.equal(r.outcomes[`${ns}TCP lost`], 0);
    assert.equal(r.facts[`${ns}tcpInOrder`], true);
    assert.ok(Number(r.facts[`${ns}tcpRetransSegs`]) > 0);
    // Every lost datagram was on the wire: the capture sees it before
    // nftables drops it.
    const marked = packetsOf(r).filter((p) => p.udp && noted(p, "lost"));
    assert.equal(marked.length, lost);
    assert.equal(r.facts[`${ns}udpLostOnTheWire`], lost);
    const resent = packetsOf(r).filter((p) =>
      p.tcp && p.tcp.payloadLength > 0 && noted(p, "retransmission")
    );
    assert.ok(resent.length > 0);
    assert.ok(resent.every((p) => p.role === "tcp client"));
    // On plain loopback first: nothing lost, nothing marked.
    assert.equal(r.outcomes["UDP lost"], 0);
  },
});

Deno.test("lab namespace guard: refuses without the parent's namespace, and with the parent's own namespace", async () => {
  const own = await Deno.readLink("/proc/self/ns/net");
  for (const parent of [undefined, own]) {
    await assert.rejects(
      assertPrivateNamespace(parent),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "lab_failed");
        assert.match(e.message, /^refusing to change sysctls/);
        return true;
      },
    );
  }
  // A parent in another namespace: this process would be the lab's child.
  await assertPrivateNamespace("net:[1]");
});

Deno.test("runLab: an unknown scenario is lab_unknown", async () => {
  await assert.rejects(runLab("nope"), (e: Error & { code?: string }) => {
    assert.equal(e.code, "lab_unknown");
    return true;
  });
});
