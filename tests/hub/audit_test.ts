/**
 * The audit trail on a real hub in this process (issue 10 decision 4 and its fix round):
 * a flood of refused WebSockets with unknown tokens records nothing and evicts nothing;
 * denials of known identities (revoked ones included) are recorded with their id; who
 * registered and who connected is recorded; identities are shown to owner/admin callers of
 * `/api/history` only.
 */
import assert from "node:assert/strict";
import { call } from "./_admin_http.ts";
import {
  clientConnect,
  openSession,
  ScriptedAgent,
  startHubInProcess,
  WsPeer,
} from "./scripted_peers.ts";

const OWNER = "0".repeat(63) + "1";
const AGENT = "a".repeat(64);
const ALICE = "b".repeat(64);
const GONE = "e".repeat(64);
const VIEWER = "d".repeat(64);

const CONFIG = `hubId: h-audit
auth:
  tokens:
    - {id: owner, token: "${OWNER}", hubRole: owner}
    - {id: console-viewer, token: "${VIEWER}", hubRole: viewer}
    - {id: barn-agent, token: "${AGENT}"}
    - {id: alice, token: "${ALICE}"}
    - {id: mallory, token: "${GONE}", revokedAt: "2026-01-01T00:00:00Z"}
  machines:
    barn:
      registerToken: "${AGENT}"
      connectTokens: ["${ALICE}", "${GONE}"]
`;

interface Ev {
  machineId: string;
  event: string;
  detail?: string;
  identity?: string;
}

async function events(http: string, token: string): Promise<Ev[]> {
  const r = await call(http, "GET", "/api/history", { token });
  assert.equal(r.status, 200);
  return r.body.events;
}

/** One refused WebSocket: sends `msg`, waits for the hub to close it. */
async function refused(url: string, msg: Record<string, unknown>): Promise<void> {
  const ws = await WsPeer.open(url);
  ws.sendText(JSON.stringify(msg) + "\n");
  await ws.closed;
}

Deno.test("1100 refused WebSockets with unknown tokens record nothing and evict no admin change", async () => {
  const hub = await startHubInProcess({ configYaml: CONFIG });
  try {
    const add = await call(hub.http, "POST", "/api/admin/tokens", {
      token: OWNER,
      body: { id: "tech-bob" },
    });
    assert.equal(add.status, 201);
    const agent = await ScriptedAgent.register(hub.url, { machineName: "barn", token: AGENT });
    const before = await events(hub.http, OWNER);
    assert.ok(before.some((e) => e.event === "admin-change" && e.detail?.startsWith("tokens add")));
    const N = 1100;
    const BATCH = 25;
    for (let i = 0; i < N; i += BATCH) {
      const batch: Promise<void>[] = [];
      for (let j = i; j < Math.min(N, i + BATCH); j++) {
        const bogus = j.toString(16).padStart(64, "f");
        batch.push(
          j % 2
            ? refused(hub.url, {
              type: "register",
              machineName: "barn",
              agentId: `a-${j}`,
              token: bogus,
              ports: [22],
            })
            : refused(hub.url, {
              type: "connect",
              machineId: j % 4 ? "barn" : "ghost",
              wgPubKey: "A".repeat(43) + "=",
              token: bogus,
            }),
        );
      }
      await Promise.all(batch);
    }
    const after = await events(hub.http, OWNER);
    assert.deepEqual(after, before, "the flood added and evicted nothing");
    await hub.running.history.flush();
    const audit = JSON.parse(await Deno.readTextFile(`${hub.dir}/telahubd.audit.json`));
    assert.ok(audit.events.some((e: Ev) => e.detail === "tokens add tech-bob role=user"));
    await agent.close();
  } finally {
    await hub.close();
  }
});

Deno.test("a revoked identity's refused connect is recorded with its id; identities shown to owner/admin only", async () => {
  const hub = await startHubInProcess({ configYaml: CONFIG });
  try {
    const agent = await ScriptedAgent.register(hub.url, { machineName: "barn", token: AGENT });
    const ws = await clientConnect(hub.url, { machineId: "barn", token: GONE });
    const m = await ws.nextJson();
    assert.equal(m.message, 'Access denied: token of identity "mallory" was revoked');
    await ws.closed;
    const asOwner = await events(hub.http, OWNER);
    assert.ok(
      asOwner.some((e) =>
        e.event === "client-denied" && e.identity === "mallory" && e.machineId === "barn" &&
        e.detail === 'Access denied: token of identity "mallory" was revoked'
      ),
      JSON.stringify(asOwner),
    );
    for (const token of [VIEWER, ALICE]) {
      const seen = await events(hub.http, token);
      assert.ok(seen.some((e) => e.event === "client-denied"), "the denial itself is visible");
      assert.ok(seen.some((e) => e.event === "agent-register"));
      assert.equal(seen.some((e) => "identity" in e), false, "no identity names");
    }
    await agent.close();
  } finally {
    await hub.close();
  }
});

Deno.test("agent-register, client-connect and the disconnects name the identity", async () => {
  const hub = await startHubInProcess({ configYaml: CONFIG });
  try {
    const agent = await ScriptedAgent.register(hub.url, { machineName: "barn", token: AGENT });
    const s = await openSession(hub.url, agent, { token: ALICE });
    await s.client.ws.close();
    await s.agent.ws.closed;
    await agent.close();
    let evs: Ev[] = [];
    for (let i = 0; i < 50; i++) {
      evs = await events(hub.http, OWNER);
      if (evs.some((e) => e.event === "agent-disconnect")) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const who = (event: string) => evs.find((e) => e.event === event)?.identity;
    assert.equal(who("agent-register"), "barn-agent");
    assert.equal(who("client-connect"), "alice");
    assert.equal(who("client-disconnect"), "alice");
    assert.equal(who("agent-session-disconnect"), "alice", "the session was alice's");
    assert.equal(who("agent-disconnect"), "barn-agent");
  } finally {
    await hub.close();
  }
});
