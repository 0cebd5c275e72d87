/**
 * The auth matrix against a real hub: each role × register, connect, status;
 * valid, unknown and missing tokens; the `*` wildcard (book, Appendix C; spec
 * README decisions: `*` registerToken honoured, 401 for missing/unknown tokens,
 * open mode only on request).
 */
import assert from "node:assert/strict";
import { randomHex } from "../../lib/protocol/mod.ts";
import {
  clientConnect,
  getJson,
  HubError,
  type HubProcess,
  runHubOnce,
  ScriptedAgent,
  startHubInProcess,
  startHubProcess,
  waitFor,
  WsPeer,
} from "./scripted_peers.ts";

const T = {
  owner: randomHex(32),
  admin: randomHex(32),
  alice: randomHex(32), // user, connect on barn
  bob: randomHex(32), // user, wildcard connect
  barnAgent: randomHex(32), // user, registerToken of barn
  wildAgent: randomHex(32), // user, registerToken of "*"
  viewer: randomHex(32), // viewer, listed in barn's connectTokens (still cannot connect)
  unknown: randomHex(32),
  missing: undefined,
} as const;
type Who = keyof typeof T;

const CONFIG = `
name: authhub
auth:
  tokens:
    - { id: owner, token: ${T.owner}, hubRole: owner }
    - { id: admin, token: ${T.admin}, hubRole: admin }
    - { id: alice, token: ${T.alice} }
    - { id: bob, token: ${T.bob}, hubRole: "" }
    - { id: barn-agent, token: ${T.barnAgent} }
    - { id: wild-agent, token: ${T.wildAgent} }
    - { id: console-viewer, token: ${T.viewer}, hubRole: viewer }
  machines:
    "*":
      registerToken: ${T.wildAgent}
      connectTokens: [${T.bob}]
    barn:
      registerToken: ${T.barnAgent}
      connectTokens: [${T.alice}, ${T.viewer}]
`;

async function tryRegister(hub: HubProcess, name: string, who: Who): Promise<string> {
  try {
    const a = await ScriptedAgent.register(hub.url, { machineName: name, token: T[who] });
    await a.close();
    return "ok";
  } catch (err) {
    if (err instanceof HubError) return err.message;
    throw err;
  }
}

async function tryConnect(
  hub: HubProcess,
  agent: ScriptedAgent,
  who: Who,
): Promise<string> {
  const ws = await clientConnect(hub.url, { machineId: agent.opts.machineName, token: T[who] });
  // Whichever side hears first decides; polling leaves no dangling waiter behind.
  await waitFor(() => ws.pending > 0 || agent.control.pending > 0, `${who}: connect outcome`);
  let r: string;
  if (agent.control.pending > 0) {
    await agent.nextSessionRequest();
    r = "ok";
  } else {
    const m = await ws.nextJson();
    const c = await ws.nextClose();
    assert.equal(c.code, 1008);
    assert.equal(c.reason, m.message);
    r = String(m.message);
  }
  await ws.close();
  return r;
}

