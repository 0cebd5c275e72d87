/**
 * Scenario "MSP and IT support" (seed 000; book, *Hub administration*): one hub per
 * customer, an agent identity that registers the customer's machines, a technician identity
 * with connect on one machine, and revoking the departed technician with one command.
 * Real processes only: `telahubd`, `telad`, `tela` (the admin API through `tela admin`).
 */
import assert from "node:assert/strict";
import {
  assertLiveCut,
  grantsOf,
  localPort,
  measureCut,
  openThrough,
  registrations,
  sceneTest,
  servicePort,
  shown,
  type TunnelConn,
  withoutVersions,
} from "./_scene.ts";

sceneTest(
  "scenario MSP (000): per-technician tokens, one machine each, revoked live in one command",
  async (s, step, hub) => {
    let agentToken = "", bobToken = "";

    await step(
      "the owner creates acme-agent (register ws-01, srv-01) and tech-bob (connect ws-01)",
      async () => {
        agentToken = await s.addToken("acme-agent");
        await s.adminOk(["access", "grant", "acme-agent", "ws-01", "register"]);
        await s.adminOk(["access", "grant", "acme-agent", "srv-01", "register"]);
        bobToken = await s.addToken("tech-bob");
        assert.notEqual(bobToken, agentToken);
        await s.adminOk(["access", "grant", "tech-bob", "ws-01", "connect"]);
        const access = await s.accessJson();
        assert.deepEqual(grantsOf(access, "acme-agent"), {
          "ws-01": "register",
          "srv-01": "register",
        });
        assert.deepEqual(grantsOf(access, "tech-bob"), { "ws-01": "connect" });
      },
    );

    // The customer's services: RDP on ws-01, SSH on srv-01 (echo servers with a banner).
    const rdp = s.service("ws-01 rdp", servicePort());
    const ssh = s.service("srv-01 ssh", servicePort());
    const ws01 = await s.agent("ws-01", `${rdp.port}:rdp`, agentToken);
    const srv01 = await s.agent("srv-01", `${ssh.port}:ssh`, agentToken);

    await step("telad registers ws-01 and srv-01 with the agent token", async () => {
      await registrations(ws01, "ws-01", 1);
      await registrations(srv01, "srv-01", 1);
    });

    await step("a hub restart keeps every change; both agents come back", async () => {
      const before = await s.accessJson();
      const pid = hub.proc.child.pid;
      await s.restartHub();
      assert.notEqual(s.hub.proc.child.pid, pid, "a new hub process");
      const after = await s.accessJson();
      assert.deepEqual(withoutVersions(after), withoutVersions(before));
      await registrations(ws01, "ws-01", 2);
      await registrations(srv01, "srv-01", 2);
    });

    await step(
      "tech-bob's tela machines lists ws-01, not srv-01 (Step 4 of the seed)",
      async () => {
        const r = await s.machines(bobToken, "tech-bob");
        assert.match(r.stdout, /\bws-01\b/, r.stdout);
        assert.doesNotMatch(r.stdout, /srv-01/, r.stdout);
      },
    );

    const bobHome = await s.tempDir("bob");
    const bob = s.connect(bobHome, "ws-01", bobToken);
    let live!: TunnelConn;

    await step("tech-bob reaches ws-01's service byte-exact", async () => {
      const port = await localPort(bob, "rdp");
      live = await openThrough(port, "ws-01 rdp");
      await live.echo(256 * 1024);
    });

    await step("tech-bob is refused on srv-01 (exit 1, Access denied)", async () => {
      const r = await s.refusedConnect("srv-01", bobToken, "tech-bob");
      assert.match(r.stderr, /Access denied/, shown(r));
      assert.equal(ssh.accepted, 0, "nothing reached srv-01's service");
    });

    await step(
      "tokens remove tech-bob ends the live session within 1 s; tela stops",
      async () => {
        const cut = await measureCut(
          live,
          bob,
          /Access denied: identity "tech-bob" was removed by an administrator/,
          () => s.admin(["tokens", "remove", "tech-bob"]),
        );
        assertLiveCut(cut, "tela admin tokens remove tech-bob", bob);
      },
    );

    await step("the next tela connect with tech-bob's token is refused", async () => {
      const r = await s.refusedConnect("ws-01", bobToken, "tech-bob");
      assert.match(r.stderr, /Access denied/, shown(r));
    });

    await step("the agents were not touched by the technician's removal", async () => {
      const r = await s.machines(hub.owner, "owner");
      assert.match(r.stdout, /ws-01/);
      assert.match(r.stdout, /srv-01/);
      assert.equal(ws01.lines.filter((l) => /registered with hub as/.test(l)).length, 2);
    });
  },
);
