/**
 * Live enforcement of access changes (issue 10 decisions 1, 3, 4) on a real hub in this
 * process, with real WebSockets: a change made through the access store cuts the client
 * sessions and agent control sockets that lost their right, with the decision-1 text, and
 * the next attempt is refused; other identities' sessions stay up.
 */
import assert from "node:assert/strict";
import type { Actor } from "../../lib/hub/access/types.ts";
import {
  clientConnect,
  cutOf,
  getJson,
  HubError,
  type InProcessHub,
  openSession,
  ScriptedAgent,
  startHubInProcess,
  WsPeer,
} from "./scripted_peers.ts";

const OWNER = "0".repeat(63) + "1";
const AGENT = "a".repeat(64);
const ALICE = "b".repeat(64);
const CAROL = "c".repeat(64);
const API: Actor = { id: "owner", via: "api" };

function yaml(extra = "", agentExtra = ""): string {
  return `hubId: h-enforce
auth:
  tokens:
    - {id: owner, token: "${OWNER}", hubRole: owner}
    - {id: console-viewer, token: "${"d".repeat(64)}", hubRole: viewer}
    - {id: agent, token: "${AGENT}"${agentExtra}}
    - {id: alice, token: "${ALICE}"${extra}}
    - {id: carol, token: "${CAROL}"}
  machines:
    barn:
      registerToken: "${AGENT}"
      connectTokens: ["${ALICE}", "${CAROL}"]
`;
}

const SERVICES = [{ port: 22, name: "SSH" }, { port: 3389, name: "RDP" }];

async function withHub(
  fn: (hub: InProcessHub) => Promise<void>,
  extra = "",
  agentExtra = "",
): Promise<void> {
  const hub = await startHubInProcess({ configYaml: yaml(extra, agentExtra) });
  try {
    await fn(hub);
  } finally {
    await hub.close();
  }
}

/** Asserts the cut text on both the error message and the 1008 close, within 1 s of `t0`. */
async function assertCut(ws: WsPeer, text: string, t0: number): Promise<void> {
  const cut = await cutOf(ws);
  const ms = performance.now() - t0;
  assert.deepEqual(cut, { message: text, code: 1008, reason: text });
  assert.ok(ms < 1000, `cut ${ms.toFixed(0)} ms after the change`);
}

async function refusedConnect(url: string, token: string): Promise<string> {
  const ws = await clientConnect(url, { machineId: "barn", token });
  const cut = await cutOf(ws);
  assert.equal(cut.code, 1008);
  return cut.message;
}

const CLIENT_CASES: {
  name: string;
  change: (hub: InProcessHub) => void;
  text: string;
  next: string;
}[] = [
  {
    name: "remove",
    change: (h) => h.running.store.remove("alice", API),
    text: 'Access denied: identity "alice" was removed by an administrator',
    next: "Access denied",
  },
  {
    name: "revoke",
    change: (h) => void h.running.store.revoke("alice", API),
    text: 'Access denied: token of identity "alice" was revoked',
    next: 'Access denied: token of identity "alice" was revoked',
  },
  {
    name: "rotate",
    change: (h) => void h.running.store.rotate("alice", API),
    text: 'Access denied: token of identity "alice" was rotated; use the new token',
    next: "Access denied",
  },
  {
    name: "revoke-machine",
    change: (h) => void h.running.store.revokeMachine("alice", "barn", API),
    text: 'Access denied: connect permission on "barn" was revoked',
    next: "Access denied",
  },
];

