import assert from "node:assert/strict";
import { classifyLoadError } from "../../load/mod.ts";

Deno.test("classifyLoadError names the causes", () => {
  assert.equal(
    classifyLoadError(new Deno.errors.ConnectionRefused("x")),
    "refused",
  );
  assert.equal(
    classifyLoadError(new Deno.errors.ConnectionReset("x")),
    "reset",
  );
  assert.equal(classifyLoadError(new Deno.errors.BrokenPipe("x")), "closed");
  assert.equal(classifyLoadError(new Deno.errors.UnexpectedEof("x")), "closed");
  assert.equal(
    classifyLoadError(new Error("Too many open files (os error 24)")),
    "emfile",
  );
  assert.equal(
    classifyLoadError(new DOMException("t", "TimeoutError")),
    "timeout",
  );
  assert.equal(classifyLoadError(new Error("weird")), "other");
});
