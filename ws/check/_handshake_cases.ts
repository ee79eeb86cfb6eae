// Category 0: the opening handshake (RFC 6455 §4.2.1, §4.2.2, §4.4).
// Autobahn lists this category but never implemented it.

import { buildClientRequest, generateKey } from "../handshake.ts";
import type { CaseContext, CheckCase, Outcome } from "./_session.ts";
import { closeNormally, pass } from "./_expect.ts";

interface BadRequest {
  method?: string;
  version?: string;
  key?: string;
  /** Header fields to leave out. */
  omit?: string[];
}

function requestHead(url: URL, bad: BadRequest): string {
  const head = buildClientRequest(url, bad.key ?? generateKey(), {
    method: bad.method,
    version: bad.version,
  });
  if (!bad.omit) return head;
  const omit = bad.omit.map((name) => name.toLowerCase() + ":");
  return head.split("\r\n").filter((line) =>
    !omit.some((prefix) => line.toLowerCase().startsWith(prefix))
  ).join("\r\n");
}

async function expectRefusal(
  context: CaseContext,
  bad: BadRequest,
  needVersionHeader = false,
): Promise<Outcome> {
  const response = await context.handshake(requestHead(context.url, bad));
  if ("failure" in response) {
    if (response.timeout) {
      return { verdict: "FAIL", observed: response.failure };
    }
    return {
      verdict: "NON-STRICT",
      observed: `refused without an HTTP status: ${response.failure}`,
    };
  }
  const status = `${response.status} ${response.reason}`.trim();
  if (response.status === 101) {
    return { verdict: "FAIL", observed: `${status}: upgraded anyway` };
  }
  if (response.status >= 500) {
    return {
      verdict: "NON-STRICT",
      observed: `${status}: refused, but as a server error, not 4xx`,
    };
  }
  if (response.status < 400) {
    return { verdict: "FAIL", observed: `${status}: not an HTTP error` };
  }
  if (!needVersionHeader) return pass(status);
  const versions = response.headers.get("sec-websocket-version");
  const listed = (versions ?? "").split(",").map((v) => v.trim());
  if (!listed.includes("13")) {
    return {
      verdict: "FAIL",
      observed: `${status} without Sec-WebSocket-Version: 13`,
    };
  }
  return pass(`${status}, Sec-WebSocket-Version: ${versions}`);
}

function refusal(
  id: string,
  title: string,
  sends: string,
  bad: BadRequest,
  needVersionHeader = false,
): CheckCase {
  return {
    id,
    title,
    sends,
    requires: needVersionHeader ? "4xx listing version 13" : "refuse with 4xx",
    run: (context) => expectRefusal(context, bad, needVersionHeader),
  };
}

/** Category 0: the opening handshake. */
export const HANDSHAKE_CASES: CheckCase[] = [
  {
    id: "0.1",
    title: "A correct upgrade request is accepted with the right " +
      "Sec-WebSocket-Accept (§4.2.2).",
    sends: "valid upgrade request",
    requires: "101, correct accept",
    async run(context) {
      const session = await context.open();
      const close = await closeNormally(session);
      return pass(
        `${session.response.status} with correct Sec-WebSocket-Accept, ${close}`,
      );
    },
  },
  refusal(
    "0.2",
    "An upgrade request with method POST is refused (§4.2.1: GET).",
    "method POST",
    { method: "POST" },
  ),
  refusal(
    "0.3",
    "A Sec-WebSocket-Key that is not 16 bytes of base64 is refused (§4.2.1).",
    "key 'abc'",
    { key: "abc" },
  ),
  refusal(
    "0.4",
    "An upgrade request without Sec-WebSocket-Key is refused (§4.2.1).",
    "no key header",
    { omit: ["Sec-WebSocket-Key"] },
  ),
  refusal(
    "0.5",
    "An upgrade request without the Upgrade header is refused (§4.2.1).",
    "no Upgrade header",
    { omit: ["Upgrade"] },
  ),
  refusal(
    "0.6",
    "An upgrade request without the Connection header is refused (§4.2.1).",
    "no Connection header",
    { omit: ["Connection"] },
  ),
  refusal(
    "0.7",
    "Version 14, which no draft or RFC defined (drafts used 0–8 and 13), " +
      "is refused with a Sec-WebSocket-Version header listing 13 " +
      "(§4.2.2, §4.4).",
    "version 14",
    { version: "14" },
    true,
  ),
  refusal(
    "0.8",
    "An upgrade request without Sec-WebSocket-Version is refused (§4.2.1).",
    "no version header",
    { omit: ["Sec-WebSocket-Version"] },
  ),
  {
    id: "0.9",
    title: "Whether the server also speaks the hybi-08 draft " +
      "(Sec-WebSocket-Version: 8); RFC 6455 allows either answer (§4.2.2).",
    sends: "version 8",
    requires: "nothing: reported",
    async run(context) {
      const response = await context.handshake(
        requestHead(context.url, { version: "8" }),
      );
      if ("failure" in response) {
        return { verdict: "INFO", observed: response.failure };
      }
      const status = `${response.status} ${response.reason}`.trim();
      return {
        verdict: "INFO",
        observed: response.status === 101
          ? `${status}: accepts the hybi-08 draft`
          : `${status}: RFC 6455 (version 13) only`,
      };
    },
  },
];
