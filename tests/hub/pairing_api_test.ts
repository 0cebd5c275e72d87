/**
 * Pairing over real HTTP (spec hub-http-api.md §4.4, §5.5, §6; issue 10 decisions 4, 5):
 * `POST /api/admin/pair-code` then `POST /api/pair`, for connect and register codes, single
 * use, expiry, machine-id mismatch, body rules, audit events and the 429 rate limit.
 */
import assert from "node:assert/strict";
import { call } from "./_admin_http.ts";
import { ScriptedAgent, startHubInProcess } from "./scripted_peers.ts";

const OWNER = "a".repeat(64);
const CONFIG = `name: pairhub
auth:
  tokens:
    - id: owner
      token: ${OWNER}
      hubRole: owner
`;

Deno.test("pair-code + /api/pair: connect and register codes, single use, expiry, mismatch", async () => {
  const hub = await startHubInProcess({ configYaml: CONFIG });
  try {
    const code = async (body: unknown) => {
      const a = await call(hub.http, "POST", "/api/admin/pair-code", { token: OWNER, body });
      assert.equal(a.status, 200, a.text);
      return a.body as { code: string; type: string; expiresAt: string };
    };
    const pair = (body: unknown) => call(hub.http, "POST", "/api/pair", { body });

    // Connect: a user with connect on the listed machines.
    const c = await code({ type: "connect", machines: ["barn", 7, "", "shed"], expiresIn: "1h" });
    assert.equal(c.type, "connect");
    const left = Date.parse(c.expiresAt) - Date.now();
    assert.ok(left > 3_500_000 && left <= 3_600_000 + 1000, `${left}`);
    const r = await pair({ code: c.code });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.body).sort(), ["identity", "token", "type"]);
    for (const v of Object.values(r.body)) assert.equal(typeof v, "string", "strings only");
    assert.equal(r.body.type, "connect");
    assert.match(r.body.identity, /^paired-user-\d+$/);
    assert.match(r.body.token, /^[0-9a-f]{64}$/);
    assert.equal(r.headers.get("access-control-allow-origin"), null, "no CORS");
    const entry = await call(hub.http, "GET", `/api/admin/access/${r.body.identity}`, {
      token: OWNER,
    });
    assert.equal(entry.body.role, "user");
    assert.deepEqual(
      entry.body.machines.map((
        m: { machineId: string; permissions: string[] },
      ) => [m.machineId, m.permissions]).sort(),
      [["barn", ["connect"]], ["shed", ["connect"]]],
    );
    assert.equal((await call(hub.http, "GET", "/api/status", { token: r.body.token })).status, 200);
    // Single use.
    const again = await pair({ code: c.code });
    assert.deepEqual([again.status, again.body], [401, { error: "pairing code not found" }]);

    // A second connect redemption in the same second gets a unique id (decision 5).
    const c2 = await code({});
    const c3 = await code({});
    const r2 = await pair({ code: c2.code });
    const r3 = await pair({ code: c3.code });
    assert.notEqual(r2.body.identity, r3.body.identity);
    const e2 = await call(hub.http, "GET", `/api/admin/access/${r2.body.identity}`, {
      token: OWNER,
    });
    assert.deepEqual(e2.body.machines, [{ machineId: "*", permissions: ["connect"] }]);

    // Register: the wrong machine keeps the code; the right one gets <machine>-agent.
    // Without a machine id the code's machine is meant (the book's bare `telad pair`).
    const bare = await code({ type: "register", machineId: "shed" });
    const none = await pair({ code: bare.code });
    assert.equal(none.status, 200, none.text);
    assert.deepEqual([none.body.identity, none.body.type], ["shed-agent", "register"]);
    const g = await code({ type: "register", machineId: "barn" });
    const wrong = await pair({ code: g.code, machineId: "shed" });
    assert.deepEqual([wrong.status, wrong.body], [401, {
      error: "pairing code does not match machine ID",
    }]);
    const ok = await pair({ code: g.code, machineId: "barn" });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual([ok.body.identity, ok.body.type], ["barn-agent", "register"]);
    // The token registers barn over the WebSocket, and only barn.
    const agent = await ScriptedAgent.register(hub.url, {
      machineName: "barn",
      token: ok.body.token,
    });
    await agent.close();
    await assert.rejects(
      ScriptedAgent.register(hub.url, { machineName: "shed", token: ok.body.token }),
      /Access denied/,
    );
    assert.equal((await pair({ code: g.code, machineId: "barn" })).status, 401, "used");

    // TelaVisor's register form (machines:[name], no machineId) names the machine.
    const tv = await code({ type: "register", machines: ["silo"] });
    const tvr = await pair({ code: tv.code, machineId: "silo" });
    assert.deepEqual([tvr.status, tvr.body.identity], [200, "silo-agent"]);

    // Expiry: a 1-second code is refused once it is past, then forgotten.
    const short = await code({ expiresIn: 1 });
    await new Promise((res) => setTimeout(res, Date.parse(short.expiresAt) - Date.now() + 1100));
    const late = await pair({ code: short.code });
    assert.deepEqual([late.status, late.body], [401, { error: "pairing code expired" }]);
    assert.deepEqual((await pair({ code: short.code })).body, { error: "pairing code not found" });

    // Audit: generation and redemption are admin-change events naming the identity.
    const h = await call(hub.http, "GET", "/api/history", { token: OWNER });
    const admin = h.body.events.filter((e: { event: string }) => e.event === "admin-change");
    assert.ok(
      admin.some((e: { detail: string; identity: string }) =>
        e.detail === "pair-code connect machines=barn,shed" && e.identity === "owner"
      ),
      JSON.stringify(admin),
    );
    assert.ok(
      admin.some((e: { detail: string; machineId: string }) =>
        e.detail === "pair-code register machine=barn" && e.machineId === "barn"
      ),
    );
    assert.ok(
      admin.some((e: { detail: string; identity: string }) =>
        e.detail === `pair redeem ${r.body.identity} (code by owner)` &&
        e.identity === r.body.identity
      ),
      "the redemption names the new identity, and the code's creator in the detail",
    );
    assert.ok(!h.text.includes(r.body.token), "never a token in history");
  } finally {
    await hub.close();
  }
});

