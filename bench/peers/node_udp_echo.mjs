// Peer for the UDP rows: the smallest idiomatic Node dgram echo server.
// Usage: node node_udp_echo.mjs [port]  → prints "listening udp 127.0.0.1:PORT".
import dgram from "node:dgram";
import process from "node:process";

const socket = dgram.createSocket("udp4");
socket.on(
  "message",
  (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address),
);
socket.on("error", () => {});
socket.bind(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  process.stdout.write(`listening udp 127.0.0.1:${socket.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
