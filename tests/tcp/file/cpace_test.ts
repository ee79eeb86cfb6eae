// CPace over X25519 against the test vectors of draft-irtf-cfrg-cpace-21
// (23 April 2026), Appendix A (string functions) and B.1
// (CPACE-X25519-SHA512): the generator string and generator, both shares,
// K both ways, the ISK in the initiator-responder setting, and the
// low-order points of B.1.10 that must give the neutral element (and so
// abort a run).

import assert from "node:assert/strict";
import {
  calculateGenerator,
  generatorString,
  intermediateSessionKey,
  isIdentity,
  lvCat,
  prependLen,
  scalarMultVfy,
  startCpace,
} from "../../../tcp/file/_cpace.ts";

const hex = (s: string) => Uint8Array.fromHex(s.replace(/\s+/g, ""));
const text = (s: string) => new TextEncoder().encode(s);

// B.1.1 – B.1.5.
const PRS = text("Password");
const CI = hex("0b415f696e69746961746f720b425f726573706f6e646572");
const SID = hex("7e4b4791d6a8ef019b936c79fb7f2c57");
const GENERATOR_STRING = hex(`
  0843506163653235350850617373776f72646d000000000000000000
  00000000000000000000000000000000000000000000000000000000
  00000000000000000000000000000000000000000000000000000000
  00000000000000000000000000000000000000000000000000000000
  00000000000000000000000000000000180b415f696e69746961746f
  720b425f726573706f6e646572107e4b4791d6a8ef019b936c79fb7f
  2c57`);
const G = hex(
  "d04bf6d41f6a289632a2e929fa29bebd51092512a7829fdde7d314b62f05a73f",
);
const YA_SCALAR = hex(
  "21b4f4bd9e64ed355c3eb676a28ebedaf6d8f17bdc365995b319097153044080",
);
const YA = hex(
  "1d13c89278cdadd826f6d8d7f887701430f8380ddc17611cdd6dc989ce0c9f32",
);
const YB_SCALAR = hex(
  "848b0779ff415f0af4ea14df9dd1d3c29ac41d836c7808896c4eba19c51ac40a",
);
const YB = hex(
  "248cccf6d5cdc3646f0ad593f9e6cef4e69d4945f8372e623512ecea32185623",
);
const K = hex(
  "5b067effbdc0b2a0e1d907b21ebb25cfedb96a852179a847c37e43ee71322c6b",
);
const ISK_IR = hex(`
  6e19b875f7a561d6b3ca3dbb9ef42ac55de3e717881018204b8922b4
  d5e53bb2aa82c300bea7b65d2b671da71922ddf6472301b79bc270ad
  fa8bf413285f2263`);

Deno.test("cpace: prepend_len and lv_cat (A.1.2, A.1.4)", () => {
  assert.equal(prependLen(new Uint8Array(0)).toHex(), "00");
  assert.equal(prependLen(text("1234")).toHex(), "0431323334");
  const b127 = Uint8Array.from({ length: 127 }, (_, i) => i);
  const b128 = Uint8Array.from({ length: 128 }, (_, i) => i);
  assert.equal(prependLen(b127).subarray(0, 2).toHex(), "7f00");
  assert.equal(prependLen(b127).length, 128);
  assert.equal(prependLen(b128).subarray(0, 3).toHex(), "800100");
  assert.equal(prependLen(b128).length, 130);
  assert.equal(
    lvCat(text("1234"), text("5"), text(""), text("678")).toHex(),
    "043132333401350003363738",
  );
});

Deno.test("cpace: the generator string and the generator (B.1.1)", () => {
  assert.deepEqual(generatorString(PRS, CI, SID), GENERATOR_STRING);
  assert.equal(calculateGenerator(PRS, CI, SID).toHex(), G.toHex());
});

Deno.test("cpace: both shares, K both ways and the ISK (B.1.2 – B.1.5)", () => {
  assert.equal(scalarMultVfy(YA_SCALAR, G).toHex(), YA.toHex());
  assert.equal(scalarMultVfy(YB_SCALAR, G).toHex(), YB.toHex());
  assert.equal(scalarMultVfy(YA_SCALAR, YB).toHex(), K.toHex());
  assert.equal(scalarMultVfy(YB_SCALAR, YA).toHex(), K.toHex());
  const isk = intermediateSessionKey(SID, K, {
    ya: YA,
    ada: text("ADa"),
    yb: YB,
    adb: text("ADb"),
  });
  assert.equal(isk.toHex(), ISK_IR.toHex());
});

