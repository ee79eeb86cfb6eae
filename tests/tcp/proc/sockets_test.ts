import assert from "node:assert/strict";
import {
  compareSockets,
  countStates,
  filterSockets,
  parseProcNetTcp,
  parseTcpState,
  readTcpSockets,
  type SocketFilter,
  TCP_STATES,
  type TcpSocketRecord,
  type TcpStateName,
} from "../../../tcp/proc/sockets.ts";
import { ProcError } from "../../../errors.ts";
import { assertLinux } from "../../../_proc.ts";
import { formatAddress } from "../../../address.ts";
import {
  missingIpv6,
  missingPeer,
  ownPairs,
  ownRows,
  pairKey,
  waitFor,
} from "../../_helpers.ts";

const FIXTURES = new URL("../../fixtures/proc/", import.meta.url);
const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(name, FIXTURES));
// The fixtures were written on a little-endian machine, like /proc on x86 and arm64.
const LE = { byteOrder: "little" } as const;

function brief(r: TcpSocketRecord): string {
  return `${formatAddress(r.local)} ${formatAddress(r.remote)} ${r.state}`;
}

Deno.test("parseProcNetTcp: IPv4 rows in host byte order, every state code", () => {
  const records = parseProcNetTcp(fixture("tcp"), { family: 4, ...LE });
  assert.deepEqual(records.map(brief), [
    "127.0.0.1:8080 0.0.0.0:0 LISTEN",
    "0.0.0.0:22 0.0.0.0:0 LISTEN",
    "127.0.0.1:8080 127.0.0.1:54321 ESTABLISHED",
    "127.0.0.1:54321 127.0.0.1:8080 ESTABLISHED",
    "10.1.2.3:50000 192.168.1.20:443 SYN_SENT",
    "127.0.0.1:8080 127.0.0.1:40000 SYN_RECV",
    "127.0.0.1:40001 127.0.0.1:8080 FIN_WAIT1",
    "127.0.0.1:40002 127.0.0.1:8080 FIN_WAIT2",
    "127.0.0.1:40003 127.0.0.1:8080 TIME_WAIT",
    "127.0.0.1:40004 127.0.0.1:8080 CLOSE",
    "127.0.0.1:8080 127.0.0.1:40005 CLOSE_WAIT",
    "127.0.0.1:8080 127.0.0.1:40006 LAST_ACK",
    "127.0.0.1:40007 127.0.0.1:8080 CLOSING",
    "127.0.0.1:40008 127.0.0.1:8080 ESTABLISHED",
    "127.0.0.1:8080 127.0.0.1:40009 NEW_SYN_RECV",
  ]);
  const counts = countStates(records);
  const expected = Object.fromEntries(
    Object.values(TCP_STATES).map((s) => [s, 1]),
  );
  assert.deepEqual(counts, { ...expected, LISTEN: 2, ESTABLISHED: 3 });

  const [
    listen,
    ,
    estab,
    client,
    synSent,
    synRecv,
    finWait1,
    finWait2,
    timeWait,
    ,
    closeWait,
    lastAck,
  ] = records;
  assert.equal(listen!.acceptQueue, 3);
  assert.equal(listen!.rxQueue, 3);
  assert.equal(listen!.uid, 1000);
  assert.equal(listen!.inode, 41001);
  assert.equal(listen!.proto, "tcp");
  assert.equal(records[1]!.acceptQueue, 0);
  assert.equal(estab!.acceptQueue, undefined);
  assert.deepEqual(estab!.timer, {
    kind: "keepalive",
    ticks: 691210,
    remainingMs: 6_912_100,
  });
  assert.deepEqual([client!.txQueue, client!.rxQueue], [16, 32]);
  assert.deepEqual(client!.timer, { kind: "none", ticks: 0, remainingMs: 0 });
  assert.deepEqual(synSent!.timer, {
    kind: "retransmit",
    ticks: 100,
    remainingMs: 1_000,
  });
  assert.equal(synSent!.retransmits, 2);
  assert.equal(synSent!.txQueue, 1);
  // Half-open rows are short and carry no inode.
  assert.equal(synRecv!.inode, 0);
  assert.equal(synRecv!.retransmits, 1);
  assert.equal(finWait1!.timer.remainingMs, 500);
  // TIME_WAIT-style rows (also orphaned FIN_WAIT2) use timer 3, uid 0, inode 0.
  assert.deepEqual(finWait2!.timer, {
    kind: "time_wait",
    ticks: 6000,
    remainingMs: 60_000,
  });
  assert.deepEqual(timeWait!.timer, {
    kind: "time_wait",
    ticks: 5500,
    remainingMs: 55_000,
  });
  assert.deepEqual([timeWait!.uid, timeWait!.inode], [0, 0]);
  assert.equal(closeWait!.rxQueue, 1);
  assert.equal(lastAck!.retransmits, 3);
  assert.deepEqual(records[13]!.timer, {
    kind: "zero_window_probe",
    ticks: 500,
    remainingMs: 5_000,
  });
});

