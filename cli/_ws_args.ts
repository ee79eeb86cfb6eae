// Arguments shared by the `netkit ws` subcommands: WebSocket URLs and
// repeatable `--header "Name: value"` flags.

import { UsageError } from "./_args.ts";
import { toWsUrl, WsError } from "../ws/mod.ts";

/**
 * Parses a WebSocket URL argument (ws, wss, http, https; without a scheme,
 * `ws://` as wscat and websocat assume); anything else is a usage error.
 */
export function wsUrlArg(cmd: string, text: string): URL {
  // HOST[:PORT][/PATH] only: `http//x` or `http:/x` is a mistyped
  // scheme, and stays an error.
  const bare = !text.includes("//") && !/^[a-z][a-z0-9+.-]*:(?!\d)/i.test(text);
  const withScheme = bare ? `ws://${text}` : text;
  // The library's one URL rule; only the error type differs here.
  try {
    return toWsUrl(withScheme);
  } catch (error) {
    if (!(error instanceof WsError)) throw error;
    throw new UsageError(error.message, cmd);
  }
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
