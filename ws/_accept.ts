// How a netkit server answers an upgrade request, with no I/O: the
// handshake checks' statuses, the one Origin rule, the subprotocol choice
// and the permessage-deflate answer. The one accept of the engine's
// server (serveWebSocket) and the Deno.serve adapter (acceptWebSocket).

import {
  acceptKey,
  checkClientHandshake,
  type HandshakeProblem,
} from "./handshake.ts";
import {
  type DeflateOptions,
  type DeflateParams,
  negotiatePerMessageDeflate,
} from "./deflate.ts";
import { escapeControl } from "../escape.ts";

/** What a server accepts. */
export interface AcceptPolicy {
  /** Subprotocols accepted; the client's first offer found here is chosen. */
  protocols?: string[];
  /**
   * Browser origins allowed (`"*"`: any). Absent: only the server's own
   * origin, the one its `Host` names. Requests without `Origin` pass.
   */
  allowedOrigins?: string[];
  /** Answer a permessage-deflate offer with these options; absent: decline. */
  deflate?: DeflateOptions;
  /** Added to the 426 a plain GET (no `Upgrade`) gets. */
  hint?: string;
}

/** A refusal: the status, body and headers to answer with. */
export interface Refusal {
  ok: false;
  status: number;
  body: string;
  headers: Record<string, string>;
  /** Which rule refused: the RFC 6455 handshake checks or the Origin rule. */
  why: "handshake" | "origin";
}

/** An acceptance: what the 101 says. */
export interface Acceptance {
  ok: true;
  /** The `Sec-WebSocket-Accept` value. */
  accept: string;
  /** The chosen subprotocol, if any. */
  protocol?: string;
  /** permessage-deflate as agreed, and the header value that says so. */
  deflate?: { params: DeflateParams; response: string };
}

/**
 * The decision for one request under one policy; made once per server
 * (`acceptUpgrades`), so the allowed origins are normalized once.
 */
export function acceptUpgrades(
  policy: AcceptPolicy,
): (request: { method: string; headers: Headers }) => Acceptance | Refusal {
  const originAllowed = originRule(policy.allowedOrigins);
  const protocols = policy.protocols ?? [];
  return (request) => {
    const h = request.headers;
    if (request.method === "GET" && !h.has("upgrade")) {
      return refuse(
        426,
        `this is a WebSocket endpoint: connect with a WebSocket client${
          policy.hint ?? ""
        }\n`,
        "handshake",
        { upgrade: "websocket", connection: "Upgrade" },
      );
    }
    const problems = checkClientHandshake(request);
    if (problems.length > 0) return rejectHandshake(problems);
    const origin = h.get("origin");
    if (!originAllowed(origin, h.get("host"))) {
      return refuse(
        403,
        `origin ${escapeControl(origin!)} is not allowed\n`,
        "origin",
      );
    }
    const acceptance: Acceptance = {
      ok: true,
      accept: acceptKey(h.get("sec-websocket-key")!.trim()),
    };
    const protocol = chooseProtocol(h.get("sec-websocket-protocol"), protocols);
    if (protocol !== undefined) acceptance.protocol = protocol;
    const deflate = policy.deflate &&
      negotiateDeflate(h.get("sec-websocket-extensions"), policy.deflate);
    if (deflate) acceptance.deflate = deflate;
    return acceptance;
  };
}

/** The 101 response head for an acceptance, ready to write. */
export function switchingProtocols(acceptance: Acceptance): string {
  const lines = [
    "HTTP/1.1 101 Switching Protocols",
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Accept: ${acceptance.accept}`,
  ];
  if (acceptance.protocol !== undefined) {
    lines.push(`Sec-WebSocket-Protocol: ${acceptance.protocol}`);
  }
  if (acceptance.deflate) {
    lines.push(`Sec-WebSocket-Extensions: ${acceptance.deflate.response}`);
  }
  return lines.join("\r\n") + "\r\n\r\n";
}

/**
 * The one Origin rule. A request without `Origin` (not a browser, which
 * could claim any origin anyway) passes. With no list, a browser gets in
 * only from the server's own origin: the page's host and port are the ones
 * its `Host` header names, so a page from another site cannot use a
 * visitor's browser to reach a local server (a cross-site WebSocket
 * hijack). With a list, the origin must equal an allowed one exactly,
 * compared as browsers serialize origins (`scheme://host[:port]`, lower
 * case, no default port, no path): `https://good.example.evil.net` is not
 * `https://good.example`; `"*"` lets every origin in.
 */
export function originRule(
  allowed: string[] | undefined,
): (origin: string | null, host: string | null) => boolean {
  if (allowed?.includes("*")) return () => true;
  if (allowed === undefined) {
    return (origin, host) => origin === null || sameOrigin(origin, host);
  }
  const origins = new Set(allowed.map(serializeOrigin));
  return (origin) =>
    origin === null || origins.has(origin.trim().toLowerCase());
}

// The origin names the host and port the request was sent to (`Host`), as
// a page served by this server would; `null` and non-web schemes never do.
function sameOrigin(origin: string, host: string | null): boolean {
  if (host === null) return false;
  try {
    const page = new URL(origin.trim());
    if (page.protocol !== "http:" && page.protocol !== "https:") return false;
    return new URL(`${page.protocol}//${host.trim()}`).host === page.host;
  } catch {
    return false;
  }
}

// An allowed origin as a browser would send it, so "https://a.example/"
// or "https://A.example:443" still match; "null" stays "null".
function serializeOrigin(origin: string): string {
  const text = origin.trim().toLowerCase();
  try {
    const url = new URL(text);
    if (url.origin !== "null") return url.origin;
  } catch {
    // Not a URL: compared as written.
  }
  return text;
}

// 405 first (wrong method), then 400 (malformed), then 426 (version).
function rejectHandshake(problems: HandshakeProblem[]): Refusal {
  const statuses = problems.map((p) => p.status ?? 400);
  const status = statuses.includes(405)
    ? 405
    : statuses.includes(400)
    ? 400
    : Math.max(...statuses);
  const headers: Record<string, string> = {};
  if (status === 405) headers.allow = "GET";
  if (status === 426) headers["sec-websocket-version"] = "13";
  const lines = problems.map((p) => `- ${escapeControl(p.message)}`).join(
    "\n",
  );
  return refuse(
    status,
    `bad WebSocket handshake:\n${lines}\n`,
    "handshake",
    headers,
  );
}

function refuse(
  status: number,
  body: string,
  why: Refusal["why"],
  headers: Record<string, string> = {},
): Refusal {
  return { ok: false, status, body, headers, why };
}

/** The first protocol the client offers that the server accepts. */
function chooseProtocol(
  offered: string | null,
  accepted: string[],
): string | undefined {
  if (offered === null || accepted.length === 0) return undefined;
  for (const candidate of offered.split(",")) {
    const name = candidate.trim();
    if (accepted.includes(name)) return name;
  }
  return undefined;
}

// An offer that breaks the header grammar is declined, not refused: the
// connection goes on uncompressed, as RFC 7692 §5 allows.
function negotiateDeflate(
  header: string | null,
  options: DeflateOptions,
): { params: DeflateParams; response: string } | null {
  try {
    return negotiatePerMessageDeflate(header, options);
  } catch {
    return null;
  }
}
