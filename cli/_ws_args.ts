// Arguments shared by the `netkit ws` subcommands: WebSocket URLs and
// repeatable `--header "Name: value"` flags.

import { UsageError } from "./_args.ts";

/** Parses a `ws://` or `wss://` URL argument; anything else is a usage error. */
export function wsUrlArg(cmd: string, text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(
      `not a URL: '${text}' (expected ws://HOST:PORT/PATH)`,
      cmd,
    );
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new UsageError(
      `not a WebSocket URL: '${text}' (expected ws:// or wss://)`,
      cmd,
    );
  }
  return url;
}

/** Turns repeated `--header "Name: value"` flags into Headers. */
export function headerFlags(cmd: string, lines: string[]): Headers {
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim();
    if (colon <= 0 || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) {
      throw new UsageError(`--header takes "Name: value", not '${line}'`, cmd);
    }
    try {
      headers.append(name, line.slice(colon + 1).trim());
    } catch {
      throw new UsageError(`--header value is not allowed: '${line}'`, cmd);
    }
  }
  return headers;
}
