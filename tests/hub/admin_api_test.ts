/**
 * The hub's admin REST API over real HTTP to a hub on 127.0.0.1 (spec hub-http-api.md §5,
 * §14.1–14.2; book Appendix A Admin API; issue 10): every endpoint × role, token lifecycle,
 * last-owner protection, If-Match, CORS and method rules, portals against a loopback portal,
 * the log ring.
 */
import assert from "node:assert/strict";
import { type Answer, call } from "./_admin_http.ts";
import { runProgram } from "../cli/_run.ts";
import { startHubInProcess, waitFor } from "./scripted_peers.ts";

const hex = (c: string) => c.repeat(64);
const T = {
  owner: hex("a"),
  admin: hex("b"),
  user: hex("c"),
  viewer: hex("d"),
  revoked: hex("e"),
  unknown: hex("f"),
};

const CONFIG = `name: testhub
auth:
  tokens:
    - id: owner
      token: ${T.owner}
      hubRole: owner
    - id: admin
      token: ${T.admin}
      hubRole: admin
    - id: user
      token: ${T.user}
    - id: viewer
      token: ${T.viewer}
      hubRole: viewer
    - id: gone
      token: ${T.revoked}
      hubRole: admin
  machines:
    barn:
      connectTokens:
        - ${T.user}
`;

type Role = "owner" | "admin" | "user" | "viewer" | "none" | "revoked";
const ROLES: Role[] = ["owner", "admin", "user", "viewer", "none", "revoked"];

interface Row {
  method: string;
  /** `{r}` is replaced with the role, so each admin mutates its own target. */
  path: string;
  body?: unknown;
  /** Status for owner/admin callers. */
  ok: number;
  /** Checks the owner/admin body. */
  check?: (a: Answer, role: Role) => void;
  /** Non-admin rule: `admin` (403 valid / 401 none+revoked) or `read` (any valid token). */
  gate?: "admin" | "read";
}

