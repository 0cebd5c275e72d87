/**
 * `/api/admin/agents/{machine}/{action}` on an in-process hub with scripted agents (spec
 * hub-http-api.md §5.9, §8.1, §14.2; session-and-relay.md §2.14–2.15): path checks, the
 * relayed `mgmt-request` (payload verbatim, POST/PUT only), the agent's frame back
 * verbatim, the statuses (400, 401, 403, 404, 413, 503, 504), the presence probe, the audit
 * record and open mode.
 */
import assert from "node:assert/strict";
import { call } from "./_admin_http.ts";
import { type InProcessHub, ScriptedAgent, startHubInProcess } from "./scripted_peers.ts";

const OWNER = "1a".repeat(32);
const MGR = "2b".repeat(32);
const CONN = "3c".repeat(32);
const OTHER = "4d".repeat(32);

const CONFIG = `auth:
  tokens:
    - id: owner
      token: "${OWNER}"
      hubRole: owner
    - id: mgr
      token: "${MGR}"
    - id: conn
      token: "${CONN}"
    - id: other
      token: "${OTHER}"
  machines:
    barn:
      manageTokens: ["${MGR}"]
      connectTokens: ["${MGR}", "${CONN}"]
`;

async function withHub(fn: (hub: InProcessHub, barn: ScriptedAgent) => Promise<void>) {
  const hub = await startHubInProcess({ configYaml: CONFIG, mgmtTimeoutMs: 300 });
  const barn = await ScriptedAgent.register(hub.url, { machineName: "barn", token: OWNER });
  try {
    await fn(hub, barn);
  } finally {
    await barn.close();
    await hub.close();
  }
}

/** Answers the next mgmt-request with `reply(req)` (raw text) and returns the request. */
async function answerNext(
  agent: ScriptedAgent,
  reply: (req: Record<string, unknown>) => string,
): Promise<Record<string, unknown>> {
  const req = await agent.control.expect("mgmt-request");
  agent.control.sendText(reply(req));
  return req;
}

Deno.test("agents proxy: paths, relay of the payload, the agent's frame verbatim", async () => {
  await withHub(async (hub, barn) => {
    const h = hub.http;
    assert.equal((await call(h, "GET", "/api/admin/agents", { token: OWNER })).status, 301);
    for (const p of ["/api/admin/agents/", "/api/admin/agents/barn/"]) {
      const r = await call(h, "POST", p, { token: OWNER });
      assert.equal(r.status, 400, p);
      assert.equal(r.text, '{"error":"expected /api/admin/agents/{machine}/{action}"}\n');
    }
    const pre = await call(h, "OPTIONS", "/api/admin/agents/barn/logs", {
      headers: { Origin: "https://portal.example" },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), "https://portal.example");

    // POST: the body becomes the payload; the answer comes back byte for byte.
    const frame = (rid: unknown) =>
      `{"type":"mgmt-response","requestId":"${rid}","ok":true,"payload":{"lines":["a","b"]}}`;
    const [res, req] = await Promise.all([
      call(h, "POST", "/api/admin/agents/barn/logs", { token: OWNER, raw: '{"lines": 2}' }),
      answerNext(barn, (r) => frame(r.requestId)),
    ]);
    assert.equal(req.action, "logs");
    assert.deepEqual(req.payload, { lines: 2 });
    assert.match(String(req.requestId), /^[0-9a-f]{16}$/);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.equal(res.text, frame(req.requestId));

    // GET forwards no payload; an action may contain slashes.
    const [, getReq] = await Promise.all([
      call(h, "GET", "/api/admin/agents/barn/config-get", { token: OWNER }),
      answerNext(barn, (r) => frame(r.requestId)),
    ]);
    assert.equal(getReq.action, "config-get");
    assert.ok(!("payload" in getReq));
    const [, deep] = await Promise.all([
      call(h, "PUT", "/api/admin/agents/barn/channel-sources/x", { token: OWNER, body: { a: 1 } }),
      answerNext(barn, (r) => frame(r.requestId)),
    ]);
    assert.equal(deep.action, "channel-sources/x");
    assert.deepEqual(deep.payload, { a: 1 });

    // Bodies: not JSON → 400, over 1 MiB → 413; nothing reaches the agent.
    const bad = await call(h, "POST", "/api/admin/agents/barn/logs", { token: OWNER, raw: "{x" });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /^request body is not valid JSON: /);
    const big = await call(h, "POST", "/api/admin/agents/barn/logs", {
      token: OWNER,
      raw: JSON.stringify({ pad: "x".repeat(1024 * 1024) }),
    });
    assert.equal(big.status, 413);
    // No answer within the (shortened) timeout → 504.
    const slow = await call(h, "POST", "/api/admin/agents/barn/restart", { token: OWNER });
    assert.equal(slow.status, 504);
    assert.equal(slow.text, '{"error":"agent did not respond within 30 seconds"}\n');
    // The unanswered request did reach the agent; a late answer is dropped.
    const late = await barn.control.expect("mgmt-request");
    assert.equal(late.action, "restart");
    barn.control.sendText(frame(late.requestId));
  });
});