Deno.test("parseProcNetTcp: IPv6 rows as four host-order words, compressed text", () => {
  const records = parseProcNetTcp(fixture("tcp6"), { family: 6, ...LE });
  assert.deepEqual(records.map(brief), [
    "[::]:8080 [::]:0 LISTEN",
    "[::1]:8081 [::]:0 LISTEN",
    "[::ffff:127.0.0.1]:8080 [::ffff:127.0.0.1]:54321 ESTABLISHED",
    "[2001:db8::1]:443 [2001:db8::2]:50000 CLOSE_WAIT",
    "[fe80::a00:27ff:fe4e:66a1]:22 [::]:0 LISTEN",
    "[2001:db8::1:0:0:1]:50001 [::1]:8081 TIME_WAIT",
  ]);
  assert.ok(records.every((r) => r.proto === "tcp6" && r.family === 6));
  assert.equal(records[1]!.acceptQueue, 2);
  assert.equal(records[5]!.timer.remainingMs, 30_000);
});

Deno.test("parseProcNetTcp: big-endian hosts print addresses in network order", () => {
  const row =
    "   0: 7F000001:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1 0";
  const [r] = parseProcNetTcp(row, { byteOrder: "big" });
  assert.equal(r!.local.hostname, "127.0.0.1");
  const [v6] = parseProcNetTcp(
    "0: 00000000000000000000000000000001:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
    { byteOrder: "big" },
  );
  assert.equal(v6!.local.hostname, "::1");
  assert.equal(v6!.local.port, 80);
});

Deno.test("parseProcNetTcp: a malformed line is rejected naming source and line", () => {
  assert.throws(
    () =>
      parseProcNetTcp(fixture("tcp_malformed"), {
        source: "fixtures/tcp_malformed",
      }),
    (e: unknown) =>
      e instanceof ProcError && e.code === "proc_parse" &&
      e.message.startsWith("fixtures/tcp_malformed: line 3:") &&
      e.message.includes("0100007F:1F9"),
  );
  const good =
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1 0";
  const bad: [string, RegExp][] = [
    [good.replace(" 0A ", " 0D "), /unknown state code 0D/],
    [good.replace(" 00:00000000 ", " 07:00000000 "), /unknown timer code 7/],
    [
      good.replace("00000000:00000000", "0000000G:00000000"),
      /bad tx_queue:rx_queue/,
    ],
    ["   0: 0100007F:1F90 00000000:0000 0A", /at least 10 fields/],
    [good.replace(" 1 1 0", " x 1 0"), /bad inode/],
  ];
  for (const [line, why] of bad) {
    assert.throws(
      () =>
        parseProcNetTcp(`  sl  local_address rem_address   st\n${line}\n`, LE),
      (e: unknown) =>
        e instanceof ProcError && e.code === "proc_parse" &&
        e.message.includes("/proc/net/tcp: line 2:") && why.test(e.message),
      line,
    );
  }
  // A tcp6 row fed as IPv4 is an error, not a silent misparse.
  assert.throws(
    () => parseProcNetTcp(fixture("tcp6"), { family: 4 }),
    /\/proc\/net\/tcp: line 2: local address '0+:1F90' is not IPv4/,
  );
});