const ROWS: Row[] = [
  {
    method: "GET",
    path: "/api/admin/tokens",
    ok: 200,
    check: (a) => {
      assert.ok(Array.isArray(a.body.tokens));
      const owner = a.body.tokens.find((t: { id: string }) => t.id === "owner");
      assert.equal(owner.role, "owner");
      assert.equal(owner.tokenPreview, "aaaaaaaa...");
      assert.ok(!a.text.includes(T.owner), "never the whole token");
    },
  },
  {
    method: "POST",
    path: "/api/admin/tokens",
    body: { id: "new-{r}" },
    ok: 201,
    check: (a, r) => {
      assert.equal(a.body.id, `new-${r}`);
      assert.equal(a.body.role, "");
      assert.match(a.body.token, /^[0-9a-f]{64}$/);
      assert.equal(typeof a.body.version, "number");
      assert.equal(a.headers.get("etag"), `"${a.body.version}"`);
    },
  },
  {
    method: "POST",
    path: "/api/admin/tokens/new-{r}/revoke",
    ok: 200,
    check: (a, r) => {
      assert.equal(a.body.status, "revoked");
      assert.equal(a.body.id, `new-${r}`);
      assert.match(a.body.revokedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    },
  },
  {
    method: "POST",
    path: "/api/admin/rotate/new-{r}",
    ok: 200,
    check: (a, r) => {
      assert.equal(a.body.id, `new-${r}`);
      assert.equal(a.body.status, "rotated");
      assert.match(a.body.token, /^[0-9a-f]{64}$/);
    },
  },
  {
    method: "GET",
    path: "/api/admin/access",
    ok: 200,
    check: (a) => assert.ok(a.body.access.some((e: { id: string }) => e.id === "user")),
  },
  {
    method: "GET",
    path: "/api/admin/access/new-{r}",
    ok: 200,
    check: (a, r) => {
      assert.equal(a.body.id, `new-${r}`);
      assert.equal(a.body.role, "user");
      assert.deepEqual(a.body.machines, []);
      assert.equal(a.headers.get("etag"), `"${a.body.version}"`);
    },
  },
  {
    method: "PUT",
    path: "/api/admin/access/new-{r}/machines/barn",
    body: { permissions: ["connect"], services: ["SSH"] },
    ok: 200,
    check: (a, r) => {
      assert.deepEqual(
        { ...a.body, version: 0 },
        {
          id: `new-${r}`,
          machineId: "barn",
          permissions: ["connect"],
          services: ["SSH"],
          status: "updated",
          version: 0,
        },
      );
    },
  },
  {
    method: "DELETE",
    path: "/api/admin/access/new-{r}/machines/barn",
    ok: 200,
    check: (a, r) => {
      assert.equal(a.body.id, `new-${r}`);
      assert.equal(a.body.machineId, "barn");
      assert.equal(a.body.status, "revoked");
    },
  },
  {
    method: "PATCH",
    path: "/api/admin/access/new-{r}",
    body: { id: "renamed-{r}" },
    ok: 200,
    check: (a, r) => {
      assert.equal(a.body.id, `renamed-${r}`);
      assert.equal(a.body.status, "updated");
    },
  },
  {
    method: "DELETE",
    path: "/api/admin/access/renamed-{r}",
    ok: 200,
    check: (a, r) => assert.deepEqual(a.body, { id: `renamed-${r}`, status: "removed" }),
  },
  {
    method: "POST",
    path: "/api/admin/tokens",
    body: { id: "del-{r}", role: "admin" },
    ok: 201,
  },
  {
    method: "DELETE",
    path: "/api/admin/tokens/del-{r}",
    ok: 200,
    check: (a, r) => assert.deepEqual(a.body, { id: `del-${r}`, status: "removed" }),
  },
  {
    method: "GET",
    path: "/api/admin/portals",
    ok: 200,
    check: (a) => assert.deepEqual(a.body, { portals: [] }),
  },
  {
    method: "POST",
    path: "/api/admin/portals",
    body: {},
    ok: 400,
    check: (a) => assert.deepEqual(a.body, { error: "name, portalUrl, and hubUrl are required" }),
  },
  {
    method: "DELETE",
    path: "/api/admin/portals/nope",
    ok: 404,
    check: (a) => assert.deepEqual(a.body, { error: "portal not found" }),
  },
  {
    method: "POST",
    path: "/api/admin/pair-code",
    body: {},
    ok: 200,
    check: (a) => {
      assert.match(a.body.code, /^[0-9A-F]{4}-[0-9A-F]{4}$/);
      assert.equal(a.body.type, "connect");
      const left = Date.parse(a.body.expiresAt) - Date.now();
      assert.ok(left > 8 * 60_000 && left <= 10 * 60_000 + 1000, `expires in ${left} ms`);
    },
  },
  {
    method: "GET",
    path: "/api/admin/logs?lines=3",
    ok: 200,
    check: (a) => {
      assert.ok(Array.isArray(a.body.lines));
      assert.ok(a.body.lines.length <= 3 && a.body.lines.length > 0);
    },
  },
  {
    method: "POST",
    path: "/api/admin/restart",
    ok: 501,
    check: (a) => assert.deepEqual(a.body, { error: "restart is not available in this process" }),
  },
  {
    method: "GET",
    path: "/api/hubs",
    ok: 200,
    gate: "read",
  },
];

Deno.test("every admin endpoint × role: owner/admin pass, user/viewer 403, none/revoked 401", async (t) => {
  const hub = await startHubInProcess({ configYaml: CONFIG });
  try {
    // "revoked": an admin whose token was revoked (so a pass would show the revocation failed).
    const rv = await call(hub.http, "POST", "/api/admin/tokens/gone/revoke", { token: T.owner });
    assert.equal(rv.status, 200, rv.text);
    for (const role of ROLES) {
      await t.step(role, async () => {
        const token = role === "none" ? undefined : T[role];
        for (const row of ROWS) {
          const path = row.path.replaceAll("{r}", role);
          const body = row.body === undefined
            ? undefined
            : JSON.parse(JSON.stringify(row.body).replaceAll("{r}", role));
          const a = await call(hub.http, row.method, path, { token, body });
          const what = `${role} ${row.method} ${path}: ${a.status} ${a.text}`;
          assert.equal(a.headers.get("content-type"), "application/json", what);
          assert.ok(a.text.endsWith("\n"), what);
          const valid = role !== "none" && role !== "revoked";
          if (row.gate === "read") {
            if (valid) {
              assert.equal(a.status, 200, what);
              assert.deepEqual(a.body, {
                hubs: [{
                  id: hub.running.config.hubId,
                  name: "testhub",
                  url: hub.http,
                  canManage: role === "owner" || role === "admin",
                }],
              }, what);
            } else {
              assert.equal(a.status, 401, what);
              assert.deepEqual(a.body, { error: "auth_required", hubs: [] }, what);
            }
            continue;
          }
          if (role === "owner" || role === "admin") {
            assert.equal(a.status, row.ok, what);
            row.check?.(a, role);
          } else if (valid) {
            assert.equal(a.status, 403, what);
            // The caller's own identity beside the spec's error (our extension).
            assert.deepEqual(a.body, { error: "forbidden", identity: role }, what);
          } else {
            assert.equal(a.status, 401, what);
            assert.equal(typeof a.body.error, "string", what);
            assert.equal(a.headers.get("www-authenticate"), 'Bearer realm="telahubd"', what);
          }
        }
      });
    }
    // An unknown token is the same 401 as a revoked one; the cookie source is honoured too.
    const u = await call(hub.http, "GET", "/api/admin/tokens", { token: T.unknown });
    assert.deepEqual([u.status, u.body], [401, { error: "invalid token" }]);
    const none = await call(hub.http, "GET", "/api/admin/tokens");
    assert.deepEqual([none.status, none.body], [401, { error: "authentication required" }]);
    const cookie = await call(hub.http, "GET", "/api/admin/tokens", {
      headers: { Cookie: `tela_viewer=${T.viewer}` },
    });
    assert.deepEqual([cookie.status, cookie.body], [403, {
      error: "forbidden",
      identity: "viewer",
    }]);
  } finally {
    await hub.close();
  }
});

Deno.test("CORS, preflights, 405s, redirects and the body limit follow spec §1.4 and §3", async () => {
  const hub = await startHubInProcess({
    configYaml: CONFIG.replace(
      "  machines:\n",
      `    - id: a/b\n      token: ${hex("8")}\n  machines:\n`,
    ),
  });
  try {
    const origin = "https://console.example";
    for (
      const p of [
        "/api/admin/tokens",
        "/api/admin/access/x",
        "/api/admin/logs",
        "/api/admin/restart",
        "/api/admin/portals",
        "/api/admin/rotate/x",
      ]
    ) {
      const a = await call(hub.http, "OPTIONS", p, { headers: { Origin: origin } });
      assert.equal(a.status, 204, p);
      assert.equal(a.headers.get("access-control-allow-origin"), origin);
      assert.equal(
        a.headers.get("access-control-allow-methods"),
        "GET, POST, PUT, PATCH, DELETE, OPTIONS",
      );
      assert.equal(
        a.headers.get("access-control-allow-headers"),
        "Content-Type, Authorization, If-Match",
      );
      assert.equal(a.headers.get("access-control-expose-headers"), "ETag");
      assert.equal(a.headers.get("vary"), "Origin");
    }
    // No Origin, no CORS headers.
    const plain = await call(hub.http, "GET", "/api/admin/tokens", { token: T.owner });
    assert.equal(plain.headers.get("access-control-allow-origin"), null);
    // Gate refusals and successes carry them when an Origin came.
    const g = await call(hub.http, "GET", "/api/admin/tokens", { headers: { Origin: origin } });
    assert.equal(g.status, 401);
    assert.equal(g.headers.get("access-control-allow-origin"), origin);
    // pair-code and /api/pair: 405 for everything but POST, OPTIONS included, no CORS.
    for (const p of ["/api/admin/pair-code", "/api/pair"]) {
      for (const m of ["OPTIONS", "GET", "PUT"]) {
        const a = await call(hub.http, m, p, { headers: { Origin: origin }, token: T.owner });
        assert.equal(a.status, 405, `${m} ${p}`);
        assert.deepEqual(a.body, { error: "method not allowed" });
        assert.equal(a.headers.get("access-control-allow-origin"), null);
      }
    }
    // Auth first on tokens/logs: a viewer's DELETE gets 403, not 405.
    const v = await call(hub.http, "DELETE", "/api/admin/logs", { token: T.viewer });
    assert.equal(v.status, 403);
    // Method first on rotate: a GET without a token gets 405.
    const r = await call(hub.http, "GET", "/api/admin/rotate/x");
    assert.equal(r.status, 405);
    for (
      const [m, p] of [
        ["PUT", "/api/admin/tokens"],
        ["POST", "/api/admin/access"],
        ["DELETE", "/api/admin/logs"],
        ["GET", "/api/admin/restart"],
        ["PUT", "/api/admin/portals"],
      ]
    ) {
      const a = await call(hub.http, m, p, { token: T.owner });
      assert.equal(a.status, 405, `${m} ${p}`);
      assert.deepEqual(a.body, { error: "method not allowed" });
      assert.ok(a.headers.get("allow"));
    }
    // The subtree root without its slash redirects (Go ServeMux).
    const redir = await call(hub.http, "POST", "/api/admin/rotate", { token: T.owner });
    assert.equal(redir.status, 301);
    assert.equal(redir.headers.get("location"), "/api/admin/rotate/");
    // 4096-byte limit on tokens POST, portals POST, access PATCH/PUT: 413.
    const big = JSON.stringify({ id: "x", pad: "p".repeat(5000) });
    for (
      const [m, p] of [["POST", "/api/admin/tokens"], ["POST", "/api/admin/portals"], [
        "PATCH",
        "/api/admin/access/user",
      ], ["PUT", "/api/admin/access/user/machines/barn"]]
    ) {
      const a = await call(hub.http, m, p, { token: T.owner, raw: big });
      assert.equal(a.status, 413, `${m} ${p}`);
      assert.deepEqual(a.body, { error: "request body too large (limit 4096 bytes)" });
    }
    // Just under the limit is read.
    const fits = JSON.stringify({ id: "fits", pad: "p".repeat(4000) });
    assert.equal(
      (await call(hub.http, "POST", "/api/admin/tokens", { token: T.owner, raw: fits })).status,
      201,
    );
    // Body errors are the spec's JSON.
    const e1 = await call(hub.http, "POST", "/api/admin/tokens", { token: T.owner, raw: "nope" });
    assert.deepEqual([e1.status, e1.body], [400, { error: "id is required" }]);
    const e2 = await call(hub.http, "POST", "/api/admin/tokens", {
      token: T.owner,
      body: { id: "v", role: "viewer" },
    });
    assert.equal(e2.status, 400);
    const e3 = await call(hub.http, "POST", "/api/admin/tokens", {
      token: T.owner,
      body: { id: "user" },
    });
    assert.deepEqual([e3.status, e3.body], [409, { error: "identity already exists" }]);
    const e4 = await call(hub.http, "POST", "/api/admin/tokens", {
      token: T.owner,
      body: { id: "w", expiresAt: "tomorrow" },
    });
    assert.deepEqual([e4.status, e4.body], [400, {
      error: "expiresAt must be RFC3339 (e.g. 2027-01-01T00:00:00Z)",
    }]);
    const e5 = await call(hub.http, "PUT", "/api/admin/access/user/machines/", {
      token: T.owner,
      body: {},
    });
    assert.deepEqual([e5.status, e5.body], [400, { error: "machineId required" }]);
    const e6 = await call(hub.http, "PUT", "/api/admin/access/user/machines/barn", {
      token: T.owner,
      raw: "[",
    });
    assert.deepEqual([e6.status, e6.body], [400, { error: "invalid body" }]);
    const e7 = await call(hub.http, "GET", "/api/admin/access/nobody", { token: T.owner });
    assert.deepEqual([e7.status, e7.body], [404, { error: "identity not found" }]);
    const e8 = await call(hub.http, "POST", "/api/admin/tokens/user/frobnicate", {
      token: T.owner,
    });
    assert.deepEqual([e8.status, e8.body], [404, { error: "unknown action: frobnicate" }]);
    const e9 = await call(hub.http, "PATCH", "/api/admin/access/user", {
      token: T.owner,
      body: {},
    });
    assert.deepEqual([e9.status, e9.body], [400, { error: "specify at least one of id or role" }]);
    const e10 = await call(hub.http, "PATCH", "/api/admin/access/user", {
      token: T.owner,
      body: { id: "" },
    });
    assert.deepEqual([e10.status, e10.body], [400, { error: "id cannot be empty" }]);
    // Ids with a slash (new ids may not have one: this one comes from the file) travel
    // percent-encoded and are decoded (spec §1.2).
    const got = await call(hub.http, "GET", "/api/admin/access/a%2Fb", { token: T.owner });
    assert.equal(got.body.id, "a/b");
    const del = await call(hub.http, "DELETE", "/api/admin/tokens/a%2Fb", { token: T.owner });
    assert.deepEqual(del.body, { id: "a/b", status: "removed" });
  } finally {
    await hub.close();
  }
});

Deno.test("token lifecycle: revoke keeps the identity, rotate re-enables, expiresAt is honoured", async () => {
  const hub = await startHubInProcess({ configYaml: CONFIG });
  try {
    const c = await call(hub.http, "POST", "/api/admin/tokens", {
      token: T.owner,
      body: { id: "bob", role: "admin" },
    });
    assert.equal(c.status, 201, c.text);
    const bob = c.body.token as string;
    assert.equal((await call(hub.http, "GET", "/api/admin/tokens", { token: bob })).status, 200);
    const rv = await call(hub.http, "POST", "/api/admin/tokens/bob/revoke", { token: T.owner });
    assert.equal(rv.body.status, "revoked");
    assert.equal((await call(hub.http, "GET", "/api/admin/tokens", { token: bob })).status, 401);
    assert.equal((await call(hub.http, "GET", "/api/status", { token: bob })).status, 401);
    const again = await call(hub.http, "POST", "/api/admin/tokens/bob/revoke", { token: T.owner });
    assert.deepEqual(again.body, {
      status: "already-revoked",
      id: "bob",
      revokedAt: rv.body.revokedAt,
    });
    const kept = await call(hub.http, "GET", "/api/admin/access/bob", { token: T.owner });
    assert.equal(kept.status, 200);
    assert.equal(kept.body.revokedAt, rv.body.revokedAt);
    const list = await call(hub.http, "GET", "/api/admin/tokens", { token: T.owner });
    assert.equal(
      list.body.tokens.find((t: { id: string }) => t.id === "bob").revokedAt,
      rv.body.revokedAt,
    );
    const ro = await call(hub.http, "POST", "/api/admin/rotate/bob", { token: T.owner });
    assert.equal(ro.status, 200);
    assert.notEqual(ro.body.token, bob);
    assert.equal(
      (await call(hub.http, "GET", "/api/admin/tokens", { token: ro.body.token })).status,
      200,
    );
    assert.equal(
      (await call(hub.http, "GET", "/api/admin/tokens", { token: bob })).status,
      401,
      "old token dead",
    );
    const after = await call(hub.http, "GET", "/api/admin/access/bob", { token: T.owner });
    assert.equal(after.body.revokedAt, undefined);

    // expiresAt: valid until then, unknown (401) after.
    const at = new Date(Date.now() + 2000).toISOString().replace(/\.\d+Z$/, "Z");
    const e = await call(hub.http, "POST", "/api/admin/tokens", {
      token: T.owner,
      body: { id: "temp", role: "admin", expiresAt: at },
    });
    assert.equal(e.status, 201, e.text);
    assert.equal(e.body.expiresAt, at);
    assert.equal(
      (await call(hub.http, "GET", "/api/admin/tokens", { token: e.body.token })).status,
      200,
    );
    await new Promise((r) => setTimeout(r, Date.parse(at) - Date.now() + 1100));
    const late = await call(hub.http, "GET", "/api/admin/tokens", { token: e.body.token });
    assert.equal(late.status, 401, late.text);
  } finally {
    await hub.close();
  }
});

Deno.test("the last owner cannot be deleted, revoked or demoted (409)", async () => {
  const hub = await startHubInProcess({ configYaml: CONFIG });
  try {
    // The sole owner itself (an admin is refused earlier: owner-only operations).
    const d = await call(hub.http, "DELETE", "/api/admin/access/owner", { token: T.owner });
    assert.deepEqual([d.status, d.body], [409, {
      error: "cannot delete the last remaining owner; promote another identity to owner first",
    }]);
    const d2 = await call(hub.http, "DELETE", "/api/admin/tokens/owner", { token: T.owner });
    assert.equal(d2.status, 409);
    const r = await call(hub.http, "POST", "/api/admin/tokens/owner/revoke", { token: T.owner });
    assert.deepEqual([r.status, r.body], [409, {
      error: "cannot revoke the last remaining owner; promote another identity to owner first",
    }]);
    const p = await call(hub.http, "PATCH", "/api/admin/access/owner", {
      token: T.owner,
      body: { role: "admin" },
    });
    assert.deepEqual([p.status, p.body], [409, {
      error: "cannot demote the sole owner; promote another identity first",
    }]);
    // With a second owner, the first can go.
    const up = await call(hub.http, "PATCH", "/api/admin/access/admin", {
      token: T.owner,
      body: { role: "owner" },
    });
    assert.equal(up.status, 200, up.text);
    const ok = await call(hub.http, "DELETE", "/api/admin/access/owner", { token: T.admin });
    assert.deepEqual(
      [ok.status, ok.body],
      [200, { id: "owner", status: "removed" }],
      "by the new owner",
    );
    assert.equal(
      (await call(hub.http, "GET", "/api/admin/tokens", { token: T.owner })).status,
      401,
    );
  } finally {
    await hub.close();
  }
});

Deno.test("If-Match: a stale version gets 412 with the current entry; the current one passes", async () => {
  const hub = await startHubInProcess({ configYaml: CONFIG });
  try {
    const g = await call(hub.http, "GET", "/api/admin/access/user", { token: T.owner });
    const tag = g.headers.get("etag")!;
    const v = g.body.version as number;
    assert.equal(tag, `"${v}"`);
    const put = await call(hub.http, "PUT", "/api/admin/access/user/machines/shed", {
      token: T.owner,
      body: { permissions: ["connect"] },
      headers: { "If-Match": tag },
    });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.headers.get("etag"), `"${v + 1}"`);
    assert.equal(put.body.version, v + 1);
    // The old tag is stale now, for every mutation.
    for (
      const [m, p, body] of [
        ["PUT", "/api/admin/access/user/machines/barn", { permissions: [] }],
        ["DELETE", "/api/admin/access/user/machines/shed", undefined],
        ["PATCH", "/api/admin/access/user", { id: "u2" }],
        ["DELETE", "/api/admin/access/user", undefined],
        ["POST", "/api/admin/rotate/user", undefined],
        ["POST", "/api/admin/tokens/user/revoke", undefined],
      ] as const
    ) {
      const a = await call(hub.http, m, p, {
        token: T.owner,
        body,
        headers: { "If-Match": `W/${tag}` },
      });
      assert.equal(a.status, 412, `${m} ${p}: ${a.text}`);
      assert.equal(a.body.error, "access entry has been modified since last read");
      assert.equal(a.body.id, "user");
      assert.equal(a.body.version, v + 1);
      assert.equal(a.body.current.id, "user");
    }
    // `*` and a bare number are accepted forms.
    const star = await call(hub.http, "PATCH", "/api/admin/access/user", {
      token: T.owner,
      body: { id: "user2" },
      headers: { "If-Match": "*" },
    });
    assert.equal(star.status, 200, star.text);
    const bare = await call(hub.http, "DELETE", "/api/admin/access/user2/machines/shed", {
      token: T.owner,
      headers: { "If-Match": String(star.body.version) },
    });
    assert.equal(bare.status, 200, bare.text);
  } finally {
    await hub.close();
  }
});

