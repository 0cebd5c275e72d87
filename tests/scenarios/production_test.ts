/**
 * Scenario "Production access" (seed 001; book, *Hub administration*): one agent token per
 * production machine, an on-call engineer who may reach the web server only and a DBA who
 * may reach the database only, down to one service of the database machine (per-service
 * grant, `tela admin access grant ... -services`; decisions-issue10 §3).
 * Real processes only: `telahubd`, `telad`, `tela` (the admin API through `tela admin`).
 */
import assert from "node:assert/strict";
import {
  freeTcpPort,
  grantsOf,
  localPort,
  ok,
  openThrough,
  printedToken,
  registrations,
  run,
  Scene,
  servicePort,
  shown,
  stepper,
} from "./_scene.ts";

Deno.test({
  name: "scenario production (001): per-machine agent tokens; on-call and DBA each reach only " +
    "their machine; a per-service grant",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const s = new Scene();
    const step = stepper(t);
    try {
      const hub = await s.startHub();
      const tok: Record<string, string> = {};
      const refused = async (machine: string, who: string, extra: string[] = []) => {
        const r = await run(
          "tela",
          ["connect", "-hub", hub.url, "-machine", machine, "-token", tok[who], ...extra],
          await s.tempDir(`${who}-refused`),
          {},
          30_000,
        );
        assert.equal(r.code, 1, `${who} on ${machine}: ${shown(r)}`);
        return r;
      };

      await step(
        "per-machine agent tokens and the two operators are created and granted",
        async () => {
          for (const id of ["agent-web01", "agent-db01", "oncall", "dba"]) {
            tok[id] = printedToken(
              await s.adminOk(["tokens", "add", id]),
              `tela admin tokens add ${id}`,
            );
          }
          await s.adminOk(["access", "grant", "agent-web01", "prod-web01", "register"]);
          await s.adminOk(["access", "grant", "agent-db01", "prod-db01", "register"]);
          await s.adminOk(["access", "grant", "oncall", "prod-web01", "connect"]);
          await s.adminOk([
            "access",
            "grant",
            "dba",
            "prod-db01",
            "connect",
            "-services",
            "postgres",
          ]);
          const access = await s.accessJson();
          assert.deepEqual(grantsOf(access, "agent-web01"), { "prod-web01": "register" });
          assert.deepEqual(grantsOf(access, "agent-db01"), { "prod-db01": "register" });
          assert.deepEqual(grantsOf(access, "oncall"), { "prod-web01": "connect" });
          assert.deepEqual(grantsOf(access, "dba"), { "prod-db01": "connect services=postgres" });
        },
      );

      const ssh = s.service("prod-web01 ssh", servicePort());
      const pg = s.service("prod-db01 postgres", servicePort());
      const metrics = s.service("prod-db01 metrics", servicePort());

      await step("each machine registers with its own agent token, not the other's", async () => {
        // agent-web01's token does not register prod-db01 (its grant names prod-web01 only).
        const wrong = await s.agent("prod-db01", `${pg.port}:postgres`, tok["agent-web01"]);
        await wrong.waitFor(/Access denied/, 30_000);
        await wrong.stop();
        const web = await s.agent("prod-web01", `${ssh.port}:ssh`, tok["agent-web01"]);
        const db = await s.agent(
          "prod-db01",
          `${pg.port}:postgres,${metrics.port}:metrics`,
          tok["agent-db01"],
        );
        await registrations(web, "prod-web01", 1);
        await registrations(db, "prod-db01", 1);
      });

      await step("on-call reaches prod-web01's service byte-exact", async () => {
        const c = s.connect(await s.tempDir("oncall"), "prod-web01", tok.oncall);
        const conn = await openThrough(await localPort(c, "ssh"), "prod-web01 ssh");
        await conn.echo(256 * 1024);
        conn.close();
        await c.stop();
      });

      await step("on-call is refused on prod-db01", async () => {
        const r = await refused("prod-db01", "oncall");
        assert.match(r.stderr, /Access denied/, shown(r));
      });

      await step(
        "the DBA sees and reaches postgres on prod-db01 byte-exact, not metrics",
        async () => {
          const c = s.connect(await s.tempDir("dba"), "prod-db01", tok.dba);
          const conn = await openThrough(await localPort(c, "postgres"), "prod-db01 postgres");
          await conn.echo(256 * 1024);
          conn.close();
          await c.waitFor(/WireGuard tunnel up/);
          await c.stop();
          assert.ok(
            !c.lines.some((l) => /→ metrics/.test(l)),
            `the DBA's Services block lists metrics:\n${c.output}`,
          );
          assert.equal(metrics.accepted, 0, "nothing reached the metrics service");
        },
      );

      await step("the DBA asking for the metrics port is refused", async () => {
        const r = await refused("prod-db01", "dba", ["-ports", `${freeTcpPort()}:${metrics.port}`]);
        assert.match(
          r.stderr,
          new RegExp(`Access denied: service port ${metrics.port} on "prod-db01" is not granted`),
          shown(r),
        );
        assert.equal(metrics.accepted, 0, "nothing reached the metrics service");
      });

      await step("the DBA is refused on prod-web01", async () => {
        const r = await refused("prod-web01", "dba");
        assert.match(r.stderr, /Access denied/, shown(r));
      });

      await step("the machines' listing shows both machines to the owner", async () => {
        const r = ok(
          await run("tela", ["machines", "-hub", hub.url, "-token", hub.owner], hub.dir),
          "tela machines",
        );
        assert.match(r.stdout, /prod-web01/);
        assert.match(r.stdout, /prod-db01/);
      });
    } finally {
      await s.close();
    }
  },
});
