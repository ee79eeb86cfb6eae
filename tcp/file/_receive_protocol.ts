// The socket loop around the receiver core (_receiver_session.ts): reads
// straight into the core's buffer, hands each read to it, answers its
// decisions (the gate's slow-down and `--once`, entries on disk), writes
// what it queues, and tells it the time when the proof is held back or
// the receiver stops. One read at a time, and the next only after the
// replies to the last one are written: a sender that does not read stalls
// only itself.

import { closeQuietly, delay } from "../../_io.ts";
import type { TransferFailure } from "./types.ts";
import { type ReceiverEvent, ReceiverSession } from "./_receiver_session.ts";
import type { ConnectionIo } from "./_receive_io.ts";
import {
  type EntryIo,
  IncomingFile,
  resumable,
  storeDirectory,
} from "./_receive_entry.ts";
import { writeChunks } from "./_stream.ts";
import { failureOf, peerText } from "./_failure.ts";
import { type DeadlineTimer, keepDeadlines } from "./_deadline.ts";

/**
 * Serves one netkit-protocol session on `io.conn`; returns why it failed,
 * or undefined when the sender said DONE and got SESSION.
 */
export async function receiveProtocol(
  io: ConnectionIo,
): Promise<TransferFailure | undefined> {
  const { conn, context, shared, session } = io;
  const { config } = shared;
  const core = new ReceiverSession({
    keys: config.keys,
    tls: shared.tls,
    maxSize: config.maxSize,
    maxFiles: config.maxFiles,
    peerText: (message) => peerText(message, config.root),
  });
  const entryIo: EntryIo = {
    config,
    peer: session.peer,
    touch: () => context.record(0, 0),
  };
  let incoming: IncomingFile | undefined;
  let writing: Promise<void> = Promise.resolve();
  let readError: unknown;
  let grace: DeadlineTimer | undefined;

  // Writes what the core queued, after what is being written.
  const flush = (): Promise<void> => {
    const out = core.takeOutput();
    if (out.length > 0) {
      writing = writing.then(() => writeChunks(conn, out, context.record))
        .catch(() => {
          // The sender is gone: its next read says so.
        });
    }
    return writing;
  };

  // The events of one input, in order. A decision's events are handled
  // before the next input: the core parses nothing while it waits.
  const handle = async (events: ReceiverEvent[]): Promise<void> => {
    for (const event of events) {
      switch (event.type) {
        case "hello":
          // A well-formed hello: strangers that sent nothing are dropped first.
          io.ticket.spoke();
          break;
        case "proof": {
          // Wrong proofs lately (from this address, or too many from all
          // addresses): the gate makes this proof wait its turn.
          const waited = await io.ticket.beforeProof(context.signal);
          if (waited > 0) {
            config.stats.authDelayed++;
            session.authDelayMs = Math.round(waited);
          }
          core.holdProof(performance.now());
          break;
        }
        case "proven":
          if (config.claim()) {
            io.authenticated();
            await handle(core.admit());
          } else {
            await handle(core.refuse({
              code: "busy",
              message:
                "this --once receiver is already serving another session",
            }));
          }
          break;
        case "entry":
          if (event.entry.kind === "directory") {
            await handle(await storeDirectory(core, event.entry, entryIo));
          } else {
            const opened = await IncomingFile.open(core, event.entry, entryIo);
            incoming = opened.file;
            await handle(opened.events);
          }
          break;
        case "start":
          await incoming!.start(event.from, event.truncate);
          break;
        case "data":
          session.bytes += event.bytes.length;
          await incoming!.data(event.bytes, event.received);
          break;
        case "end": {
          const outcome = await incoming!.end(event.failure);
          incoming = undefined;
          await handle(core.finishFile(outcome));
          break;
        }
        case "file":
          io.fileDone(event.file);
          break;
        case "failed":
          if (event.failure.code === "auth_failed") {
            // Counted as the proof is judged, before the sender hears of it
            // and before another connection's proof is checked.
            config.stats.authFailures++;
            io.ticket.failed();
            shared.code?.failed();
          }
          // A breach leaves nothing of the file behind, before the sender
          // hears of it. (A stop keeps the part file for resume; it may
          // come from the grace timer while this loop writes it.)
          if (incoming && !resumable(event.failure.code)) {
            await incoming.abandon(event.failure.code);
            incoming = undefined;
          }
          // The reason first; then half-close and read on (the loop drains),
          // so the close does not reset the reason away.
          if (event.linger) {
            void flush().then(() => conn.closeWrite()).catch(() => {});
          }
          break;
      }
    }
    await flush();
  };

  // Strangers are dropped at once when the receiver stops; an admitted
  // session may finish within the grace period, then its sender is told.
  const onAbort = () => {
    void handle(core.stop(performance.now(), shared.gracePeriodMs));
    if (core.finished) closeQuietly(conn);
    else grace = keepDeadlines(core, (events) => void handle(events));
  };
  // One read (or, while the proof is held back, one wait) and its events.
  const step = async () => {
    if (!core.wantsInput) {
      const at = core.pollTimeout();
      if (at === undefined) {
        throw new Error("the receiver core waits for an answer it never got");
      }
      await delay(at - performance.now(), signal);
      if (shared.code?.left === 0 && !core.authenticated) {
        // The code ended while this proof waited: it is not checked, so
        // no guess gets past the limit.
        await handle(core.abort({
          code: "auth_failed",
          message: "the code has ended after too many wrong attempts",
        }));
        return;
      }
      await handle(core.handleTimeout(performance.now()));
      return;
    }
    let n: number | null;
    try {
      n = await conn.read(core.space());
    } catch (error) {
      readError = error;
      n = null;
    }
    if (n === null) return await handle(core.eof());
    context.record(n, 0);
    await handle(core.commit(n));
  };
  const signal = context.signal;
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  try {
    while (!core.finished || core.wantsInput) {
      try {
        await step();
      } catch (error) {
        // A disk operation outside an entry's own checks: the session ends.
        await handle(core.abort(failureOf(error)));
      }
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    grace?.stop();
    await flush();
    await incoming?.abandon(core.failure?.code ?? "connection_closed");
  }
  const failure = core.failure;
  // A read that failed says more than the core's "connection closed".
  if (failure?.code === "connection_closed" && readError !== undefined) {
    return failureOf(readError);
  }
  return failure;
}
