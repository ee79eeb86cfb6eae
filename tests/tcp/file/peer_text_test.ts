// The file sender shows a receiver's words (an ERROR notice) escaped: a
// receiver that knows the token is still a peer, not the terminal's owner.

import assert from "node:assert/strict";
import {
  codeToWire,
  createFrameCipher,
  deriveKeys,
  DIGEST_BYTES,
  encodeHello,
  encodeNotice,
  HELLO_BYTES,
  MessageType,
} from "../../../tcp/file/protocol.ts";
import {
  FileTransferError,
  generateToken,
  sendFiles,
} from "../../../tcp/mod.ts";
import { FrameReader } from "./_frame_reader.ts";
import { readAll, withTimeout } from "../../_helpers.ts";
import { assertEscaped, HOSTILE } from "../../_peer_text.ts";

Deno.test("peer text: a receiver's ERROR notice reaches the sender's error escaped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "netkit-peer-text-" });
  await Deno.writeTextFile(`${dir}/a.txt`, "hello");
  const token = generateToken();
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const fake = (async () => {
    const conn = await listener.accept();
    try {
      const reader = new FrameReader(conn, 1 << 21, () => {});
      const senderHello = (await reader.exact(HELLO_BYTES)).slice();
      const receiverHello = encodeHello(
        crypto.getRandomValues(new Uint8Array(32)),
      );
      await conn.write(receiverHello);
      const keys = deriveKeys(token, senderHello, receiverHello);
      await reader.frame();
      const ok = new Uint8Array(5 + DIGEST_BYTES);
      ok[0] = MessageType.AUTH_OK;
      new DataView(ok.buffer).setUint32(1, DIGEST_BYTES);
      ok.set(keys.receiverProof, 5);
      await conn.write(ok);
      const cipher = createFrameCipher(keys.receiverKey, keys.senderKey);
      reader.cipher = cipher;
      assert.equal((await reader.frame()).type, MessageType.FILE);
      await conn.write(cipher.seal(
        MessageType.ERROR,
        encodeNotice(codeToWire("refused"), 0, HOSTILE),
      ));
      await readAll(conn).catch(() => {});
    } finally {
      conn.close();
    }
  })();
  try {
    const outcome = await withTimeout(
      sendFiles(listener.addr, [`${dir}/a.txt`], { token }).then(
        (report) => report.error ?? report.files[0]?.error,
        (error: unknown) => error,
      ),
      20_000,
      "the sender to finish",
    );
    await fake;
    const message = outcome instanceof Error
      ? outcome.message
      : (outcome as { message?: string } | undefined)?.message ?? "";
    assert.ok(
      outcome instanceof FileTransferError || message !== "",
      String(outcome),
    );
    assertEscaped(message, "the receiver's notice");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