Deno.test("agents proxy: who may manage; unknown 404; offline 503; audit only for ok changes", async () => {
  await withHub(async (hub, barn) => {
    const h = hub.http;
    const path = "/api/admin/agents/barn/restart";
    const ok = (r: Record<string, unknown>) =>
      `{"type":"mgmt-response","requestId":"${r.requestId}","ok":true,"message":"restarting"}`;
    for (const token of [OWNER, MGR]) {
      const [res] = await Promise.all([call(h, "POST", path, { token }), answerNext(barn, ok)]);
      assert.equal(res.status, 200);
      assert.equal(res.body.message, "restarting");
    }
    const refused = await call(h, "POST", path, { token: CONN });
    assert.equal(refused.status, 403);
    assert.equal(refused.text, '{"error":"manage permission required for barn"}\n');
    assert.equal((await call(h, "POST", path, { token: "f".repeat(64) })).status, 401);
    assert.equal((await call(h, "POST", path)).status, 401);
    // A refusal by the agent is passed through with 200 and is not an admin change.
    const no = (r: Record<string, unknown>) =>
      `{"type":"mgmt-response","requestId":"${r.requestId}","ok":false,"message":"nope"}`;
    const [nope] = await Promise.all([
      call(h, "POST", "/api/admin/agents/barn/update", { token: OWNER }),
      answerNext(barn, no),
    ]);
    assert.equal(nope.status, 200);
    assert.equal(nope.body.ok, false);
    const hist = await call(h, "GET", "/api/history", { token: OWNER });
    const changes = (hist.body.events as { event: string; detail?: string; identity?: string }[])
      .filter((e) => e.event === "admin-change");
    assert.deepEqual(
      changes.map((e) => [e.detail, e.identity]).sort(),
      [["agent restart", "mgr"], ["agent restart", "owner"]],
    );

    assert.equal(
      (await call(h, "POST", "/api/admin/agents/ghost/logs", { token: OWNER })).status,
      404,
    );

    // Presence probe (§14.2) with our `manage`.
    const p = await call(h, "GET", "/api/admin/agents/barn", { token: CONN });
    assert.equal(p.status, 200);
    assert.equal(p.body.id, "barn");
    assert.equal(p.body.agentConnected, true);
    assert.match(p.body.lastSeen, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(p.body.manage, false);
    assert.equal(
      (await call(h, "GET", "/api/admin/agents/barn", { token: MGR })).body.manage,
      true,
    );
    assert.equal(
      (await call(h, "GET", "/api/admin/agents/barn", { token: OWNER })).body.manage,
      true,
    );
    assert.equal((await call(h, "GET", "/api/admin/agents/barn", { token: OTHER })).status, 404);
    assert.equal((await call(h, "GET", "/api/admin/agents/ghost", { token: OWNER })).status, 404);

    // The agent leaves while a request waits: 503; afterwards 503 at once.
    const pending = call(h, "POST", "/api/admin/agents/barn/logs", { token: OWNER });
    await barn.control.expect("mgmt-request");
    await barn.close();
    const gone = await pending;
    assert.equal(gone.status, 503);
    assert.equal(gone.body.error, "agent disconnected");
    const off = await call(h, "POST", "/api/admin/agents/barn/logs", { token: OWNER });
    assert.equal(off.status, 503);
    assert.equal(off.body.error, "agent not connected");
  });
});

Deno.test("agents proxy in open mode: anyone may manage (spec §8.1)", async () => {
  const hub = await startHubInProcess({ open: true });
  const barn = await ScriptedAgent.register(hub.url, { machineName: "barn" });
  try {
    const [res] = await Promise.all([
      call(hub.http, "POST", "/api/admin/agents/barn/logs"),
      answerNext(barn, (r) => `{"type":"mgmt-response","requestId":"${r.requestId}","ok":true}`),
    ]);
    assert.equal(res.status, 200);
    assert.equal(res.body.ok, true);
  } finally {
    await barn.close();
    await hub.close();
  }
});