Deno.test("parseTcpState: accepts kernel and ss spellings in any case", () => {
  const cases: [string, TcpStateName | undefined][] = [
    ["ESTABLISHED", "ESTABLISHED"],
    ["estab", "ESTABLISHED"],
    ["FIN-WAIT-1", "FIN_WAIT1"],
    ["fin_wait2", "FIN_WAIT2"],
    ["time-wait", "TIME_WAIT"],
    ["SYN-RECV", "SYN_RECV"],
    ["close-wait", "CLOSE_WAIT"],
    ["LAST-ACK", "LAST_ACK"],
    ["unconn", "CLOSE"],
    ["listen", "LISTEN"],
    ["closing", "CLOSING"],
    ["bogus", undefined],
    ["", undefined],
  ];
  for (const [text, want] of cases) {
    assert.equal(parseTcpState(text), want, text);
  }
});

Deno.test("filterSockets: port is either side, sport and dport one side, states a set", () => {
  const records = parseProcNetTcp(fixture("tcp"), { family: 4, ...LE });
  const rows = (f: SocketFilter) => filterSockets(records, f).map(brief);
  assert.equal(rows({ port: 8080 }).length, 13);
  assert.deepEqual(rows({ sport: 8080 }), [
    "127.0.0.1:8080 0.0.0.0:0 LISTEN",
    "127.0.0.1:8080 127.0.0.1:54321 ESTABLISHED",
    "127.0.0.1:8080 127.0.0.1:40000 SYN_RECV",
    "127.0.0.1:8080 127.0.0.1:40005 CLOSE_WAIT",
    "127.0.0.1:8080 127.0.0.1:40006 LAST_ACK",
    "127.0.0.1:8080 127.0.0.1:40009 NEW_SYN_RECV",
  ]);
  assert.deepEqual(rows({ dport: 8080, state: ["TIME_WAIT", "FIN_WAIT2"] }), [
    "127.0.0.1:40002 127.0.0.1:8080 FIN_WAIT2",
    "127.0.0.1:40003 127.0.0.1:8080 TIME_WAIT",
  ]);
  assert.deepEqual(rows({ sport: 54321, dport: 8080, state: "ESTABLISHED" }), [
    "127.0.0.1:54321 127.0.0.1:8080 ESTABLISHED",
  ]);
  assert.deepEqual(rows({ sport: 54321, dport: 22 }), []);
  assert.equal(rows({}).length, records.length);
});

Deno.test("compareSockets: by state in a connection's order, then local and remote port", () => {
  const records = parseProcNetTcp(fixture("tcp"), { family: 4, ...LE });
  assert.deepEqual(records.sort(compareSockets).map(brief), [
    "0.0.0.0:22 0.0.0.0:0 LISTEN",
    "127.0.0.1:8080 0.0.0.0:0 LISTEN",
    "10.1.2.3:50000 192.168.1.20:443 SYN_SENT",
    "127.0.0.1:8080 127.0.0.1:40000 SYN_RECV",
    "127.0.0.1:8080 127.0.0.1:40009 NEW_SYN_RECV",
    "127.0.0.1:8080 127.0.0.1:54321 ESTABLISHED",
    "127.0.0.1:40008 127.0.0.1:8080 ESTABLISHED",
    "127.0.0.1:54321 127.0.0.1:8080 ESTABLISHED",
    "127.0.0.1:40001 127.0.0.1:8080 FIN_WAIT1",
    "127.0.0.1:40002 127.0.0.1:8080 FIN_WAIT2",
    "127.0.0.1:40007 127.0.0.1:8080 CLOSING",
    "127.0.0.1:40003 127.0.0.1:8080 TIME_WAIT",
    "127.0.0.1:8080 127.0.0.1:40005 CLOSE_WAIT",
    "127.0.0.1:8080 127.0.0.1:40006 LAST_ACK",
    "127.0.0.1:40004 127.0.0.1:8080 CLOSE",
  ]);
});

Deno.test("assertLinux: other systems get unsupported_os", () => {
  assert.throws(
    () => assertLinux("reading TCP sockets", "darwin"),
    (e: unknown) =>
      e instanceof ProcError && e.code === "unsupported_os" &&
      /not supported on this OS/.test(e.message),
  );
  assertLinux("reading TCP sockets", "linux");
});

// --- live: real sockets on loopback, checked against /proc and ss ---
// Other programs use loopback too: each test picks its own sockets out by
// their exact address pairs (ownPairs), never by a port number alone.

