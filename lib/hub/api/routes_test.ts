import assert from "node:assert/strict";
import { type Route, Router, ROUTES } from "./routes.ts";

const stub = (pattern: string): Route => ({
  pattern,
  area: "admin",
  handle: () => new Response(pattern),
});

Deno.test("the table routes status, history and well-known by exact path only (spec §1.2)", () => {
  const r = new Router();
  for (const p of ["/api/status", "/status", "/api/admin/status"]) {
    assert.equal(r.match(p)?.area, "status", p);
  }
  assert.equal(r.match("/api/history")?.area, "history");
  assert.equal(r.match("/api/admin/history")?.area, "history");
  assert.equal(r.match("/.well-known/tela")?.area, "well-known");
  for (const p of ["/api/status/", "/api/unknown", "/ws", "/", "/index.html"]) {
    assert.equal(r.match(p), undefined, p); // the catch-all (console, WebSocket) takes these
  }
  assert.equal(r.match("/api/admin/tokens")?.area, "admin");
  assert.equal(r.match("/api/admin/tokens/bob/revoke")?.area, "admin");
  assert.equal(r.match("/api/admin/access/bob/machines/barn")?.area, "admin");
  assert.equal(r.match("/api/pair")?.area, "pair");
  assert.equal(r.match("/api/hubs")?.area, "hubs");
  assert.equal(r.match("/api/admin/agents/barn/logs")?.area, "admin");
  assert.equal(r.match("/api/admin/agents")?.pattern, "/api/admin/agents");
  assert.equal(ROUTES.length, 21);
});

Deno.test("subtree patterns match below them; exact beats subtree; longest subtree wins", () => {
  const r = new Router([
    stub("/api/admin/access"),
    stub("/api/admin/access/"),
    stub("/api/admin/"),
    stub("/api/admin/agents/"),
  ]);
  assert.equal(r.match("/api/admin/access")?.pattern, "/api/admin/access");
  assert.equal(r.match("/api/admin/access/bob")?.pattern, "/api/admin/access/");
  assert.equal(r.match("/api/admin/agents/barn/logs")?.pattern, "/api/admin/agents/");
  assert.equal(r.match("/api/admin/tokens")?.pattern, "/api/admin/");
  assert.equal(r.match("/api/adminx"), undefined);
});
