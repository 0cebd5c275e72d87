/**
 * Hub directories end to end (book, *Hub directories and portals*; Appendix A *Hub name
 * resolution*; Appendix D), with real processes on loopback: `telahubd portal serve` as the
 * directory, a hub that registers itself at first start (`TELAHUBD_PORTAL_*`), a real agent,
 * and `tela` resolving `-hub alpha` through `tela remote add`, then `hubs.yaml`, else an
 * error naming both; after the hub moves to another port, `telahubd portal sync -hub-url`
 * moves its directory entry and `tela connect -hub alpha` follows.
 */
import assert from "node:assert/strict";
import {
  freeTcpPort,
  greeter,
  type Proc,
  readThrough,
  runTela,
  spawnDeno,
  startAgent,
  startClient,
  tunnelUps,
} from "./harness.ts";

const owner = "d1e0".repeat(16);
const portalToken = "portal-e2e-token-0123456789abcdef";

/** Starts `telahubd` on a chosen port with extra environment. */
async function startNamedHub(
  dir: string,
  port: number,
  env: Record<string, string>,
): Promise<Proc> {
  const proc = spawnDeno(`hub:${port}`, "cmd/telahubd.ts", ["-config", `${dir}/telahubd.yaml`], {
    HOME: dir,
    TELAHUBD_PORT: String(port),
    TELAHUBD_UDP_PORT: "0",
    TELAHUBD_LISTEN: "127.0.0.1",
    TELA_OWNER_TOKEN: owner,
    ...env,
  });
  await proc.waitFor(/listening on \S*:(\d+)/, 90_000);
  return proc;
}

async function directoryHubs(portal: string): Promise<{ name: string; url: string; id: string }[]> {
  const r = await fetch(`${portal}/api/hubs`, {
    headers: { Authorization: `Bearer ${portalToken}` },
  });
  assert.equal(r.status, 200);
  return (await r.json()).hubs;
}

