// How a session gets its keys: the one pluggable step between the hellos
// and the proofs. Both session cores call `derive` once, right after both
// hellos are known, and use nothing else of the secret. Today the keys come
// from the token through HKDF (protocol.ts deriveKeys); a password-
// authenticated key exchange (issue #27, CPace) is another schedule: its
// shares travel after the hellos, and its output, bound to both hellos,
// takes the token's place as the HKDF input. Everything after (proofs,
// sealing, MACs) stays as it is.

import { deriveKeys, type SessionKeys } from "./protocol.ts";

/** Where a session's keys come from. */
export interface KeySchedule {
  /** The keys of a session, from both 44-byte hellos (the sender's first). */
  derive(senderHello: Uint8Array, receiverHello: Uint8Array): SessionKeys;
}

/** Keys from a shared token (HKDF-SHA-256, docs/file-transfer.md). */
export function tokenKeySchedule(token: string): KeySchedule {
  return {
    derive: (senderHello, receiverHello) =>
      deriveKeys(token, senderHello, receiverHello),
  };
}