Deno.test("pair-code and /api/pair body rules answer the spec's errors", async () => {
  const hub = await startHubInProcess({ configYaml: CONFIG });
  try {
    const pc = (body: unknown, raw?: string) =>
      call(hub.http, "POST", "/api/admin/pair-code", { token: OWNER, body, raw });
    const cases: [unknown, string | undefined, number, string][] = [
      [undefined, "not json", 400, "invalid request"],
      [undefined, "[1]", 400, "invalid request"],
      [{ type: "admin" }, undefined, 400, 'type must be "register" or "connect"'],
      [{ type: "register" }, undefined, 400, "machineId required for register codes"],
      [
        { expiresIn: true },
        undefined,
        400,
        "expiresIn must be a number (seconds) or duration string",
      ],
      [{ expiresIn: "8d" }, undefined, 400, "expiresIn exceeds maximum of 7 days (604800 seconds)"],
      [
        { expiresIn: 604801 },
        undefined,
        400,
        "expiresIn exceeds maximum of 7 days (604800 seconds)",
      ],
      [
        { expiresIn: "later" },
        undefined,
        400,
        'parse duration "later": time: invalid duration "later"',
      ],
      [{ role: "root" }, undefined, 400, "role must be one of user, viewer, admin, owner"],
    ];
    for (const [body, raw, status, error] of cases) {
      const a = await pc(body, raw);
      assert.deepEqual([a.status, a.body], [status, { error }], JSON.stringify(body ?? raw));
    }
    for (
      const ok of [{ expiresIn: "7d" }, { expiresIn: 604800 }, { expiresIn: 0 }, {
        expiresIn: "90m",
      }]
    ) {
      const a = await pc(ok);
      assert.equal(a.status, 200, JSON.stringify(ok));
    }
    const d = await pc({ expiresIn: "7d" });
    const left = Date.parse(d.body.expiresAt) - Date.now();
    assert.ok(left > 7 * 86_400_000 - 5000 && left <= 7 * 86_400_000 + 1000);
    // A viewer code gives a viewer.
    const v = await pc({ role: "viewer" });
    const vr = await call(hub.http, "POST", "/api/pair", { body: { code: v.body.code } });
    const ve = await call(hub.http, "GET", `/api/admin/access/${vr.body.identity}`, {
      token: OWNER,
    });
    assert.equal(ve.body.role, "viewer");

    const p = (raw: string) => call(hub.http, "POST", "/api/pair", { raw });
    assert.deepEqual((await p("nope")).body, { error: "invalid request" });
    assert.deepEqual((await p("{}")).body, { error: "code is required" });
    assert.deepEqual((await p('{"code":42}')).body, { error: "code is required" });
  } finally {
    await hub.close();
  }
});

