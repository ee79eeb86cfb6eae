// The python3-websockets (Debian) echo server the WebSocket tests use as a
// peer, and the check that the package is there.

import { hasPeer, IN_CI, LineSplitter } from "../_helpers.ts";

/** Debian's interpreter, which has python3-websockets. */
export const PYTHON = "/usr/bin/python3";

// Options come as JSON in argv[1]: {"compression": bool, "tls": {cert, key,
// clientCa}}. With clientCa the server requires a client certificate
// signed by it; each connection's certificate subject CN is printed.
const ECHO_SERVER = `
import asyncio, json, ssl, sys
options = json.loads(sys.argv[1])
try:
    from websockets.asyncio.server import serve
except ImportError:
    from websockets import serve

async def echo(ws, *_):
    transport = getattr(ws, "transport", None)
    if transport is not None and options.get("tls"):
        peer = transport.get_extra_info("peercert") or {}
        names = [v for rdn in peer.get("subject", ()) for (k, v) in rdn if k == "commonName"]
        print("client-cn " + ",".join(names), flush=True)
    try:
        async for message in ws:
            await ws.send(message)
    except Exception:
        pass

def tls_context():
    tls = options.get("tls")
    if not tls:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls["cert"], tls["key"])
    if tls.get("clientCa"):
        context.load_verify_locations(tls["clientCa"])
        context.verify_mode = ssl.CERT_REQUIRED
    return context

async def main():
    compression = "deflate" if options.get("compression") else None
    async with serve(echo, "127.0.0.1", 0, max_size=2**25, compression=compression, ssl=tls_context()) as server:
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
  /** Lines the server printed after the port (e.g. `client-cn NAME`). */
  lines(): string[];
}

/** Options of {@linkcode startPythonEcho}. */
export interface PythonEchoOptions {
  /** Offer/accept permessage-deflate (websockets' default settings). */
  compression?: boolean;
  /** Serve wss:// with these PEM files; with `clientCa`, require a client certificate. */
  tls?: { cert: string; key: string; clientCa?: string };
}

/** Starts the python echo server on a free port and waits for the port. */
export async function startPythonEcho(
  options: PythonEchoOptions = {},
): Promise<PythonEcho> {
  const child = new Deno.Command(PYTHON, {
    args: ["-c", ECHO_SERVER, JSON.stringify(options)],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .pipeThrough(new LineSplitter()).getReader();
  const first = await reader.read();
  const lines: string[] = [];
  const reading = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      lines.push(value);
    }
  })().catch(() => {});
  const port = Number(first.value);
  if (!(port > 0)) {
    child.kill("SIGKILL");
    await child.status;
    await reading;
    throw new Error(
      `python echo server printed '${first.value}' instead of a port`,
    );
  }
  return {
    port,
    url: `${options.tls ? "wss" : "ws"}://127.0.0.1:${port}/`,
    lines: () => [...lines],
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
      await reading;
    },
  };
}