Deno.test({
  name: "auth matrix: roles × register / connect / status, wildcard ACLs",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const hub = await startHubProcess({ configYaml: CONFIG });
    const open: ScriptedAgent[] = [];
    try {
      await t.step(
        "register: owner/admin anywhere, registerToken per machine, * as fallback",
        async () => {
          const barn: Record<Who, string> = {
            owner: "ok",
            admin: "ok",
            alice: "Access denied",
            bob: "Access denied",
            barnAgent: "ok",
            wildAgent: "Access denied", // barn has its own registerToken
            viewer: "Access denied",
            unknown: "Access denied",
            missing: "Access denied",
          };
          const shed: Record<Who, string> = {
            ...barn,
            barnAgent: "Access denied",
            wildAgent: "ok", // machines["*"].registerToken
          };
          for (const who of Object.keys(T) as Who[]) {
            assert.equal(await tryRegister(hub, "barn", who), barn[who], `${who} registers barn`);
            assert.equal(await tryRegister(hub, "shed", who), shed[who], `${who} registers shed`);
          }
        },
      );

      await t.step(
        "connect: owner/admin, connectTokens, * connectTokens; viewer never",
        async () => {
          const barn = await ScriptedAgent.register(hub.url, {
            machineName: "barn",
            token: T.owner,
          });
          const shed = await ScriptedAgent.register(hub.url, {
            machineName: "shed",
            token: T.owner,
          });
          open.push(barn, shed);
          const barnWant: Record<Who, string> = {
            owner: "ok",
            admin: "ok",
            alice: "ok",
            bob: "ok", // wildcard
            barnAgent: "Access denied",
            wildAgent: "Access denied",
            viewer: "Access denied",
            unknown: "Access denied",
            missing: "Access denied",
          };
          const shedWant: Record<Who, string> = { ...barnWant, alice: "Access denied" };
          for (const who of Object.keys(T) as Who[]) {
            assert.equal(await tryConnect(hub, barn, who), barnWant[who], `${who} connects barn`);
            assert.equal(await tryConnect(hub, shed, who), shedWant[who], `${who} connects shed`);
          }
        },
      );

      await t.step(
        "status and history: 401 without a valid token, filtered by visibility",
        async () => {
          const want: Record<Who, string[] | 401> = {
            owner: ["barn", "shed"],
            admin: ["barn", "shed"],
            viewer: ["barn", "shed"],
            alice: ["barn"],
            bob: ["barn", "shed"],
            barnAgent: [],
            wildAgent: [],
            unknown: 401,
            missing: 401,
          };
          for (const who of Object.keys(T) as Who[]) {
            for (const path of ["/api/status", "/status", "/api/admin/status"]) {
              const r = await getJson(hub, path, T[who]);
              if (want[who] === 401) {
                assert.equal(r.status, 401, `${who} ${path}`);
                assert.deepEqual(r.body, { error: "auth_required", machines: [] });
                assert.equal(r.headers.get("access-control-allow-origin"), "*");
              } else {
                assert.equal(r.status, 200, `${who} ${path}`);
                const ids = [...new Set((r.body.machines as { id: string }[]).map((m) => m.id))]
                  .sort();
                assert.deepEqual(ids, want[who], `${who} sees`);
              }
            }
            const h = await getJson(hub, "/api/history", T[who]);
            if (want[who] === 401) {
              assert.equal(h.status, 401);
              assert.deepEqual(h.body, { error: "auth_required", events: [] });
            } else {
              const ids = new Set(
                (h.body.events as { machineId: string }[]).map((e) => e.machineId),
              );
              assert.deepEqual([...ids].sort(), want[who], `${who} history`);
            }
          }
          // Token from the console cookie and the deprecated query parameter.
          const c = await fetch(`${hub.httpUrl}/api/status`, {
            headers: { Cookie: `theme=dark; tela_viewer=${T.viewer}` },
          });
          assert.equal(c.status, 200);
          await c.body?.cancel();
          const q = await fetch(`${hub.httpUrl}/api/status?token=${T.alice}`);
          assert.equal(q.status, 200);
          await q.body?.cancel();
          const lower = await fetch(`${hub.httpUrl}/api/status`, {
            headers: { Authorization: `bearer ${T.owner}` },
          });
          assert.equal(lower.status, 401, "only the exact 'Bearer ' prefix is recognised");
          await lower.body?.cancel();
        },
      );

      await t.step("a browser Origin must match the Host when auth is on", async () => {
        await assert.rejects(
          WsPeer.open(hub.url, { headers: { Origin: "http://evil.example" } }),
        );
        const ok = await WsPeer.open(hub.url, {
          headers: { Origin: `http://127.0.0.1:${hub.port}` },
        });
        await ok.close();
      });
    } finally {
      for (const a of open) await a.close().catch(() => {});
      assert.equal((await hub.close()).code, 0);
    }
  },
});

