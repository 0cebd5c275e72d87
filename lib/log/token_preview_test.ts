import assert from "node:assert/strict";
import { tokenPreview } from "./mod.ts";

Deno.test("tokenPreview never shows a token whole: at most 8 characters and at most half", () => {
  assert.equal(tokenPreview(undefined), "(none)");
  assert.equal(tokenPreview(""), "(none)");
  assert.equal(tokenPreview("x"), "...");
  assert.equal(tokenPreview("wrong"), "wr...");
  assert.equal(tokenPreview("12345678"), "1234...");
  assert.equal(tokenPreview("0123456789abcdef"), "01234567...");
  assert.equal(tokenPreview("a".repeat(64)), "aaaaaaaa...");
  for (const t of ["x", "ab", "wrong", "12345678", "0123456789abcdef"]) {
    assert.ok(!tokenPreview(t).includes(t), `"${t}" must not appear whole`);
  }
});