Deno.test("portals: registration against a loopback portal, its errors, listing and removal", async () => {
  const seen: { auth: string | null; body: Record<string, unknown>; path: string }[] = [];
  const synced: { auth: string | null; body: Record<string, unknown> }[] = [];
  let mode: "ok" | "500" | "nosync" = "ok";
  const portal = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const u = new URL(req.url);
    if (u.pathname === "/.well-known/tela") {
      return Response.json({
        hub_directory: "/dir/hubs",
        protocolVersion: "1.1",
        supportedVersions: ["1.1"],
      });
    }
    if (u.pathname === "/dir/hubs/sync" && req.method === "PATCH") {
      synced.push({ auth: req.headers.get("authorization"), body: await req.json() });
      return Response.json({ ok: true });
    }
    if (u.pathname === "/dir/hubs" && req.method === "POST") {
      const auth = req.headers.get("authorization");
      const body = await req.json();
      seen.push({ auth, body, path: u.pathname });
      if (auth !== "Bearer portal-admin") return Response.json({ error: "no" }, { status: 401 });
      if (mode === "500") return new Response("boom", { status: 500 });
      if (mode === "nosync") return Response.json({ hubs: [] });
      return Response.json({
        hubs: [{ id: body.hubId, name: body.name, url: body.url, canManage: true }],
        syncToken: "hubsync_abc",
        updated: false,
      });
    }
    return new Response("not found", { status: 404 });
  });
  const purl = `http://127.0.0.1:${portal.addr.port}`;
  const hub = await startHubInProcess({ configYaml: CONFIG });
  try {
    const post = (body: unknown) =>
      call(hub.http, "POST", "/api/admin/portals", { token: T.owner, body });
    const ok = await post({
      name: "p1",
      portalUrl: purl + "/",
      portalToken: "portal-admin",
      hubUrl: "https://hub.example",
    });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(
      ok.text,
      JSON.stringify({
        hasSyncToken: true,
        hubDirectory: "/dir/hubs",
        name: "p1",
        status: "created",
        url: purl,
      }) + "\n",
    );
    assert.deepEqual(seen.at(-1)!.body, {
      name: "testhub",
      url: "https://hub.example",
      hubId: hub.running.config.hubId,
      viewerToken: T.viewer,
    });
    const again = await post({
      name: "p1",
      portalUrl: purl,
      portalToken: "portal-admin",
      hubUrl: "https://hub.example",
    });
    assert.equal(again.body.status, "updated");
    const list = await call(hub.http, "GET", "/api/admin/portals", { token: T.owner });
    assert.deepEqual(list.body, {
      portals: [{ name: "p1", url: purl, hubDirectory: "/dir/hubs", hasSyncToken: true }],
    });
    await hub.running.store.flush();
    const yaml = await Deno.readTextFile(`${hub.dir}/telahubd.yaml`);
    assert.ok(yaml.includes("hubsync_abc"), "sync token persisted");
    assert.ok(!yaml.includes("portal-admin"), "the portal admin token is never stored");

    // Rotating the console's viewer token pushes it to the portal with the sync token, and
    // (our optional field) the public URL the hub registered with.
    const rot = await call(hub.http, "POST", "/api/admin/rotate/viewer", { token: T.owner });
    assert.equal(rot.status, 200);
    await waitFor(() => synced.length > 0, "the viewer-token sync");
    assert.deepEqual(synced[0], {
      auth: "Bearer hubsync_abc",
      body: { name: "testhub", viewerToken: rot.body.token, url: "https://hub.example" },
    });
    // Rotating anyone else does not.
    await call(hub.http, "POST", "/api/admin/rotate/user", { token: T.owner });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(synced.length, 1);

    const bad = await post({
      name: "p2",
      portalUrl: purl,
      portalToken: "wrong",
      hubUrl: "https://h",
    });
    assert.deepEqual([bad.status, bad.body], [502, {
      error: "unauthorized. Check your API token",
    }]);
    mode = "500";
    const five = await post({
      name: "p2",
      portalUrl: purl,
      portalToken: "portal-admin",
      hubUrl: "https://h",
    });
    assert.deepEqual([five.status, five.body], [502, { error: "portal returned HTTP 500: boom" }]);
    mode = "nosync";
    const ns = await post({
      name: "p2",
      portalUrl: purl,
      portalToken: "portal-admin",
      hubUrl: "https://h",
    });
    assert.deepEqual([ns.status, ns.body], [502, {
      error: `portal at ${purl} returned no syncToken; portal does not implement protocol 1.0`,
    }]);
    const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const deadUrl = `http://127.0.0.1:${(dead.addr as Deno.NetAddr).port}`;
    dead.close();
    const unreach = await post({ name: "p2", portalUrl: deadUrl, hubUrl: "https://h" });
    assert.equal(unreach.status, 502);
    assert.ok(unreach.body.error.startsWith(`could not reach ${deadUrl}: `), unreach.text);
    const l2 = await call(hub.http, "GET", "/api/admin/portals", { token: T.owner });
    assert.equal(l2.body.portals.length, 1, "failed registrations store nothing");

    const byQuery = await call(hub.http, "DELETE", "/api/admin/portals?name=p1", {
      token: T.owner,
    });
    assert.deepEqual([byQuery.status, byQuery.body], [200, { name: "p1", status: "removed" }]);
    const gone = await call(hub.http, "DELETE", "/api/admin/portals/p1", { token: T.owner });
    assert.deepEqual([gone.status, gone.body], [404, { error: "portal not found" }]);
    const noName = await call(hub.http, "DELETE", "/api/admin/portals", { token: T.owner });
    assert.deepEqual([noName.status, noName.body], [400, {
      error: "name query param is required",
    }]);
  } finally {
    await hub.close();
    await portal.shutdown();
  }
});

