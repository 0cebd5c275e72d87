import assert from "node:assert/strict";
import type { AuthConfig } from "../config.ts";
import * as ops from "./ops.ts";
import { AccessError } from "./types.ts";

const NOW = Date.parse("2026-06-01T00:00:00Z");

function auth(): AuthConfig {
  return {
    tokens: [
      { id: "owner", token: "O", hubRole: "owner" },
      { id: "old-owner", token: "P", hubRole: "owner", expiresAt: "2026-01-01T00:00:00Z" },
      { id: "bob", token: "B" },
    ],
    machines: { barn: { connectTokens: ["B"], manageTokens: ["B"] } },
  };
}

Deno.test("an expired second owner does not save the last active owner from the guard", () => {
  const a = auth();
  assert.throws(() => ops.removeIdentity(a, "owner", NOW), (e: AccessError) => e.status === 409);
  assert.deepEqual(ops.removeIdentity(a, "old-owner", NOW).map((t) => t.id), ["old-owner"]);
});

Deno.test("register pairing keeps the machine's other grants (Go replaces the key wholesale)", () => {
  const a = auth();
  const e = ops.addPaired(
    a,
    { type: "register", machineId: "barn", role: "user", machines: [] },
    NOW,
    "N",
  );
  assert.equal(e.id, "barn-agent");
  assert.equal(e.hubRole, undefined);
  assert.deepEqual(a.machines.barn, {
    connectTokens: ["B"],
    manageTokens: ["B"],
    registerToken: "N",
  });
  const c = ops.addPaired(
    a,
    { type: "connect", machineId: "", role: "viewer", machines: [] },
    NOW,
    "M",
  );
  assert.equal(c.hubRole, "viewer");
  assert.deepEqual(a.machines["*"], { connectTokens: ["M"] }, "no machines = every machine");
});

Deno.test("grant is idempotent; revokePermissions needs an ACL and a held permission", () => {
  const a = auth();
  assert.equal(ops.grant(a, "bob", "barn"), false);
  assert.equal(ops.grant(a, "bob", "barn", ["register"]), true);
  assert.equal(a.machines.barn.registerToken, "B");
  assert.throws(() => ops.grant(a, "bob", "barn", ["fly"]), (e: AccessError) => e.status === 400);
  assert.throws(
    () => ops.revokePermissions(a, "bob", "silo"),
    { message: 'no ACL for machine "silo"' },
  );
  ops.revokePermissions(a, "bob", "barn", ["connect", "register"]);
  assert.deepEqual(a.machines.barn, { connectTokens: [], manageTokens: ["B"] });
  assert.throws(
    () => ops.revokePermissions(a, "bob", "barn"),
    { message: 'identity "bob" has no connect grant on "barn"' },
  );
});

Deno.test("remove keeps a token value another identity still holds in the ACLs", () => {
  const a = auth();
  a.tokens.push({ id: "bob-copy", token: "B" });
  ops.removeIdentity(a, "bob", NOW);
  assert.deepEqual(a.machines.barn.connectTokens, ["B"]);
  assert.deepEqual(a.tokens.map((t) => t.id), ["owner", "old-owner", "bob-copy"]);
});

Deno.test("access entries: owner/admin get the synthetic * line; users one line per ACL key", () => {
  const a = auth();
  assert.deepEqual(ops.accessEntry(a, a.tokens[0]).machines, [
    { machineId: "*", permissions: ["register", "connect", "manage"] },
  ]);
  assert.deepEqual(ops.accessEntry(a, a.tokens[2], 7), {
    id: "bob",
    role: "user",
    tokenPreview: "B...",
    machines: [{ machineId: "barn", permissions: ["connect", "manage"] }],
    version: 7,
  });
});
