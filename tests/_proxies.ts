// Small real proxies for the tests: HTTP CONNECT and SOCKS5 (RFC 1928,
// RFC 1929 credentials), on 127.0.0.1 port 0. Each records what clients
// asked for, so tests can check the request (credentials, domain names).

/** A running test proxy. */
export interface TestProxy {
  /** Where it listens. */
  addr: Deno.NetAddr;
  /** `http://127.0.0.1:PORT` or `socks5://127.0.0.1:PORT` (no credentials). */
  url: string;
  /** Targets asked for, as sent (`host:port`), in order, including refused ones. */
  requests: string[];
  /** Credentials seen (`user:pass`), in order. */
  credentials: string[];
  /** Stops listening, closes every tunnel and waits for them. */
  close(): Promise<void>;
}

/** Credentials a proxy requires; none when omitted. */
export interface ProxyAuth {
  username: string;
  password: string;
}

type Handler = (
  conn: Deno.Conn,
  proxy: TestProxy,
  track: (c: Deno.Conn) => void,
) => Promise<void>;

function startProxy(
  scheme: string,
  handler: Handler,
): TestProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const track = (c: Deno.Conn) => void conns.add(c);
  const proxy: TestProxy = {
    addr: listener.addr,
    url: `${scheme}://127.0.0.1:${listener.addr.port}`,
    requests: [],
    credentials: [],
    async close() {
      listener.close();
      for (const c of conns) closeQuietly(c);
      await accepting;
      await Promise.allSettled([...tasks]);
    },
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      track(conn);
      const task = handler(conn, proxy, track)
        .catch(() => {})
        .finally(() => {
          closeQuietly(conn);
          conns.delete(conn);
          tasks.delete(task);
        });
      tasks.add(task);
    }
  })().catch(() => {});
  return proxy;
}

function closeQuietly(c: { close(): void }) {
  try {
    c.close();
  } catch {
    // Already closed.
  }
}

async function pipeBoth(a: Deno.Conn, b: Deno.Conn): Promise<void> {
  const copy = async (from: Deno.Conn, to: Deno.Conn) => {
    const buf = new Uint8Array(16 * 1024);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
      await to.closeWrite().catch(() => {});
    } catch {
      closeQuietly(a);
      closeQuietly(b);
    }
  };
  await Promise.all([copy(a, b), copy(b, a)]);
  closeQuietly(a);
  closeQuietly(b);
}

async function readHead(conn: Deno.Conn): Promise<[string, Uint8Array]> {
  const buf = new Uint8Array(8192);
  let filled = 0;
  for (;;) {
    const n = await conn.read(buf.subarray(filled));
    if (n === null) throw new Error("EOF in request head");
    filled += n;
    const text = new TextDecoder("latin1").decode(buf.subarray(0, filled));
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) return [text.slice(0, end), buf.slice(end + 4, filled)];
    if (filled === buf.length) throw new Error("request head too large");
  }
}

function parseTarget(text: string): { hostname: string; port: number } {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(text);
  if (!m) throw new Error(`bad target ${text}`);
  return { hostname: m[1]!, port: Number(m[2]) };
}

async function writeText(conn: Deno.Conn, text: string): Promise<void> {
  const data = new TextEncoder().encode(text);
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/**
 * An HTTP CONNECT proxy. With `auth`, a request without the right
 * `Proxy-Authorization: Basic` gets 407. `greeting`, when set, is sent
 * through the tunnel right after the 200 in the same write (a proxy that
 * reads ahead), to test that no byte is lost.
 */
export function startHttpProxy(
  options: { auth?: ProxyAuth; greeting?: string } = {},
): TestProxy {
  return startProxy("http", async (conn, proxy, track) => {
    const [head, rest] = await readHead(conn);
    const [requestLine, ...fields] = head.split("\r\n");
    const m = /^CONNECT (\S+) HTTP\/1\.1$/.exec(requestLine!);
    if (!m) {
      await writeText(conn, "HTTP/1.1 405 Method Not Allowed\r\n\r\n");
      return;
    }
    proxy.requests.push(m[1]!);
    const auth = fields.find((f) => /^proxy-authorization:/i.test(f));
    const basic = auth && /^[^:]+:\s*Basic\s+(\S+)$/i.exec(auth);
    const given = basic
      ? new TextDecoder().decode(Uint8Array.fromBase64(basic[1]!))
      : undefined;
    if (given !== undefined) proxy.credentials.push(given);
    if (
      options.auth &&
      given !== `${options.auth.username}:${options.auth.password}`
    ) {
      await writeText(
        conn,
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n',
      );
      return;
    }
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect(parseTarget(m[1]!));
    } catch {
      await writeText(conn, "HTTP/1.1 502 Bad Gateway\r\n\r\n");
      return;
    }
    track(upstream);
    await writeText(
      conn,
      `HTTP/1.1 200 Connection Established\r\n\r\n${options.greeting ?? ""}`,
    );
    if (rest.length > 0) await upstream.write(rest);
    await pipeBoth(conn, upstream);
  });
}