Deno.test("cpace: a whole run on each side gives the draft's ISK", () => {
  const inputs = { prs: PRS, ci: CI, sid: SID };
  const a = startCpace("initiator", {
    ...inputs,
    ad: text("ADa"),
    scalar: YA_SCALAR,
  });
  const b = startCpace("responder", {
    ...inputs,
    ad: text("ADb"),
    scalar: YB_SCALAR,
  });
  assert.equal(a.share.toHex(), YA.toHex());
  assert.equal(b.share.toHex(), YB.toHex());
  assert.equal(a.finish(b.share, text("ADb"))!.toHex(), ISK_IR.toHex());
  assert.equal(b.finish(a.share, text("ADa"))!.toHex(), ISK_IR.toHex());
  // The caller's scalar is not touched; the run's copy is used once.
  assert.equal(YA_SCALAR.toHex().slice(0, 8), "21b4f4bd");
  assert.throws(() => a.finish(b.share), /used once/);
});

Deno.test("cpace: another password, sid or CI gives another generator and ISK", () => {
  const base = calculateGenerator(PRS, CI, SID).toHex();
  assert.notEqual(calculateGenerator(text("Passwore"), CI, SID).toHex(), base);
  assert.notEqual(calculateGenerator(PRS, CI, hex("00")).toHex(), base);
  assert.notEqual(calculateGenerator(PRS, text("x"), SID).toHex(), base);
  const a = startCpace("initiator", { prs: PRS, ci: CI, sid: SID });
  const b = startCpace("responder", {
    prs: text("Passwore"),
    ci: CI,
    sid: SID,
  });
  assert.notEqual(a.finish(b.share)!.toHex(), b.finish(a.share)!.toHex());
});

// B.1.10: scalar_mult_vfy(s, uX) must give qX; u0…u5 and u7 are of low
// order (on the curve or its twist, some only once bit 255 is cleared or
// the value reduced mod p) and must abort a run.
const S = hex(
  "af46e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449aff",
);
const LOW_ORDER: [string, string][] = [
  ["0000000000000000000000000000000000000000000000000000000000000000", ""],
  ["0100000000000000000000000000000000000000000000000000000000000000", ""],
  ["ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", ""],
  ["e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", ""],
  ["5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", ""],
  ["edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", ""],
  [
    "daffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "d8e2c776bbacd510d09fd9278b7edcd25fc5ae9adfba3b6e040e8d3b71b21806",
  ],
  ["eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", ""],
  [
    "dbffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "c85c655ebe8be44ba9c0ffde69f2fe10194458d137f09bbff725ce58803cdb38",
  ],
  [
    "d9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "db64dafa9b8fdd136914e61461935fe92aa372cb056314e1231bc4ec12417456",
  ],
  [
    "cdeb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
    "e062dcd5376d58297be2618c7498f55baa07d7e03184e8aada20bca28888bf7a",
  ],
  [
    "4c9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
    "993c6ad11c4c29da9a56f7691fd0ff8d732e49de6250b6c2e80003ff4629a175",
  ],
];

Deno.test("cpace: scalar_mult_vfy on the low-order and non-canonical points (B.1.10)", () => {
  for (const [u, q] of LOW_ORDER) {
    const result = scalarMultVfy(S, hex(u));
    const want = q === "" ? "00".repeat(32) : q;
    assert.equal(result.toHex(), want, `u = ${u}`);
    assert.equal(isIdentity(result), q === "", `u = ${u}`);
  }
});

Deno.test("cpace: a run aborts on every low-order share, on both sides", () => {
  const inputs = { prs: PRS, ci: CI, sid: SID };
  for (const [u, q] of LOW_ORDER) {
    if (q !== "") continue;
    assert.equal(startCpace("initiator", inputs).finish(hex(u)), undefined);
    assert.equal(startCpace("responder", inputs).finish(hex(u)), undefined);
  }
  // A share of the wrong length never reaches X25519.
  assert.equal(
    startCpace("initiator", inputs).finish(new Uint8Array(31)),
    undefined,
  );
});
