// This process's stdin and stdout as one side of a relay (`-`). There is
// one of each per process, so a relay has at most one stdio side in use
// at a time: the first stream takes them, and the relay ends with it.

import type { RelayStream } from "./_stream.ts";

/**
 * Stdin and stdout as a relay stream: the peer's FIN is stdin's end,
 * closeWrite closes stdout (so a reader downstream sees the end), and
 * there is no reset to send.
 */
export function stdioStream(): RelayStream {
  let stdoutOpen = true;
  const closeStdout = () => {
    if (!stdoutOpen) return;
    stdoutOpen = false;
    try {
      Deno.stdout.close();
    } catch {
      // Already closed.
    }
  };
  return {
    peer: "stdio",
    read: (p) => Deno.stdin.read(p),
    write: (p) => Deno.stdout.write(p),
    closeWrite() {
      closeStdout();
      return Promise.resolve();
    },
    reset() {
      closeStdout();
      return Promise.resolve(false);
    },
    close() {
      closeStdout();
      return Promise.resolve();
    },
  };
}