async function readExact(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const buf = new Uint8Array(n);
  let filled = 0;
  while (filled < n) {
    const got = await conn.read(buf.subarray(filled));
    if (got === null) throw new Error("EOF");
    filled += got;
  }
  return buf;
}

/**
 * A SOCKS5 proxy (CONNECT only). With `auth` it requires RFC 1929
 * username/password and refuses other methods; domain names are resolved
 * here, as a real proxy does.
 */
export function startSocks5Proxy(
  options: { auth?: ProxyAuth } = {},
): TestProxy {
  return startProxy("socks5", async (conn, proxy, track) => {
    const [version, count] = await readExact(conn, 2);
    if (version !== 5) return;
    const methods = [...await readExact(conn, count!)];
    const want = options.auth ? 2 : 0;
    if (!methods.includes(want)) {
      await conn.write(new Uint8Array([5, 0xff]));
      return;
    }
    await conn.write(new Uint8Array([5, want]));
    if (options.auth) {
      const [, ulen] = await readExact(conn, 2);
      const user = new TextDecoder().decode(await readExact(conn, ulen!));
      const [plen] = await readExact(conn, 1);
      const pass = new TextDecoder().decode(await readExact(conn, plen!));
      proxy.credentials.push(`${user}:${pass}`);
      const ok = user === options.auth.username &&
        pass === options.auth.password;
      await conn.write(new Uint8Array([1, ok ? 0 : 1]));
      if (!ok) return;
    }
    const [, command, , atyp] = await readExact(conn, 4);
    let hostname: string;
    if (atyp === 1) hostname = [...await readExact(conn, 4)].join(".");
    else if (atyp === 3) {
      const [len] = await readExact(conn, 1);
      hostname = new TextDecoder().decode(await readExact(conn, len!));
    } else if (atyp === 4) {
      const b = await readExact(conn, 16);
      const groups = [];
      for (let i = 0; i < 16; i += 2) {
        groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
      }
      hostname = groups.join(":");
    } else return;
    const p = await readExact(conn, 2);
    const port = (p[0]! << 8) | p[1]!;
    proxy.requests.push(
      `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`,
    );
    const reply = (code: number) =>
      conn.write(new Uint8Array([5, code, 0, 1, 0, 0, 0, 0, 0, 0]));
    if (command !== 1) {
      await reply(7);
      return;
    }
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({
        hostname: hostname === "0:0:0:0:0:0:0:1" ? "::1" : hostname,
        port,
      });
    } catch {
      await reply(5);
      return;
    }
    track(upstream);
    await reply(0);
    await pipeBoth(conn, upstream);
  });
}

/** A Unix socket that forwards each connection to `port` on 127.0.0.1. */
export function startUnixForwarder(
  port: number,
): { path: string; close(): Promise<void> } {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/ws.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const conns = new Set<Deno.Conn>();
  const tasks: Promise<unknown>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      const upstream = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.add(conn).add(upstream);
      const pipe = (from: Deno.Conn, to: Deno.Conn) =>
        from.readable.pipeTo(to.writable).catch(() => {});
      tasks.push(Promise.all([pipe(conn, upstream), pipe(upstream, conn)]));
    }
  })().catch(() => {});
  return {
    path,
    async close() {
      listener.close();
      await accepting;
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // Closed by the pipe already.
        }
      }
      await Promise.allSettled(tasks);
      Deno.removeSync(dir, { recursive: true });
    },
  };
}
