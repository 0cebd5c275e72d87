import assert from "node:assert/strict";
import { HubAuth } from "./auth.ts";

Deno.test("the console viewer token skips revoked and expired viewers, checked at each call", () => {
  let now = Date.parse("2026-06-01T00:00:00Z");
  const auth = new HubAuth({
    tokens: [
      { id: "owner", token: "o".repeat(64), hubRole: "owner" },
      { id: "old", token: "1".repeat(64), hubRole: "viewer", revokedAt: "2026-01-01T00:00:00Z" },
      { id: "soon", token: "2".repeat(64), hubRole: "viewer", expiresAt: "2026-06-01T00:00:10Z" },
      { id: "later", token: "3".repeat(64), hubRole: "viewer" },
    ],
    machines: {},
  }, () => now);
  assert.equal(auth.viewerToken, "2".repeat(64));
  now += 10_000;
  assert.equal(auth.viewerToken, "3".repeat(64), "expired: the next viewer");
});