Deno.test("a hub without a name refuses portal registration", async () => {
  const hub = await startHubInProcess({ configYaml: CONFIG.replace("name: testhub\n", "") });
  try {
    const a = await call(hub.http, "POST", "/api/admin/portals", {
      token: T.owner,
      body: { name: "p", portalUrl: "http://127.0.0.1:9", hubUrl: "https://h" },
    });
    assert.deepEqual([a.status, a.body], [400, {
      error:
        "hub name not configured: set name: in telahubd.yaml or TELAHUBD_NAME, then restart the hub",
    }]);
  } finally {
    await hub.close();
  }
});

Deno.test("the log ring: /api/admin/logs returns the newest lines, oldest first", async () => {
  const hub = await startHubInProcess({ configYaml: CONFIG });
  try {
    const pc = await call(hub.http, "POST", "/api/admin/pair-code", {
      token: T.owner,
      body: { type: "connect" },
    });
    assert.equal(pc.status, 200);
    const a = await call(hub.http, "GET", "/api/admin/logs?lines=1000", { token: T.owner });
    const lines = a.body.lines as string[];
    const listen = lines.findIndex((l) => /\[hub\] telahubd listening on .*:/.test(l));
    const gen = lines.findIndex((l) => l.includes("pairing code generated by owner"));
    assert.ok(listen >= 0 && gen > listen, "oldest first");
    assert.match(lines[gen], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[hub\] /);
    assert.ok(
      !lines.some((l) => l.includes(pc.body.code) && l.includes(T.owner)),
      "no token in logs",
    );
    const two = await call(hub.http, "GET", "/api/admin/logs?lines=2", { token: T.owner });
    assert.deepEqual(two.body.lines, lines.slice(-2).length === 2 ? two.body.lines : []);
    assert.equal(two.body.lines.length, 2);
    for (const q of ["", "?lines=0", "?lines=-3", "?lines=abc"]) {
      const d = await call(hub.http, "GET", `/api/admin/logs${q}`, { token: T.owner });
      assert.ok(d.body.lines.length <= 100 && d.body.lines.length > 0, q);
    }
  } finally {
    await hub.close();
  }
});

