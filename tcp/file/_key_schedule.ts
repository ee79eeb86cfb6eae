// How a session gets its keys: the one pluggable step between the hellos
// and the proofs. A token schedule derives them from both hellos at once;
// a code schedule first runs CPace (_cpace.ts): the receiver's share
// travels with its hello, the sender's with its proof, and the CPace ISK,
// bound to both hellos through the session identifier, takes the token's
// place as the HKDF input. Everything after (proofs, sealing, MACs) stays
// as it is, and nothing else of the secret is used anywhere.

import { deriveKeys, type SessionKeys } from "./protocol.ts";
import { lvCat, startCpace } from "./_cpace.ts";
import { normalizeCode } from "./code.ts";
import { concatBytes } from "../../_bytes.ts";

/** Where a session's keys come from. */
export type KeySchedule = TokenKeySchedule | CodeKeySchedule;

/** Keys straight from both hellos. */
export interface TokenKeySchedule {
  readonly mode: "token";
  /** The keys of a session, from both 44-byte hellos (the sender's first). */
  derive(senderHello: Uint8Array, receiverHello: Uint8Array): SessionKeys;
}

/** Keys from a CPace exchange of shares after the hellos. */
export interface CodeKeySchedule {
  readonly mode: "code";
  /** Begins this side's half of the exchange, once both hellos are known. */
  begin(
    side: "sender" | "receiver",
    senderHello: Uint8Array,
    receiverHello: Uint8Array,
  ): ShareExchange;
}

/** One side's half of a code exchange. */
export interface ShareExchange {
  /** This side's 32-byte share, for the peer. */
  readonly share: Uint8Array;
  /**
   * The session's keys from the peer's share, or undefined when the share
   * is a low-order point or the identity (CPace's abort: such a share
   * would make the keys known to whoever sent it, code or not).
   */
  finish(peerShare: Uint8Array): SessionKeys | undefined;
}

/** Keys from a shared token (HKDF-SHA-256, docs/file-transfer.md). */
export function tokenKeySchedule(token: string): TokenKeySchedule {
  return {
    mode: "token",
    derive: (senderHello, receiverHello) =>
      deriveKeys(token, senderHello, receiverHello),
  };
}

const encoder = new TextEncoder();
// CPace's channel identifier: the application and the roles, the CPace
// initiator (the receiver, whose share goes first) before the responder.
const CHANNEL = lvCat(
  encoder.encode("netkit-file/3"),
  encoder.encode("receiver"),
  encoder.encode("sender"),
);

/**
 * Keys from a code through CPace (CPACE-X25519-SHA512): password the
 * normalised code, channel identifier `lv_cat("netkit-file/3", "receiver",
 * "sender")`, session identifier both hellos (sender's first), no
 * associated data; the receiver is CPace's initiator. `scalar` fixes the
 * secret scalars (tests only).
 */
export function codeKeySchedule(
  code: string,
  options: { scalar?: (side: "sender" | "receiver") => Uint8Array } = {},
): CodeKeySchedule {
  const prs = encoder.encode(normalizeCode(code));
  return {
    mode: "code",
    begin(side, senderHello, receiverHello) {
      const sid = concatBytes([senderHello, receiverHello]);
      const run = startCpace(side === "receiver" ? "initiator" : "responder", {
        prs,
        ci: CHANNEL,
        sid,
        scalar: options.scalar?.(side),
      });
      return {
        share: run.share,
        finish(peerShare) {
          const isk = run.finish(peerShare);
          return isk && deriveKeys(isk, senderHello, receiverHello);
        },
      };
    },
  };
}
