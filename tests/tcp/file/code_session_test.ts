// Code mode in the session cores, with bytes only: the CPace stage after
// the hellos (the receiver's share with its hello, the sender's share with
// its proof), the known answers of tools/file_vectors.py (computed in
// Python from the documents, not with netkit), the low-order shares the
// draft says to refuse, the binding of the code and of both hellos, and a
// sender and receiver of different kinds.

import assert from "node:assert/strict";
import {
  codeFromWire,
  decodeHello,
  deriveKeys,
  encodeFrame,
  encodeHello,
  FRAME_HEADER_BYTES,
  HELLO_BYTES,
  HELLO_FLAG_CODE,
  MessageType,
} from "../../../tcp/file/protocol.ts";
import {
  codeKeySchedule,
  tokenKeySchedule,
} from "../../../tcp/file/_key_schedule.ts";
import { intermediateSessionKey } from "../../../tcp/file/_cpace.ts";
import {
  concat,
  readFrames,
  RECEIVER_NONCE,
  receiverCore,
  SENDER_NONCE,
  senderCore,
  TOKEN,
  types,
} from "./_session_harness.ts";
import type { ReceiverSession } from "../../../tcp/file/_receiver_session.ts";
import type { SenderSession } from "../../../tcp/file/_sender_session.ts";

const CODE = "7-lantern-walnut-cobra";
const SCALARS = {
  receiver: Uint8Array.from({ length: 32 }, (_, i) => 1 + i),
  sender: Uint8Array.from({ length: 32 }, (_, i) => 0x41 + i),
};
// tools/file_vectors.py, "code mode".
const VECTORS = {
  receiverShare:
    "3986aac7633d3ef4662a0afb2b37dce61b7a6b91ca4716b4df6fa406b54f6f61",
  senderShare:
    "aada5bd51c580138f45a11b91b7640d5202cff84cf14c7fe9f14878d7cd4a969",
  senderProof:
    "e00963102c679a075c48b448d74516b5b9265e9d23f97811b92677b93c40634b",
  receiverProof:
    "c26df8b6ae796cdd6305e4afaa4dd12c75d652dbb22803aa994ae4c63e68ae35",
  senderKey: "c1b148ba9f9597704e941b8f2911fc150bf1630e047ea12b566a04b52a83b8d5",
  receiverKey:
    "03a8ed069fd0a61cdfb8cf8a270cc1b7485c49ecc9e6f88ae7ce6db9bbfb24b1",
};

const fixed = (code = CODE) =>
  codeKeySchedule(code, { scalar: (side) => SCALARS[side] });

function codeReceiver(code = CODE): ReceiverSession {
  return receiverCore({ keys: fixed(code) });
}

function codeSender(code = CODE): SenderSession {
  return senderCore({ keys: fixed(code) });
}

const senderHello = () => encodeHello(SENDER_NONCE, { code: HELLO_FLAG_CODE });
const receiverHello = () => encodeHello(RECEIVER_NONCE);

/** Runs hello → share → proof between two cores; returns both outputs. */
function handshake(sender: SenderSession, receiver: ReceiverSession) {
  const up1 = concat(sender.takeOutput());
  const receiverEvents = receiver.receive(up1);
  const down1 = concat(receiver.takeOutput());
  const senderEvents = sender.receive(down1, 0);
  const up2 = concat(sender.takeOutput());
  receiverEvents.push(...receiver.receive(up2));
  return { up1, down1, up2, receiverEvents, senderEvents };
}

function failure(events: { type: string }[]): string | undefined {
  const last = events.at(-1) as
    | { type: string; failure?: { code: string; message: string } }
    | undefined;
  return last?.type === "failed"
    ? `${last.failure!.code}: ${last.failure!.message}`
    : undefined;
}

