// The python3-websockets (Debian) echo server the WebSocket tests use as a
// peer, and the check that the package is there.

import { hasPeer, IN_CI, LineSplitter } from "../_helpers.ts";

/** Debian's interpreter, which has python3-websockets. */
export const PYTHON = "/usr/bin/python3";

const ECHO_SERVER = `
import asyncio
try:
    from websockets.asyncio.server import serve
except ImportError:
    from websockets import serve

async def echo(ws, *_):
    try:
        async for message in ws:
            await ws.send(message)
    except Exception:
        pass

async def main():
    async with serve(echo, "127.0.0.1", 0, max_size=2**25, compression=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()

asyncio.run(main())
`;

/**
 * Whether python3-websockets can be imported. In CI its absence throws;
 * locally the test is skipped with a visible reason.
 */
export function hasPythonWebsockets(): boolean {
  if (!hasPeer("python3")) return false;
  const probe = new Deno.Command(PYTHON, {
    args: ["-c", "import websockets"],
    stdout: "null",
    stderr: "null",
  }).outputSync();
  if (probe.success) return true;
  if (IN_CI) {
    throw new Error(
      "python3-websockets is missing in CI: .ci/run must install it",
    );
  }
  console.warn("SKIP: python3-websockets is not installed");
  return false;
}

/** A running python echo server: `url` ends in `/`; dispose to stop it. */
export interface PythonEcho extends AsyncDisposable {
  port: number;
  url: string;
}

/** Starts the python echo server on a free port and waits for the port. */
export async function startPythonEcho(): Promise<PythonEcho> {
  const child = new Deno.Command(PYTHON, {
    args: ["-c", ECHO_SERVER],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .pipeThrough(new LineSplitter()).getReader();
  const first = await reader.read();
  await reader.cancel();
  const port = Number(first.value);
  if (!(port > 0)) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(
      `python echo server printed '${first.value}' instead of a port`,
    );
  }
  return {
    port,
    url: `ws://127.0.0.1:${port}/`,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}