/** Polls /proc until `done` holds for this test's own rows: bounded. */
async function waitForOwn(
  pairs: Set<string>,
  filter: SocketFilter,
  done: (own: TcpSocketRecord[]) => boolean,
  what: string,
): Promise<TcpSocketRecord[]> {
  let own: TcpSocketRecord[] = [];
  try {
    return await waitFor(what, async () => {
      own = ownRows(await readTcpSockets(filter), pairs);
      return done(own) && own;
    });
  } catch (error) {
    throw new Error(
      `${(error as Error).message}; last:\n${own.map(brief).join("\n")}`,
    );
  }
}

/** The state of the row named by `pair` (`pairKey`), or undefined. */
function stateOf(
  own: TcpSocketRecord[],
  end: Deno.TcpListener | Deno.Conn<Deno.NetAddr>,
): TcpStateName | undefined {
  const [key] = ownPairs(end);
  return own.find((r) => pairKey(r.local, r.remote) === key)?.state;
}

Deno.test("live: a connection from LISTEN/ESTABLISHED through FIN_WAIT2/CLOSE_WAIT to TIME_WAIT", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  const server = await listener.accept();
  const pairs = ownPairs(listener, client, server);
  try {
    const open = await waitForOwn(
      pairs,
      { port },
      (r) =>
        stateOf(r, listener) === "LISTEN" &&
        stateOf(r, client) === "ESTABLISHED" &&
        stateOf(r, server) === "ESTABLISHED",
      "LISTEN and ESTABLISHED on both ends",
    );
    // Sorted: LISTEN first, then by local port.
    assert.equal(open[0]!.state, "LISTEN");
    const listen = open[0]!;
    assert.equal(listen.local.hostname, "127.0.0.1");
    assert.equal(listen.acceptQueue, 0);
    assert.ok(open.every((r) => r.proto === "tcp"));
    assert.ok(listen.inode > 0);
    // Narrow filters: one side's port, one state.
    const listening = await readTcpSockets({ sport: port, state: "LISTEN" });
    assert.deepEqual(ownRows(listening, pairs).map(brief), [
      `127.0.0.1:${port} 0.0.0.0:0 LISTEN`,
    ]);
    assert.ok(listening.every((r) => r.state === "LISTEN"));
    const toServer = ownRows(await readTcpSockets({ dport: port }), pairs);
    assert.deepEqual(toServer.map(brief), [
      `127.0.0.1:${client.localAddr.port} 127.0.0.1:${port} ESTABLISHED`,
    ]);

    await client.closeWrite();
    await waitForOwn(
      pairs,
      { port },
      (r) =>
        stateOf(r, client) === "FIN_WAIT2" &&
        stateOf(r, server) === "CLOSE_WAIT",
      "FIN_WAIT2 on the closing side and CLOSE_WAIT on its peer",
    );
    server.close();
    const closed = await waitForOwn(
      pairs,
      { port },
      (r) =>
        stateOf(r, client) === "TIME_WAIT" && stateOf(r, server) === undefined,
      "TIME_WAIT on the side that closed first",
    );
    const tw = closed.find((r) => r.state === "TIME_WAIT")!;
    assert.equal(tw.timer.kind, "time_wait");
    assert.equal(tw.inode, 0);
  } finally {
    client.close();
    try {
      server.close();
    } catch {
      // Closed above.
    }
  }
});

Deno.test({
  name: "live: IPv6 sockets come from /proc/net/tcp6 as ::1",
  ignore: missingIpv6(),
}, async () => {
  using listener = Deno.listen({ hostname: "::1", port: 0 });
  const port = listener.addr.port;
  using client = await Deno.connect({ hostname: "::1", port });
  using server = await listener.accept();
  const cport = client.localAddr.port;
  const pairs = ownPairs(listener, client, server);
  const own = await waitForOwn(
    pairs,
    { port },
    (r) => r.length === 3,
    "IPv6 LISTEN and ESTABLISHED",
  );
  assert.ok(own.every((r) => r.proto === "tcp6" && r.family === 6));
  // Sorted: LISTEN first, then by local port.
  const established = [
    `[::1]:${cport} [::1]:${port} ESTABLISHED`,
    `[::1]:${port} [::1]:${cport} ESTABLISHED`,
  ];
  if (port < cport) established.reverse();
  assert.deepEqual(own.map(brief), [
    `[::1]:${port} [::]:0 LISTEN`,
    ...established,
  ]);
});