Deno.test("code cores: the receiver's hello carries its share; the sender answers share and proof in one write", () => {
  const sender = codeSender();
  const receiver = codeReceiver();
  const { up1, down1, up2, receiverEvents } = handshake(sender, receiver);
  // The sender's hello announces a code.
  assert.deepEqual(up1, senderHello());
  // Receiver: hello (44 bytes) and RECEIVER_SHARE, one write.
  assert.deepEqual(down1.subarray(0, HELLO_BYTES), receiverHello());
  const [share] = readFrames(down1.subarray(HELLO_BYTES));
  assert.equal(share!.type, MessageType.RECEIVER_SHARE);
  assert.equal(share!.payload.toHex(), VECTORS.receiverShare);
  // Sender: SENDER_SHARE then AUTH, the vectors' share and proof.
  const frames = readFrames(up2);
  assert.deepEqual(frames.map((f) => f.type), [
    MessageType.SENDER_SHARE,
    MessageType.AUTH,
  ]);
  assert.equal(frames[0]!.payload.toHex(), VECTORS.senderShare);
  assert.equal(frames[1]!.payload.toHex(), VECTORS.senderProof);
  // The receiver takes both and holds the proof for the gate.
  assert.deepEqual(types(receiverEvents), ["hello", "proof"]);
  receiver.holdProof(0);
  assert.deepEqual(types(receiver.handleTimeout(0)), ["proven"]);
  assert.deepEqual(types(receiver.admit()), ["authenticated"]);
  const [authOk] = readFrames(concat(receiver.takeOutput()));
  assert.equal(authOk!.type, MessageType.AUTH_OK);
  assert.equal(authOk!.payload.toHex(), VECTORS.receiverProof);
  // The sender checks it; every later frame is sealed with the vectors' keys.
  assert.deepEqual(
    types(sender.receive(encodeFrame(MessageType.AUTH_OK, authOk!.payload), 0)),
    ["authenticated"],
  );
});

Deno.test("code cores: the keys are the known answers, on both sides", () => {
  for (const side of ["sender", "receiver"] as const) {
    const exchange = fixed().begin(side, senderHello(), receiverHello());
    const peer = side === "sender"
      ? VECTORS.receiverShare
      : VECTORS.senderShare;
    assert.equal(
      exchange.share.toHex(),
      side === "sender" ? VECTORS.senderShare : VECTORS.receiverShare,
    );
    const keys = exchange.finish(Uint8Array.fromHex(peer))!;
    assert.equal(keys.senderProof.toHex(), VECTORS.senderProof);
    assert.equal(keys.receiverProof.toHex(), VECTORS.receiverProof);
    assert.equal(keys.senderKey.toHex(), VECTORS.senderKey);
    assert.equal(keys.receiverKey.toHex(), VECTORS.receiverKey);
  }
});

Deno.test("code cores: the code is normalised the same way on both sides", () => {
  const receiver = codeReceiver(CODE);
  const sender = codeSender(" 07 Lantern.WALNUT cobra ");
  const { receiverEvents } = handshake(sender, receiver);
  assert.deepEqual(types(receiverEvents), ["hello", "proof"]);
  receiver.holdProof(0);
  assert.deepEqual(types(receiver.handleTimeout(0)), ["proven"]);
});

Deno.test("code cores: a wrong code is auth_failed, answered in clear, nothing admitted", () => {
  const receiver = codeReceiver(CODE);
  const sender = codeSender("7-lantern-walnut-condor");
  handshake(sender, receiver);
  receiver.holdProof(0);
  const events = receiver.handleTimeout(0);
  assert.equal(failure(events), "auth_failed: wrong code");
  assert.equal(receiver.authenticated, false);
  const [error] = readFrames(concat(receiver.takeOutput()));
  assert.equal(error!.type, MessageType.ERROR);
});

Deno.test("code cores: the hellos are bound in: a nonce changed on the way fails the proof", () => {
  const receiver = codeReceiver();
  const sender = codeSender();
  const hello = concat(sender.takeOutput());
  const altered = hello.slice();
  altered[HELLO_BYTES - 1]! ^= 1;
  receiver.receive(altered);
  sender.receive(concat(receiver.takeOutput()), 0);
  receiver.receive(concat(sender.takeOutput()));
  receiver.holdProof(0);
  assert.equal(failure(receiver.handleTimeout(0)), "auth_failed: wrong code");
});

Deno.test("code cores: two sessions with the same code differ in every handshake message and key", () => {
  const runs = [0, 1].map(() => {
    const sender = senderCore({ keys: codeKeySchedule(CODE) });
    const receiver = receiverCore({
      keys: codeKeySchedule(CODE),
      nonce: crypto.getRandomValues(new Uint8Array(32)),
    });
    const { down1, up2 } = handshake(sender, receiver);
    receiver.holdProof(0);
    receiver.handleTimeout(0);
    receiver.admit();
    const authOk = readFrames(concat(receiver.takeOutput()))[0]!;
    return {
      hello: decodeHello(down1.subarray(0, HELLO_BYTES)).nonce.toHex(),
      receiverShare: readFrames(down1.subarray(HELLO_BYTES))[0]!.payload
        .toHex(),
      senderShare: readFrames(up2)[0]!.payload.toHex(),
      senderProof: readFrames(up2)[1]!.payload.toHex(),
      receiverProof: authOk.payload.toHex(),
    };
  });
  for (const key of Object.keys(runs[0]!) as (keyof typeof runs[0])[]) {
    assert.notEqual(runs[0]![key], runs[1]![key], key);
  }
});

