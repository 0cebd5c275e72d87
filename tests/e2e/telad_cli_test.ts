/**
 * `telad` as a user runs it (book, *Run an agent*, Appendix A): flags and environment,
 * `-config` with several machines, exit codes. In-process against the real hub, with the
 * real WireGuard + netstack engine on both ends (wrapped to see the MTU each end uses).
 */
import assert from "node:assert/strict";
import { type TestHub, withTestHub } from "../../lib/hub/_test_util.ts";
import { type TunnelEngine, wireguardEngine } from "../../lib/session/mod.ts";
import { telaMain } from "../../lib/client/mod.ts";
import { wsRelayBind } from "../../lib/transport/mod.ts";
import { teladMain } from "../../lib/agent/mod.ts";

const OWNER = "ab".repeat(32);
const ENV = [
  "HOME",
  "TELA_HUB",
  "TELA_MACHINE",
  "TELA_TOKEN",
  "TELAD_CONFIG",
  "TELAD_PORTS",
  "TELAD_TARGET_HOST",
  "TELAD_MTU",
  "TELA_MTU",
];

/** Temporary HOME, clean Tela environment, an in-process hub; everything undone after. */
/** A test hub, with the agent's environment variables cleared and HOME in its folder. */
function withHub(fn: (hub: TestHub) => Promise<void>): Promise<void> {
  return withTestHub(OWNER, async (hub) => {
    const saved = ENV.map((k) => [k, Deno.env.get(k)] as const);
    for (const k of ENV) Deno.env.delete(k);
    Deno.env.set("HOME", hub.dir);
    try {
      await fn(hub);
    } finally {
      for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
  });
}

/** Collects output instead of printing it. */
function io() {
  const out: string[] = [];
  const err: string[] = [];
  let stop!: () => void;
  const interrupted = new Promise<void>((r) => (stop = r));
  return {
    out,
    err,
    stop,
    deps: {
      stdout: (t: string) => out.push(t),
      stderr: (t: string) => err.push(t),
      interrupted,
    },
  };
}

/** The real engine, recording the MTU of every session it builds. */
function spyEngine(): { engine: TunnelEngine; mtus: number[] } {
  const mtus: number[] = [];
  return { mtus, engine: (o) => (mtus.push(o.mtu), wireguardEngine(o)) };
}

interface StatusMachine {
  id: string;
  agentConnected: boolean;
  hostname?: string;
  os?: string;
  tags?: string[];
  displayName?: string;
  location?: string;
  owner?: string;
  services: { port: number; name: string; description?: string }[];
}

async function machines(http: string): Promise<StatusMachine[]> {
  const res = await fetch(`${http}/api/status`, { headers: { Authorization: `Bearer ${OWNER}` } });
  return (await res.json()).machines;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const noEngine: TunnelEngine = () => {
  throw new Error("no tunnel in this test");
};

Deno.test("telad: version, help, bad flags and missing settings give the documented exits", async () => {
  await withHub(async ({ url, dir }) => {
    const run = async (args: string[]) => {
      const x = io();
      const code = await teladMain(args, { bind: wsRelayBind, engine: noEngine, ...x.deps });
      return { code, out: x.out.join("\n"), err: x.err.join("\n") };
    };
    assert.match((await run(["version"])).out, /^telad v\S+ \w+\/\w+$/);
    const help = await run(["-hub", url, "-h"]);
    assert.equal(help.code, 0);
    assert.match(help.out, /^telad — /);
    assert.match(help.out, /\n {2}-target-host <host> +Target host/);
    const bad = await run(["-hubb", url]);
    assert.equal(bad.code, 2);
    assert.match(
      bad.err,
      /^Error: flag provided but not defined: -hubb Did you mean: -hub\?\n\ntelad — /,
    );
    // Missing or malformed settings are usage errors (2); a broken config file is 3.
    const none = await run([]);
    assert.equal(none.code, 2);
    assert.match(none.err, /^Error: -hub and -machine are required/);
    const noPorts = await run(["-hub", url, "-machine", "m"]);
    assert.equal(noPorts.code, 2);
    assert.match(noPorts.err, /^Error: -ports is required \(e\.g\. -ports 22:SSH,3389:RDP\)\n/);
    const junk = await run(["-hub", url, "-machine", "m", "-ports", "x,y"]);
    assert.equal(junk.code, 2);
    assert.match(junk.err, /^Error: -ports: "x" is not a port spec: each comma-separated part /);
    // telad logout prints nothing on stdout; a hub with no stored token (or no root) is exit 1.
    const hub = `wss://no-such-hub-${crypto.randomUUID()}.invalid`;
    const logout = await run(["logout", "-hub", hub]);
    assert.deepEqual([logout.code, logout.out], [1, ""]);
    assert.match(
      logout.err,
      Deno.uid() === 0
        ? new RegExp(`^Error: no token stored for ${hub.replaceAll(".", "\\.")} in /etc/tela/`)
        : /^Error: telad logout writes \/etc\/tela\/credentials\.yaml and needs root; run "sudo telad logout"$/,
    );
    Deno.env.set("TELAD_CONFIG", `${dir}/missing.yaml`);
    const cfg = await run([]);
    assert.equal(cfg.code, 3);
    assert.match(cfg.err, /^Error: .*missing\.yaml: cannot read config/);
  });
});

Deno.test({
  name: "telad from the environment alone: TELA_*, TELAD_PORTS, TELAD_TARGET_HOST, TELAD_MTU",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withHub(async ({ url, http, dir }) => {
      // The service listens on 127.0.0.2 only: reaching it proves the target host is used.
      const web = Deno.serve(
        { hostname: "127.0.0.2", port: 0, onListen() {} },
        () => new Response("served on 127.0.0.2\n"),
      );
      const port = web.addr.port;
      Deno.env.set("TELA_HUB", url);
      Deno.env.set("TELA_MACHINE", "gw");
      Deno.env.set("TELA_TOKEN", OWNER);
      // Spaces around a part are trimmed; a bad part is refused (tests/cli/values_test.ts).
      Deno.env.set("TELAD_PORTS", ` ${port}:web:demo page `);
      Deno.env.set("TELAD_TARGET_HOST", "127.0.0.2");
      Deno.env.set("TELAD_MTU", "1280");
      const agentSpy = spyEngine();
      const agent = io();
      const agentRun = teladMain([], { bind: wsRelayBind, engine: agentSpy.engine, ...agent.deps });
      const gw = await until("gw online", async () => {
        const m = (await machines(http)).find((x) => x.id === "gw" && x.agentConnected);
        return m;
      });
      assert.deepEqual(gw.services, [{
        port,
        proto: "tcp",
        name: "web",
        description: "demo page",
      }]);
      // The flag-mode agent keeps its identity in ~/.tela/telad.state.
      assert.match(await Deno.readTextFile(`${dir}/.tela/telad.state`), /agentId: [0-9a-f-]{36}/);

      const clientSpy = spyEngine();
      const client = io();
      const clientRun = telaMain(
        ["connect", "-services", "WEB", "-mtu", "1300"],
        { bind: wsRelayBind, engine: clientSpy.engine, ...client.deps },
      );
      const local = await until("Services block", () => {
        const m = client.out.join("\n").match(/localhost:(\d+)\s+→ web\b/);
        return Promise.resolve(m ? Number(m[1]) : undefined);
      });
      assert.ok(local === port || local >= port + 10000, `bound ${local} for ${port}`);
      let body = "";
      for (let i = 0; i < 10 && !body; i++) {
        try {
          const res = await fetch(`http://127.0.0.1:${local}/`, {
            signal: AbortSignal.timeout(5_000),
          });
          body = await res.text();
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      assert.equal(body, "served on 127.0.0.2\n");
      assert.deepEqual(agentSpy.mtus, [1280], "TELAD_MTU reaches the agent's tunnel");
      assert.deepEqual(clientSpy.mtus, [1300], "-mtu reaches the client's tunnel");

      client.stop();
      agent.stop();
      assert.equal(await clientRun, 0);
      assert.equal(await agentRun, 0);
      await web.shutdown();
    });
  },
});

Deno.test({
  name: "telad -config: one registration per machine, with the telad.yaml metadata and services",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withHub(async ({ url, http, dir }) => {
      const path = `${dir}/agent/telad.yaml`;
      await Deno.mkdir(`${dir}/agent`);
      await Deno.writeTextFile(
        path,
        `hub: ${url}
token: ${OWNER}
machines:
  - name: web01
    displayName: "Web Server 01"
    hostname: web01.internal
    os: plan9
    tags: [production, web]
    location: US-East
    owner: ops-team
    services:
      - port: 22
        name: SSH
        description: OpenSSH server
  - name: nas
    ports: [445]
    target: 127.0.0.3
`,
      );
      const agent = io();
      const run = teladMain(["-config", path], {
        bind: wsRelayBind,
        engine: noEngine,
        ...agent.deps,
      });
      const both = await until("both machines online", async () => {
        const ms = (await machines(http)).filter((m) => m.agentConnected);
        return ms.length === 2 ? ms : undefined;
      });
      const web01 = both.find((m) => m.id === "web01")!;
      assert.equal(web01.displayName, "Web Server 01");
      assert.equal(web01.hostname, "web01.internal");
      assert.equal(web01.os, "plan9");
      assert.deepEqual(web01.tags, ["production", "web"]);
      assert.equal(web01.location, "US-East");
      assert.equal(web01.owner, "ops-team");
      assert.deepEqual(web01.services.map((s) => [s.port, s.name, s.description]), [
        [22, "SSH", "OpenSSH server"],
      ]);
      assert.deepEqual(both.find((m) => m.id === "nas")!.services.map((s) => s.port), [445]);
      // telad.state sits beside the config file and holds one registration id per machine.
      const state = await Deno.readTextFile(`${dir}/agent/telad.state`);
      assert.match(state, /web01:\n\s+machineRegistrationId: [0-9a-f-]{36}/);
      assert.match(state, /nas:\n\s+machineRegistrationId: [0-9a-f-]{36}/);
      agent.stop();
      assert.equal(await run, 0);
    });
  },
});

Deno.test({
  name: "telad with a wrong token stops with a clear error and exit status 1",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withHub(async ({ url }) => {
      const agent = io();
      const code = await teladMain(
        ["-hub", url, "-machine", "barn", "-token", "0".repeat(64), "-ports", "22"],
        { bind: wsRelayBind, engine: noEngine, ...agent.deps },
      );
      assert.equal(code, 1);
      assert.match(
        agent.err.join("\n"),
        /^Error: hub refused to register "barn": Access denied \(the token is unknown, or its identity has no register permission on "barn": tela admin access grant <id> barn register\)/,
      );
    });
  },
});
