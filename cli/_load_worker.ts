// One load loop on its own thread, for `netkit load --workers N`: runs the
// job it is sent, reports progress once a second and its result at the end.

import { type LoadJob, runJob } from "./_load_run.ts";

const self = globalThis as unknown as {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
};
const stop = new AbortController();
// Resolved when the main thread has read the kernel's counters: only then
// may this loop close its connections.
const mayClose = Promise.withResolvers<void>();

self.onmessage = (e: MessageEvent) => {
  const m = e.data as
    | { kind: "start"; job: LoadJob; live: boolean }
    | { kind: "stop" }
    | { kind: "close" };
  if (m.kind === "stop") {
    stop.abort();
    return;
  }
  if (m.kind === "close") {
    mayClose.resolve();
    return;
  }
  runJob(m.job, {
    signal: stop.signal,
    onProgress: m.live
      ? (progress) => self.postMessage({ kind: "progress", progress })
      : undefined,
    onWindowEnd: () => {
      self.postMessage({ kind: "ended" });
      return mayClose.promise;
    },
  }).then(
    (result) => self.postMessage({ kind: "result", result }),
    (error) =>
      self.postMessage({
        kind: "error",
        message: error instanceof Error ? error.message : String(error),
        code: (error as { code?: string }).code,
      }),
  );
};