Deno.test("failed redemptions are limited: 10 a minute per address, then 429 with Retry-After", async () => {
  const hub = await startHubInProcess({ configYaml: CONFIG });
  try {
    const good = await call(hub.http, "POST", "/api/admin/pair-code", { token: OWNER, body: {} });
    for (let i = 0; i < 10; i++) {
      const a = await call(hub.http, "POST", "/api/pair", { body: { code: `0000-000${i}` } });
      assert.equal(a.status, 401, `attempt ${i}: ${a.text}`);
    }
    const blocked = await call(hub.http, "POST", "/api/pair", { body: { code: good.body.code } });
    assert.equal(blocked.status, 429, blocked.text);
    assert.match(blocked.body.error, /^too many pairing attempts; retry in (\d+)s$/);
    const n = Number(blocked.body.error.match(/(\d+)s$/)[1]);
    assert.ok(n >= 1 && n <= 60, `${n}`);
    assert.equal(blocked.headers.get("retry-after"), String(n));
    // The code was not spent while blocked: it still works from another address (a reverse
    // proxy on this machine forwarding another client).
    const other = await call(hub.http, "POST", "/api/pair", {
      body: { code: good.body.code },
      headers: { "X-Forwarded-For": "203.0.113.9" },
    });
    assert.equal(other.status, 200, other.text);
    // Hub-wide: 100 failures from many addresses block every address.
    for (let i = 0; i < 90; i++) {
      const a = await call(hub.http, "POST", "/api/pair", {
        body: { code: "FFFF-FFFF" },
        headers: { "X-Forwarded-For": `198.51.100.${i}` },
      });
      assert.equal(a.status, 401, `hub-wide attempt ${i}`);
    }
    const fresh = await call(hub.http, "POST", "/api/pair", {
      body: { code: "FFFF-FFFF" },
      headers: { "X-Forwarded-For": "192.0.2.1" },
    });
    assert.equal(fresh.status, 429, fresh.text);
  } finally {
    await hub.close();
  }
});

Deno.test("a code redeemed with the wrong tool is refused with 400 naming the right one, and kept", async () => {
  const hub = await startHubInProcess({ configYaml: CONFIG });
  try {
    const code = async (body: unknown) => {
      const a = await call(hub.http, "POST", "/api/admin/pair-code", { token: OWNER, body });
      assert.equal(a.status, 200, a.text);
      return a.body.code as string;
    };
    const pair = (body: unknown) => call(hub.http, "POST", "/api/pair", { body });
    const reg = await code({ type: "register", machineId: "barn" });
    const con = await code({ type: "connect", machines: ["barn"] });
    // `tela pair` (type connect) with an agent's code, and the reverse, many times: never a
    // 429 (no failure is counted) and the codes stay.
    for (let i = 0; i < 12; i++) {
      const a = await pair({ code: reg, type: "connect" });
      assert.deepEqual([a.status, a.body], [400, {
        error: "this is a register code: redeem it with telad pair",
      }]);
      const b = await pair({ code: con, type: "register", machineId: "barn" });
      assert.deepEqual([b.status, b.body], [400, {
        error: "this is a connect code: redeem it with tela pair",
      }]);
    }
    const bad = await pair({ code: con, type: "agent" });
    assert.deepEqual([bad.status, bad.body], [400, {
      error: 'type must be "register" or "connect"',
    }]);
    const list = await call(hub.http, "GET", "/api/admin/access", { token: OWNER });
    assert.deepEqual(
      list.body.access.map((e: { id: string }) => e.id),
      ["owner", "console-viewer"],
      "nobody added",
    );
    // The right tool redeems them; Go clients (no type) redeem either kind.
    const okReg = await pair({ code: reg, type: "register" });
    assert.deepEqual([okReg.status, okReg.body.type, okReg.body.identity], [
      200,
      "register",
      "barn-agent",
    ]);
    const okCon = await pair({ code: con, type: "connect" });
    assert.deepEqual([okCon.status, okCon.body.type], [200, "connect"]);
    const goReg = await pair({ code: await code({ type: "register", machineId: "shed" }) });
    assert.equal(goReg.body.type, "register");
    const goCon = await pair({ code: await code({}) });
    assert.equal(goCon.body.type, "connect");
  } finally {
    await hub.close();
  }
});
