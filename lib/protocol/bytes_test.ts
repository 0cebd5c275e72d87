import assert from "node:assert/strict";
import { concatBytes } from "./bytes.ts";

Deno.test("concatBytes joins in order, with and without a counted total", () => {
  const parts = [new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array([3])];
  assert.deepEqual(concatBytes(parts), new Uint8Array([1, 2, 3]));
  assert.deepEqual(concatBytes(parts, 3), new Uint8Array([1, 2, 3]));
  assert.deepEqual(concatBytes([]), new Uint8Array(0));
  assert.throws(() => concatBytes(parts, 2), RangeError);
});
