/**
 * Hub lifecycle against real processes: first-start bootstrap, restart keeping
 * tokens/hubId/history, config lookup and environment overrides, clear errors for
 * a bad config (file untouched), and the SIGTERM drain (book, *Run a hub on the
 * public internet*, Appendix B; spec hub-http-api.md §10).
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { freeTcpPort } from "../free_port.ts";
import {
  getJson,
  openSession,
  runHubOnce,
  ScriptedAgent,
  startHubProcess,
  waitFor,
} from "./scripted_peers.ts";

type Yaml = {
  hubId: string;
  name?: string;
  udpHost?: string;
  auth: { tokens: { id: string; token: string; hubRole?: string }[]; machines: unknown };
};

async function readConfig(path: string): Promise<Yaml> {
  return parseYaml(await Deno.readTextFile(path)) as Yaml;
}

async function hubIdOf(httpUrl: string): Promise<string> {
  const r = await fetch(`${httpUrl}/.well-known/tela`);
  return (await r.json()).hubId;
}

Deno.test({
  name: "first start bootstraps once; restart keeps tokens, hubId and history",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hub = await startHubProcess();
    const dir = hub.dir;
    try {
      await hub.waitStdout(/Owner token: /);
      const banner = hub.stdout.filter((l) => l.includes("Owner token:"));
      assert.equal(banner.length, 1, "owner token printed once");
      const cfg = await readConfig(hub.configPath);
      assert.equal(banner[0].trim(), `Owner token: ${hub.ownerToken}`);
      assert.match(hub.ownerToken!, /^[0-9a-f]{64}$/);
      assert.match(hub.viewerToken!, /^[0-9a-f]{64}$/);
      assert.deepEqual(cfg.auth.tokens.map((t) => [t.id, t.hubRole]), [
        ["owner", "owner"],
        ["console-viewer", "viewer"],
      ]);
      assert.deepEqual(cfg.auth.machines, { "*": { connectTokens: [hub.ownerToken] } });
      assert.match(
        cfg.hubId,
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      if (Deno.build.os !== "windows") {
        assert.equal((await Deno.stat(hub.configPath)).mode! & 0o777, 0o600, "config is 0600");
      }
      assert.equal(await hubIdOf(hub.httpUrl), cfg.hubId);

      const agent = await ScriptedAgent.register(hub.url, {
        machineName: "barn",
        token: hub.ownerToken,
      });
      const s = await openSession(hub.url, agent, { token: hub.ownerToken });
      await s.client.ws.close();
      await s.agent.ws.nextClose();
      await agent.close();
      const before = await getJson(hub, "/api/history", hub.ownerToken);
      const events = (before.body.events as { event: string }[]).map((e) => e.event);
      assert.ok(events.length >= 4, `events recorded: ${events}`);
      assert.equal((await hub.stop()).code, 0);
      // Data on stdout, logs on stderr: the listening line is a log line; stdout is the banner.
      assert.match(hub.stderr(), /\[hub\] telahubd listening on \S*:\d+ \(udp relay :\d+\)/);
      assert.ok(!hub.stdout.some((l) => l.includes("listening")), hub.stdout.join("\n"));
      assert.ok(hub.stdout.every((l) => l === "" || /^( {2}|=+$)/.test(l)), hub.stdout.join("\n"));
      if (Deno.build.os !== "windows") {
        const h = await Deno.stat(`${dir}/telahubd.history.json`);
        assert.equal(h.mode! & 0o777, 0o600, "history is 0600");
      }

      const again = await startHubProcess({ dir });
      try {
        assert.equal(again.ownerToken, hub.ownerToken);
        assert.equal(again.viewerToken, hub.viewerToken);
        assert.equal(await hubIdOf(again.httpUrl), cfg.hubId);
        const st = await getJson(again, "/api/status", hub.ownerToken);
        assert.equal(st.status, 200, "old owner token still valid");
        const after = await getJson(again, "/api/history", hub.ownerToken);
        assert.deepEqual(after.body.events, before.body.events, "history survived the restart");
        await again.stop(); // stdout is complete once the process is gone
        assert.deepEqual(again.stdout, [], "no second banner, nothing else on stdout");
      } finally {
        await again.stop();
      }
    } finally {
      await hub.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "history survives a crash (SIGKILL) once written",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hub = await startHubProcess();
    try {
      const agent = await ScriptedAgent.register(hub.url, {
        machineName: "crashy",
        token: hub.ownerToken,
      });
      const path = `${hub.dir}/telahubd.history.json`;
      await waitFor(async () => {
        try {
          return (await Deno.readTextFile(path)).includes("crashy");
        } catch {
          return false;
        }
      }, "history file written");
      await hub.stop("SIGKILL");
      await agent.close().catch(() => {});
      const again = await startHubProcess({ dir: hub.dir });
      const h = await getJson(again, "/api/history", again.ownerToken);
      assert.equal((h.body.events as { machineId: string }[])[0].machineId, "crashy");
      await again.stop();
    } finally {
      await hub.close();
    }
  },
});

Deno.test({
  name: "a bad config is refused with file, key and fix named, and left untouched",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "telahubd-test-" });
    try {
      const cases: [string, RegExp][] = [
        ['port: "eighty"\n', /key "port": expected a port number 1-65535, got "eighty"; fix/],
        ["auth:\n  tokens: nope\n", /key "auth\.tokens": expected a list/],
        ["shutdownTimeout: soon\n", /key "shutdownTimeout": expected a duration/],
        [
          "auth:\n  machines:\n    barn:\n      connectTokens: abc\n",
          /auth\.machines\.barn\.connectTokens/,
        ],
        ["port: [\n", /invalid YAML .*fix the file/],
      ];
      for (const [text, want] of cases) {
        const path = `${dir}/telahubd.yaml`;
        await Deno.writeTextFile(path, text);
        const out = await runHubOnce(["-config", path]);
        const err = out.stderr;
        assert.equal(out.code, 3, err); // a configuration error (book, exit codes)
        assert.ok(err.includes(path), `names the file: ${err}`);
        assert.match(err, want);
        assert.equal(await Deno.readTextFile(path), text, "file untouched");
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "environment overrides, TELA_OWNER_TOKEN bootstrap and ./data/telahubd.yaml lookup",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hub = await startHubProcess({
      configFlag: false,
      env: {
        TELAHUBD_NAME: "from-env",
        TELA_OWNER_TOKEN: "operator-chosen-owner-token",
        TELAHUBD_UDP_HOST: "203.0.113.10",
      },
    });
    try {
      assert.equal(hub.configPath, `${hub.dir}/data/telahubd.yaml`);
      assert.equal(hub.ownerToken, "operator-chosen-owner-token");
      const cfg = await readConfig(hub.configPath);
      // The file holds only what it held: no name key at all (neither env nor default).
      assert.equal(cfg.name, undefined, "TELAHUBD_NAME is not written back");
      assert.equal(cfg.udpHost, undefined, "TELAHUBD_UDP_HOST is not written back");
      const st = await getJson(hub, "/api/status", hub.ownerToken);
      assert.equal(st.body.hubName, "from-env");
      // `telahubd health` (the Docker health check) against the running hub.
      const health = await runHubOnce(["health", "-port", String(hub.port)]);
      assert.equal(health.code, 0, health.stderr);
      assert.match(
        health.stdout,
        new RegExp(
          `^ok: telahubd \\S+ listening at http://127\\.0\\.0\\.1:${hub.port}/\\.well-known/tela \\(protocol 1\\.1\\)`,
        ),
      );
      const closed = freeTcpPort();
      const down = await runHubOnce(["health", "-port", String(closed)]);
      assert.equal(down.code, 1);
      assert.equal(
        down.stderr,
        `Error: unhealthy: http://127.0.0.1:${closed}/.well-known/tela: connection refused ` +
          "(no hub listens there; check -port or TELAHUBD_PORT)\n",
      );
      const agent = await ScriptedAgent.register(hub.url, {
        machineName: "m",
        token: hub.ownerToken,
      });
      const s = await openSession(hub.url, agent, { token: hub.ownerToken });
      assert.equal(s.client.udpOffer.host, "203.0.113.10");
      assert.equal(s.agent.udpOffer.host, "203.0.113.10");
      await s.client.ws.close();
      await agent.close();
      await hub.stop();
      assert.deepEqual(hub.stdout, [], "env token is not printed; nothing else on stdout");
      // Restart without -config from the same folder: ./data/telahubd.yaml is found.
      const again = await startHubProcess({ dir: hub.dir, configFlag: false });
      assert.equal(await hubIdOf(again.httpUrl), cfg.hubId);
      assert.equal(again.ownerToken, "operator-chosen-owner-token");
      await again.stop();
    } finally {
      await hub.close();
    }
  },
});

Deno.test({
  name: "SIGTERM drains: peers get 1001, the process exits 0 within shutdownTimeout",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hub = await startHubProcess({ configYaml: "shutdownTimeout: 20s\n" });
    try {
      const agent = await ScriptedAgent.register(hub.url, {
        machineName: "barn",
        token: hub.ownerToken,
      });
      const s = await openSession(hub.url, agent, { token: hub.ownerToken });
      const t0 = performance.now();
      hub.child.kill("SIGTERM");
      const [c, a, ctl] = await Promise.all([
        s.client.ws.nextClose(),
        s.agent.ws.nextClose(),
        agent.control.nextClose(),
      ]);
      assert.deepEqual(c, { code: 1001, reason: "hub shutting down" });
      assert.equal(a.code, 1001);
      assert.equal(ctl.code, 1001);
      const st = await hub.status;
      assert.equal(st.code, 0);
      // Bound only by the configured budget (20 s), not a tight timing.
      assert.ok(performance.now() - t0 < 20_000, "exited within shutdownTimeout");
      const hist = JSON.parse(await Deno.readTextFile(`${hub.dir}/telahubd.history.json`));
      assert.ok(hist.events.some((e: { event: string }) => e.event === "client-connect"));
    } finally {
      await hub.close();
    }
  },
});

Deno.test({
  name:
    "-port and -udp-port (book, First connection: telahubd -port 8080) win over the environment",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const port = freeTcpPort();
    const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const udpPort = (udp.addr as Deno.NetAddr).port;
    udp.close();
    const hub = await startHubProcess({
      args: ["-port", String(port), "-udp-port", String(udpPort)],
      env: { TELAHUBD_PORT: String(freeTcpPort()) },
    });
    try {
      assert.equal(hub.port, port);
      assert.equal(hub.udpPort, udpPort);
      const r = await fetch(`http://127.0.0.1:${port}/.well-known/tela`);
      assert.equal(r.status, 200);
      await r.body?.cancel();
    } finally {
      await hub.close();
    }
    const bad = await runHubOnce(["-port", "99999"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /-port 99999 is not a port: use 0\.\.65535/);
  },
});
