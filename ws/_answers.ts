// How a netkit server answers an upgrade request: the status for a set of
// handshake problems and the subprotocol it picks. One home for the
// engine's server and the Deno.serve adapter.

import type { HandshakeProblem } from "./handshake.ts";
import { escapeControl } from "../escape.ts";

// 405 first (wrong method), then 400 (malformed), then 426 (version).
export function rejectHandshake(
  problems: HandshakeProblem[],
): { status: number; body: string; headers: Record<string, string> } {
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
  return { status, body: `bad WebSocket handshake:\n${lines}\n`, headers };
}

/** The first protocol the client offers that the server accepts. */
export function chooseProtocol(
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
