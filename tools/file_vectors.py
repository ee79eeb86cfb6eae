#!/usr/bin/env python3
# Known answers for docs/file-transfer.md ("Spec vectors"), computed from the
# document's words with Python alone, not with netkit: HKDF (RFC 5869) and
# HMAC from hashlib/hmac, X25519 (RFC 7748) and Elligator 2 written out here
# from the CPace draft, and ChaCha20-Poly1305 from the `cryptography`
# package when it is installed (Debian: python3-cryptography).
# tests/tcp/file/sealed_test.ts and code_session_test.ts hold netkit to them.
#
# Usage: python3 tools/file_vectors.py

import hashlib
import hmac

P = 2**255 - 19
A = 486662


def hkdf(ikm, salt, info, n=32):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def hello(version, code, nonce):
    return (b"NKFT\r\n\x1a\n" + version.to_bytes(2, "big")
            + code.to_bytes(2, "big") + nonce)


def keys(secret, sh, rh):
    labels = ["sender proof", "receiver proof", "mac", "sender key",
              "receiver key"]
    return {l: hkdf(secret, sh + rh, b"netkit-file/2 " + l.encode())
            for l in labels}


# --- X25519 (RFC 7748, section 5) -----------------------------------------

def x25519(k, u):
    k = bytearray(k)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    k = int.from_bytes(k, "little")
    u = int.from_bytes(u, "little") & ((1 << 255) - 1)
    x1, x2, z2, x3, z3, swap = u, 1, 0, u, 1, 0
    for t in reversed(range(255)):
        kt = (k >> t) & 1
        swap ^= kt
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = kt
        a, b = (x2 + z2) % P, (x2 - z2) % P
        aa, bb = a * a % P, b * b % P
        e = (aa - bb) % P
        c, d = (x3 + z3) % P, (x3 - z3) % P
        da, cb = d * a % P, c * b % P
        x3 = (da + cb) ** 2 % P
        z3 = x1 * (da - cb) ** 2 % P
        x2 = aa * bb % P
        z2 = e * (aa + 121665 * e) % P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


# --- CPace (draft-irtf-cfrg-cpace, appendix A) ----------------------------

def prepend_len(b):
    n, out = len(b), b""
    while True:
        out += bytes([(n & 0x7F) | (0x80 if n >= 128 else 0)])
        n >>= 7
        if n == 0:
            return out + b


def lv_cat(*parts):
    return b"".join(prepend_len(p) for p in parts)


def generator(prs, ci, sid):
    dsi = b"CPace255"
    zpad = max(0, 128 - 1 - len(prepend_len(prs)) - len(prepend_len(dsi)))
    h = hashlib.sha512(lv_cat(dsi, prs, bytes(zpad), ci, sid)).digest()[:32]
    r = int.from_bytes(h, "little") & ((1 << 255) - 1)
    v = (-A * pow(1 + 2 * r * r, P - 2, P)) % P
    eps = pow(v ** 3 + A * v * v + v, (P - 1) // 2, P)
    eps = 1 if eps == 1 else -1
    x = (eps * v - (1 - eps) * A * pow(2, P - 2, P)) % P
    return x.to_bytes(32, "little")


def isk(sid, k, ya, yb):
    return hashlib.sha512(lv_cat(b"CPace255_ISK", sid, k)
                          + lv_cat(ya, b"") + lv_cat(yb, b"")).digest()


def show(name, value):
    print(f"{name}: {value.hex()}")


# This script's CPace first passes the draft's own vectors (B.1).
_g = generator(b"Password",
               bytes.fromhex("0b415f696e69746961746f720b425f726573706f6e646572"),
               bytes.fromhex("7e4b4791d6a8ef019b936c79fb7f2c57"))
assert _g.hex() == ("d04bf6d41f6a289632a2e929fa29bebd"
                    "51092512a7829fdde7d314b62f05a73f")
assert x25519(bytes.fromhex("21b4f4bd9e64ed355c3eb676a28ebedaf6d8f17bdc365995"
                            "b319097153044080"), _g).hex() == (
    "1d13c89278cdadd826f6d8d7f887701430f8380ddc17611cdd6dc989ce0c9f32")

nonce_s = bytes(range(0, 32))
nonce_r = bytes(range(32, 64))

# Token mode, version 3.
sh, rh = hello(3, 0, nonce_s), hello(3, 0, nonce_r)
k = keys(b"correct horse battery staple", sh, rh)
print("# token mode")
for label, value in k.items():
    show(label, value)
sha = hashlib.sha256(b"hello").digest()
show("end mac", hmac.new(k["mac"], b"end" + (3).to_bytes(4, "big")
                         + (5).to_bytes(8, "big") + b"a/b.txt" + sha,
                         hashlib.sha256).digest())
show("status mac", hmac.new(k["mac"], b"status" + (3).to_bytes(4, "big")
                            + (0).to_bytes(2, "big") + sha,
                            hashlib.sha256).digest())
try:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    aead = ChaCha20Poly1305(k["sender key"])

    def seal(counter, mtype, payload):
        header = bytes([mtype]) + (len(payload) + 16).to_bytes(4, "big")
        nonce = bytes(4) + counter.to_bytes(8, "big")
        return header + aead.encrypt(nonce, payload, header)
    show("sender frame 0 DONE", seal(0, 0x06, b""))
    show("sender frame 1 DATA hello", seal(1, 0x04, b"hello"))
except ImportError:
    print("(no `cryptography`: sealed frames skipped)")

# Code mode: code "7-lantern-walnut-cobra", the sender's hello with the CODE
# flag (2), the receiver's share from scalar 0x01…0x20 (it is CPace's
# initiator), the sender's from 0x41…0x60.
code = b"7-lantern-walnut-cobra"
sh, rh = hello(3, 2, nonce_s), hello(3, 0, nonce_r)
ci = lv_cat(b"netkit-file/3", b"receiver", b"sender")
sid = sh + rh
g = generator(code, ci, sid)
y_r, y_s = bytes(range(1, 33)), bytes(range(0x41, 0x61))
share_r, share_s = x25519(y_r, g), x25519(y_s, g)
k_r, k_s = x25519(y_r, share_s), x25519(y_s, share_r)
assert k_r == k_s
i = isk(sid, k_r, share_r, share_s)
print("# code mode")
show("generator", g)
show("receiver share", share_r)
show("sender share", share_s)
show("K", k_r)
show("ISK", i)
for label, value in keys(i, sh, rh).items():
    show(label, value)
