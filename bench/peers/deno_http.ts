// Keep-alive HTTP/1.1 server for the load rows: Deno.serve with a fixed
// 13-byte body. Prints "listening http 127.0.0.1:PORT".
const body = new TextEncoder().encode("hello, world\n");
const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`listening http 127.0.0.1:${port}`),
}, () => new Response(body, { headers: { "content-type": "text/plain" } }));
Deno.addSignalListener("SIGTERM", () => {
  server.shutdown().then(() => Deno.exit(0));
});