Deno.test("/api/hubs names the hub at the URL the client used (X-Forwarded-Proto/Host, Host)", async () => {
  const hub = await startHubInProcess({ configYaml: CONFIG });
  try {
    const fwd = await call(hub.http, "GET", "/api/hubs", {
      token: T.user,
      headers: { "X-Forwarded-Proto": "https", "X-Forwarded-Host": "hub.example.com, proxy.local" },
    });
    assert.deepEqual(fwd.body.hubs[0], {
      id: hub.running.config.hubId,
      name: "testhub",
      url: "https://hub.example.com",
      canManage: false,
    });
    assert.equal(fwd.headers.get("access-control-allow-origin"), "*");
    const pre = await call(hub.http, "OPTIONS", "/api/hubs");
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-methods"), "GET, POST, DELETE, OPTIONS");
  } finally {
    await hub.close();
  }
});

Deno.test("open mode: the admin API is off (403), /api/hubs answers without a token", async () => {
  const hub = await startHubInProcess({ open: true });
  try {
    const a = await call(hub.http, "GET", "/api/admin/tokens");
    assert.deepEqual([a.status, a.body], [403, { error: "forbidden" }]);
    const p = await call(hub.http, "POST", "/api/admin/pair-code", { body: {} });
    assert.deepEqual([p.status, p.body], [403, { error: "forbidden" }]);
    const h = await call(hub.http, "GET", "/api/hubs");
    assert.equal(h.status, 200);
    assert.equal(h.body.hubs[0].canManage, false);
  } finally {
    await hub.close();
  }
});

