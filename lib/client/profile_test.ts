import assert from "node:assert/strict";
import { withHome } from "../../tests/with_home.ts";
import { ConfigError } from "../config/mod.ts";
import {
  createProfile,
  deleteProfile,
  expandEnv,
  listProfiles,
  loadHubAliases,
  loadProfile,
  profilesDir,
  resolveHubUrl,
  showProfile,
} from "./mod.ts";

Deno.test("expandEnv follows Go's os.ExpandEnv", () => {
  const env: Record<string, string> = { A: "x", WEB_TOKEN: "secret", "1": "one" };
  const look = (n: string) => env[n];
  assert.equal(expandEnv("token: ${WEB_TOKEN}", look), "token: secret");
  assert.equal(expandEnv("$A-$A_B-${A}b", look), "x--xb");
  assert.equal(expandEnv("${UNSET}|${}|$1|${1}", look), "||one|one");
  assert.equal(expandEnv("cost $ 5 and 100%$", look), "cost $ 5 and 100%$");
  assert.equal(expandEnv("tail ${A", look), "tail A");
});

Deno.test("a profile loads with ${VAR} expanded, gets an id added without losing comments", async () => {
  await withHome(async () => {
    Deno.env.set("TELA_TEST_TOKEN", "t0k3n");
    try {
      const dir = profilesDir();
      await Deno.mkdir(dir, { recursive: true });
      const text =
        `# my comment\nconnections:\n  - hub: wss://hub.example.com\n    machine: web01\n` +
        `    token: \${TELA_TEST_TOKEN}\n    services:\n      - remote: 22\n        local: 2201\n` +
        `      - name: postgres\n`;
      await Deno.writeTextFile(`${dir}/work.yaml`, text);
      const { profile } = await loadProfile("work");
      assert.equal(profile.name, "work");
      assert.match(profile.id!, /^[0-9a-f-]{36}$/);
      assert.deepEqual(profile.connections, [{
        hub: "wss://hub.example.com",
        machine: "web01",
        hubId: undefined,
        agentId: undefined,
        token: "t0k3n",
        address: undefined,
        services: [{ remote: 22, local: 2201, name: undefined }, {
          remote: undefined,
          local: undefined,
          name: "postgres",
        }],
      }]);
      const after = await Deno.readTextFile(`${dir}/work.yaml`);
      assert.match(after, /# my comment/);
      assert.match(after, /\$\{TELA_TEST_TOKEN\}/); // the secret is not written back
      assert.match(after, new RegExp(`id: ${profile.id}`));
      const again = await loadProfile(`${dir}/work.yaml`);
      assert.equal(again.profile.id, profile.id);
    } finally {
      Deno.env.delete("TELA_TEST_TOKEN");
    }
  });
});

Deno.test("bad profiles give errors naming the file and the key", async () => {
  await withHome(async () => {
    const dir = profilesDir();
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(`${dir}/empty.yaml`, "connections: []\n");
    await assert.rejects(loadProfile("empty"), /empty\.yaml.*no connections/);
    await Deno.writeTextFile(`${dir}/nomachine.yaml`, "connections:\n  - hub: ws://h\n");
    await assert.rejects(loadProfile("nomachine"), /connections\[0\]: 'machine' is required/);
    await Deno.writeTextFile(
      `${dir}/bigmtu.yaml`,
      "mtu: 99999\nconnections:\n  - hub: ws://h\n    machine: m\n",
    );
    await assert.rejects(
      loadProfile("bigmtu"),
      /bigmtu\.yaml: 'mtu' must be a whole number 576-65475 \(got 99999\); remove it/,
    );
    await Deno.writeTextFile(
      `${dir}/badport.yaml`,
      "connections:\n  - hub: ws://h\n    machine: m\n    services:\n      - remote: 70000\n",
    );
    await assert.rejects(loadProfile("badport"), /services\[0\]\.remote must be a port/);
    await Deno.writeTextFile(
      `${dir}/short.yaml`,
      "connections:\n  - hub: ws://h\n    machine: m\n    services: [ssh]\n",
    );
    await assert.rejects(loadProfile("short"), /services\[0\] must be a mapping/);
    await assert.rejects(
      loadProfile("missing"),
      /missing\.yaml: profile not found; "tela profile list" shows the profiles, "tela profile create missing" makes one$/,
    );
  });
});

Deno.test("profile create, list, show and delete", async () => {
  await withHome(async () => {
    assert.deepEqual(await listProfiles(), []);
    const path = await createProfile("staging");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    await assert.rejects(createProfile("staging"), /profile "staging" already exists/);
    assert.deepEqual(await listProfiles(), ["staging"]);
    assert.match(await showProfile("staging"), /connections: \[\]/);
    await deleteProfile("staging");
    await assert.rejects(deleteProfile("staging"), /profile "staging" not found/);
    await assert.rejects(showProfile("staging"), /not found/);
  });
});

Deno.test("hubs.yaml aliases resolve; URLs pass through; unknown aliases list the known ones", async () => {
  await withHome(async (home) => {
    await assert.rejects(
      resolveHubUrl("owls"),
      /-hub "owls" is not a ws:\/\/ or wss:\/\/ URL, no remotes in .*config\.yaml, and not a short name \(.*hubs\.yaml does not exist\); use wss:\/\/owls/,
    );
    await assert.rejects(resolveHubUrl("http://h:1"), /for http:\/\/h:1 use ws:\/\/h:1$/);
    await Deno.mkdir(`${home}/.tela`, { recursive: true });
    await Deno.writeTextFile(
      `${home}/.tela/hubs.yaml`,
      "hubs:\n  local: ws://localhost:8080\n  prod:\n    url: wss://hub.example.com\n",
    );
    assert.deepEqual(await loadHubAliases(), {
      local: "ws://localhost:8080",
      prod: "wss://hub.example.com",
    });
    assert.equal(await resolveHubUrl("local"), "ws://localhost:8080");
    assert.equal(await resolveHubUrl("prod"), "wss://hub.example.com");
    assert.equal(await resolveHubUrl("WSS://x"), "WSS://x");
    await assert.rejects(
      resolveHubUrl("Local"),
      /"Local" .*not a short name in .*hubs\.yaml \(it defines: local, prod\)/,
    );
  });
});

Deno.test("loading a profile never rewrites its name (a label, not the file name)", async () => {
  await withHome(async () => {
    const dir = profilesDir();
    await Deno.mkdir(dir, { recursive: true });
    const named = `name: "Work servers"\nconnections:\n  - hub: ws://h\n    machine: m\n`;
    await Deno.writeTextFile(`${dir}/work.yaml`, named);
    const { profile } = await loadProfile("work");
    assert.equal(profile.name, "Work servers");
    const after = await Deno.readTextFile(`${dir}/work.yaml`);
    assert.match(after, /^name: "?Work servers"?$/m, after);
    assert.match(after, /^id: [0-9a-f-]{36}$/m, "the id is still added once");
    // A profile without a name keeps having none on disk; in memory it is the file's name.
    const bare = `connections:\n  - hub: ws://h\n    machine: m\n`;
    await Deno.writeTextFile(`${dir}/lab.yaml`, bare);
    assert.equal((await loadProfile("lab")).profile.name, "lab");
    assert.doesNotMatch(await Deno.readTextFile(`${dir}/lab.yaml`), /^name:/m);
    // Loading again (id present) writes nothing at all.
    const stamp = await Deno.readTextFile(`${dir}/work.yaml`);
    await loadProfile("work");
    assert.equal(await Deno.readTextFile(`${dir}/work.yaml`), stamp);
  });
});

Deno.test("a profile address outside 127.0.0.0/8 is a configuration error naming profile, field and fix", async () => {
  await withHome(async () => {
    const dir = profilesDir();
    await Deno.mkdir(dir, { recursive: true });
    for (const bad of ["10.0.0.1", "127.0.0.256", "localhost", "::1", "128.0.0.1"]) {
      await Deno.writeTextFile(
        `${dir}/office.yaml`,
        `connections:\n  - hub: ws://h\n    machine: a\n  - hub: ws://h\n    machine: b\n` +
          `    address: "${bad}"\n`,
      );
      await assert.rejects(loadProfile("office"), (e: Error) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.match(e.message, /office\.yaml: profile "office": connections\[1\]\.address/);
        assert.ok(e.message.includes(JSON.stringify(bad)), e.message);
        assert.match(e.message, /use one in 127\.0\.0\.0\/8 \(e\.g\. 127\.88\.1\.1\)/);
        return true;
      });
    }
    await Deno.writeTextFile(
      `${dir}/office.yaml`,
      `connections:\n  - hub: ws://h\n    machine: a\n    address: 127.99.1.1\n`,
    );
    assert.equal((await loadProfile("office")).profile.connections[0].address, "127.99.1.1");
  });
});

