// Peer for the WebSocket client rows: the npm package `ws` as a client
// (installed under bench/ by `npm install --prefix bench`; benchmarks only).
// Usage: node node_ws_client.mjs URL SIZE COUNT IN_FLIGHT WARMUP
// Echoes WARMUP then COUNT binary messages of SIZE bytes with IN_FLIGHT
// outstanding and prints {"seconds": S, "cpuUs": U} for the counted part.
import { createRequire } from "node:module";
import process from "node:process";
import { Buffer } from "node:buffer";

const WebSocket = createRequire(import.meta.url)("ws");
const [url, size, count, inFlight, warmup] = process.argv.slice(2);
const payload = Buffer.alloc(Number(size), 0x61);

function flood(ws, total) {
  let sent = 0;
  let received = 0;
  return new Promise((resolve, reject) => {
    ws.on("message", (data) => {
      if (data.length !== payload.length) {
        reject(new Error(`echo of ${data.length} bytes for ${payload.length}`));
        return;
      }
      received++;
      if (sent < total) {
        ws.send(payload, { binary: true });
        sent++;
      }
      if (received === total) {
        ws.removeAllListeners("message");
        resolve();
      }
    });
    while (sent < Math.min(Number(inFlight), total)) {
      ws.send(payload, { binary: true });
      sent++;
    }
  });
}

const ws = new WebSocket(url, {
  perMessageDeflate: false,
  maxPayload: 2 ** 25,
});
ws.on("error", (error) => {
  console.error(String(error));
  process.exit(1);
});
ws.on("close", (code) => {
  if (code !== 1000 && code !== 1005) {
    console.error(`closed ${code}`);
    process.exit(1);
  }
});
await new Promise((resolve) => ws.once("open", resolve));
await flood(ws, Number(warmup));
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await flood(ws, Number(count));
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(
  JSON.stringify({ seconds, cpuUs: cpu.user + cpu.system }) + "\n",
);
ws.close(1000);
await new Promise((resolve) => ws.once("close", resolve));
