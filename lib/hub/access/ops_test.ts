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

Deno.test("new ids must be 1-64 letters, digits, . _ - @ starting with a letter or digit", () => {
  const bad = ["bad id!", "-lead", ".dot", "a".repeat(65), "tab\there", "ünï", "a/b", "a:b"];
  const good = ["a", "tech-bob", "alice@example.com", "paul.laptop_2", "a".repeat(64), "9lives"];
  for (const id of bad) {
    const a = auth();
    assert.throws(
      () => ops.createIdentity(a, { id }, NOW),
      (e: AccessError) => e.status === 400 && e.body.error === ops.ID_FORMAT_ERROR,
      id,
    );
    assert.throws(
      () => ops.updateIdentity(a, "bob", { id }, NOW),
      (e: AccessError) => e.status === 400 && e.body.error === ops.ID_FORMAT_ERROR,
      id,
    );
    assert.equal(a.tokens.length, 3, "nothing added");
    assert.equal(a.tokens[2].id, "bob", "nothing renamed");
  }
  for (const id of good) {
    const a = auth();
    ops.createIdentity(a, { id }, NOW);
    ops.updateIdentity(a, id, { id: `${id.slice(0, 60)}-2` }, NOW);
  }
  assert.equal(
    ops.ID_FORMAT_ERROR,
    "id must be 1-64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit",
  );
  // Existing ids are not checked: a hand-written one can still change role or be renamed away.
  const a = auth();
  a.tokens.push({ id: "old id!", token: "X" });
  ops.updateIdentity(a, "old id!", { role: "admin" }, NOW);
  ops.updateIdentity(a, "old id!", { id: "old id!" }, NOW);
  ops.updateIdentity(a, "old id!", { id: "old-id" }, NOW);
  assert.equal(a.tokens[3].id, "old-id");
  // Pairing: the id made from the machine name is checked too.
  assert.throws(
    () =>
      ops.addPaired(
        auth(),
        { type: "register", machineId: "my barn", role: "user", machines: [] },
        NOW,
      ),
    (e: AccessError) => e.status === 400,
  );
});
