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
  validateAgentConfig,
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
        m(`    ports: [22]\n  - name: nas\n    ports: [22]\n  - name: barn\n    ports: [23]\n`),
        `telad.yaml:7: machines[2]: name "barn" is already the name of machines[0] at line 3 ` +
        `(the hub knows a machine by its name: give each machine its own name)`,
      ],
      [
        `hub: wss://h\nhub: wss://g\nmachines: []\n`,
        `telad.yaml:2: key "hub" is given twice in one mapping (keep one of them)`,
      ],
    ];
    for (const [text, want] of cases) assert.equal(await errorOf(dir, text), want);
  });
});

Deno.test("telad.yaml: hostile YAML (circular aliases, alias bombs) is a ConfigError with the line", async () => {
  await tmp(async (dir) => {
    const m = (body: string) => `hub: ws://127.0.0.1:1\nmachines:\n  - name: a\n${body}`;
    const rows = (n: string, of: string) =>
      `${n}: &${n} [${Array.from({ length: 10 }, () => of).join(",")}]\n`;
    const cases: [string, string][] = [
      [
        m(`    services:\n      - port: &x [*x]\n`),
        `telad.yaml:5: machines[0] (a): services[0].port must be a port number 1-65535 (got ` +
        `a list) (write e.g. port: 22)`,
      ],
      [
        m(`    ports: &p [22, *p]\n`),
        `telad.yaml:4: machines[0] (a): ports[1] must be a port number 1-65535 (got a list) ` +
        `(write e.g. ports: [22, 80])`,
      ],
      [
        // The walkthrough's case: an out-of-range port in the list.
        m(`    ports: [3001, 99999]\n`),
        `telad.yaml:4: machines[0] (a): ports[1] must be a port number 1-65535 (got 99999) ` +
        `(write e.g. ports: [22, 80])`,
      ],
      [
        m(`    ports: [22]
    gateway:
      port: 8080
      routes:
        - path: /
          target: &t {a: *t}
`),
        `telad.yaml:9: machines[0] (a): gateway route "/" target must be a port number ` +
        `1-65535 (got a mapping) (write e.g. target: 3000)`,
      ],
      [
        m(`    services:\n      - port: "${"9".repeat(500)}"\n`),
        `telad.yaml:5: machines[0] (a): services[0].port must be a port number 1-65535 (got ` +
        `"${"9".repeat(39)}…) (write e.g. port: 22)`,
      ],
      [
        `hub: ws://127.0.0.1:1\na: &a [x,x,x,x,x,x,x,x,x,x]\n` + rows("b", "*a") + rows("c", "*b") +
        rows("d", "*c") + rows("e", "*d") + rows("f", "*e") +
        `machines:\n  - name: a\n    ports: [22]\n`,
        `telad.yaml:3: invalid YAML: Excessive alias count indicates a resource exhaustion ` +
        `attack (remove the aliases (*name) that expand into very large or endless values; the ` +
        `first is at line 3)`,
      ],
    ];
    for (const [text, want] of cases) assert.equal(await errorOf(dir, text), want);
  });
});

Deno.test("telad.yaml unknown keys at every level are errors with file:line and a did-you-mean", async () => {
  await tmp(async (dir) => {
    const base = `hub: wss://h\nmachines:\n  - name: barn\n`;
    const cases: [string, string][] = [
      [
        `hub: wss://h\ntokn: x\nmachines:\n  - name: barn\n    ports: [22]\n`,
        `telad.yaml:2: unknown key "tokn" at the top level (did you mean "token"?)`,
      ],
      [
        `hub: wss://h\nupdate:\n  chanel: beta\nmachines:\n  - name: barn\n    ports: [22]\n`,
        `telad.yaml:3: unknown key "chanel" in update (did you mean "channel"?)`,
      ],
      [
        base + `    ports: [22]\n    upstream:\n      - port: 1\n`,
        `telad.yaml:5: unknown key "upstream" in machines[0] (barn) (did you mean "upstreams"?)`,
      ],
      [
        `hub: wss://h\nmachines:\n  - nmae: barn\n    ports: [22]\n`,
        `telad.yaml:3: unknown key "nmae" in machines[0] (did you mean "name"?)`,
      ],
      [
        base + `    ports: [22]\n    zzzqqq: 1\n`,
        `telad.yaml:5: unknown key "zzzqqq" in machines[0] (barn) (remove it; known keys ` +
        `here: ${TELAD_YAML_KEYS.machine.join(", ")})`,
      ],
      [
        base + `    services:\n      - port: 22\n        nmae: SSH\n`,
        `telad.yaml:6: unknown key "nmae" in machines[0] (barn) services[0] (did you mean ` +
        `"name"?)`,
      ],
      [
        // The walkthrough's typo: "route:" for "routes:" gave a gateway with no routes.
        base + `    ports: [22]\n    gateway:\n      port: 8080\n      route:\n        - path: /\n`,
        `telad.yaml:7: unknown key "route" in machines[0] (barn) gateway (did you mean ` +
        `"routes"?)`,
      ],
      [
        base + `    ports: [22]\n    gateway:\n      port: 8080\n      routes:\n` +
        `        - path: /\n          taget: 3000\n`,
        `telad.yaml:9: unknown key "taget" in machines[0] (barn) gateway.routes[0] (did you ` +
        `mean "target"?)`,
      ],
      [
        base + `    ports: [22]\n    upstreams:\n      - port: 5432\n        target: db:5432\n` +
        `        lable: pg\n`,
        `telad.yaml:8: unknown key "lable" in machines[0] (barn): upstreams[0] (remove it; ` +
        `known keys here: port, target, name)`,
      ],
      [
        // The walkthrough's typo: "writeable:" was ignored, so allowDelete failed instead.
        base + `    ports: [22]\n    shares:\n      - name: docs\n        path: ${dir}/docs\n` +
        `        writeable: true\n        allowDelete: true\n`,
        `telad.yaml:8: unknown key "writeable" in machines[0] (barn) shares[0] (did you mean ` +
        `"writable"?)`,
      ],
    ];
    for (const [text, want] of cases) assert.equal(await errorOf(dir, text), want);
  });
});

