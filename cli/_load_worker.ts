// One load loop on its own thread, for `netkit load --workers N`: runs the
// job it is sent, reports progress once a second and its result at the end.

import { type LoadJob, runJob } from "./load.ts";

const self = globalThis as unknown as {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
};
const stop = new AbortController();

self.onmessage = (e: MessageEvent) => {
  const m = e.data as { kind: "start"; job: LoadJob } | { kind: "stop" };
  if (m.kind === "stop") {
    stop.abort();
    return;
  }
  runJob(m.job, {
    signal: stop.signal,
    onProgress: (progress) => self.postMessage({ kind: "progress", progress }),
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
