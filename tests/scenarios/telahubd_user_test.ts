/**
 * `telahubd user` on a running hub (book, Appendix A: "Changes take effect immediately. No
 * hub restart required."; decisions-issue10 §1, §8): an identity added and granted by editing
 * the config file with `telahubd user` can connect at once, and removing it cuts its live
 * session within 1 s.
 * Real processes only: `telahubd`, `telad`, `tela`.
 */
import assert from "node:assert/strict";
import {
  accessRows,
  assertLiveCut,
  localPort,
  measureCut,
  ok,
  openThrough,
  printedToken,
  registrations,
  run,
  sceneTest,
  servicePort,
  shown,
  type TunnelConn,
} from "./_scene.ts";

sceneTest(
  "scenario telahubd user on a running hub: add + grant apply at once, remove cuts live",
  async (s, step, hub) => {
    const user = (args: string[]) =>
      run("telahubd", ["user", ...args, "-config", hub.config], hub.dir);
    const agentToken = await s.addToken("acme-agent");
    await s.adminOk(["access", "grant", "acme-agent", "ws-01", "register"]);
    const rdp = s.service("ws-01 rdp", servicePort());
    const agent = await s.agent("ws-01", `${rdp.port}:rdp`, agentToken);
    await registrations(agent, "ws-01", 1);
    const hubPid = hub.proc.child.pid;
    let carol = "";

    await step("telahubd user add carol + grant carol ws-01 while the hub runs", async () => {
      carol = printedToken(ok(await user(["add", "carol"]), "telahubd user add carol"), "add");
      ok(await user(["grant", "carol", "ws-01"]), "telahubd user grant carol ws-01");
    });

    const home = await s.tempDir("carol");
    const client = s.connect(home, "ws-01", carol);
    let live!: TunnelConn;

    await step(
      "carol connects at once (no restart) and reaches the service byte-exact",
      async () => {
        live = await openThrough(await localPort(client, "rdp"), "ws-01 rdp");
        await live.echo(256 * 1024);
        assert.equal(s.hub.proc.child.pid, hubPid, "the same hub process");
        const row = accessRows(await s.accessJson()).find((r) => r.id === "carol");
        assert.ok(row, "the running hub lists carol");
      },
    );

    await step("telahubd user remove carol ends her live session within 1 s", async () => {
      const cut = await measureCut(
        live,
        client,
        /Access denied: identity "carol" was removed by an administrator/,
        () => user(["remove", "carol"]),
      );
      assertLiveCut(cut, "telahubd user remove carol", client);
    });

    await step("carol is gone from the running hub and refused", async () => {
      const ids = accessRows(await s.accessJson()).map((r) => r.id);
      assert.ok(!ids.includes("carol"), ids.join(" "));
      const r = await s.refusedConnect("ws-01", carol, "carol");
      assert.match(r.stderr, /Access denied/, shown(r));
      assert.equal(s.hub.proc.child.pid, hubPid, "the same hub process");
    });
  },
);