Deno.test("telad.yaml shares: parsed with defaults (Appendix B, spec §2.9)", async () => {
  await tmp(async (dir) => {
    const { cfg, warnings } = await load(
      dir,
      `hub: wss://h
machines:
  - name: barn
    ports: [22]
    shares:
      - name: docs
        path: ${dir}/docs
      - name: staging
        path: ${dir}/staging/
        writable: true
        allowDelete: true
        maxFileSize: 200MB
        maxTotalSize: 2gb
        allowedExtensions: [".zip", "YAML", ".tar.gz"]
`,
    );
    assert.deepEqual(warnings, []);
    assert.deepEqual(cfg.machines[0].shares, [{
      name: "docs",
      path: `${dir}/docs`,
      writable: false,
      allowDelete: false,
      maxFileSize: 50 * 1024 * 1024,
      maxTotalSize: 0,
      allowedExtensions: [],
      blockedExtensions: [".exe", ".bat", ".cmd", ".ps1", ".sh"],
    }, {
      name: "staging",
      path: `${dir}/staging`,
      writable: true,
      allowDelete: true,
      maxFileSize: 200 * 1024 * 1024,
      maxTotalSize: 2 * 1024 ** 3,
      allowedExtensions: [".zip", ".yaml", ".tar.gz"],
      blockedExtensions: [],
    }]);
  });
});

Deno.test("telad.yaml fileShare: served as the share 'legacy', first, with a deprecation warning", async () => {
  await tmp(async (dir) => {
    const { cfg, warnings } = await load(
      dir,
      `hub: wss://h
machines:
  - name: barn
    ports: [22]
    shares:
      - name: docs
        path: ${dir}/docs
    fileShare:
      enabled: true
      directory: ${dir}/old
      writable: true
      blockedExtensions: [exe]
`,
    );
    assert.deepEqual(cfg.machines[0].shares?.map((s) => [s.name, s.path, s.writable]), [
      ["legacy", `${dir}/old`, true],
      ["docs", `${dir}/docs`, false],
    ]);
    assert.deepEqual(cfg.machines[0].shares?.[0].blockedExtensions, [".exe"]);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0],
      /telad\.yaml:8: machines\[0\] \(barn\): WARNING: fileShare is deprecated; use shares instead\. Support will be removed in 1\.0\./,
    );
    const off = await load(
      dir,
      `hub: wss://h
machines:
  - name: barn
    ports: [22]
    fileShare:
      enabled: false
      directory: ${dir}/old
`,
    );
    assert.equal(off.cfg.machines[0].shares, undefined);
  });
});

