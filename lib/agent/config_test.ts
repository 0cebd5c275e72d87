import assert from "node:assert/strict";
import {
  agentConfigFromFlags,
  agentStatePath,
  loadAgentConfig,
  loadAgentState,
  resolveAgentTokens,
} from "./mod.ts";
import { storeCredential } from "../host/mod.ts";

async function tmp(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("telad.yaml: every Appendix B machine field, with defaults applied", async () => {
  await tmp(async (dir) => {
    const path = `${dir}/telad.yaml`;
    await Deno.writeTextFile(
      path,
      `hub: wss://hub.example.com
token: top
machines:
  - name: web01
    displayName: "Web Server 01"
    hostname: web01.internal
    os: linux
    tags: [production, web]
    location: US-East
    owner: ops-team
    target: 10.0.0.5
    token: override
    services:
      - port: 22
        name: SSH
        description: OpenSSH server
  - name: nas
    ports: [5000, 22]
`,
    );
    const cfg = await loadAgentConfig(path);
    assert.equal(cfg.hub, "wss://hub.example.com");
    assert.deepEqual(cfg.machines[0], {
      name: "web01",
      displayName: "Web Server 01",
      hostname: "web01.internal",
      os: "linux",
      tags: ["production", "web"],
      location: "US-East",
      owner: "ops-team",
      target: "10.0.0.5",
      token: "override",
      ports: [22],
      services: [{ port: 22, proto: "tcp", name: "SSH", description: "OpenSSH server" }],
    });
    assert.equal(cfg.machines[1].target, "127.0.0.1");
    assert.deepEqual(cfg.machines[1].services, [
      { port: 5000, proto: "tcp" },
      { port: 22, proto: "tcp" },
    ]);
    Deno.env.delete("TELA_TOKEN");
    await resolveAgentTokens(cfg, undefined, []);
    assert.equal(cfg.machines[0].token, "override");
    assert.equal(cfg.machines[1].token, "top");
  });
});

Deno.test("telad.yaml errors name the file, the machine and the fix", async () => {
  await tmp(async (dir) => {
    const cases: [string, RegExp][] = [
      ["machines: []\n", /'hub' is required/],
      ["hub: wss://h\nmachines: []\n", /'machines' list is empty/],
      ["hub: wss://h\nmachines:\n  - ports: [22]\n", /machines\[0\]: 'name' is required/],
      [
        "hub: wss://h\nmachines:\n  - name: barn\n",
        /machines\[0\] \(barn\): either 'ports' or 'services'/,
      ],
      [
        "hub: wss://h\nmachines:\n  - name: barn\n    ports: [0]\n",
        /ports\[0\] must be a port number/,
      ],
      ["hub: [\n", /invalid YAML/],
      ["hub: http://h\nmachines:\n  - name: b\n    ports: [1]\n", /ws:\/\/ or wss:\/\//],
    ];
    for (const [text, re] of cases) {
      const path = `${dir}/telad.yaml`;
      await Deno.writeTextFile(path, text);
      await assert.rejects(loadAgentConfig(path), (e: Error) => {
        assert.match(e.message, /telad\.yaml/);
        assert.match(e.message, re);
        return true;
      });
    }
    await assert.rejects(loadAgentConfig(`${dir}/none.yaml`), /none\.yaml: cannot read config/);
  });
});

Deno.test("flag mode: -ports '22:SSH,80:HTTP' and -target-host", () => {
  const cfg = agentConfigFromFlags({
    hub: "ws://h",
    machine: "barn",
    ports: "22:SSH,80:HTTP",
    targetHost: "",
  });
  assert.deepEqual(cfg.machines[0].ports, [22, 80]);
  assert.equal(cfg.machines[0].target, "127.0.0.1");
  assert.deepEqual(cfg.machines[0].services[1], { port: 80, proto: "tcp", name: "HTTP" });
  assert.throws(
    () => agentConfigFromFlags({ hub: "ws://h", machine: "b", ports: "" }),
    /-ports is required/,
  );
});

Deno.test("agent token order: -token, TELA_TOKEN, machine, top-level, credential store", async () => {
  await tmp(async (dir) => {
    const store = `${dir}/credentials.yaml`;
    await storeCredential("wss://h/", { token: "stored" }, store);
    const mk = () => ({
      hub: "wss://h",
      token: undefined as string | undefined,
      machines: [{ name: "a", target: "127.0.0.1", ports: [22], services: [], token: "m" }, {
        name: "b",
        target: "127.0.0.1",
        ports: [22],
        services: [],
      }] as { name: string; target: string; ports: number[]; services: []; token?: string }[],
    });
    Deno.env.delete("TELA_TOKEN");
    let cfg = mk();
    await resolveAgentTokens(cfg, undefined, [store]);
    assert.deepEqual(cfg.machines.map((m) => m.token), ["m", "stored"]);
    cfg = mk();
    cfg.token = "top";
    await resolveAgentTokens(cfg, undefined, [store]);
    assert.deepEqual(cfg.machines.map((m) => m.token), ["m", "top"]);
    cfg = mk();
    Deno.env.set("TELA_TOKEN", "env");
    try {
      await resolveAgentTokens(cfg, undefined, [store]);
      assert.deepEqual(cfg.machines.map((m) => m.token), ["env", "env"]);
      cfg = mk();
      await resolveAgentTokens(cfg, "flag", [store]);
      assert.deepEqual(cfg.machines.map((m) => m.token), ["flag", "flag"]);
    } finally {
      Deno.env.delete("TELA_TOKEN");
    }
  });
});

Deno.test("telad.state: agentId and registration ids are generated once and kept", async () => {
  await tmp(async (dir) => {
    const path = agentStatePath(`${dir}/telad.yaml`);
    assert.equal(path, `${dir}/telad.state`);
    const s1 = await loadAgentState(path, ["barn"]);
    assert.match(
      s1.agentId,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const s2 = await loadAgentState(path, ["barn", "nas"]);
    assert.equal(s2.agentId, s1.agentId);
    assert.equal(s2.machines.barn.machineRegistrationId, s1.machines.barn.machineRegistrationId);
    assert.ok(s2.machines.nas.machineRegistrationId);
    const s3 = await loadAgentState(path, ["nas"]);
    assert.ok(s3.machines.barn, "entries of machines no longer configured are kept");
    await Deno.writeTextFile(path, "{{{ not yaml");
    const s4 = await loadAgentState(path, ["x"]);
    assert.notEqual(s4.agentId, s1.agentId);
  });
});

Deno.test("telad.yaml: stun: and transport: for every machine; bad values name the key", async () => {
  await tmp(async (dir) => {
    const path = `${dir}/telad.yaml`;
    const base = "hub: wss://hub.example.com\nmachines:\n  - name: m\n    ports: [22]\n";
    await Deno.writeTextFile(path, base);
    assert.equal((await loadAgentConfig(path)).transport, undefined);
    await Deno.writeTextFile(
      path,
      base + "stun: [127.0.0.1:3478, stun.example.com:19302]\ntransport: udp\n",
    );
    assert.deepEqual((await loadAgentConfig(path)).transport, {
      stunServers: ["127.0.0.1:3478", "stun.example.com:19302"],
      maxTransport: "udp-relay",
    });
    await Deno.writeTextFile(path, base + "stun: []\n");
    assert.deepEqual((await loadAgentConfig(path)).transport, { stunServers: [] });
    await Deno.writeTextFile(path, base + "stun: none\ntransport: websocket\n");
    assert.deepEqual((await loadAgentConfig(path)).transport, {
      stunServers: [],
      maxTransport: "websocket",
    });
    const bad: [string, RegExp][] = [
      ["stun: [stun.example.com]", /'stun': "stun.example.com" is not a STUN server: the port/],
      ["stun: {a: 1}", /'stun' must be a list of host:port STUN servers/],
      ["stun: [3478]", /'stun' must be a list of host:port STUN servers/],
      ["transport: fast", /'transport': "fast" is not a transport: use auto/],
      ["transport: 5", /'transport': 5 is not a transport: use auto, udp or websocket/],
    ];
    for (const [line, re] of bad) {
      await Deno.writeTextFile(path, `${base}${line}\n`);
      await assert.rejects(loadAgentConfig(path), (e: Error) => {
        assert.equal(e.name, "ConfigError");
        assert.ok(e.message.startsWith(`${path}: `), e.message);
        assert.match(e.message, re);
        return true;
      }, line);
    }
  });
});
