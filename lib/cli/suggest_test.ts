import assert from "node:assert/strict";
import { levenshtein, suggest } from "./suggest.ts";

Deno.test("levenshtein counts insertions, deletions and substitutions", () => {
  assert.equal(levenshtein("conect", "connect"), 1);
  assert.equal(levenshtein("kitten", "sitting"), 3);
  assert.equal(levenshtein("", "abc"), 3);
  assert.equal(levenshtein("same", "same"), 0);
});

Deno.test("suggest picks the nearest close name, a prefix, or nothing", () => {
  const verbs = ["connect", "machines", "services", "status", "login", "logout", "profile"];
  assert.equal(suggest("conect", verbs), "connect");
  assert.equal(suggest("statsu", verbs), "status");
  assert.equal(suggest("logn", verbs), "login");
  assert.equal(suggest("prof", verbs), "profile");
  assert.equal(suggest("lsit", ["list", "show"]), "list", "a transposition is two edits");
  assert.equal(suggest("xyzzy", verbs), undefined);
  assert.equal(suggest("ab", ["xy"]), undefined);
  assert.equal(suggest("a", ["b"]), "b", "one edit is always close enough");
});