Deno.test({
  name:
    "live: a LISTEN socket's accept queue counts connections not yet accepted (as ss Recv-Q)",
  ignore: missingPeer("ss"),
}, async () => {
  using listener = Deno.listen({
    hostname: "127.0.0.1",
    port: 0,
    tcpBacklog: 8,
  });
  const port = listener.addr.port;
  const pairs = ownPairs(listener);
  const clients: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      clients.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    }
    const own = await waitForOwn(
      pairs,
      { sport: port, state: "LISTEN" },
      (r) => r[0]?.acceptQueue === 3,
      "accept queue 3",
    );
    assert.equal(own.length, 1);
    // ss's own filter on the exact address, not the port alone.
    const ss = await run("ss", ["-ltnH", `src 127.0.0.1:${port}`]);
    const [state, recvQ, sendQ, local] = ss.trim().split(/\s+/);
    assert.deepEqual([state, recvQ, sendQ, local], [
      "LISTEN",
      "3",
      "8",
      `127.0.0.1:${port}`,
    ]);
  } finally {
    for (const c of clients) c.close();
  }
});

async function run(cmd: string, args: string[]): Promise<string> {
  const result = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(result.stdout);
  if (!result.success) {
    throw new Error(
      `${cmd} failed: ${new TextDecoder().decode(result.stderr)}`,
    );
  }
  return text;
}

/** `127.0.0.1:80`, `[::1]:80`, `0.0.0.0:*`: the way ss prints endpoints. */
function ssEndpoint(addr: { hostname: string; port: number }): string {
  const text = formatAddress(addr);
  return addr.port === 0 ? text.replace(/:0$/, ":*") : text;
}

Deno.test({
  name: "live: the same sockets and states as ss -tan",
  ignore: missingPeer("ss"),
}, async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const conns: Deno.TcpConn[] = [];
  const pairs = ownPairs(listener);
  const connect = async () => {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    const s = await listener.accept();
    conns.push(c, s);
    for (const key of ownPairs(c, s)) pairs.add(key);
    return [c, s] as const;
  };
  try {
    await connect(); // stays ESTABLISHED
    const [halfClient] = await connect(); // FIN_WAIT2 / CLOSE_WAIT
    await halfClient.closeWrite();
    const [twClient, twServer] = await connect(); // TIME_WAIT on the client
    await twClient.closeWrite();
    twServer.close();
    conns.splice(conns.indexOf(twServer), 1);
    const mine = await waitForOwn(
      pairs,
      { port },
      (r) =>
        stateOf(r, halfClient) === "FIN_WAIT2" &&
        stateOf(r, twClient) === "TIME_WAIT" &&
        stateOf(r, twServer) === undefined &&
        r.filter((s) => s.state === "ESTABLISHED").length === 2,
      "ESTABLISHED, FIN_WAIT2, CLOSE_WAIT and TIME_WAIT",
    );
    const ssText = await run("ss", [
      "-tanH",
      `( sport = :${port} or dport = :${port} )`,
    ]);
    const theirs = ssText.trim().split("\n").flatMap((line) => {
      const [state, , , local, remote] = line.trim().split(/\s+/);
      const key = `${local} ${remote}`.replaceAll(":*", ":0");
      return pairs.has(key)
        ? [`${local} ${remote} ${parseTcpState(state!) ?? state}`]
        : [];
    });
    const ours = mine.map((r) =>
      `${ssEndpoint(r.local)} ${ssEndpoint(r.remote)} ${r.state}`
    );
    assert.deepEqual(new Set(ours), new Set(theirs));
    assert.deepEqual(
      new Set(mine.map((r) => r.state)),
      new Set([
        "LISTEN",
        "ESTABLISHED",
        "FIN_WAIT2",
        "CLOSE_WAIT",
        "TIME_WAIT",
      ]),
    );
  } finally {
    for (const c of conns) c.close();
  }
});