Deno.test("owner-only operations: an admin gets 403 'only an owner can ...', an owner succeeds", async () => {
  const owners = ["o-rot", "o-rev", "o-del", "o-del2", "o-dem", "o-ren"];
  const yaml = CONFIG.replace(
    "  machines:\n",
    owners.map((id, i) =>
      `    - id: ${id}\n      token: ${String(i).repeat(64)}\n      hubRole: owner\n`
    ).join("") + "  machines:\n",
  );
  const hub = await startHubInProcess({ configYaml: yaml });
  try {
    const cases: { method: string; path: string; body?: unknown; action: string; ok: number }[] = [
      {
        method: "POST",
        path: "/api/admin/tokens",
        body: { id: "new-owner", role: "owner" },
        action: "create an owner token",
        ok: 201,
      },
      {
        method: "POST",
        path: "/api/admin/pair-code",
        body: { role: "owner" },
        action: "create an owner pairing code",
        ok: 200,
      },
      {
        method: "PATCH",
        path: "/api/admin/access/user",
        body: { role: "owner" },
        action: "promote an identity to owner",
        ok: 200,
      },
      {
        method: "POST",
        path: "/api/admin/rotate/o-rot",
        action: "rotate an owner's token",
        ok: 200,
      },
      {
        method: "POST",
        path: "/api/admin/tokens/o-rev/revoke",
        action: "revoke an owner's token",
        ok: 200,
      },
      { method: "DELETE", path: "/api/admin/tokens/o-del", action: "remove an owner", ok: 200 },
      { method: "DELETE", path: "/api/admin/access/o-del2", action: "remove an owner", ok: 200 },
      {
        method: "PATCH",
        path: "/api/admin/access/o-dem",
        body: { role: "admin" },
        action: "demote an owner",
        ok: 200,
      },
      {
        method: "PATCH",
        path: "/api/admin/access/o-ren",
        body: { id: "o-renamed" },
        action: "rename an owner",
        ok: 200,
      },
    ];
    for (const c of cases) {
      const before = await call(hub.http, "GET", "/api/admin/access", { token: T.owner });
      const a = await call(hub.http, c.method, c.path, { token: T.admin, body: c.body });
      assert.deepEqual(
        [a.status, a.body],
        [403, { error: `only an owner can ${c.action}`, identity: "admin" }],
        c.path,
      );
      const after = await call(hub.http, "GET", "/api/admin/access", { token: T.owner });
      assert.deepEqual(after.body, before.body, `${c.path}: nothing changed`);
      const o = await call(hub.http, c.method, c.path, { token: T.owner, body: c.body });
      assert.equal(o.status, c.ok, `${c.path} as owner: ${o.text}`);
    }
    // Decision: admins may create admins (tokens, pairing codes, promotion); only owners are
    // reserved. And an admin still manages non-owners.
    const mk = await call(hub.http, "POST", "/api/admin/tokens", {
      token: T.admin,
      body: { id: "new-admin", role: "admin" },
    });
    assert.equal(mk.status, 201, mk.text);
    const pc = await call(hub.http, "POST", "/api/admin/pair-code", {
      token: T.admin,
      body: { role: "admin" },
    });
    assert.equal(pc.status, 200, pc.text);
    const up = await call(hub.http, "PATCH", "/api/admin/access/viewer", {
      token: T.admin,
      body: { role: "admin" },
    });
    assert.equal(up.status, 200, up.text);
    const rot = await call(hub.http, "POST", "/api/admin/rotate/new-admin", { token: T.admin });
    assert.equal(rot.status, 200, rot.text);
    // A missing identity is still 404, not 403.
    const miss = await call(hub.http, "DELETE", "/api/admin/access/nobody", { token: T.admin });
    assert.equal(miss.status, 404);
  } finally {
    await hub.close();
  }
});