for (const c of CLIENT_CASES) {
  Deno.test({
    name: `${c.name} cuts the identity's client session within 1 s; the next connect is refused; ` +
      "another identity's session stays",
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      await withHub(async (hub) => {
        const agent = await ScriptedAgent.register(hub.url, { machineName: "barn", token: AGENT });
        const alice = await openSession(hub.url, agent, { token: ALICE });
        const carol = await openSession(hub.url, agent, {
          token: CAROL,
          clientKey: "e".repeat(64),
        });
        const t0 = performance.now();
        c.change(hub);
        await assertCut(alice.client.ws, c.text, t0);
        // The agent's half of the session is told and closed; the control socket stays.
        assert.equal((await alice.agent.ws.expect("session-end")).type, "session-end");
        assert.equal(await refusedConnect(hub.url, ALICE), c.next);
        assert.ok(carol.client.ws.isOpen && agent.control.isOpen, "others untouched");
        const denied = hub.running.history.list((e) => e.event === "client-denied");
        assert.ok(denied.some((e) => e.detail === c.text && e.identity === "alice"));
        await carol.client.ws.close();
        await agent.close();
      });
    },
  });
}

Deno.test({
  name: "an expiresAt passing cuts the session within 1 s (timer), and the next connect gets " +
    "the expired text",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const at = new Date(Date.now() + 1500).toISOString();
    await withHub(async (hub) => {
      const agent = await ScriptedAgent.register(hub.url, { machineName: "barn", token: AGENT });
      const alice = await openSession(hub.url, agent, { token: ALICE });
      const text = 'Access denied: token of identity "alice" expired';
      const cut = await cutOf(alice.client.ws);
      const late = Date.now() - Date.parse(at);
      assert.deepEqual(cut, { message: text, code: 1008, reason: text });
      assert.ok(late >= 0 && late < 1000, `cut ${late} ms after expiresAt`);
      assert.equal(await refusedConnect(hub.url, ALICE), text);
      await agent.close();
    }, `, expiresAt: "${at}"`);
  },
});

Deno.test({
  name: "an expiresAt passing cuts the agent's control socket within 1 s; its next register " +
    "gets the expired text",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const at = new Date(Date.now() + 1500).toISOString();
    await withHub(
      async (hub) => {
        const agent = await ScriptedAgent.register(hub.url, { machineName: "barn", token: AGENT });
        const text = 'Access denied: token of identity "agent" expired';
        const cut = await cutOf(agent.control);
        const late = Date.now() - Date.parse(at);
        assert.deepEqual(cut, { message: text, code: 1008, reason: text });
        assert.ok(late >= 0 && late < 1000, `cut ${late} ms after expiresAt`);
        await assert.rejects(
          ScriptedAgent.register(hub.url, { machineName: "barn", token: AGENT }),
          (e: Error) => e instanceof HubError && e.message === text,
        );
      },
      "",
      `, expiresAt: "${at}"`,
    );
  },
});

const AGENT_CASES: { name: string; change: (hub: InProcessHub) => void; text: string }[] = [
  {
    name: "remove",
    change: (h) => h.running.store.remove("agent", API),
    text: 'Access denied: identity "agent" was removed by an administrator',
  },
  {
    name: "revoke",
    change: (h) => void h.running.store.revoke("agent", API),
    text: 'Access denied: token of identity "agent" was revoked',
  },
  {
    name: "rotate",
    change: (h) => void h.running.store.rotate("agent", API),
    text: 'Access denied: token of identity "agent" was rotated; use the new token',
  },
  {
    name: "revoke-machine",
    change: (h) => void h.running.store.revokeMachine("agent", "barn", API),
    text: 'Access denied: register permission on "barn" was revoked',
  },
];

for (const c of AGENT_CASES) {
  Deno.test({
    name: `${c.name} cuts the agent's control socket within 1 s and its next register is refused`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      await withHub(async (hub) => {
        const agent = await ScriptedAgent.register(hub.url, { machineName: "barn", token: AGENT });
        const t0 = performance.now();
        c.change(hub);
        await assertCut(agent.control, c.text, t0);
        await assert.rejects(
          ScriptedAgent.register(hub.url, { machineName: "barn", token: AGENT }),
          (e: Error) => e instanceof HubError && /^Access denied/.test(e.message),
        );
        const denied = hub.running.history.list((e) => e.event === "agent-denied");
        assert.ok(denied.some((e) => e.detail === c.text && e.identity === "agent"));
      });
    },
  });
}

