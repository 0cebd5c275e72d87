/**
 * Scenario "Pairing" (seed 003; book, *Credentials and pairing* and *Hub administration*,
 * Pair codes): an administrator generates a one-time code with `tela admin pair-code`; a
 * user redeems it with `tela pair` (user credential store), an agent with `telad pair`
 * (the agent's credential store), and both then work without a `-token`.
 * Real processes only: `telahubd`, `telad`, `tela` (the admin API through `tela admin`).
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import {
  accessRows,
  echoThrough,
  ok,
  registrations,
  run,
  sceneTest,
  servicePort,
  shown,
  SYSTEM_DIR_ENV,
} from "./_scene.ts";

const CODE = /Generated pairing code: ([0-9A-F]{4}-[0-9A-F]{4})/;

sceneTest(
  "scenario pairing (003), user: pair-code → tela pair → tela connect without -token; " +
    "the code works once",
  async (s, step, hub) => {
    const agentToken = await s.addToken("acme-agent");
    await s.adminOk(["access", "grant", "acme-agent", "ws-01", "register"]);
    const rdp = s.service("ws-01 rdp", servicePort());
    const agent = await s.agent("ws-01", `${rdp.port}:rdp`, agentToken);
    let code = "";

    await step(
      "tela admin pair-code ws-01 -expires 10m prints the code and the command",
      async () => {
        const r = await s.adminOk(["pair-code", "ws-01", "-expires", "10m"]);
        const m = r.stdout.match(CODE);
        assert.ok(m, `no "Generated pairing code: XXXX-XXXX" line: ${shown(r)}`);
        code = m[1];
        const exp = r.stdout.match(/^Expires: (\S+)$/m);
        assert.ok(exp, `no "Expires: <time>" line: ${shown(r)}`);
        const left = Date.parse(exp[1]) - Date.now();
        assert.ok(left > 9 * 60_000 && left <= 10 * 60_000 + 5_000, `expires in ${left} ms`);
        assert.ok(
          r.stdout.includes(`tela pair -hub ${hub.url} -code ${code}`),
          `no redemption command: ${shown(r)}`,
        );
      },
    );

    const home = await s.tempDir("paired-user");
    let identity = "";

    await step(
      "tela pair stores the token in ~/.tela/credentials.yaml (0600), keyed by the hub URL",
      async () => {
        ok(await run("tela", ["pair", "-hub", hub.url, "-code", code], home), "tela pair");
        const file = `${home}/.tela/credentials.yaml`;
        const st = await Deno.stat(file);
        assert.equal((st.mode ?? 0) & 0o777, 0o600, `mode of ${file}`);
        const creds = parse(await Deno.readTextFile(file));
        const entry = creds?.hubs?.[hub.url];
        assert.ok(entry, `no entry for ${hub.url} in ${JSON.stringify(creds)}`);
        assert.match(entry.token, /^[0-9a-f]{64}$/);
        identity = entry.identity;
        assert.match(identity ?? "", /^paired-user-\d+/, "the identity the hub gave is stored");
        const row = accessRows(await s.accessJson()).find((r) => r.id === identity);
        assert.ok(row, `identity ${identity} not in tela admin access`);
        assert.ok(
          row.machines.some((m) =>
            (m.machineId === "ws-01" || m.machineId === "*") && m.permissions.includes("connect")
          ),
          `the paired identity cannot connect to ws-01: ${JSON.stringify(row)}`,
        );
      },
    );

    await step(
      "tela connect -machine ws-01 without -token reaches the service byte-exact",
      async () => {
        await registrations(agent, "ws-01", 1);
        const c = s.connect(home, "ws-01");
        await echoThrough(c, "rdp", "ws-01 rdp");
        await c.stop();
      },
    );

    await step("the same code a second time is refused", async () => {
      const other = await s.tempDir("second-user");
      const r = await run("tela", ["pair", "-hub", hub.url, "-code", code], other);
      assert.equal(r.code, 1, shown(r));
      assert.match(r.stderr, /pairing code not found/, shown(r));
      const stored = await Deno.readTextFile(`${other}/.tela/credentials.yaml`).catch(() => "");
      assert.doesNotMatch(stored, /[0-9a-f]{64}/, "no token stored by the refused redemption");
      const ids = accessRows(await s.accessJson()).map((r) => r.id);
      assert.equal(ids.filter((id) => id.startsWith("paired-user-")).length, 1, ids.join(" "));
    });
  },
);

sceneTest(
  "scenario pairing (003), agent: pair-code -type register → telad pair → telad without " +
    "-token registers",
  async (s, step, hub) => {
    let code = "";
    // The agent's system credential store, moved into a temporary folder (as root the
    // programs would write /etc/tela otherwise).
    const agentHome = await s.tempDir("barn-home");
    const systemDir = await s.tempDir("barn-etc-tela");
    const env = { [SYSTEM_DIR_ENV]: systemDir };

    await step("tela admin pair-code barn -type register prints a code", async () => {
      const r = await s.adminOk(["pair-code", "barn", "-type", "register"]);
      const m = r.stdout.match(CODE);
      assert.ok(m, `no "Generated pairing code: XXXX-XXXX" line: ${shown(r)}`);
      code = m[1];
      assert.match(r.stdout, new RegExp(`telad pair -hub ${hub.url} -code ${code}`));
    });

    await step(
      "telad pair -machine barn stores the token in the agent's credential store",
      async () => {
        ok(
          await run(
            "telad",
            ["pair", "-hub", hub.url, "-code", code, "-machine", "barn"],
            agentHome,
            env,
          ),
          "telad pair",
        );
        const file = `${systemDir}/credentials.yaml`;
        const st = await Deno.stat(file);
        assert.equal((st.mode ?? 0) & 0o777, 0o600, `mode of ${file}`);
        const creds = parse(await Deno.readTextFile(file));
        assert.match(
          creds?.hubs?.[hub.url]?.token ?? "",
          /^[0-9a-f]{64}$/,
          JSON.stringify(creds),
        );
        const user = await Deno.readTextFile(`${agentHome}/.tela/credentials.yaml`).catch(() => "");
        assert.equal(user, "", "telad pair writes the system store, not the user's");
        const access = accessRows(await s.accessJson());
        const row = access.find((r) => r.id === "barn-agent");
        assert.ok(row, `no barn-agent identity: ${JSON.stringify(access)}`);
        assert.ok(
          row.machines.some((m) => m.machineId === "barn" && m.permissions.includes("register")),
          JSON.stringify(row),
        );
      },
    );

    const svc = s.service("barn svc", servicePort());

    await step(
      "telad -machine barn without -token registers; tela machines lists it",
      async () => {
        const agent = await s.agent("barn", `${svc.port}:svc`, undefined, env, agentHome);
        await registrations(agent, "barn", 1);
        const r = await s.machines(hub.owner, "owner");
        assert.match(r.stdout, /\bbarn\b/, r.stdout);
      },
    );

    await step(
      "the paired agent serves: the owner reaches barn's service byte-exact",
      async () => {
        const c = s.connect(await s.tempDir("owner"), "barn", hub.owner);
        await echoThrough(c, "svc", "barn svc", 64 * 1024);
        await c.stop();
      },
    );

    await step(
      "the book's bare 'telad pair -hub <hub> -code <code>' (no -machine) works too",
      async () => {
        const r = await s.adminOk(["pair-code", "barn2", "-type", "register"]);
        const code2 = r.stdout.match(CODE)?.[1];
        assert.ok(code2, shown(r));
        const env2 = { [SYSTEM_DIR_ENV]: await s.tempDir("barn2-etc-tela") };
        const home2 = await s.tempDir("barn2-home");
        ok(
          await run("telad", ["pair", "-hub", hub.url, "-code", code2], home2, env2),
          "telad pair",
        );
        const svc2 = s.service("barn2 svc", servicePort());
        const agent2 = await s.agent("barn2", `${svc2.port}:svc`, undefined, env2, home2);
        await registrations(agent2, "barn2", 1);
      },
    );

    await step("the register code is used up", async () => {
      const r = await run(
        "telad",
        ["pair", "-hub", hub.url, "-code", code, "-machine", "barn"],
        await s.tempDir("barn2-home"),
        { [SYSTEM_DIR_ENV]: await s.tempDir("barn2-etc") },
      );
      assert.equal(r.code, 1, shown(r));
      assert.match(r.stderr, /pairing code not found/, shown(r));
    });
  },
);
