/**
 * Sessions that behave, with real processes (issue items 2-3, 5): a connection profile
 * (hub alias from hubs.yaml, `${VAR}` token, token from `tela login`, a service by name, a
 * busy local port moved to port+10000) whose connections reconnect each on its own when
 * an agent vanishes; an agent in gateway mode configured only through the environment;
 * an ad-hoc client configured only through the environment; a token the hub stops accepting
 * ends that connection with a clear message while the other connections go on.
 */
import assert from "node:assert/strict";
import {
  countLines,
  freeTcpPort,
  httpGet,
  portWithFallbackRoom,
  type Proc,
  runTela,
  spawnDeno,
  startHub,
  waitCount,
} from "./harness.ts";

const owner = "e2e1".repeat(16);
const alice = "a11c".repeat(16);

function hubConfig(withAlice: boolean): string {
  return [
    "auth:",
    "  tokens:",
    "    - id: owner",
    `      token: ${owner}`,
    "      hubRole: owner",
    ...(withAlice ? ["    - id: alice", `      token: ${alice}`] : []),
    "  machines:",
    "    m1:",
    `      connectTokens: [${withAlice ? alice : ""}]`,
    "",
  ].join("\n");
}

Deno.test({
  name: "profile connections, env-only agent and client, agent loss and token revocation",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const root = await Deno.makeTempDir({ prefix: "e2e-sessions-" });
    const [hubDir, agentA, agentB, home] = ["hub", "agent-a", "agent-b", "client"].map((d) =>
      `${root}/${d}`
    );
    for (const d of [hubDir, agentA, agentB, home]) await Deno.mkdir(d);
    await Deno.writeTextFile(`${hubDir}/telahubd.yaml`, hubConfig(true));
    const webA = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => new Response("hello from m1\n"),
    );
    // gw's service listens on 127.0.0.2 only: TELAD_TARGET_HOST must be honoured.
    const webB = Deno.serve(
      { hostname: "127.0.0.2", port: 0, onListen() {} },
      () => new Response("hello from gw\n"),
    );
    const procs: Proc[] = [];
    let hub = await startHub(hubDir, owner);
    procs.push(hub.proc);
    await Deno.writeTextFile(
      `${agentA}/telad.yaml`,
      `hub: ${hub.url}\ntoken: ${owner}\nmachines:\n  - name: m1\n    services:\n` +
        `      - port: ${webA.addr.port}\n        name: web\n`,
    );
    const agentAProc = spawnDeno("telad:m1", "cmd/telad.ts", ["-config", `${agentA}/telad.yaml`], {
      HOME: agentA,
    });
    procs.push(agentAProc);
    const agentEnv = {
      HOME: agentB,
      TELA_HUB: hub.url,
      TELA_MACHINE: "gw",
      TELA_TOKEN: owner,
      TELAD_PORTS: `${webB.addr.port}:gwweb`,
      TELAD_TARGET_HOST: "127.0.0.2",
    };
    let agentBProc = spawnDeno("telad:gw", "cmd/telad.ts", [], agentEnv);
    procs.push(agentBProc);
    const l1 = freeTcpPort();
    const l2 = portWithFallbackRoom();
    const busy = Deno.listen({ hostname: "127.0.0.1", port: l2 });
    let client: Proc | undefined;
    try {
      await agentAProc.waitFor(/registered with hub as "m1"/, 90_000);
      await agentBProc.waitFor(/registered with hub as "gw".*forwarded to 127\.0\.0\.2/, 90_000);

      await t.step(
        "tela login stores the token; hubs.yaml gives the hub a short name",
        async () => {
          await Deno.mkdir(`${home}/.tela`);
          await Deno.writeTextFile(`${home}/.tela/hubs.yaml`, `hubs:\n  lab: ${hub.url}\n`);
          const login = await runTela(home, ["login", `${hub.url}/`], `${owner}\nme\n`);
          assert.equal(login.code, 0, login.stderr);
          assert.deepEqual([login.stdout, login.stderr], ["", ""], "silence is success");
          const creds = `${home}/.tela/credentials.yaml`;
          assert.equal((await Deno.stat(creds)).mode! & 0o777, 0o600);
          assert.ok((await Deno.readTextFile(creds)).includes(`${hub.url}:\n    token: ${owner}`));
          // No -token and no TELA_TOKEN: the stored token is used.
          const m = await runTela(home, ["machines", "-hub", "lab", "-json"]);
          assert.equal(m.code, 0, m.stderr);
          const doc = JSON.parse(m.stdout);
          assert.deepEqual(
            doc.machines.map((x: { id: string; agentConnected: boolean }) => [
              x.id,
              x.agentConnected,
            ]),
            [["gw", true], ["m1", true]],
          );
        },
      );

      await t.step("an ad-hoc client from TELA_HUB/TELA_MACHINE/TELA_TOKEN alone", async () => {
        const adhoc = spawnDeno("tela:adhoc", "cmd/tela.ts", ["connect", "-v"], {
          HOME: home,
          TELA_HUB: "lab",
          TELA_MACHINE: "gw",
          TELA_TOKEN: owner,
          TELA_MTU: "1280",
        });
        procs.push(adhoc);
        // No -ports: the advertised port is bound (at its own number unless that is taken).
        const m = await adhoc.waitFor(/localhost:(\d+)\s+→ gwweb$/);
        assert.equal(await httpGet(`http://127.0.0.1:${m[1]}/`), "hello from gw\n");
        assert.match(adhoc.output, /tunnel MTU 1280/);
        const status = await adhoc.stop();
        assert.equal(status.code, 0, "Ctrl-C/SIGTERM is a clean exit");
        assert.match(adhoc.output, /shutting down/);
      });

      const profile = `${home}/.tela/profiles/work.yaml`;
      await Deno.mkdir(`${home}/.tela/profiles`);
      await Deno.writeTextFile(
        profile,
        [
          "# two machines, one hub",
          "connections:",
          "  - hub: lab",
          "    machine: m1",
          "    token: ${E2E_ALICE_TOKEN}",
          "    services:",
          "      - name: WEB",
          `        local: ${l1}`,
          "  - hub: lab",
          "    machine: gw",
          "    services:",
          `      - remote: ${webB.addr.port}`,
          `        local: ${l2}`,
          "",
        ].join("\n"),
      );
      client = spawnDeno("tela:profile", "cmd/tela.ts", ["connect", "-profile", "work"], {
        HOME: home,
        E2E_ALICE_TOKEN: alice,
      });
      procs.push(client);
      const c = client;
      const up1 = /\[profile:1\] WireGuard tunnel up/;
      const up2 = /\[profile:2\] WireGuard tunnel up/;
      const l2Bound = l2 + 10000;

      await t.step("the profile opens both connections; a busy port moves to +10000", async () => {
        await c.waitFor(
          new RegExp(`localhost:${l1}\\s+→ web \\(m1\\)$`),
        );
        await c.waitFor(
          new RegExp(
            `localhost:${l2Bound} → gwweb \\(gw, 127\\.0\\.0\\.1:${l2} in use, moved to ${l2Bound}\\)$`,
          ),
        );
        await waitCount(c, up1, 1);
        await waitCount(c, up2, 1);
        assert.equal(await httpGet(`http://127.0.0.1:${l1}/`), "hello from m1\n");
        assert.equal(await httpGet(`http://127.0.0.1:${l2Bound}/`), "hello from gw\n");
        // The profile got an id, kept its comment and its ${VAR} (no secret written back).
        const text = await Deno.readTextFile(profile);
        assert.match(text, /^# two machines, one hub/);
        assert.match(text, /token: \$\{E2E_ALICE_TOKEN\}/);
        assert.match(text, /\nid: [0-9a-f-]{36}/);
      });

      await t.step("a vanished agent ends only its connection, which comes back", async () => {
        agentBProc.child.kill("SIGKILL");
        await agentBProc.exited;
        // The hub notices the agent's session socket or its control socket first.
        await c.waitFor(
          /\[profile:2\] session ended -- cleaning up \(agent (disconnected|session ended)\)/,
        );
        await c.waitFor(/\[profile:2\] WARN: the agent of "gw" (went away|closed the session)/);
        await c.waitFor(
          /\[profile:2\] WARN: machine "gw" is not registered on this hub \(will retry\)/,
        );
        // The other connection is untouched.
        assert.equal(await httpGet(`http://127.0.0.1:${l1}/`), "hello from m1\n");
        assert.equal(countLines(c, up1), 1);
        agentBProc = spawnDeno("telad:gw", "cmd/telad.ts", [], agentEnv);
        procs.push(agentBProc);
        await waitCount(c, up2, 2);
        assert.equal(await httpGet(`http://127.0.0.1:${l2Bound}/`), "hello from gw\n");
        assert.equal(countLines(c, up1), 1, "m1's session was never interrupted");
      });

      await t.step(
        "a token the hub no longer accepts ends that connection for good; the others go on",
        async () => {
          const port = hub.port;
          await hub.proc.stop();
          await Deno.writeTextFile(`${hubDir}/telahubd.yaml`, hubConfig(false));
          hub = await startHub(hubDir, owner, port);
          procs.push(hub.proc);
          // The reconnect after the restart is refused: m1 had a session, so it stops (issue
          // 10, decision 2) with the hub's reason and what to do, instead of retrying.
          await c.waitFor(
            /\[profile:1\] ERROR: access to "m1" ended by the hub: access denied; ask the hub administrator \(tela admin access\) or use another token$/,
            120_000,
          );
          // The owner token from the credential store still works for gw.
          await waitCount(c, up2, 3);
          assert.equal(await httpGet(`http://127.0.0.1:${l2Bound}/`), "hello from gw\n");
          // m1's local listener is closed with it; the client itself keeps running.
          await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: l1 }));
          const exited = await Promise.race([c.exited.then(() => true), Promise.resolve(false)]);
          assert.equal(exited, false);
        },
      );
    } finally {
      busy.close();
      for (const p of procs.reverse()) await p.stop();
      await webA.shutdown();
      await webB.shutdown();
      await Deno.remove(root, { recursive: true });
    }
  },
});