Deno.test({
  name: "a cut control socket's machine goes offline and its sessions end at once, before the " +
    "close handshake completes",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withHub(async (hub) => {
      const agent = await ScriptedAgent.register(hub.url, { machineName: "barn", token: AGENT });
      const live = await openSession(hub.url, agent, { token: ALICE });
      const barn = hub.running.hub.registry.byName("barn")!;
      assert.equal(barn.sessions.size, 1);
      const t0 = performance.now();
      hub.running.store.revokeMachine("agent", "barn", API);
      // Synchronously after the change: no waiting for the agent to answer the close.
      assert.equal(barn.control, undefined, "barn is offline");
      assert.equal(barn.sessions.size, 0, "barn's session ended");
      const closed = await live.client.ws.closed;
      assert.match(closed.reason, /agent disconnected/i);
      await assertCut(
        agent.control,
        'Access denied: register permission on "barn" was revoked',
        t0,
      );
      const gone = hub.running.history.list((e) => e.event === "agent-disconnect");
      assert.equal(gone.length, 1, "one agent-disconnect, not one more when the close completes");
    });
  },
});

Deno.test({
  name: "a service filter: status shows the granted services only, a connect to another port " +
    "is refused, session-request carries the allowed ports, and narrowing cuts a live session",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withHub(async (hub) => {
      const agent = await ScriptedAgent.register(hub.url, {
        machineName: "barn",
        token: AGENT,
        services: SERVICES,
      });
      // A session opened before any filter: every port.
      const live = await openSession(hub.url, agent, { token: ALICE });
      const t0 = performance.now();
      hub.running.store.setMachine("alice", "barn", ["connect"], ["SSH"], API);
      await assertCut(
        live.client.ws,
        'Access denied: service port 3389 on "barn" is not granted',
        t0,
      );
      await live.agent.ws.expect("session-end");

      const st = await getJson({ httpUrl: hub.http }, "/api/status", ALICE);
      const barn = (st.body.machines as { id: string; services: { port: number }[] }[])[0];
      assert.deepEqual(barn.services.map((s) => s.port), [22]);
      const full = await getJson({ httpUrl: hub.http }, "/api/status", OWNER);
      assert.deepEqual(
        (full.body.machines as { services: { port: number }[] }[])[0].services.map((s) => s.port),
        [22, 3389],
      );

      const bad = await clientConnect(hub.url, { machineId: "barn", token: ALICE, ports: [3389] });
      assert.equal(
        (await cutOf(bad)).message,
        'Access denied: service port 3389 on "barn" is not granted',
      );
      const ok = await clientConnect(hub.url, { machineId: "barn", token: ALICE });
      const req = await agent.control.expect("session-request");
      assert.deepEqual(req.ports, [22]);
      await ok.close();
      const owner = await clientConnect(hub.url, { machineId: "barn", token: OWNER });
      const req2 = await agent.control.expect("session-request");
      assert.equal("ports" in req2, false, "no field without a filter (Go agents)");
      await owner.close();

      // History: admin changes for owner/admin only; denials for those who may view.
      const asOwner = await getJson({ httpUrl: hub.http }, "/api/history", OWNER);
      const asAlice = await getJson({ httpUrl: hub.http }, "/api/history", ALICE);
      type Ev = { event: string; identity?: string; detail?: string };
      const ownerEvents = asOwner.body.events as Ev[];
      const aliceEvents = asAlice.body.events as Ev[];
      assert.ok(ownerEvents.some((e) =>
        e.event === "admin-change" && e.identity === "owner" &&
        e.detail === "access grant alice barn connect services=SSH"
      ));
      assert.equal(aliceEvents.some((e) => e.event === "admin-change"), false);
      assert.ok(ownerEvents.some((e) => e.event === "client-denied" && e.identity === "alice"));
      assert.ok(aliceEvents.some((e) => e.event === "client-denied"));
      assert.equal(aliceEvents.some((e) => "identity" in e), false, "identities: owner/admin only");
      await agent.close();
    });
  },
});
