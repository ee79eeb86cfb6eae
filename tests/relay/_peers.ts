// Peers for the relay tests: a TCP target that answers with a reset
// (python3 with SO_LINGER 0, which Deno cannot do), and a collector of
// the relay's per-connection reports.

import type { RelayReport } from "../../relay/mod.ts";
import { LineSplitter, withTimeout } from "../_helpers.ts";
import { hasPythonWebsockets, PYTHON } from "../ws/_python.ts";

export { hasPythonWebsockets, PYTHON };

const RESETTER = `
import socket, struct, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    c.recv(1)   # wait for the first byte, so the client is mid-conversation
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()   # linger 0: an RST instead of a FIN
`;

/** A target that resets every connection after its first byte. */
export interface ResettingTarget extends AsyncDisposable {
  port: number;
}

/** Starts the resetting target (python3). */
export async function resettingTarget(): Promise<ResettingTarget> {
  const child = new Deno.Command("/usr/bin/python3", {
    args: ["-c", RESETTER],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream())
    .pipeThrough(new LineSplitter())[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error("python3 resetting target did not start");
  return {
    port: Number(first.value),
    async [Symbol.asyncDispose]() {
      child.kill("SIGKILL");
      await child.status;
      await lines.return?.();
    },
  };
}

/** Collects reports; `next()` waits (bounded) for the next one. */
export function reportCollector(): {
  onConnection: (r: RelayReport) => void;
  next: (what: string) => Promise<RelayReport>;
  all: RelayReport[];
} {
  const all: RelayReport[] = [];
  let taken = 0;
  let arrived = Promise.withResolvers<void>();
  return {
    all,
    onConnection(r) {
      all.push(r);
      arrived.resolve();
      arrived = Promise.withResolvers<void>();
    },
    async next(what) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no report for ${what} within 20 s`)),
          20_000,
        );
      });
      try {
        while (taken >= all.length) {
          await Promise.race([arrived.promise, timedOut]);
        }
      } finally {
        clearTimeout(timer);
      }
      return all[taken++]!;
    },
  };
}

/** `promise`, or a failure naming `what` after `ms` (default 20 s). */
export function within<T>(
  what: string,
  promise: Promise<T>,
  ms = 20_000,
): Promise<T> {
  return withTimeout(promise, ms, what);
}

const WS_CLIENT = `
import asyncio, sys, websockets

async def main(url):
    data = sys.stdin.buffer.read()
    got = bytearray()
    async with websockets.connect(url, max_size=2**24, compression=None) as ws:
        async def send():
            for i in range(0, len(data), 65536):
                await ws.send(data[i:i + 65536])
        async def receive():
            while len(got) < len(data):
                m = await ws.recv()
                got.extend(m if isinstance(m, bytes) else m.encode())
        await asyncio.gather(send(), receive())
        await ws.close(1000, "done")
    sys.stdout.buffer.write(bytes(got))
    sys.stderr.write(f"close {ws.close_code} {ws.close_reason}\\n")

asyncio.run(main(sys.argv[1]))
`;

/**
 * python3-websockets as a client of `url`: sends `data` in 64 KiB binary
 * messages while reading what comes back until as many bytes arrived,
 * then closes with 1000 "done". Returns the bytes and the close it saw.
 */
export async function pythonWsClient(
  url: string,
  data: Uint8Array,
): Promise<{ received: Uint8Array; close: string }> {
  const child = new Deno.Command(PYTHON, {
    args: ["-c", WS_CLIENT, url],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  const writer = child.stdin.getWriter();
  await writer.write(data);
  await writer.close();
  const { stdout, stderr, success } = await within(
    "the python3-websockets client",
    output,
  ).catch((error) => {
    child.kill("SIGKILL");
    throw error;
  });
  const text = new TextDecoder().decode(stderr);
  if (!success) throw new Error(`python3-websockets client failed: ${text}`);
  return { received: stdout, close: text.trim() };
}
