// A noisy neighbour for the test suite: other programs' traffic on the
// same loopback and the same cores, so tests that take the machine for
// theirs fail in CI instead of on a user's busy laptop.
//
// For at most --duration seconds (or until SIGTERM/SIGINT) it
//   - churns short TCP connections to its own listeners on 127.0.0.1 and
//     ::1, the client closing first, so TIME_WAIT sockets pile up across the
//     ephemeral port range (--rate connections per second, ~60 s each);
//   - keeps --listeners listeners per family and --pairs established pairs
//     open, trickling a byte through the pairs now and then;
//   - sends UDP datagrams between two sockets on 127.0.0.1 and two on ::1;
//   - keeps one core busy in a worker (--no-cpu to skip).
// Only loopback is ever a target. On exit it prints one summary line to
// stderr (connections made, the most TIME_WAIT sockets seen) and exits 0.
//
// Usage: deno run --unstable-net --allow-all .ci/noisy_neighbour.ts
//          [--duration S] [--rate N] [--listeners N] [--pairs N] [--no-cpu]

import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    duration: { type: "string", default: "1800" },
    rate: { type: "string", default: "400" },
    listeners: { type: "string", default: "8" },
    pairs: { type: "string", default: "32" },
    "no-cpu": { type: "boolean", default: false },
  },
});

await main();

function numberFlag(name: string, max: number): number {
  const n = Number(values[name as keyof typeof values]);
  if (!Number.isFinite(n) || n < 0 || n > max) {
    console.error(`noisy_neighbour: --${name} takes a number from 0 to ${max}`);
    Deno.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const durationMs = numberFlag("duration", 7200) * 1000;
  // Bounded: beyond ~450/s the ephemeral range (28k ports × 60 s TIME_WAIT)
  // is what runs out, and that is not a neighbour but an outage.
  const rate = numberFlag("rate", 450);
  const listenerCount = Math.max(1, numberFlag("listeners", 64));
  const pairCount = numberFlag("pairs", 512);
  const deadline = Date.now() + durationMs;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), durationMs);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => stop.abort());
  }

  let worker: Worker | undefined;
  if (!values["no-cpu"]) {
    worker = new Worker(new URL("./_busy_core.ts", import.meta.url), {
      type: "module",
    });
    // The deadline travels with it: it stops by itself.
    worker.postMessage(deadline);
  }

  const families = [
    { hostname: "127.0.0.1" },
    ...(ipv6() ? [{ hostname: "::1" }] : []),
  ];
  const listeners: Deno.TcpListener[] = [];
  const open = new Set<Deno.Conn>();
  const stats = { connections: 0, failures: 0, datagrams: 0, maxTimeWait: 0 };
  const tasks: Promise<unknown>[] = [];

  for (const { hostname } of families) {
    for (let i = 0; i < listenerCount; i++) {
      const l = Deno.listen({ hostname, port: 0 });
      listeners.push(l);
      tasks.push(serve(l, open, stop.signal));
    }
  }
  // Established pairs that stay open for the whole run.
  for (let i = 0; i < pairCount; i++) {
    const l = listeners[i % listeners.length]!;
    try {
      const c = await Deno.connect({
        hostname: l.addr.hostname,
        port: l.addr.port,
      });
      open.add(c);
    } catch {
      stats.failures++;
    }
  }
  tasks.push(trickle(open, stop.signal));
  tasks.push(churn(listeners, rate, stats, stop.signal));
  tasks.push(...families.map((f) => udp(f.hostname, stats, stop.signal)));
  tasks.push(watchTimeWait(stats, stop.signal));

  // A signal during start-up has already aborted: an abort listener added
  // now would never fire.
  if (!stop.signal.aborted) {
    await new Promise<void>((resolve) =>
      stop.signal.addEventListener("abort", () => resolve(), { once: true })
    );
  }
  clearTimeout(timer);
  worker?.terminate();
  for (const l of listeners) l.close();
  for (const c of open) closeQuietly(c);
  await Promise.allSettled(tasks);
  console.error(
    `noisy_neighbour: ${stats.connections} connections (${stats.failures} failed), ${stats.datagrams} datagrams, at most ${stats.maxTimeWait} TIME_WAIT sockets`,
  );
  Deno.exit(0);
}

function ipv6(): boolean {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch {
    // Already closed.
  }
}

/** Accepts and holds connections; a churned one is closed once its client has. */
async function serve(
  listener: Deno.TcpListener,
  open: Set<Deno.Conn>,
  signal: AbortSignal,
): Promise<void> {
  try {
    for await (const conn of listener) {
      if (signal.aborted) {
        closeQuietly(conn);
        break;
      }
      open.add(conn);
      (async () => {
        const buf = new Uint8Array(64);
        try {
          while ((await conn.read(buf)) !== null) {
            // Discard: the pairs only trickle.
          }
        } catch {
          // Reset or closed at the end.
        }
        open.delete(conn);
        closeQuietly(conn);
      })();
    }
  } catch {
    // Closed at the end.
  }
}

/** Short connections: connect, close first (TIME_WAIT on the client side). */
async function churn(
  listeners: Deno.TcpListener[],
  rate: number,
  stats: { connections: number; failures: number },
  signal: AbortSignal,
): Promise<void> {
  if (rate === 0) return;
  const tickMs = 50;
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  let next = 0;
  while (!signal.aborted) {
    const started = performance.now();
    await Promise.all(
      Array.from({ length: perTick }, async () => {
        const l = listeners[next++ % listeners.length]!;
        try {
          const c = await Deno.connect({
            hostname: l.addr.hostname,
            port: l.addr.port,
          });
          c.close();
          stats.connections++;
        } catch {
          stats.failures++;
        }
      }),
    );
    const left = tickMs - (performance.now() - started);
    if (left > 0) await sleep(left, signal);
  }
}

/** A byte now and then on every open pair, so they are not idle. */
async function trickle(open: Set<Deno.Conn>, signal: AbortSignal) {
  const one = new Uint8Array([0x2e]);
  while (!signal.aborted) {
    for (const c of open) c.write(one).catch(() => open.delete(c));
    await sleep(1000, signal);
  }
}

/** Two UDP sockets sending to each other, about 200 datagrams a second each way. */
async function udp(
  hostname: string,
  stats: { datagrams: number },
  signal: AbortSignal,
): Promise<void> {
  const a = Deno.listenDatagram({ hostname, port: 0, transport: "udp" });
  const b = Deno.listenDatagram({ hostname, port: 0, transport: "udp" });
  const drain = async (s: Deno.DatagramConn) => {
    try {
      for await (const _ of s) stats.datagrams++;
    } catch {
      // Closed at the end.
    }
  };
  const draining = [drain(a), drain(b)];
  const payload = new Uint8Array(512);
  try {
    while (!signal.aborted) {
      for (let i = 0; i < 10; i++) {
        await a.send(payload, b.addr).catch(() => {});
        await b.send(payload, a.addr).catch(() => {});
      }
      await sleep(50, signal);
    }
  } finally {
    a.close();
    b.close();
    await Promise.allSettled(draining);
  }
}

/** Records the most TIME_WAIT sockets the machine held (/proc/net/sockstat{,6}). */
async function watchTimeWait(
  stats: { maxTimeWait: number },
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    try {
      const text = await Deno.readTextFile("/proc/net/sockstat");
      const tw = Number(/^TCP:.* tw (\d+)/m.exec(text)?.[1] ?? 0);
      stats.maxTimeWait = Math.max(stats.maxTimeWait, tw);
    } catch {
      // Not Linux: nothing to record.
    }
    await sleep(1000, signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