Deno.test("ids are checked when made: create, rename, pairing (400); existing odd ids still load", async () => {
  const ERR = {
    error: "id must be 1-64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit",
  };
  const hub = await startHubInProcess({
    configYaml: CONFIG.replace(
      "  machines:\n",
      `    - id: "old id!"\n      token: ${hex("9")}\n  machines:\n`,
    ),
  });
  try {
    const mk = await call(hub.http, "POST", "/api/admin/tokens", {
      token: T.owner,
      body: { id: "bad id!" },
    });
    assert.deepEqual([mk.status, mk.body], [400, ERR]);
    const ren = await call(hub.http, "PATCH", "/api/admin/access/user", {
      token: T.owner,
      body: { id: "-user" },
    });
    assert.deepEqual([ren.status, ren.body], [400, ERR]);
    const pc = await call(hub.http, "POST", "/api/admin/pair-code", {
      token: T.owner,
      body: { type: "register", machineId: "my barn" },
    });
    assert.equal(pc.status, 400);
    assert.ok(pc.body.error.startsWith(ERR.error), pc.text);
    assert.match(pc.body.error, /"my barn-agent"/);
    const list = await call(hub.http, "GET", "/api/admin/access", { token: T.owner });
    const ids = list.body.access.map((e: { id: string }) => e.id);
    assert.ok(ids.includes("old id!"), "the odd id from the file is still there");
    assert.ok(!ids.includes("bad id!") && ids.includes("user"));
    const fix = await call(
      hub.http,
      "PATCH",
      `/api/admin/access/${encodeURIComponent("old id!")}`,
      {
        token: T.owner,
        body: { id: "old-id" },
      },
    );
    assert.equal(fix.status, 200, fix.text);
  } finally {
    await hub.close();
  }
});