Deno.test({
  name: "tela remote: -hub <name> resolves through a portal to a real hub and agent",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const root = await Deno.makeTempDir({ prefix: "directory-e2e-" });
    const [portalDir, hubDir, hub2Dir, agentHome, clientHome] = [
      "portal",
      "hub",
      "hub2",
      "agent",
      "client",
    ].map((d) => `${root}/${d}`);
    for (const d of [portalDir, hubDir, hub2Dir, agentHome, clientHome]) await Deno.mkdir(d);
    const service = greeter("hello from web01 behind alpha\n");
    const procs: Proc[] = [];
    try {
      const portalProc = spawnDeno("portal", "cmd/telahubd.ts", [
        "portal",
        "serve",
        "-listen",
        "127.0.0.1",
        "-port",
        "0",
        "-data",
        portalDir,
        "-token",
        portalToken,
      ], { HOME: portalDir });
      procs.push(portalProc);
      const pm = await portalProc.waitFor(/portal listening on 127\.0\.0\.1:(\d+)/, 90_000);
      const portal = `http://127.0.0.1:${pm[1]}`;

      let hubPort = freeTcpPort();
      let hub = await startNamedHub(hubDir, hubPort, {
        TELAHUBD_NAME: "alpha",
        TELAHUBD_PORTAL_URL: portal,
        TELAHUBD_PORTAL_TOKEN: portalToken,
        TELAHUBD_PUBLIC_URL: `http://127.0.0.1:${hubPort}`,
      });
      procs.push(hub);
      let agent = startAgent(
        agentHome,
        `ws://127.0.0.1:${hubPort}`,
        "web01",
        owner,
        `${service.port}:web`,
      );
      procs.push(agent);

      await t.step("the hub registers itself at first start (TELAHUBD_PORTAL_URL)", async () => {
        await hub.waitFor(/registered with portal default at /, 30_000);
        const hubs = await directoryHubs(portal);
        const wk = await (await fetch(`http://127.0.0.1:${hubPort}/.well-known/tela`)).json();
        assert.deepEqual(hubs.map((h) => [h.name, h.url, h.id]), [
          ["alpha", `http://127.0.0.1:${hubPort}`, wk.hubId],
        ]);
        const cfg = await Deno.readTextFile(`${hubDir}/telahubd.yaml`);
        assert.match(cfg, /portals:\n\s+default:\n\s+url: http:\/\/127\.0\.0\.1:\d+\n/);
        assert.match(cfg, /syncToken: hubsync_/);
        assert.ok(!cfg.includes(portalToken), "the portal token is never stored");
        const list = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            "cmd/telahubd.ts",
            "portal",
            "list",
            "-json",
            "-config",
            `${hubDir}/telahubd.yaml`,
          ],
          cwd: new URL("../../", import.meta.url).pathname,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(list.code, 0, new TextDecoder().decode(list.stderr));
        assert.deepEqual(JSON.parse(new TextDecoder().decode(list.stdout)), {
          portals: [{
            name: "default",
            url: portal,
            hubDirectory: "/api/hubs",
            hasSyncToken: true,
            hubUrl: `http://127.0.0.1:${hubPort}`,
          }],
        });
      });

      await t.step(
        "tela remote add discovers the portal and saves config.yaml (0600)",
        async () => {
          const bad = await runTela(clientHome, [
            "remote",
            "add",
            "work",
            portal,
            "-token",
            "wrong",
          ]);
          assert.equal(bad.code, 1, bad.stderr);
          assert.match(bad.stderr, /remote "work" returned 401 unauthorized/);
          const r = await runTela(clientHome, [
            "remote",
            "add",
            "work",
            portal,
            "-token",
            portalToken,
          ]);
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, /^Remote "work" added \(http:\/\/127\.0\.0\.1:\d+\)$/m);
          const path = `${clientHome}/.tela/config.yaml`;
          assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
          const l = await runTela(clientHome, ["remote", "list", "-json"]);
          assert.deepEqual(JSON.parse(l.stdout), [
            { name: "work", url: portal, hubDirectory: "/api/hubs", hasToken: true },
          ]);
        },
      );

      // A stale alias for alpha in hubs.yaml: the remote is asked first and wins.
      await Deno.mkdir(`${clientHome}/.tela`, { recursive: true });
      await Deno.writeTextFile(
        `${clientHome}/.tela/hubs.yaml`,
        `hubs:\n  alpha: ws://127.0.0.1:${freeTcpPort()}\n`,
      );

      await t.step("tela connect -hub alpha carries bytes to the agent's service", async () => {
        const local = freeTcpPort();
        const client = startClient(clientHome, [
          "-hub",
          "alpha",
          "-machine",
          "web01",
          "-token",
          owner,
          "-ports",
          `${local}:${service.port}`,
        ]);
        procs.push(client);
        try {
          await client.waitFor(/hub "alpha" resolved through remote "work": ws:\/\/127\.0\.0\.1:/);
          await tunnelUps(client, 1);
          assert.equal(await readThrough(local), "hello from web01 behind alpha\n");
        } finally {
          await client.stop();
        }
      });

      await t.step("the portal's fleet view lists the real agent", async () => {
        const r = await fetch(`${portal}/api/fleet/agents`, {
          headers: { Authorization: `Bearer ${portalToken}` },
        });
        assert.equal(r.status, 200);
        const { agents } = await r.json();
        const web = agents.find((a: { id: string }) => a.id === "web01");
        assert.ok(web, JSON.stringify(agents));
        assert.equal(web.hub, "alpha");
        assert.equal(web.online, true);
        assert.equal(web.hubUrl, `http://127.0.0.1:${hubPort}`);
      });

      const hub2Port = freeTcpPort();
      const hub2 = await startNamedHub(hub2Dir, hub2Port, { TELAHUBD_NAME: "beta" });
      procs.push(hub2);

      await t.step("a name no remote lists falls back to hubs.yaml", async () => {
        await Deno.writeTextFile(
          `${clientHome}/.tela/hubs.yaml`,
          `hubs:\n  beta: ws://127.0.0.1:${hub2Port}\n`,
        );
        const r = await runTela(clientHome, ["status", "-hub", "beta", "-token", owner]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^Hub:\\s+ws://127\\.0\\.0\\.1:${hub2Port}$`, "m"));
      });

      await t.step(
        "a name neither knows: an error naming config.yaml, hubs.yaml and the fixes",
        async () => {
          const r = await runTela(clientHome, ["machines", "-hub", "gamma", "-token", owner]);
          assert.equal(r.code, 2, r.stderr);
          const line = r.stderr.split("\n").find((l) => l.startsWith("Error: ")) ?? "";
          assert.match(line, /-hub "gamma" is not a ws:\/\/ or wss:\/\/ URL/);
          assert.match(line, /not listed by the remotes in \S+\/\.tela\/config\.yaml \(work\)/);
          assert.match(line, /not a short name in \S+\/\.tela\/hubs\.yaml \(it defines: beta\)/);
          assert.match(line, /tela remote add <name> <directory-url>/);
          assert.match(line, /add "gamma: wss:\/\/<host>" under "hubs:"/);
        },
      );

      await t.step(
        "the hub moves; portal sync -hub-url moves its entry; tela follows",
        async () => {
          await agent.stop();
          await hub.stop();
          hubPort = freeTcpPort();
          // Restarted without the portal variables: the registration is in its config.
          hub = await startNamedHub(hubDir, hubPort, { TELAHUBD_NAME: "alpha" });
          procs.push(hub);
          agent = startAgent(
            agentHome,
            `ws://127.0.0.1:${hubPort}`,
            "web01",
            owner,
            `${service.port}:web`,
          );
          procs.push(agent);
          const before = await directoryHubs(portal);
          assert.notEqual(
            before[0].url,
            `http://127.0.0.1:${hubPort}`,
            "the portal has the old URL",
          );
          const sync = await new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "-A",
              "cmd/telahubd.ts",
              "portal",
              "sync",
              "-hub-url",
              `ws://127.0.0.1:${hubPort}`,
              "-config",
              `${hubDir}/telahubd.yaml`,
            ],
            cwd: new URL("../../", import.meta.url).pathname,
            env: { TELAHUBD_NAME: "alpha" },
            stdout: "piped",
            stderr: "piped",
          }).output();
          const out = new TextDecoder().decode(sync.stdout);
          assert.equal(sync.code, 0, out + new TextDecoder().decode(sync.stderr));
          assert.equal(out, `portal "default": synced\n`);
          const after = await directoryHubs(portal);
          assert.deepEqual(after.map((h) => [h.name, h.url, h.id]), [
            ["alpha", `http://127.0.0.1:${hubPort}`, before[0].id],
          ]);
          const local = freeTcpPort();
          const client = startClient(clientHome, [
            "-hub",
            "alpha",
            "-machine",
            "web01",
            "-token",
            owner,
            "-ports",
            `${local}:${service.port}`,
          ]);
          procs.push(client);
          try {
            await client.waitFor(
              new RegExp(`resolved through remote "work": ws://127\\.0\\.0\\.1:${hubPort}`),
            );
            await tunnelUps(client, 1);
            assert.equal(await readThrough(local), "hello from web01 behind alpha\n");
          } finally {
            await client.stop();
          }
        },
      );

      await t.step(
        "tela remote remove forgets it; alpha then falls through to the error",
        async () => {
          const r = await runTela(clientHome, ["remote", "remove", "work"]);
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, `Remote "work" removed.\n`);
          const again = await runTela(clientHome, ["remote", "rm", "work"]);
          assert.equal(again.code, 1);
          assert.match(again.stderr, /remote "work" not found in \S+config\.yaml \(it has none\)/);
          const m = await runTela(clientHome, ["machines", "-hub", "alpha", "-token", owner]);
          assert.equal(m.code, 2);
          assert.match(m.stderr, /-hub "alpha" is not a ws:\/\/ or wss:\/\/ URL, no remotes in /);
        },
      );
    } finally {
      for (const p of procs.reverse()) await p.stop();
      service.listener.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});