Deno.test("a profile's stun: and transport: keys load; bad values name the file and the key", async () => {
  await withHome(async () => {
    const dir = profilesDir();
    await Deno.mkdir(dir, { recursive: true });
    const conns = `connections:\n  - hub: ws://h\n    machine: a\n`;
    const write = (extra: string) => Deno.writeTextFile(`${dir}/p.yaml`, conns + extra);
    await write("");
    assert.equal((await loadProfile("p")).profile.transport, undefined);
    await write("stun: 127.0.0.1:3478,${STUN_TEST_HOST}:19302\ntransport: websocket\n");
    Deno.env.set("STUN_TEST_HOST", "stun.example.com");
    try {
      assert.deepEqual((await loadProfile("p")).profile.transport, {
        stunServers: ["127.0.0.1:3478", "stun.example.com:19302"],
        maxTransport: "websocket",
      });
    } finally {
      Deno.env.delete("STUN_TEST_HOST");
    }
    await Deno.writeTextFile(
      `${dir}/p.yaml`,
      `transport: udp\nconnections:\n  - hub: ws://h\n    machine: a\n    transport: websocket\n` +
        `  - hub: ws://h\n    machine: b\n`,
    );
    const per = (await loadProfile("p")).profile;
    assert.deepEqual(per.transport, { maxTransport: "udp-relay" });
    assert.deepEqual(per.connections.map((c) => c.transport), [
      { maxTransport: "websocket" },
      undefined,
    ]);
    await Deno.writeTextFile(
      `${dir}/p.yaml`,
      `connections:\n  - hub: ws://h\n    machine: a\n    stun: [nope]\n`,
    );
    await assert.rejects(
      loadProfile("p"),
      /p\.yaml: connections\[0\]: 'stun': "nope" is not a STUN server: the port is missing/,
    );
    await write("stun: [none]\ntransport: auto\n");
    assert.deepEqual((await loadProfile("p")).profile.transport, {
      stunServers: [],
      maxTransport: "direct",
    });
    for (
      const [extra, re] of [
        ["transport: quic\n", /p\.yaml: 'transport': "quic" is not a transport: use auto/],
        ["stun: [a.example:99999]\n", /p\.yaml: 'stun': "a\.example:99999" .*1-65535/],
        ["stun: 7\n", /p\.yaml: 'stun' must be a list of host:port STUN servers/],
      ] as const
    ) {
      await write(extra);
      await assert.rejects(loadProfile("p"), (e: Error) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.match(e.message, re);
        return true;
      }, extra);
    }
  });
});
