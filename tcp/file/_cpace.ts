// CPace over X25519 with SHA-512 (CPACE-X25519-SHA512 of the IRTF CFRG's
// draft-irtf-cfrg-cpace-21), with no I/O: a balanced password-authenticated
// key exchange. Both sides map the password (here: the receiver's code)
// and the session identifiers to a generator of Curve25519 (SHA-512, then
// Elligator 2), each multiplies it by a fresh secret scalar and sends the
// result, and each multiplies the other's share by its own scalar. Only
// two sides that used the same password get the same point, and the share
// on the wire tells an observer nothing it could test a guess against.
//
// The field arithmetic of Elligator 2 runs on BigInt (once per session);
// the scalar multiplications are the runtime's X25519 (node:crypto), with
// the generator passed where a peer's public key would go. Names follow
// the draft: PRS the password, CI the channel identifier, sid the session
// identifier, ADa/ADb the associated data, ISK the intermediate session key.

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
} from "node:crypto";
import { Buffer } from "node:buffer";
import { concatBytes as concat } from "../../_bytes.ts";

/** Bytes of a share (an X25519 u-coordinate), a scalar and the point K. */
export const CPACE_SHARE_BYTES = 32;
/** Bytes of the intermediate session key (SHA-512). */
export const CPACE_ISK_BYTES = 64;

const encoder = new TextEncoder();
/** G_X25519.DSI. */
const DSI = encoder.encode("CPace255");
const DSI_ISK = encoder.encode("CPace255_ISK");
/** SHA-512's input block size (H.s_in_bytes). */
const SHA512_BLOCK = 128;

// Curve25519: the field, the Montgomery coefficient A and Elligator 2's
// non-square Z = 2 (draft, Appendix A.5).
const P = 2n ** 255n - 19n;
const A = 486662n;
const Z = 2n;

// X25519 keys as DER, so node:crypto takes raw bytes: PKCS #8 and SPKI
// prefixes of RFC 8410 for id-X25519 (1.3.101.110).
const PKCS8_X25519 = Uint8Array.fromHex("302e020100300506032b656e04220420");
const SPKI_X25519 = Uint8Array.fromHex("302a300506032b656e032100");

/** `prepend_len`: the LEB128 length of `bytes`, then `bytes`. */
export function prependLen(bytes: Uint8Array): Uint8Array {
  const length: number[] = [];
  let n = bytes.length;
  do {
    length.push(n >= 128 ? (n & 0x7f) | 0x80 : n);
    n = Math.floor(n / 128);
  } while (n > 0);
  const out = new Uint8Array(length.length + bytes.length);
  out.set(length, 0);
  out.set(bytes, length.length);
  return out;
}

/** `lv_cat`: every part with its length prepended, concatenated. */
export function lvCat(...parts: Uint8Array[]): Uint8Array {
  return concat(parts.map(prependLen));
}

/**
 * `generator_string(DSI, PRS, CI, sid, 128)`: zero padding fills SHA-512's
 * first block after DSI and PRS, so the hash of the password's block does
 * not depend on the session.
 */
export function generatorString(
  prs: Uint8Array,
  ci: Uint8Array,
  sid: Uint8Array,
): Uint8Array {
  const zpad = Math.max(
    0,
    SHA512_BLOCK - 1 - prependLen(prs).length - prependLen(DSI).length,
  );
  return lvCat(DSI, prs, new Uint8Array(zpad), ci, sid);
}

/**
 * `G_X25519.calculate_generator`: SHA-512 of the generator string, its
 * first 32 bytes decoded as a u-coordinate (bit 255 cleared, RFC 7748),
 * mapped to Curve25519 with Elligator 2. Returns the generator's
 * u-coordinate, 32 bytes little-endian.
 */
export function calculateGenerator(
  prs: Uint8Array,
  ci: Uint8Array,
  sid: Uint8Array,
): Uint8Array {
  const hash = sha512(generatorString(prs, ci, sid)).subarray(0, 32);
  return encodeU(elligator2(decodeU(hash)));
}

/** `G_X25519.sample_scalar`: 32 random bytes (X25519 clamps them). */
export function sampleScalar(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(CPACE_SHARE_BYTES));
}

/**
 * `G_X25519.scalar_mult_vfy(y, g)` = X25519(y, g), with the neutral
 * element (32 zero bytes) for a point of low order on the curve or its
 * twist. (The runtime refuses to return an all-zero X25519 result; that
 * refusal is the neutral element here, so the caller's check decides.)
 */
export function scalarMultVfy(y: Uint8Array, g: Uint8Array): Uint8Array {
  if (y.length !== CPACE_SHARE_BYTES || g.length !== CPACE_SHARE_BYTES) {
    throw new RangeError("X25519 takes 32-byte scalars and points");
  }
  const privateKey = createPrivateKey({
    key: Buffer.from(concat([PKCS8_X25519, y])),
    format: "der",
    type: "pkcs8",
  });
  const publicKey = createPublicKey({
    key: Buffer.from(concat([SPKI_X25519, g])),
    format: "der",
    type: "spki",
  });
  try {
    return new Uint8Array(diffieHellman({ privateKey, publicKey }));
  } catch {
    return new Uint8Array(CPACE_SHARE_BYTES);
  }
}

