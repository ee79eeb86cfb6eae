// cli/_flags.ts: the shared flag groups' readers and help rows.

import assert from "node:assert/strict";
import { UsageError } from "../../cli/_args.ts";
import { DEFAULT_GRACE_MS, DEFAULT_HOST } from "../../cli/_defaults.ts";
import {
  readServer,
  readTlsClient,
  readTlsServer,
  serverHelp,
  tlsClientHelp,
} from "../../cli/_flags.ts";
import { unitReader } from "../../cli/_units.ts";

const CERT = "tests/fixtures/tls/cert.pem";
const KEY = "tests/fixtures/tls/key.pem";

const usage = (message: RegExp) => (e: unknown) =>
  e instanceof UsageError && e.command === "x" && message.test(e.message);

Deno.test("readServer: defaults, and every flag in the library's units", () => {
  const read = unitReader("x");
  assert.deepEqual(readServer(read, {}, { port: 7007 }), {
    hostname: DEFAULT_HOST,
    port: 7007,
    backlog: undefined,
    maxConnections: undefined,
    idleTimeoutMs: undefined,
    gracePeriodMs: DEFAULT_GRACE_MS,
  });
  assert.deepEqual(
    readServer(read, {
      host: "::1",
      port: "0",
      backlog: "16",
      "max-conns": "100",
      "idle-timeout": "1.5",
      grace: "250ms",
    }, { port: 7007 }),
    {
      hostname: "::1",
      port: 0,
      backlog: 16,
      maxConnections: 100,
      idleTimeoutMs: 1500,
      gracePeriodMs: 250,
    },
  );
  assert.throws(
    () => readServer(read, { "max-conns": "0" }, { port: 1 }),
    usage(/^--max-conns takes a whole number of at least 1/),
  );
  assert.throws(
    () => readServer(read, { port: "65536" }, { port: 1 }),
    usage(/^--port takes a whole number from 0 to 65535/),
  );
});

Deno.test("readTlsClient: files read, --ca repeatable; --ca with --insecure and --cert without --key are usage errors", async () => {
  const pem = await Deno.readTextFile(CERT);
  const none = await readTlsClient("x", {});
  assert.deepEqual(none, {
    caCerts: undefined,
    insecure: false,
    clientCert: undefined,
    given: [],
  });
  const both = await readTlsClient("x", {
    ca: [CERT, CERT],
    cert: CERT,
    key: KEY,
  });
  assert.deepEqual(both.caCerts, [pem, pem]);
  assert.equal(both.clientCert?.cert, pem);
  assert.deepEqual(both.given, ["--ca", "--cert", "--key"]);
  await assert.rejects(
    () => readTlsClient("x", { ca: [CERT], insecure: true }),
    usage(/^choose one of --ca and --insecure$/),
  );
  await assert.rejects(
    () => readTlsClient("x", { cert: CERT }),
    usage(/^--cert and --key go together$/),
  );
  await assert.rejects(
    () => readTlsClient("x", { ca: ["/nonexistent.pem"] }),
    { code: "tls_file" },
  );
});

Deno.test("readTlsServer: both or neither", async () => {
  assert.equal(await readTlsServer("x", {}), undefined);
  assert.ok(await readTlsServer("x", { "tls-cert": CERT, "tls-key": KEY }));
  await assert.rejects(
    () => readTlsServer("x", { "tls-key": KEY }),
    usage(/^--tls-cert and --tls-key go together$/),
  );
});

Deno.test("help rows: one spelling per flag, with units and defaults", () => {
  const rows = serverHelp({
    port: 8080,
    flags: ["host", "port", "max-conns", "idle-timeout", "grace"],
  });
  assert.deepEqual(rows.map(([flag]) => flag), [
    "--host HOST",
    "--port PORT",
    "--max-conns N",
    "--idle-timeout TIME",
    "--grace TIME",
  ]);
  assert.match(rows[1]![1], /\(default 8080\)/);
  assert.match(rows[4]![1], /\(default 5s\)/);
  assert.deepEqual(
    tlsClientHelp({ insecure: false, clientCert: false }).map(([f]) => f),
    ["--ca FILE"],
  );
  assert.deepEqual(tlsClientHelp().map(([f]) => f), [
    "--ca FILE",
    "--insecure",
    "--cert FILE",
    "--key FILE",
  ]);
});
