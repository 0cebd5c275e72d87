/**
 * `telahubd portal serve` against the book's Appendix D §11 conformance checklist, item by
 * item, on loopback with a real in-process hub (registration by the hub's own portal client,
 * the admin proxy and the fleet view reach it for real).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startPortal } from "../../lib/portal/cli.ts";
import { registerWithPortal } from "../../lib/hub/portal_client.ts";
import { portalAdd, portalSync } from "../../lib/hub/portal_cli.ts";
import { call } from "../hub/_admin_http.ts";
import { startHubInProcess, waitFor } from "../hub/scripted_peers.ts";
import { freeTcpPort } from "../free_port.ts";

const USER = "conformance-user-token-0123456789";
const OWNER = "c0f0".repeat(16);
const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function withPortal(
  fn: (p: { base: string; dataDir: string }) => Promise<void>,
  opts: { open?: boolean; allowOrigins?: string[] } = {},
) {
  const dataDir = await Deno.makeTempDir({ prefix: "directory-portal-" });
  const p = await startPortal({
    dataDir,
    listen: "127.0.0.1",
    port: 0,
    token: opts.open ? undefined : USER,
    open: opts.open,
    allowOrigins: opts.allowOrigins,
  });
  try {
    await fn({ base: `http://127.0.0.1:${p.port}`, dataDir });
  } finally {
    await p.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test({
  name: "portal conformance (Appendix D §11) with a real hub",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await withPortal(async ({ base, dataDir }) => {
      const hub = await startHubInProcess({
        env: {
          TELA_OWNER_TOKEN: OWNER,
          TELAHUBD_NAME: "alpha",
          TELAHUBD_PORTAL_URL: base,
          TELAHUBD_PORTAL_TOKEN: USER,
          TELAHUBD_PUBLIC_URL: "http://127.0.0.1:1", // replaced below, through sync
        },
      });
      try {
        const hubId = (await call(hub.http, "GET", "/.well-known/tela")).body.hubId;

        await t.step(
          "§2: /.well-known/tela with versions and a persisted v4 portalId",
          async () => {
            const r = await call(base, "GET", "/.well-known/tela");
            assert.equal(r.status, 200);
            assert.equal(r.headers.get("access-control-allow-origin"), "*");
            assert.deepEqual(Object.keys(r.body).sort(), [
              "hub_directory",
              "portalId",
              "protocolVersion",
              "supportedVersions",
            ]);
            assert.equal(r.body.hub_directory, "/api/hubs");
            assert.equal(r.body.protocolVersion, "1.1");
            assert.deepEqual(r.body.supportedVersions, ["1.1"]);
            assert.match(r.body.portalId, UUID4);
            const file = JSON.parse(await Deno.readTextFile(`${dataDir}/portal.json`));
            assert.equal(file.portalId, r.body.portalId);
          },
        );

        await t.step("§2: a client of another major version is refused", async () => {
          const r = await call(base, "GET", "/api/hubs", {
            token: USER,
            headers: { "Tela-Portal-Protocol": "2.0" },
          });
          assert.equal(r.status, 400);
          assert.match(r.body.error, /speaks 1\.1/);
          const ok = await call(base, "GET", "/api/hubs", {
            token: USER,
            headers: { "Tela-Portal-Protocol": "1.0" },
          });
          assert.equal(ok.status, 200);
        });

        await t.step(
          "§3.2 context 1: the hub's first-start registration stores a hubsync_ token",
          async () => {
            await waitFor(
              async () => !!(await Deno.readTextFile(`${hub.dir}/telahubd.yaml`)).match(/hubsync_/),
              "the hub's registration",
              10_000,
            );
            const cfg = await Deno.readTextFile(`${hub.dir}/telahubd.yaml`);
            const sync = /syncToken: (hubsync_[A-Za-z0-9_-]{43})/.exec(cfg)?.[1];
            assert.ok(sync, cfg);
            // §8: only the SHA-256 of the sync token is stored by the portal.
            const file = await Deno.readTextFile(`${dataDir}/portal.json`);
            assert.ok(!file.includes(sync), "cleartext sync token in the portal's store");
            assert.ok(file.includes(createHash("sha256").update(sync).digest("hex")));
            assert.ok(!file.includes(USER), "cleartext user token in the portal's store");
            assert.equal((await Deno.stat(`${dataDir}/portal.json`)).mode! & 0o777, 0o600);
          },
        );

        await t.step("§3.1: GET /api/hubs with the documented shape and the hub's id", async () => {
          const none = await call(base, "GET", "/api/hubs");
          assert.equal(none.status, 401);
          assert.equal(typeof none.body.error, "string");
          const bad = await call(base, "GET", "/api/hubs", { token: "nope" });
          assert.equal(bad.status, 401);
          const r = await call(base, "GET", "/api/hubs", { token: USER });
          assert.equal(r.status, 200);
          assert.equal(r.headers.get("access-control-allow-origin"), "*");
          assert.deepEqual(r.body, {
            hubs: [{
              id: hubId,
              name: "alpha",
              url: "http://127.0.0.1:1",
              canManage: true,
              orgName: null,
            }],
          });
        });

        await t.step(
          "§3.3: PATCH /api/hubs/sync by sync token only (and our optional url)",
          async () => {
            const cfg = await Deno.readTextFile(`${hub.dir}/telahubd.yaml`);
            const sync = /syncToken: (hubsync_\S+)/.exec(cfg)![1];
            const body = { name: "alpha", viewerToken: "v".repeat(64) };
            assert.equal((await call(base, "PATCH", "/api/hubs/sync", { body })).status, 401);
            assert.equal(
              (await call(base, "PATCH", "/api/hubs/sync", { token: USER, body })).status,
              401,
              "user auth is not sync auth",
            );
            assert.equal(
              (await call(base, "PATCH", "/api/hubs/sync", { token: "hubsync_x", body })).status,
              401,
            );
            const unknown = await call(base, "PATCH", "/api/hubs/sync", {
              token: sync,
              body: { ...body, name: "nosuch" },
            });
            assert.equal(unknown.status, 404);
            // The hub's own sync path (telahubd portal sync): the real viewer token and URL.
            const results = await portalSync(`${hub.dir}/telahubd.yaml`, {
              hubUrl: hub.url,
              env: (n) => (n === "TELAHUBD_NAME" ? "alpha" : undefined),
            });
            assert.deepEqual(results, [{ name: "default", ok: true, status: 200 }]);
            const list = await call(base, "GET", "/api/hubs", { token: USER });
            assert.equal(list.body.hubs[0].url, hub.http);
          },
        );

        await t.step(
          "§5: GET /api/fleet/agents reads the hub with the synced viewer token",
          async () => {
            const r = await call(base, "GET", "/api/fleet/agents", { token: USER });
            assert.equal(r.status, 200);
            assert.deepEqual(r.body, { agents: [] });
            assert.equal((await call(base, "GET", "/api/fleet/agents")).status, 401);
          },
        );

        await t.step("§3.2 context 2: a user add learns the hubId from the hub", async () => {
          const noId = await call(base, "POST", "/api/hubs", {
            token: USER,
            body: { name: "dead", url: `http://127.0.0.1:${freeTcpPort()}` },
          });
          assert.equal(noId.status, 502);
          assert.match(noId.body.error, /hubId/);
          const r = await call(base, "POST", "/api/hubs", {
            token: USER,
            body: { name: "Alpha", url: hub.http, adminToken: OWNER },
          });
          assert.equal(r.status, 200, r.text);
          assert.equal(r.body.updated, true, "same hubId: an upsert");
          assert.equal(r.body.syncToken, undefined, "no sync token for a user add");
          assert.deepEqual(r.body.hubs.map((h: { id: string; name: string }) => [h.id, h.name]), [
            [hubId, "Alpha"],
          ]);
          assert.ok(!r.text.includes(OWNER), "the admin token is never echoed");
          const clash = await call(base, "POST", "/api/hubs", {
            token: USER,
            body: { name: "alpha", url: "http://127.0.0.1:2", hubId: crypto.randomUUID() },
          });
          assert.equal(clash.status, 409);
          const missing = await call(base, "POST", "/api/hubs", {
            token: USER,
            body: { name: "x" },
          });
          assert.equal(missing.status, 400);
        });

        await t.step(
          "§4: the admin proxy forwards method, body and query; refuses the legacy form",
          async () => {
            const tokens = await call(base, "GET", "/api/hub-admin/alpha/access", { token: USER });
            assert.equal(tokens.status, 200, tokens.text);
            assert.equal(tokens.headers.get("cache-control"), "no-cache");
            assert.ok(Array.isArray(tokens.body.access), tokens.text);
            const logs = await call(base, "GET", "/api/hub-admin/alpha/logs?lines=1", {
              token: USER,
            });
            assert.equal(logs.status, 200);
            assert.equal(logs.body.lines.length, 1, "the query string reached the hub");
            const code = await call(base, "POST", "/api/hub-admin/alpha/pair-code", {
              token: USER,
              body: { type: "connect", machines: ["barn"] },
            });
            assert.equal(code.status, 200, code.text);
            assert.match(code.body.code, /\S/);
            const patch = await call(base, "PATCH", "/api/hub-admin/alpha/access/nobody", {
              token: USER,
              body: { role: "user" },
            });
            assert.equal(patch.status, 404, "the hub's own answer passes through: " + patch.text);
            const legacy = await call(base, "GET", "/api/hub-admin/alpha/api/admin/access", {
              token: USER,
            });
            assert.equal(legacy.status, 400);
            assert.equal(
              (await call(base, "GET", "/api/hub-admin/nosuch/access", { token: USER }))
                .status,
              404,
            );
            assert.equal((await call(base, "GET", "/api/hub-admin/alpha/access")).status, 401);
          },
        );

        await t.step("§3.4: PATCH /api/hubs never changes hubId; §3.5 DELETE ?name=", async () => {
          const withId = await call(base, "PATCH", "/api/hubs", {
            token: USER,
            body: { currentName: "alpha", hubId: crypto.randomUUID() },
          });
          assert.equal(withId.status, 400);
          const renamed = await call(base, "PATCH", "/api/hubs", {
            token: USER,
            body: { currentName: "alpha", name: "alpha2", adminToken: "" },
          });
          assert.equal(renamed.status, 200);
          assert.deepEqual(renamed.body.hubs.map((h: { id: string }) => h.id), [hubId]);
          const noAdmin = await call(base, "GET", "/api/hub-admin/alpha2/access", { token: USER });
          assert.deepEqual([noAdmin.status, noAdmin.body], [400, {
            error: "no admin token stored for this hub",
          }]);
          const gone = await call(base, "DELETE", "/api/hubs?name=alpha2", { token: USER });
          assert.deepEqual([gone.status, gone.body], [200, { hubs: [] }]);
          assert.equal(
            (await call(base, "DELETE", "/api/hubs?name=alpha2", { token: USER })).status,
            404,
          );
        });

        await t.step("§9: cross-origin state changes are refused unless allowed", async () => {
          const r = await call(base, "DELETE", "/api/hubs?name=x", {
            token: USER,
            headers: { Origin: "http://evil.example" },
          });
          assert.equal(r.status, 403);
          assert.equal(typeof r.body.error, "string");
          const dots = await call(base, "GET", "/api/hub-admin/alpha2/%2e%2e%2fstatus", {
            token: USER,
          });
          assert.equal(dots.status, 400, dots.text);
        });

        await t.step(
          "hub side: telahubd portal add registers again and replaces the entry",
          async () => {
            const added = await portalAdd(`${hub.dir}/telahubd.yaml`, "default", base, {
              hubUrl: hub.url,
              portalToken: USER,
              env: (n) => (n === "TELAHUBD_NAME" ? "alpha" : undefined),
            });
            assert.deepEqual(added, {
              name: "default",
              url: base,
              hubDirectory: "/api/hubs",
              hubUrl: hub.http,
              status: "updated",
            });
            const list = await call(base, "GET", "/api/hubs", { token: USER });
            assert.deepEqual(
              list.body.hubs.map((h: { id: string; url: string }) => [h.id, h.url]),
              [
                [hubId, hub.http],
              ],
            );
            await assert.rejects(
              registerWithPortal({
                portalUrl: base,
                portalToken: "wrong",
                hubName: "x",
                hubUrl: hub.http,
                hubId,
              }),
              /unauthorized\. Check your API token/,
            );
          },
        );
      } finally {
        await hub.close();
      }
    });
  },
});

Deno.test("§9: an allowed origin gets its preflight and CORS headers; others do not", async () => {
  await withPortal(async ({ base }) => {
    const pre = await fetch(`${base}/api/hubs`, {
      method: "OPTIONS",
      headers: { Origin: "https://console.example", "Access-Control-Request-Method": "POST" },
    });
    await pre.body?.cancel();
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), "https://console.example");
    assert.match(pre.headers.get("access-control-allow-methods") ?? "", /POST/);
    const del = await call(base, "DELETE", "/api/hubs?name=none", {
      token: USER,
      headers: { Origin: "https://console.example" },
    });
    assert.equal(del.status, 404, "allowed through to the handler");
    assert.equal(del.headers.get("access-control-allow-origin"), "https://console.example");
    const other = await call(base, "POST", "/api/hubs", {
      token: USER,
      headers: { Origin: "https://other.example" },
      body: {},
    });
    assert.equal(other.status, 403);
  }, { allowOrigins: ["https://console.example"] });
});

Deno.test("portalId survives a restart; an open portal serves the directory without a token", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "directory-portal-" });
  try {
    const a = await startPortal({ dataDir, listen: "127.0.0.1", port: 0, open: true });
    const first = (await call(`http://127.0.0.1:${a.port}`, "GET", "/.well-known/tela")).body
      .portalId;
    const open = await call(`http://127.0.0.1:${a.port}`, "GET", "/api/hubs");
    assert.deepEqual([open.status, open.body], [200, { hubs: [] }]);
    await a.shutdown();
    const b = await startPortal({ dataDir, listen: "127.0.0.1", port: 0, token: USER });
    const again = await call(`http://127.0.0.1:${b.port}`, "GET", "/.well-known/tela");
    assert.equal(again.body.portalId, first);
    assert.equal((await call(`http://127.0.0.1:${b.port}`, "GET", "/api/hubs")).status, 401);
    await b.shutdown();
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
