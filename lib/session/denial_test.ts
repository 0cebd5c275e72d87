import assert from "node:assert/strict";
import { readDenial } from "./denial.ts";

Deno.test("readDenial reads each of the hub's revocation texts with its scope", () => {
  const cases: [string, string, string][] = [
    [
      'Access denied: identity "bob" was removed by an administrator',
      "token",
      'identity "bob" was removed by an administrator',
    ],
    [
      'Access denied: token of identity "bob" was revoked',
      "token",
      'token of identity "bob" was revoked',
    ],
    [
      'Access denied: token of identity "bob" was rotated; use the new token',
      "token",
      'token of identity "bob" was rotated; use the new token',
    ],
    ['Access denied: token of identity "bob" expired', "token", 'token of identity "bob" expired'],
    [
      'Access denied: connect permission on "ws-01" was revoked',
      "permission",
      'connect permission on "ws-01" was revoked',
    ],
    [
      'Access denied: service port 80 on "ws-01" is not granted',
      "permission",
      'service port 80 on "ws-01" is not granted',
    ],
    ["Access denied", "unknown", "access denied"],
  ];
  for (const [text, scope, reason] of cases) {
    assert.deepEqual(readDenial(text), { reason, scope }, text);
  }
});

Deno.test("readDenial ignores other hub errors and escapes a forged line", () => {
  assert.equal(readDenial("Machine not found"), null);
  assert.equal(readDenial("Invalid token"), null);
  assert.equal(readDenial(""), null);
  assert.equal(readDenial(undefined), null);
  assert.deepEqual(readDenial('Access denied: token of identity "a\nb" was revoked'), {
    reason: 'token of identity "a\\nb" was revoked',
    scope: "token",
  });
});
