import assert from "node:assert/strict";
import {
  agentConfigFromFlags,
  agentStatePath,
  configSource,
  loadAgentConfig,
  loadAgentState,
  resolveAgentTokens,
  TELAD_YAML_KEYS,
  unreachableTargets,
} from "./mod.ts";
import { ConfigError } from "../config/mod.ts";
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

/** Writes `text` as `<dir>/telad.yaml` and loads it, collecting warnings. */
async function load(dir: string, text: string) {
  const path = `${dir}/telad.yaml`;
  await Deno.writeTextFile(path, text);
  const warnings: string[] = [];
  const cfg = await loadAgentConfig(path, { warn: (m) => warnings.push(m) });
  return { path, cfg, warnings };
}

/** The message of the ConfigError loading `text` throws. */
async function errorOf(dir: string, text: string): Promise<string> {
  const path = `${dir}/telad.yaml`;
  await Deno.writeTextFile(path, text);
  try {
    await loadAgentConfig(path);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message.replace(`${dir}/`, "");
  }
  assert.fail(`no error for:\n${text}`);
}

Deno.test("telad.yaml gateway and upstreams: parsed per machine, with the defaults", async () => {
  await tmp(async (dir) => {
    const { cfg, warnings } = await load(
      dir,
      `hub: wss://h
machines:
  - name: barn
    services:
      - port: 5432
        name: postgres
    gateway:
      port: 8080
      routes:
        - path: /api/
          target: 4000
        - path: /
          target: 3000
    upstreams:
      - port: 6379
        target: cache.internal:6379
        name: redis
      - port: 1433
        target: "[::1]:11433"
`,
    );
    assert.deepEqual(warnings, []);
    assert.deepEqual(cfg.machines[0].gateway, {
      port: 8080,
      routes: [{ path: "/api/", target: 4000 }, { path: "/", target: 3000 }],
    });
    assert.deepEqual(cfg.machines[0].upstreams, [
      { port: 6379, target: "cache.internal:6379", name: "redis" },
      { port: 1433, target: "[::1]:11433" },
    ]);
    assert.equal(configSource(cfg.machines[0].upstreams![1]), `${dir}/telad.yaml:18`);
    assert.equal(configSource(cfg.machines[0].services[0]), `${dir}/telad.yaml:5`);
  });
});

