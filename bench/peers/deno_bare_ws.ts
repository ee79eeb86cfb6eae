// Peer for the WebSocket rows: the bare Deno echo, Deno.serve +
// upgradeWebSocket with its defaults, nothing of netkit.
// Prints "listening ws 127.0.0.1:PORT".
const server = Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.args[0] ?? 0),
  onListen: ({ port }) => console.log(`listening ws 127.0.0.1:${port}`),
}, (req) => {
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.onmessage = (e) => socket.send(e.data);
  socket.onerror = () => {};
  return response;
});
Deno.addSignalListener("SIGTERM", () => void server.shutdown());
