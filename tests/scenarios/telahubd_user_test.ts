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
  cutSummary,
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
} from "./_scene.ts";

Deno.test({
  name: "scenario telahubd user on a running hub: add + grant apply at once, remove cuts live",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const s = new Scene();
    const step = stepper(t);
    try {
      const hub = await s.startHub();
      const user = (args: string[]) =>
        run("telahubd", ["user", ...args, "-config", hub.config], hub.dir);
      const agentToken = printedToken(
        await s.adminOk(["tokens", "add", "acme-agent"]),
        "tela admin tokens add acme-agent",
      );
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
        ok(cut.ran, "telahubd user remove carol");
        console.log(cutSummary("telahubd user remove carol", cut));
        assert.ok(cut.tcpMs < 1000, `tunnel TCP connection closed ${cut.tcpMs} ms after`);
        assert.ok(cut.reportMs < 1000, `tela reported the reason ${cut.reportMs} ms after`);
        assert.equal(cut.status.code, 1, `tela exit status\n${client.output}`);
      });

      await step("carol is gone from the running hub and refused", async () => {
        const ids = accessRows(await s.accessJson()).map((r) => r.id);
        assert.ok(!ids.includes("carol"), ids.join(" "));
        const r = await run(
          "tela",
          ["connect", "-hub", hub.url, "-machine", "ws-01", "-token", carol],
          await s.tempDir("carol2"),
          {},
          30_000,
        );
        assert.equal(r.code, 1, shown(r));
        assert.match(r.stderr, /Access denied/, shown(r));
        assert.equal(s.hub.proc.child.pid, hubPid, "the same hub process");
      });
    } finally {
      await s.close();
    }
  },
});