Deno.test("telad.yaml shares: each invalid setting stops telad with file:line and the fix", async () => {
  await tmp(async (dir) => {
    const head = `hub: wss://h
machines:
  - name: barn
    ports: [22]
`;
    const cases: [string, string][] = [
      [
        `    shares:\n      - path: ${dir}/x\n`,
        "telad.yaml:6: machines[0] (barn): share name is required (e.g. name: docs)",
      ],
      [
        `    shares:\n      - name: d\n`,
        "telad.yaml:6: machines[0] (barn): shares[d].path is required (e.g. path: /srv/d)",
      ],
      [
        `    shares:\n      - name: d\n        path: /etc\n`,
        "telad.yaml:7: machines[0] (barn): shares[d].path must not be a system directory: /etc",
      ],
      [
        `    shares:\n      - name: d\n        path: /\n`,
        "telad.yaml:7: machines[0] (barn): shares[d].path must not be a system directory: /",
      ],
      [
        `    shares:\n      - name: d\n        path: ${dir}/d\n        allowDelete: true\n`,
        "telad.yaml:8: machines[0] (barn): shares[d].allowDelete requires writable: true",
      ],
      [
        `    shares:\n      - name: d\n        path: ${dir}/d\n        maxFileSize: 1.5MB\n`,
        `telad.yaml:8: machines[0] (barn): shares[d].maxFileSize: invalid size: "1.5"`,
      ],
      [
        `    shares:\n      - name: d\n        path: ${dir}/d\n        maxTotalSize: 10B\n`,
        `telad.yaml:8: machines[0] (barn): shares[d].maxTotalSize: invalid size: "10B"`,
      ],
      [
        `    shares:\n      - name: d\n        path: ${dir}/d\n        writable: yes please\n`,
        "telad.yaml:8: machines[0] (barn): shares[0].writable must be true or false",
      ],
      [
        `    shares:\n      - name: d\n        path: ${dir}/a\n      - name: d\n        path: ${dir}/b\n`,
        `telad.yaml:8: machines[0] (barn): share name "d" is given twice, first at line 6`,
      ],
      [
        `    fileShare:\n      enabled: true\n      directory: ${dir}/l\n    shares:\n` +
        `      - name: legacy\n        path: ${dir}/x\n`,
        "telad.yaml:9: machines[0] (barn): share name 'legacy' is reserved for deprecated " +
        "fileShare compatibility; rename the share or remove fileShare",
      ],
      [
        `    shares:\n      - name: d\n        path: ${dir}/d\n    services:\n      - port: 17377\n`,
        "telad.yaml:9: machines[0] (barn): port 17377 is the file-share port inside the tunnel",
      ],
      [
        `    fileShare:\n      enabled: true\n`,
        "telad.yaml:5: machines[0] (barn): fileShare: fileShare.directory is required",
      ],
    ];
    for (const [yaml, want] of cases) {
      const got = (await errorOf(dir, head + yaml)).replace(`${dir}/`, "");
      assert.ok(got.startsWith(want), `${yaml}\n got: ${got}\nwant: ${want}`);
    }
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

Deno.test("telad.yaml: an upstream forwarding to itself is refused in every spelling of this host", () => {
  const lan = Deno.networkInterfaces().find((i) =>
    i.family === "IPv4" && !i.address.startsWith("127.")
  )?.address;
  const hosts = [
    "127.1",
    "[::ffff:127.0.0.1]",
    "[0:0:0:0:0:0:0:1]",
    "localhost.",
    "2130706433",
    "0x7f.0.0.1",
    "LOCALHOST",
    "127.255.0.3",
    ...(lan ? [lan] : []),
  ];
  for (const h of hosts) {
    assert.throws(
      () =>
        validateAgentConfig("t.yaml", {
          hub: "ws://x",
          machines: [{
            name: "a",
            ports: [22],
            upstreams: [{ port: 15432, target: `${h}:15432` }],
          }],
        }),
      /upstreams\[0\] \(port 15432\) forwards to itself/,
      `target ${h}:15432 accepted`,
    );
  }
  // Not this host: accepted.
  for (const h of ["db.internal", "10.255.255.254", "[2001:db8::1]"]) {
    validateAgentConfig("t.yaml", {
      hub: "ws://x",
      machines: [{ name: "a", ports: [22], upstreams: [{ port: 15432, target: `${h}:15432` }] }],
    });
  }
});

Deno.test("telad.yaml: an upstream on a gateway route's target port is an error; target [::1] is ::1", () => {
  assert.throws(
    () =>
      validateAgentConfig("t.yaml", {
        hub: "ws://x",
        machines: [{
          name: "a",
          ports: [22],
          gateway: { port: 8080, routes: [{ path: "/", target: 5432 }] },
          upstreams: [{ port: 5432, target: "db:5432" }],
        }],
      }),
    /upstreams\[0\]: port 5432 is already the target of gateway route "\/" of machines\[0\] \(a\)/,
  );
  // A machine whose target is another host: its route targets are not this host's ports.
  validateAgentConfig("t.yaml", {
    hub: "ws://x",
    machines: [{
      name: "a",
      target: "10.0.0.9",
      ports: [22],
      gateway: { port: 8080, routes: [{ path: "/", target: 5432 }] },
      upstreams: [{ port: 5432, target: "db:5432" }],
    }],
  });
  const cfg = validateAgentConfig("t.yaml", {
    hub: "ws://x",
    machines: [{ name: "a", target: "[::1]", ports: [22] }],
  });
  assert.equal(cfg.machines[0].target, "::1");
});