/** True for `G_X25519.I`, the neutral element: 32 zero bytes. */
export function isIdentity(point: Uint8Array): boolean {
  let bits = 0;
  for (const byte of point) bits |= byte;
  return bits === 0;
}

/**
 * The ISK in the initiator-responder setting:
 * `SHA-512(lv_cat(DSI || "_ISK", sid, K) || transcript_ir(Ya, ADa, Yb, ADb))`.
 */
export function intermediateSessionKey(
  sid: Uint8Array,
  k: Uint8Array,
  transcript: {
    ya: Uint8Array;
    ada: Uint8Array;
    yb: Uint8Array;
    adb: Uint8Array;
  },
): Uint8Array {
  const { ya, ada, yb, adb } = transcript;
  return sha512(concat([
    lvCat(DSI_ISK, sid, k),
    lvCat(ya, ada),
    lvCat(yb, adb),
  ]));
}

/** The inputs both sides of one run share, and this side's own. */
export interface CpaceInputs {
  /** The password-related string. */
  prs: Uint8Array;
  /** The channel identifier (never sent). */
  ci: Uint8Array;
  /** The session identifier (public, unique per session). */
  sid: Uint8Array;
  /** Associated data sent with this side's share (empty by default). */
  ad?: Uint8Array;
  /** This side's secret scalar; fresh and random by default (tests fix it). */
  scalar?: Uint8Array;
}

/** One side of one CPace run. */
export interface CpaceRun {
  /** This side's share, `scalar_mult(y, g)`. */
  readonly share: Uint8Array;
  /**
   * The ISK from the peer's share (and its associated data), or undefined
   * when `K` is the neutral element: the draft's abort (a low-order or
   * identity share). The scalar is used once: a second call throws.
   */
  finish(peerShare: Uint8Array, peerAd?: Uint8Array): Uint8Array | undefined;
}

/**
 * Starts one side of a CPace run. The initiator's share is `Ya` and comes
 * first in the transcript; the responder's is `Yb`.
 */
export function startCpace(
  role: "initiator" | "responder",
  inputs: CpaceInputs,
): CpaceRun {
  const ad = inputs.ad ?? new Uint8Array(0);
  let scalar: Uint8Array | undefined = (inputs.scalar ?? sampleScalar())
    .slice();
  const g = calculateGenerator(inputs.prs, inputs.ci, inputs.sid);
  const share = scalarMultVfy(scalar, g);
  return {
    share,
    finish(peerShare, peerAd = new Uint8Array(0)) {
      if (scalar === undefined) throw new Error("a CPace scalar is used once");
      const k = peerShare.length === CPACE_SHARE_BYTES
        ? scalarMultVfy(scalar, peerShare)
        : new Uint8Array(CPACE_SHARE_BYTES);
      scalar.fill(0);
      scalar = undefined;
      // The draft's abort: K is the neutral element.
      if (isIdentity(k)) return undefined;
      const transcript = role === "initiator"
        ? { ya: share, ada: ad, yb: peerShare, adb: peerAd }
        : { ya: peerShare, ada: peerAd, yb: share, adb: ad };
      return intermediateSessionKey(inputs.sid, k, transcript);
    },
  };
}

// --- Curve25519 field arithmetic (BigInt, once per session) --------------

function mod(n: bigint): bigint {
  const r = n % P;
  return r < 0n ? r + P : r;
}

function power(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

function inverse(n: bigint): bigint {
  return power(n, P - 2n);
}

/**
 * Elligator 2 onto Curve25519 as the draft writes it (Appendix A.5): the
 * u-coordinate of a point for any field element `r`.
 */
function elligator2(r: bigint): bigint {
  const v = mod(-A * inverse(1n + Z * r * r));
  // Euler's criterion: 1 when v^3 + A v^2 + v is a square, p − 1 when not
  // (never 0 on Curve25519: 1 + 2r^2 and v^2 + A v + 1 have no roots).
  const epsilon = power(v * v * v + A * v * v + v, (P - 1n) / 2n);
  const eps = epsilon === 1n ? 1n : -1n;
  return mod(eps * v - (1n - eps) * A * inverse(2n));
}

/** RFC 7748 decodeUCoordinate for 255 bits: little-endian, bit 255 cleared. */
function decodeU(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = 31; i >= 0; i--) {
    n = (n << 8n) | BigInt(i === 31 ? bytes[i]! & 0x7f : bytes[i]!);
  }
  return mod(n);
}

function encodeU(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

function sha512(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha512").update(bytes).digest());
}
