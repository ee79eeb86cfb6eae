// Keep-alive HTTP/1.1 server for the load rows: Node's http with a fixed
// 13-byte body. Usage: node node_http.mjs → prints "listening http 127.0.0.1:PORT".
import http from "node:http";
import process from "node:process";

const body = Buffer.from("hello, world\n");
const server = http.createServer((_req, res) => {
  res.writeHead(200, {
    "content-type": "text/plain",
    "content-length": body.length,
  });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen({ host: "127.0.0.1", port: 0, backlog: 511 }, () => {
  process.stdout.write(`listening http 127.0.0.1:${server.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
