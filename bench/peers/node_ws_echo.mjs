// Peer for the WebSocket rows: an echo server on the npm package `ws`
// (installed under bench/ by `npm install --prefix bench`; benchmarks only).
// Usage: node node_ws_echo.mjs [port] [--deflate]  → prints "listening ws 127.0.0.1:PORT".
// --deflate: permessage-deflate with the package's defaults (context
// takeover, messages from 1 KiB compressed).
import { createRequire } from "node:module";
import process from "node:process";

// Loaded through require so that `deno check` (which sees this file too)
// does not try to resolve the npm package.
const { WebSocketServer } = createRequire(import.meta.url)("ws");

const wss = new WebSocketServer({
  host: "127.0.0.1",
  port: Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 0),
  maxPayload: 2 ** 25,
  perMessageDeflate: process.argv.includes("--deflate"),
});
wss.on("connection", (ws) => {
  ws.on("error", () => ws.terminate());
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on("listening", () => {
  process.stdout.write(`listening ws 127.0.0.1:${wss.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
