// Peer for the TCP echo rows: the smallest idiomatic Node echo server.
// Usage: node node_tcp_echo.mjs [port]  → prints "listening tcp 127.0.0.1:PORT".
import net from "node:net";
import process from "node:process";

const server = net.createServer((s) => {
  s.setNoDelay(true);
  s.on("error", () => s.destroy());
  // pipe() ends the write side when the read side ends: half-close works.
  s.pipe(s);
});
server.listen({
  host: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  backlog: 511,
}, () => {
  process.stdout.write(`listening tcp 127.0.0.1:${server.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
