import assert from "node:assert/strict";
import { escapeForLog } from "./escape.ts";

Deno.test("escapeForLog keeps a forged log line on the line it came in on", () => {
  const s = escapeForLog("web\n2026/12/02 06:00:00 [hub] forged\r\x1b[31m\x7f\x85\u2028\\");
  assert.equal(s, "web\\n2026/12/02 06:00:00 [hub] forged\\r\\x1b[31m\\x7f\\x85\\u2028\\\\");
  // deno-lint-ignore no-control-regex
  assert.ok(!/[\x00-\x1f\x7f-\x9f\u2028\u2029]/.test(s));
});

Deno.test("escapeForLog escapes bidirectional controls that would reorder the rest of the line", () => {
  assert.equal(
    escapeForLog("barn\u202egnp.exe\u2066x\u2069"),
    "barn\\u202egnp.exe\\u2066x\\u2069",
  );
});

Deno.test("escapeForLog leaves printable text, including non-ASCII, alone", () => {
  assert.equal(escapeForLog("barn-01 Zürich 東京"), "barn-01 Zürich 東京");
  assert.equal(escapeForLog(undefined), "");
});

Deno.test("escapeForLog caps the length and says how long the input was", () => {
  assert.equal(escapeForLog("a".repeat(10), 4), "aaaa...(10 chars)");
  assert.equal(escapeForLog("x".repeat(100_000)).length < 300, true);
});
