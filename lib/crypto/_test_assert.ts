/** Tiny assertion shims over node:assert/strict for this folder's tests. */
import assert from "node:assert/strict";
export const equal: <T>(a: T, b: T, msg?: string) => void = (a, b, msg) => assert.equal(a, b, msg);
export const assertEquals = equal;
export const deepStrictEqual = (a: unknown, b: unknown, msg?: string): void =>
  assert.deepStrictEqual(a, b, msg);
export const ok = (v: unknown, msg?: string): void => assert.ok(v, msg);
