/**
 * Scenario "Production access" (seed 001; book, *Hub administration*): one agent token per
 * production machine, an on-call engineer who may reach the web server only and a DBA who
 * may reach the database only; then a per-service grant (`tela admin access grant ...
 * -services`; decisions-issue10 §3) that limits the DBA to one service of the machine.
 * Real processes only: `telahubd`, `telad`, `tela` (the admin API through `tela admin`).
 */
import assert from "node:assert/strict";
import {
  echoThrough,
  freeTcpPort,
  grantsOf,
  ok,
  registrations,
  run,
  sceneTest,
  servicePort,
  shown,
} from "./_scene.ts";

sceneTest(
  "scenario production (001): per-machine agent tokens; on-call and DBA each reach only " +
    "their machine",
  async (s, step) => {
    const tok: Record<string, string> = {};

    await step(
      "per-machine agent tokens and the two operators are created and granted",
      async () => {
        for (const id of ["agent-web01", "agent-db01", "oncall", "dba"]) {
          tok[id] = await s.addToken(id);
        }
        await s.adminOk(["access", "grant", "agent-web01", "prod-web01", "register"]);
        await s.adminOk(["access", "grant", "agent-db01", "prod-db01", "register"]);
        await s.adminOk(["access", "grant", "oncall", "prod-web01", "connect"]);
        await s.adminOk(["access", "grant", "dba", "prod-db01", "connect"]);
        const access = await s.accessJson();
        assert.deepEqual(grantsOf(access, "agent-web01"), { "prod-web01": "register" });
        assert.deepEqual(grantsOf(access, "agent-db01"), { "prod-db01": "register" });
        assert.deepEqual(grantsOf(access, "oncall"), { "prod-web01": "connect" });
        assert.deepEqual(grantsOf(access, "dba"), { "prod-db01": "connect" });
      },
    );

    const ssh = s.service("prod-web01 ssh", servicePort());
    const pg = s.service("prod-db01 postgres", servicePort());

    await step("each machine registers with its own agent token, not the other's", async () => {
      // agent-web01's token does not register prod-db01 (its grant names prod-web01 only).
      const wrong = await s.agent("prod-db01", `${pg.port}:postgres`, tok["agent-web01"]);
      await wrong.waitFor(/Access denied/, 30_000);
      await wrong.stop();
      const web = await s.agent("prod-web01", `${ssh.port}:ssh`, tok["agent-web01"]);
      const db = await s.agent("prod-db01", `${pg.port}:postgres`, tok["agent-db01"]);
      await registrations(web, "prod-web01", 1);
      await registrations(db, "prod-db01", 1);
    });

    await step("tela machines lists each operator's machine only", async () => {
      for (
        const [who, mine, other] of [["oncall", "prod-web01", "prod-db01"], [
          "dba",
          "prod-db01",
          "prod-web01",
        ]]
      ) {
        const r = await s.machines(tok[who], who);
        assert.match(r.stdout, new RegExp(`\\b${mine}\\b`), `${who}: ${r.stdout}`);
        assert.doesNotMatch(r.stdout, new RegExp(other), `${who}: ${r.stdout}`);
      }
    });

    await step("on-call reaches prod-web01's service byte-exact", async () => {
      const c = s.connect(await s.tempDir("oncall"), "prod-web01", tok.oncall);
      await echoThrough(c, "ssh", "prod-web01 ssh");
      await c.stop();
    });

    await step("on-call is refused on prod-db01", async () => {
      const r = await s.refusedConnect("prod-db01", tok.oncall, "oncall");
      assert.match(r.stderr, /Access denied/, shown(r));
    });

    await step("the DBA reaches prod-db01's postgres byte-exact", async () => {
      const c = s.connect(await s.tempDir("dba"), "prod-db01", tok.dba);
      await echoThrough(c, "postgres", "prod-db01 postgres");
      await c.stop();
    });

    await step("the DBA is refused on prod-web01", async () => {
      const r = await s.refusedConnect("prod-web01", tok.dba, "dba");
      assert.match(r.stderr, /Access denied/, shown(r));
    });

    await step("each service was reached only by its operator's one connection", () => {
      assert.equal(ssh.accepted, 1, "prod-web01's service: the on-call engineer's connection");
      assert.equal(pg.accepted, 1, "prod-db01's service: the DBA's connection");
      return Promise.resolve();
    });
  },
);

sceneTest(
  "scenario production (001): a per-service grant (access grant dba prod-db01 connect " +
    "-services postgres) reaches postgres, not the machine's other service",
  async (s, step, hub) => {
    const pg = s.service("prod-db01 postgres", servicePort());
    const metrics = s.service("prod-db01 metrics", servicePort());
    let dba = "";

    await step(
      "agent-db01 registers prod-db01 with two services; dba gets postgres only",
      async () => {
        const agent = await s.addToken("agent-db01");
        dba = await s.addToken("dba");
        await s.adminOk(["access", "grant", "agent-db01", "prod-db01", "register"]);
        await s.adminOk([
          "access",
          "grant",
          "dba",
          "prod-db01",
          "connect",
          "-services",
          "postgres",
        ]);
        assert.deepEqual(grantsOf(await s.accessJson(), "dba"), {
          "prod-db01": "connect services=postgres",
        });
        const db = await s.agent(
          "prod-db01",
          `${pg.port}:postgres,${metrics.port}:metrics`,
          agent,
        );
        await registrations(db, "prod-db01", 1);
      },
    );

    await step(
      "the DBA sees and reaches postgres byte-exact; metrics is not offered",
      async () => {
        const c = s.connect(await s.tempDir("dba"), "prod-db01", dba);
        await echoThrough(c, "postgres", "prod-db01 postgres");
        await c.waitFor(/WireGuard tunnel up/);
        await c.stop();
        assert.ok(
          !c.lines.some((l) => /→ metrics/.test(l)),
          `the DBA's Services block lists metrics:\n${c.output}`,
        );
        assert.equal(metrics.accepted, 0, "nothing reached the metrics service");
      },
    );

    await step("tela services shows the DBA postgres only, the owner both", async () => {
      const services = (token: string) =>
        run(
          "tela",
          ["services", "-hub", hub.url, "-machine", "prod-db01", "-token", token],
          hub.dir,
        );
      const mine = ok(await services(dba), "tela services (dba)");
      assert.match(mine.stdout, /postgres/);
      assert.doesNotMatch(mine.stdout, /metrics/);
      const all = ok(await services(hub.owner), "tela services (owner)");
      assert.match(all.stdout, /postgres/);
      assert.match(all.stdout, /metrics/);
    });

    await step("the DBA asking for the metrics port is refused", async () => {
      const r = await s.refusedConnect("prod-db01", dba, "dba", [
        "-ports",
        `${freeTcpPort()}:${metrics.port}`,
      ]);
      assert.match(
        r.stderr,
        new RegExp(`Access denied: service port ${metrics.port} on "prod-db01" is not granted`),
        shown(r),
      );
      assert.equal(metrics.accepted, 0, "nothing reached the metrics service");
    });
  },
);