// A share whose product is the neutral element whatever the scalar: a
// peer that sends it knows K (all zeros), hence the ISK and every key,
// without the code. CPace's abort is what stops it.
const LOW_ORDER = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
].map((h) => Uint8Array.fromHex(h));

/** The keys a peer that sent `share` would compute, knowing K = 0. */
function keysFromZero(
  myShare: Uint8Array,
  lowShare: Uint8Array,
  side: "sender" | "receiver",
) {
  const sid = concat([senderHello(), receiverHello()]);
  const [ya, yb] = side === "sender"
    ? [myShare, lowShare]
    : [lowShare, myShare];
  const isk = intermediateSessionKey(sid, new Uint8Array(32), {
    ya,
    ada: new Uint8Array(0),
    yb,
    adb: new Uint8Array(0),
  });
  return deriveKeys(isk, senderHello(), receiverHello());
}

Deno.test("code cores: a receiver refuses a low-order share, even with a proof made from K = 0", () => {
  for (const low of LOW_ORDER) {
    const receiver = codeReceiver();
    receiver.receive(senderHello());
    const down = concat(receiver.takeOutput());
    const receiverShare = readFrames(down.subarray(HELLO_BYTES))[0]!.payload;
    const forged = keysFromZero(receiverShare, low, "sender");
    const events = receiver.receive(concat([
      encodeFrame(MessageType.SENDER_SHARE, low),
      encodeFrame(MessageType.AUTH, forged.senderProof),
    ]));
    assert.match(failure(events) ?? "", /^protocol_error: .*low-order/);
    assert.equal(receiver.authenticated, false);
    assert.equal(readFrames(concat(receiver.takeOutput()))[0]!.type, 0x1f);
  }
});

Deno.test("code cores: a sender refuses a low-order share and sends no proof", () => {
  for (const low of LOW_ORDER) {
    const sender = codeSender();
    sender.takeOutput();
    const events = sender.receive(
      concat([receiverHello(), encodeFrame(MessageType.RECEIVER_SHARE, low)]),
      0,
    );
    assert.match(failure(events) ?? "", /^protocol_error: .*low-order/);
    assert.deepEqual(sender.takeOutput(), []);
  }
});

Deno.test("code cores: the share stage is checked on the frame header", () => {
  // The receiver wants SENDER_SHARE of 32 bytes, nothing else.
  for (
    const frame of [
      encodeFrame(MessageType.AUTH, new Uint8Array(32)),
      encodeFrame(MessageType.SENDER_SHARE, new Uint8Array(31)),
      encodeFrame(MessageType.SENDER_SHARE, new Uint8Array(33)),
    ]
  ) {
    const receiver = codeReceiver();
    receiver.receive(senderHello());
    // Only the header: refused before a payload byte is waited for.
    const events = receiver.receive(frame.subarray(0, FRAME_HEADER_BYTES));
    assert.match(
      failure(events) ?? "",
      /^protocol_error: expected the sender's share/,
    );
  }
  // The sender wants RECEIVER_SHARE after the hello.
  const sender = codeSender();
  sender.takeOutput();
  const events = sender.receive(
    concat([
      receiverHello(),
      encodeFrame(MessageType.AUTH_OK, new Uint8Array(32)),
    ]),
    0,
  );
  assert.match(
    failure(events) ?? "",
    /^protocol_error: expected the receiver's share/,
  );
});

Deno.test("code cores: a token sender at a code receiver, and back, get mode_mismatch in the hello", () => {
  // Token sender → code receiver.
  const receiver = codeReceiver();
  const tokenSender = senderCore();
  const events = receiver.receive(concat(tokenSender.takeOutput()));
  assert.match(failure(events) ?? "", /^mode_mismatch: the sender has a token/);
  const reply = concat(receiver.takeOutput());
  assert.equal(reply.length, HELLO_BYTES);
  assert.equal(codeFromWire(decodeHello(reply).code), "mode_mismatch");
  assert.match(
    failure(tokenSender.receive(reply, 0)) ?? "",
    /^mode_mismatch: the receiver takes a code, not a token: send with --code/,
  );
  // Code sender → token receiver.
  const tokenReceiver = receiverCore({ keys: tokenKeySchedule(TOKEN) });
  const codeSenderCore = codeSender();
  assert.match(
    failure(tokenReceiver.receive(concat(codeSenderCore.takeOutput()))) ?? "",
    /^mode_mismatch: the sender has a code/,
  );
  assert.match(
    failure(codeSenderCore.receive(concat(tokenReceiver.takeOutput()), 0)) ??
      "",
    /^mode_mismatch: the receiver takes a token, not a code: send with --token/,
  );
});