Deno.test("telad.yaml errors carry the line and the fix (issue 13)", async () => {
  await tmp(async (dir) => {
    const m = (body: string) => `hub: wss://h\nmachines:\n  - name: barn\n${body}`;
    const cases: [string, string][] = [
      [
        m(`    ports: [22]
    gateway:
      port: 8080
      routes:
        - path: /api/
          target: 4000
        - path: /api/
          target: 4001
`),
        `telad.yaml:10: machines[0] (barn): gateway route path "/api/" is given twice, first ` +
        `at line 8 (keep one route per path: a request can go to one target only)`,
      ],
      [
        m(`    services:
      - port: 22
      - port: 8080
    gateway:
      port: 8080
      routes: [{ path: /, target: 3000 }]
`),
        `telad.yaml:8: machines[0] (barn): gateway.port 8080 is also a service port of this ` +
        `machine, at line 6 (a tunnel port serves one thing: give the gateway a port no ` +
        `service uses)`,
      ],
      [
        m(`    ports: [22]
    upstreams:
      - port: 5432
        target: db:5432
        name: postgres
  - name: nas
    target: 10.0.0.2
    ports: [22]
    upstreams:
      - port: 5432
        target: db2:5432
`),
        `telad.yaml:13: machines[1] (nas): upstreams[0]: port 5432 is already the listen port ` +
        `of upstream "postgres" of machines[0] (barn) at line 6 (each upstream needs its own ` +
        `port on this host: change one)`,
      ],
      [
        m(`    ports: [22, 5432]
    upstreams:
      - port: 5432
        target: db:5432
`),
        `telad.yaml:6: machines[0] (barn): upstreams[0]: port 5432 is already the service port ` +
        `5432 of machines[0] (barn), whose target 127.0.0.1 is this host, at line 4 (the ` +
        `service's tunnel connections would reach this upstream instead of the service: give ` +
        `the upstream another port, or set that machine's 'target')`,
      ],
      [
        m(`    ports: [22]
    upstreams:
      - port: 5432
        target: localhost:6000
      - port: 6000
        target: 127.0.0.1:5432
`),
        `telad.yaml:7: machines[0] (barn): upstreams[0] (port 5432) forwards to itself ` +
        `(5432 -> 6000 -> 5432) (point 'target' at the real service, not at an upstream port ` +
        `of this host)`,
      ],
      [
        m(`    ports: [22]
    upstreams:
      - port: 5432
        target: db.internal
`),
        `telad.yaml:7: machines[0] (barn): upstreams[0].target "db.internal" is not host:port ` +
        `with a port 1-65535 (e.g. db.internal:5432, or [::1]:5432 for an IPv6 address)`,
      ],
      [
        m(`    ports: [22]
    upstreams:
      - port: 70000
        target: db:5432
`),
        `telad.yaml:6: machines[0] (barn): upstreams[0].port must be a port number 1-65535 ` +
        `(got 70000) (write e.g. port: 5432)`,
      ],
      [
        m(`    ports: [22]
    upstreams:
      - port: 5432
`),
        `telad.yaml:6: machines[0] (barn): upstreams[0] has no 'target' (write where to ` +
        `forward, e.g. target: db.internal:5432)`,
      ],
      [
        m(`    ports: [22]
    gateway:
      port: 8080
      routes:
        - path: api/
          target: 4000
`),
        `telad.yaml:8: machines[0] (barn): gateway route path "api/" does not start with "/" ` +
        `(write "/api/")`,
      ],
      [
        m(`    ports: [22]
    gateway:
      port: 8080
      routes:
        - path: /api/
          target: localhost:4000
`),
        `telad.yaml:9: machines[0] (barn): gateway route "/api/" target must be a port number ` +
        `1-65535 (got "localhost:4000") (write e.g. target: 3000)`,
      ],
      [
        m(`    ports: [22]
    gateway:
      routes: []
`),
        `telad.yaml:5: machines[0] (barn): gateway.port must be a port number 1-65535 (got ` +
        `nothing) (write e.g. port: 8080)`,
      ],
      [
        m(`    ports: [22, 3389, 22]\n`),
        `telad.yaml:4: machines[0] (barn): port 22 is listed twice, first at line 4 (keep one ` +
        `entry per port)`,
      ],
      [
        `hub: wss://h\nhub: wss://g\nmachines: []\n`,
        `telad.yaml:2: key "hub" is given twice in one mapping (keep one of them)`,
      ],
    ];
    for (const [text, want] of cases) assert.equal(await errorOf(dir, text), want);
  });
});

Deno.test("telad.yaml unknown keys at every level are warnings with file:line and a did-you-mean", async () => {
  await tmp(async (dir) => {
    const { warnings } = await load(
      dir,
      `hub: wss://h
tokn: x
stun: [stun.example.net:3478]
transport: auto
update:
  chanel: beta
machines:
  - name: barn
    transport: udp
    stun: [stun.example.net:3478]
    upstream:
      - port: 1
    services:
      - port: 22
        nmae: SSH
    ports: [22, 3389]
    gateway:
      port: 8080
      routes:
        - path: /
          taget: 3000
          target: 3000
    upstreams:
      - port: 5432
        target: db:5432
        lable: pg
    zzzqqq: 1
`,
    );
    const shown = warnings.map((w) => w.replace(`${dir}/`, ""));
    assert.deepEqual(shown, [
      `telad.yaml:2: unknown key "tokn" at the top level is ignored (did you mean "token"?)`,
      `telad.yaml:6: unknown key "chanel" in update is ignored (did you mean "channel"?)`,
      `telad.yaml:11: unknown key "upstream" in machines[0] (barn) is ignored (did you mean ` +
      `"upstreams"?)`,
      `telad.yaml:27: unknown key "zzzqqq" in machines[0] (barn) is ignored (remove it; known ` +
      `keys here: ${TELAD_YAML_KEYS.machine.join(", ")})`,
      `telad.yaml:15: unknown key "nmae" in machines[0] (barn) services[0] is ignored (did you ` +
      `mean "name"?)`,
      `telad.yaml:16: machines[0] (barn): 'ports' is ignored because 'services' is present, so ` +
      `port(s) 3389 are not served (add them to 'services', or remove 'ports')`,
      `telad.yaml:21: unknown key "taget" in machines[0] (barn) gateway.routes[0] is ignored ` +
      `(did you mean "target"?)`,
      `telad.yaml:26: unknown key "lable" in machines[0] (barn): upstreams[0] is ignored ` +
      `(remove it; known keys here: port, target, name)`,
    ]);
  });
});

