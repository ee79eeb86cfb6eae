// The noisy neighbour's busy core: a worker that spins until the deadline
// it is sent (so it stops by itself), then reports and ends.
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />

self.onmessage = (e: MessageEvent<number>) => {
  let x = 0;
  while (Date.now() < e.data) {
    for (let i = 0; i < 1e6; i++) x = (x * 31 + i) | 0;
  }
  self.postMessage(x);
  self.close();
};