Deno.test({
  name: "open mode only with -open: no tokens generated, per-machine token rule applies",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hub = await startHubProcess({ args: ["-open"] });
    const closers: (() => Promise<void>)[] = [];
    try {
      assert.equal(hub.ownerToken, undefined, "no owner token in open mode");
      assert.ok(!hub.stdout.some((l) => l.includes("Owner token")));
      assert.match(hub.stderr(), /OPEN mode/);
      const agent = await ScriptedAgent.register(hub.url, {
        machineName: "lab",
        token: "agent-secret",
      });
      closers.push(() => agent.close());
      const plain = await ScriptedAgent.register(hub.url, { machineName: "free" });
      closers.push(() => plain.close());
      const st = await getJson(hub, "/api/status");
      assert.equal(st.status, 200, "status needs no token in open mode");
      assert.deepEqual((st.body.machines as { id: string }[]).map((m) => m.id), ["free", "lab"]);
      // Client token must equal the agent's registration token (spec §2.8).
      for (const token of ["wrong", undefined]) {
        const ws = await clientConnect(hub.url, { machineId: "lab", token });
        assert.deepEqual(await ws.nextJson(), { message: "Invalid token", type: "error" });
        assert.deepEqual(await ws.nextClose(), { code: 1008, reason: "Invalid token" });
      }
      const ok = await clientConnect(hub.url, { machineId: "lab", token: "agent-secret" });
      const req = await agent.nextSessionRequest();
      assert.equal(req.sessionIdx, 1);
      await ok.close();
      const anyone = await clientConnect(hub.url, { machineId: "free" });
      await plain.nextSessionRequest();
      await anyone.close();
    } finally {
      for (const c of closers) await c().catch(() => {});
      assert.equal((await hub.stop()).code, 0);
      const yaml = await Deno.readTextFile(hub.configPath);
      assert.doesNotMatch(yaml, /tokens:/, "open mode writes no tokens");
      await Deno.remove(hub.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "the book's telad token flow: telahubd user add + grant, then the agent registers",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "telahubd-book-" });
    const config = `${dir}/telahubd.yaml`;
    try {
      await Deno.writeTextFile(
        config,
        `auth:\n  tokens:\n    - { id: owner, token: ${T.owner}, hubRole: owner }\n` +
          `    - { id: stranger, token: ${T.unknown} }\n` +
          `    - { id: carol, token: ${T.alice} }\n` +
          `    - { id: dave, token: ${T.bob} }\n` +
          `    - { id: any-agent, token: ${T.wildAgent} }\n` +
          `    - { id: console-viewer, token: ${T.viewer}, hubRole: viewer }\n` +
          `  machines:\n` +
          `    "*": { registerToken: ${T.wildAgent}, connectTokens: [${T.unknown}] }\n` +
          `    pump: { connectTokens: [${T.alice}, ${T.viewer}], manageTokens: [${T.bob}] }\n`,
      );
      const add = await runHubOnce(["user", "add", "barn-agent", "-config", config]);
      assert.equal(add.code, 0, add.stderr);
      const token = add.stdout.trim();
      assert.match(token, /^[0-9a-f]{64}$/);
      const grant = await runHubOnce(["user", "grant", "barn-agent", "barn", "-config", config]);
      assert.equal(grant.code, 0, grant.stderr);
      const hub = await startHubProcess({ dir, configFlag: true });
      try {
        // A known identity the entry does not list cannot take the name.
        assert.equal(await tryRegisterToken(hub, "barn", T.unknown), "Access denied");
        assert.equal(await tryRegisterToken(hub, "barn", token), "ok");
        assert.equal(await tryRegisterToken(hub, "shed", token), "Access denied");
        // That first registration made barn-agent barn's registrant (one per machine).
        const access = async (id: string) => {
          const r = await fetch(`${hub.httpUrl}/api/admin/access/${id}`, {
            headers: { Authorization: `Bearer ${T.owner}` },
          });
          return (await r.json()).machines as { machineId: string; permissions: string[] }[];
        };
        assert.deepEqual(await access("barn-agent"), [
          { machineId: "barn", permissions: ["register", "connect"] },
        ]);
        // pump's own entry has no registerToken: a connect grant on `*` (stranger) or a viewer
        // listed in the entry may not register it; `*`'s registerToken may (and claims
        // nothing); the identities the entry lists may, and the first one claims it.
        assert.equal(await tryRegisterToken(hub, "pump", T.unknown), "Access denied");
        assert.equal(await tryRegisterToken(hub, "pump", T.viewer), "Access denied");
        assert.equal(await tryRegisterToken(hub, "pump", T.wildAgent), "ok");
        assert.equal(await tryRegisterToken(hub, "pump", T.alice), "ok");
        // carol claimed pump: dave, listed too (manage), can no longer take its name, nor can
        // `*`'s registrant, which yields to a machine's own.
        assert.equal(await tryRegisterToken(hub, "pump", T.bob), "Access denied");
        assert.equal(await tryRegisterToken(hub, "pump", T.wildAgent), "Access denied");
        assert.deepEqual(await access("carol"), [
          { machineId: "pump", permissions: ["register", "connect"] },
        ]);
        // Persisted (the store writes in the background: wait up to 5 s).
        let yaml = "";
        for (let i = 0; i < 100 && !yaml.includes(`registerToken: ${T.alice}`); i++) {
          if (i) await new Promise((r) => setTimeout(r, 50));
          yaml = await Deno.readTextFile(config);
        }
        assert.ok(yaml.includes(`registerToken: ${T.alice}`), "the claim is persisted");
        const hist = await fetch(`${hub.httpUrl}/api/history`, {
          headers: { Authorization: `Bearer ${T.owner}` },
        });
        const events = (await hist.json()).events as { event: string; detail?: string }[];
        assert.ok(
          events.some((e) => e.detail === "register claim pump by carol (first registration)"),
          "the claim is audited",
        );
      } finally {
        assert.equal((await hub.stop()).code, 0);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

async function tryRegisterToken(hub: HubProcess, name: string, token: string): Promise<string> {
  try {
    const a = await ScriptedAgent.register(hub.url, { machineName: name, token });
    await a.close();
    return "ok";
  } catch (err) {
    if (err instanceof HubError) return err.message;
    throw err;
  }
}

Deno.test("the console page carries the first viewer token that is neither revoked nor expired", async () => {
  const expired = randomHex(32);
  const live = randomHex(32);
  const hub = await startHubInProcess({
    configYaml: `auth:
  tokens:
    - { id: owner, token: ${T.owner}, hubRole: owner }
    - { id: console-viewer, token: ${expired}, hubRole: viewer, expiresAt: "2020-01-01T00:00:00Z" }
    - { id: console-viewer-2, token: ${live}, hubRole: viewer }
`,
  });
  try {
    const page = await fetch(`${hub.http}/`);
    const html = await page.text();
    assert.ok(html.includes(`window.TELA_CONSOLE_TOKEN="${live}"`), "the live viewer");
    assert.ok(!html.includes(expired), "never the expired one");
  } finally {
    await hub.close();
  }
});

Deno.test("telahubd user add checks the id like the admin API", async () => {
  const dir = await Deno.makeTempDir({ prefix: "telahubd-id-" });
  try {
    const config = `${dir}/telahubd.yaml`;
    await Deno.writeTextFile(
      config,
      `auth:\n  tokens:\n    - { id: owner, token: ${T.owner}, hubRole: owner }\n`,
    );
    const r = await runHubOnce(["user", "add", "bad id!", "-config", config]);
    assert.equal(r.code, 2, r.stderr); // the argument's form: a usage error
    assert.match(r.stderr, /id must be 1-64 letters, digits, '\.', '_', '-' or '@'/);
    assert.doesNotMatch(await Deno.readTextFile(config), /bad id/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