Deno.test("telad.yaml shares are reported as not available, not silently dropped", async () => {
  await tmp(async (dir) => {
    const { warnings } = await load(
      dir,
      `hub: wss://h
machines:
  - name: barn
    ports: [22]
    shares:
      - name: docs
        path: /srv/docs
        writeable: true
`,
    );
    assert.deepEqual(warnings.map((w) => w.replace(`${dir}/`, "")), [
      `telad.yaml:8: unknown key "writeable" in machines[0] (barn) shares is ignored (did you ` +
      `mean "writable"?)`,
      `telad.yaml:5: machines[0] (barn): 'shares' is ignored: file sharing is not available ` +
      `in this version of telad (remove 'shares', or copy files another way until it is)`,
    ]);
  });
});

Deno.test("unreachable targets at start are warnings naming the service, the file and the line", async () => {
  await tmp(async (dir) => {
    const up = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const down = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const downPort = down.addr.port;
    down.close();
    try {
      const { cfg } = await load(
        dir,
        `hub: wss://h
machines:
  - name: barn
    services:
      - port: ${up.addr.port}
        name: web
      - port: ${downPort}
        name: SSH
    gateway:
      port: 8080
      routes:
        - path: /
          target: ${downPort}
    upstreams:
      - port: 5432
        target: 127.0.0.1:${downPort}
        name: pg
`,
      );
      const shown = (await unreachableTargets(cfg)).map((w) =>
        w.replace(`${dir}/`, "").replace(/: [^:]*\(os error \d+\) \(/, ": <refused> (")
      );
      assert.deepEqual(shown, [
        `telad.yaml:7: service "SSH" (port ${downPort}) of machine "barn" is not reachable at ` +
        `127.0.0.1:${downPort}: <refused> (telad starts anyway; start the service, or fix the ` +
        `machine's 'target' or the port)`,
        `telad.yaml:12: gateway route "/" of machine "barn" is not reachable at ` +
        `127.0.0.1:${downPort}: <refused> (telad starts anyway; start the service, or fix the ` +
        `route's 'target')`,
        `telad.yaml:15: upstream "pg" of machine "barn" is not reachable at ` +
        `127.0.0.1:${downPort}: <refused> (telad starts anyway; each connection dials it ` +
        `again; start it, or fix the upstream's 'target')`,
      ]);
    } finally {
      up.close();
    }
  });
});

Deno.test("telad.yaml: stun: and transport: at the top and per machine; bad values name file, line and key", async () => {
  await tmp(async (dir) => {
    const path = `${dir}/telad.yaml`;
    const base = "hub: wss://hub.example.com\nmachines:\n  - name: m\n    ports: [22]\n";
    await Deno.writeTextFile(path, base);
    const plain = await loadAgentConfig(path);
    assert.equal(plain.transport, undefined);
    assert.equal(plain.machines[0].transport, undefined);
    await Deno.writeTextFile(
      path,
      base + "    transport: websocket\nstun: [127.0.0.1:3478, stun.example.com:19302]\n" +
        "transport: udp\n",
    );
    const both = await loadAgentConfig(path);
    assert.deepEqual(both.transport, {
      stunServers: ["127.0.0.1:3478", "stun.example.com:19302"],
      maxTransport: "udp-relay",
    });
    assert.deepEqual(both.machines[0].transport, { maxTransport: "websocket" });
    await Deno.writeTextFile(path, base + "stun: []\n");
    assert.deepEqual((await loadAgentConfig(path)).transport, { stunServers: [] });
    await Deno.writeTextFile(path, base + "stun: none\ntransport: websocket\n");
    assert.deepEqual((await loadAgentConfig(path)).transport, {
      stunServers: [],
      maxTransport: "websocket",
    });
    const bad: [string, RegExp][] = [
      ["stun: [stun.example.com]", /:5: 'stun': "stun.example.com" is not a STUN server: the port/],
      ["stun: {a: 1}", /:5: 'stun' must be a list of host:port STUN servers/],
      ["stun: [3478]", /:5: 'stun' must be a list of host:port STUN servers/],
      ["transport: fast", /:5: 'transport': "fast" is not a transport: use auto/],
      ["transport: 5", /:5: 'transport': 5 is not a transport: use auto, udp or websocket/],
      ["    stun: x:1,none", /:5: machines\[0\] \(m\): 'stun': "x:1,none" mixes none/],
    ];
    for (const [line, re] of bad) {
      await Deno.writeTextFile(path, `${base}${line}\n`);
      await assert.rejects(loadAgentConfig(path), (e: Error) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.ok(e.message.startsWith(`${path}:`), e.message);
        assert.match(e.message, re);
        return true;
      }, line);
    }
  });
});