Deno.test("viewer-token sync (spec §11): 2 s after start, and after a telahubd user rotate of the viewer", async () => {
  const synced: { auth: string | null; body: { name?: string; viewerToken?: string } }[] = [];
  const portal = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    if (new URL(req.url).pathname === "/api/hubs/sync" && req.method === "PATCH") {
      synced.push({ auth: req.headers.get("authorization"), body: await req.json() });
      return Response.json({ ok: true });
    }
    return new Response("not found", { status: 404 });
  });
  const purl = `http://127.0.0.1:${portal.addr.port}`;
  const hub = await startHubInProcess({
    configYaml: CONFIG +
      `portals:\n  p1:\n    url: ${purl}\n    syncToken: hubsync_p1\n    hubDirectory: /api/hubs\n`,
  });
  try {
    const t0 = Date.now();
    await waitFor(() => synced.length >= 1, "the sync after start", 5000);
    assert.ok(Date.now() - t0 >= 1500, "not before the start delay");
    assert.deepEqual(synced[0], {
      auth: "Bearer hubsync_p1",
      body: { name: "testhub", viewerToken: T.viewer },
    });
    // A rotation made on the hub's machine (the file), not through the API.
    const cfg = `${hub.dir}/telahubd.yaml`;
    const r = await runProgram("telahubd", ["user", "rotate", "viewer", "-config", cfg]);
    assert.equal(r.code, 0, r.stderr);
    const fresh = r.stdout.trim();
    assert.match(fresh, /^[0-9a-f]{64}$/);
    await waitFor(() => synced.length >= 2, "the sync after the rotation", 5000);
    assert.deepEqual(synced[1].body, { name: "testhub", viewerToken: fresh });
    assert.equal(synced.length, 2, "once per change");
  } finally {
    await hub.close();
    await portal.shutdown();
  }
});
