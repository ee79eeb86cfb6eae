import assert from "node:assert/strict";
import { checkLoadTarget } from "../../load/mod.ts";

Deno.test("targets: loopback allowed, anything else refused without allowRemote", () => {
  for (const h of ["127.0.0.1", "127.8.9.10", "::1", "localhost"]) {
    checkLoadTarget(h);
  }
  for (const h of ["10.0.0.1", "192.0.2.1", "example.com", "::"]) {
    assert.throws(() => checkLoadTarget(h), { code: "remote_target" }, h);
  }
  checkLoadTarget("192.0.2.1", { allowRemote: true });
});
