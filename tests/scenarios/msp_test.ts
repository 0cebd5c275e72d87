/**
 * Scenario "MSP and IT support" (seed 000; book, *Hub administration*): one hub per
 * customer, an agent identity that registers the customer's machines, a technician identity
 * with connect on one machine, and revoking the departed technician with one command.
 * Real processes only: `telahubd`, `telad`, `tela` (the admin API through `tela admin`).
 */
import assert from "node:assert/strict";
import {
  cutSummary,
  grantsOf,
  localPort,
  measureCut,
  ok,
  openThrough,
  printedToken,
  registrations,
  run,
  Scene,
  servicePort,
  shown,
  stepper,
  type TunnelConn,
  withoutVersions,
} from "./_scene.ts";

Deno.test({
  name: "scenario MSP (000): per-technician tokens, one machine each, revoked live in one command",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const s = new Scene();
    const step = stepper(t);
    try {
      const hub = await s.startHub();
      let agentToken = "", bobToken = "";

      await step(
        "the owner creates acme-agent (register ws-01, srv-01) and tech-bob (connect ws-01)",
        async () => {
          agentToken = printedToken(
            await s.adminOk(["tokens", "add", "acme-agent"]),
            "tela admin tokens add acme-agent",
          );
          await s.adminOk(["access", "grant", "acme-agent", "ws-01", "register"]);
          await s.adminOk(["access", "grant", "acme-agent", "srv-01", "register"]);
          bobToken = printedToken(
            await s.adminOk(["tokens", "add", "tech-bob"]),
            "tela admin tokens add tech-bob",
          );
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
          const r = ok(
            await run("tela", ["machines", "-hub", hub.url, "-token", bobToken], hub.dir),
            "tela machines (tech-bob)",
          );
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
        const r = await run(
          "tela",
          ["connect", "-hub", hub.url, "-machine", "srv-01", "-token", bobToken],
          await s.tempDir("bob2"),
          {},
          30_000,
        );
        assert.equal(r.code, 1, shown(r));
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
          ok(cut.ran, "tela admin tokens remove tech-bob");
          console.log(cutSummary("tela admin tokens remove tech-bob", cut));
          assert.ok(cut.tcpMs < 1000, `tunnel TCP connection closed ${cut.tcpMs} ms after`);
          assert.ok(cut.reportMs < 1000, `tela reported the reason ${cut.reportMs} ms after`);
          assert.equal(cut.status.code, 1, `tela exit status\n${bob.output}`);
        },
      );

      await step("the next tela connect with tech-bob's token is refused", async () => {
        const r = await run(
          "tela",
          ["connect", "-hub", hub.url, "-machine", "ws-01", "-token", bobToken],
          await s.tempDir("bob3"),
          {},
          30_000,
        );
        assert.equal(r.code, 1, shown(r));
        assert.match(r.stderr, /Access denied/, shown(r));
      });

      await step("the agents were not touched by the technician's removal", async () => {
        const r = ok(
          await run("tela", ["machines", "-hub", hub.url, "-token", hub.owner], hub.dir),
          "tela machines",
        );
        assert.match(r.stdout, /ws-01/);
        assert.match(r.stdout, /srv-01/);
        assert.equal(ws01.lines.filter((l) => /registered with hub as/.test(l)).length, 2);
      });
    } finally {
      await s.close();
    }
  },
});
