/**
 * Relay endpoints as text (`tcp://127.0.0.1:80`, `unix:/run/app.sock`,
 * `exec:cat`) and as values.
 *
 * @module
 */

import { type HostPort, parseAddress } from "../address.ts";
import { RelayError } from "./errors.ts";

/** A network endpoint: `tcp://`, `tls://` or `udp://` HOST:PORT. */
export interface NetEndpoint extends HostPort {
  /** The transport. */
  kind: "tcp" | "tls" | "udp";
}

/** A Unix stream socket: `unix:PATH`. */
export interface UnixEndpoint {
  /** Always `"unix"`. */
  kind: "unix";
  /** The socket's path. */
  path: string;
}

/** A program run per connection, talking on its stdin/stdout: `exec:COMMAND`. */
export interface ExecEndpoint {
  /** Always `"exec"`. */
  kind: "exec";
  /** The command line as written (split into argv without a shell unless asked). */
  command: string;
}

/**
 * A WebSocket endpoint, `ws://HOST:PORT/PATH` or `wss://…`: binary
 * messages carry the bytes (text messages are passed on as their UTF-8).
 * As a listen side, PATH is where upgrades are accepted.
 */
export interface WsEndpoint extends HostPort {
  /** `ws` or `wss` (TLS). */
  kind: "ws" | "wss";
  /** The whole URL (path and query included). */
  url: string;
  /** The URL's path, `/` when it has none. */
  path: string;
}

/**
 * This process's stdin and stdout, `-` (socat's `-`/`STDIO`): as a
 * listen side, the one "client" whose bytes go to the target; as a
 * target, the one client accepted gets them (the relay then ends).
 */
export interface StdioEndpoint {
  /** Always `"stdio"`. */
  kind: "stdio";
}

/** One side of a relay. */
export type Endpoint =
  | NetEndpoint
  | UnixEndpoint
  | ExecEndpoint
  | WsEndpoint
  | StdioEndpoint;

/**
 * Parses an endpoint. Throws a {@linkcode RelayError} `bad_endpoint` for
 * text that is no endpoint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseEndpoint } from "@netkit/netkit/relay";
 *
 * assert.deepEqual(parseEndpoint("tcp://127.0.0.1:8080"), {
 *   kind: "tcp",
 *   hostname: "127.0.0.1",
 *   port: 8080,
 * });
 * assert.deepEqual(parseEndpoint("unix:/tmp/app.sock"), {
 *   kind: "unix",
 *   path: "/tmp/app.sock",
 * });
 * assert.deepEqual(parseEndpoint("wss://example.com/feed"), {
 *   kind: "wss",
 *   url: "wss://example.com/feed",
 *   path: "/feed",
 *   hostname: "example.com",
 *   port: 443,
 * });
 * assert.deepEqual(parseEndpoint("-"), { kind: "stdio" });
 * assert.throws(() => parseEndpoint("gopher://x:70"));
 * ```
 */
export function parseEndpoint(text: string): Endpoint {
  if (text === "-" || /^stdio$/i.test(text)) return { kind: "stdio" };
  const net = /^(tcp|tls|udp):\/\/(.+)$/.exec(text);
  if (net) {
    try {
      return {
        kind: net[1] as NetEndpoint["kind"],
        ...parseAddress(net[2]!),
      };
    } catch (error) {
      throw new RelayError(
        "bad_endpoint",
        `bad endpoint '${text}': ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  const unix = /^unix:(.+)$/.exec(text);
  if (unix) return { kind: "unix", path: unix[1]! };
  const exec = /^exec:(.*\S.*)$/s.exec(text);
  if (exec) return { kind: "exec", command: exec[1]!.trim() };
  if (/^wss?:\/\//i.test(text)) return parseWs(text);
  throw new RelayError(
    "bad_endpoint",
    `bad endpoint '${text}' (expected tcp://HOST:PORT, tls://HOST:PORT, udp://HOST:PORT, ws://HOST:PORT/PATH, wss://…, unix:PATH, exec:COMMAND or - for stdin/stdout)`,
  );
}

function parseWs(text: string): WsEndpoint {
  let url: URL;
  try {
    url = new URL(text);
  } catch (error) {
    throw new RelayError("bad_endpoint", `bad endpoint '${text}': not a URL`, {
      cause: error,
    });
  }
  url.hash = "";
  const secure = url.protocol === "wss:";
  return {
    kind: secure ? "wss" : "ws",
    url: url.href,
    path: url.pathname || "/",
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port ? Number(url.port) : secure ? 443 : 80,
  };
}

/**
 * An endpoint as text, the way {@linkcode parseEndpoint} reads it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatEndpoint } from "@netkit/netkit/relay";
 *
 * assert.equal(formatEndpoint({ kind: "tls", hostname: "::1", port: 443 }), "tls://[::1]:443");
 * ```
 */
export function formatEndpoint(endpoint: Endpoint): string {
  switch (endpoint.kind) {
    case "unix":
      return `unix:${endpoint.path}`;
    case "exec":
      return `exec:${endpoint.command}`;
    case "stdio":
      return "-";
    case "ws":
    case "wss":
      return endpoint.url;
    default: {
      const host = endpoint.hostname.includes(":")
        ? `[${endpoint.hostname}]`
        : endpoint.hostname;
      return `${endpoint.kind}://${host}:${endpoint.port}`;
    }
  }
}

/**
 * Splits a command line into argv the way a shell would for plain words
 * and quotes (`'…'`, `"…"`, backslash escapes), without expanding anything.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitCommand } from "@netkit/netkit/relay";
 *
 * assert.deepEqual(splitCommand(`grep -v "a b" 'c d'`), ["grep", "-v", "a b", "c d"]);
 * ```
 */
export function splitCommand(command: string): string[] {
  const args: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < command.length) {
        word = (word ?? "") + command[++i];
      } else word = (word ?? "") + c;
    } else if (/\s/.test(c)) {
      if (word !== undefined) args.push(word);
      word = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else if (c === "\\" && i + 1 < command.length) {
      word = (word ?? "") + command[++i];
    } else word = (word ?? "") + c;
  }
  if (quote) {
    throw new RelayError("bad_endpoint", `unclosed ${quote} in '${command}'`);
  }
  if (word !== undefined) args.push(word);
  if (args.length === 0) {
    throw new RelayError("bad_endpoint", "exec: needs a command");
  }
  return args;
}
