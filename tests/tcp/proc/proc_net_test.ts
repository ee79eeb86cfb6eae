import assert from "node:assert/strict";
import { withoutRepeats } from "../../../tcp/proc/_proc_net.ts";
import { parseProcNetTcp } from "../../../tcp/proc/sockets.ts";

Deno.test("withoutRepeats: a row the kernel wrote twice is kept once; distinct sockets all stay", () => {
  // Read a page at a time under churn, /proc/net/tcp may repeat a row (seen
  // in a quarter of the reads beside 20,000 TIME_WAIT sockets).
  const listen =
    "0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 41001";
  const reused =
    "1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 41002";
  const tw =
    "2: 0100007F:D431 0100007F:1F90 06 00000000:00000000 03:00001770 00000000 0 0 0";
  const tw2 =
    "3: 0100007F:D432 0100007F:1F90 06 00000000:00000000 03:00001770 00000000 0 0 0";
  const rows = parseProcNetTcp(
    [listen, tw, listen, reused, tw, tw2].join("\n"),
    { byteOrder: "little" },
  );
  assert.equal(rows.length, 6);
  const kept = withoutRepeats(rows);
  // Two listeners on one address (SO_REUSEPORT) are two sockets: by inode.
  assert.deepEqual(kept.map((r) => r.inode), [41001, 0, 41002, 0]);
  assert.deepEqual(kept.map((r) => r.local.port), [8080, 54321, 8080, 54322]);
});
