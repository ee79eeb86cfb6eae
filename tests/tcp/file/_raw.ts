// Raw-socket helpers for the file protocol tests: a receiver in a
// temporary folder that records its sessions, and a hand-driven client.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  codeFromWire,
  createFrameCipher,
  decodeHello,
  decodeNotice,
  decodeStatus,
  deriveKeys,
  encodeFileEntry,
  encodeFrame,
  encodeHello,
  encodeU64,
  endMac,
  EntryKind,
  HELLO_BYTES,
  MessageType,
  type SessionKeys,
} from "../../../tcp/file/protocol.ts";
import {
  type FileReceiver,
  type FileReceiverOptions,
  generateToken,
  type ReceiveSession,
  serveFileReceiver,
} from "../../../tcp/mod.ts";
import { FrameReader } from "./_frame_reader.ts";
import { WAIT_MS, withTimeout } from "../../_helpers.ts";

export const enc = new TextEncoder();

/** A receiver in a temporary folder that records its sessions. */
export async function startReceiver(
  options: Partial<FileReceiverOptions> = {},
): Promise<{
  receiver: FileReceiver;
  dir: string;
  token: string;
  sessions: ReceiveSession[];
  nextSession(): Promise<ReceiveSession>;
  [Symbol.asyncDispose](): Promise<void>;
}> {
  const dir = await Deno.makeTempDir({ prefix: "netkit-raw-" });
  const token = generateToken();
  const sessions: ReceiveSession[] = [];
  let waiting: ((s: ReceiveSession) => void) | undefined;
  let consumed = 0;
  const receiver = serveFileReceiver({
    dir,
    token,
    ...options,
    onSession: (s) => {
      sessions.push(s);
      waiting?.(s);
    },
  });
  return {
    receiver,
    dir,
    token,
    sessions,
    nextSession() {
      const want = consumed++;
      // Bounded: a regression that ends no session fails here, not at
      // the suite's outer timeout.
      return withTimeout(
        new Promise((resolve) => {
          if (sessions.length > want) return resolve(sessions[want]!);
          waiting = () => {
            if (sessions.length > want) resolve(sessions[want]!);
          };
        }),
        WAIT_MS,
        `session ${want + 1} to end`,
      );
    },
    async [Symbol.asyncDispose]() {
      await receiver.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A hand-driven protocol client. */
export class RawClient {
  conn: Deno.TcpConn;
  reader: FrameReader;
  keys?: SessionKeys;
  index = 0;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    this.reader = new FrameReader(conn, 128 * 1024, () => {});
  }

  static async open(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      off += await this.conn.write(bytes.subarray(off));
    }
  }

  async authenticate(token: string): Promise<void> {
    const nonce = crypto.getRandomValues(new Uint8Array(32));
    const mine = encodeHello(nonce);
    await this.write(mine);
    const theirs = (await this.reader.exact(HELLO_BYTES)).slice();
    assert.equal(decodeHello(theirs).code, 0);
    this.keys = deriveKeys(token, mine, theirs);
    await this.write(encodeFrame(MessageType.AUTH, this.keys.senderProof));
    const reply = await this.frame();
    assert.equal(reply.type, MessageType.AUTH_OK);
    // Everything after authentication is sealed, both ways.
    this.reader.cipher = createFrameCipher(
      this.keys.senderKey,
      this.keys.receiverKey,
    );
  }

  /** Sends one frame, sealed once authenticated. */
  send(type: number, payload: Uint8Array = new Uint8Array(0)): Promise<void> {
    const cipher = this.reader.cipher;
    return this.write(
      cipher ? cipher.seal(type, payload) : encodeFrame(type, payload),
    );
  }

  async frame(): Promise<{ type: number; payload: Uint8Array }> {
    const f = await this.reader.frame();
    return { type: f.type, payload: f.payload.slice() };
  }

  offer(
    path: string | Uint8Array,
    size: number,
    kind: number = EntryKind.FILE,
  ): Promise<void> {
    const bytes = typeof path === "string" ? enc.encode(path) : path;
    return this.send(
      MessageType.FILE,
      encodeFileEntry({ kind, flags: 0, mode: 0o644, size, path: bytes }),
    );
  }

  /** Reads a STATUS (or ERROR) and returns its code word. */
  async verdict(): Promise<string> {
    const f = await this.frame();
    if (f.type === MessageType.ERROR) {
      return `error:${codeFromWire(decodeNotice(f.payload).code)}`;
    }
    assert.equal(f.type, MessageType.STATUS);
    this.index++;
    return codeFromWire(decodeStatus(f.payload).code);
  }

  start(offset = 0): Promise<void> {
    return this.send(MessageType.START, encodeU64(offset));
  }

  data(bytes: Uint8Array): Promise<void> {
    return this.send(MessageType.DATA, bytes);
  }

  end(path: string, size: number, sha: Uint8Array): Promise<void> {
    const mac = endMac(this.keys!.sessionKey, {
      index: this.index,
      size,
      path: enc.encode(path),
      sha256: sha,
    });
    const payload = new Uint8Array(64);
    payload.set(sha, 0);
    payload.set(mac, 32);
    return this.send(MessageType.END, payload);
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // Closed by the receiver already.
    }
  }
}

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

export async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}
