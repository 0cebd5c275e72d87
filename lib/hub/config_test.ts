import assert from "node:assert/strict";
import { ConfigError } from "../config/mod.ts";
import { UsageError } from "../cli/errors.ts";
import {
  assertConfigReadable,
  bootstrapConfig,
  configToYamlObject,
  type HubConfigFile,
  isListenAddress,
  loadConfigFile,
  locateConfig,
  parseGoDuration,
  resolveSettings,
  saveConfigFile,
  validateConfig,
} from "./config.ts";

Deno.test("parseGoDuration reads Go duration literals and nanosecond integers", () => {
  assert.equal(parseGoDuration("30s"), 30_000);
  assert.equal(parseGoDuration("2m"), 120_000);
  assert.equal(parseGoDuration("500ms"), 500);
  assert.equal(parseGoDuration("1h30m"), 5_400_000);
  assert.equal(parseGoDuration("1.5s"), 1500);
  assert.equal(parseGoDuration(30_000_000_000), 30_000);
  assert.equal(parseGoDuration("0"), 0);
  assert.equal(parseGoDuration("soon"), null);
  assert.equal(parseGoDuration("30"), 30 / 1e6);
  assert.equal(parseGoDuration("5x"), null);
});

Deno.test("validateConfig names the key and the fix", () => {
  assert.throws(
    () => validateConfig("/x/telahubd.yaml", { udpPort: 70000 }),
    (e: Error) =>
      e instanceof ConfigError && e.message.includes("/x/telahubd.yaml") &&
      e.message.includes('key "udpPort"') && e.message.includes("fix the value"),
  );
  assert.throws(() => validateConfig("f", { auth: { tokens: [{ id: "a", token: { x: 1 } }] } }), {
    message: /auth\.tokens\[0\]\.token/,
  });
  assert.throws(() => validateConfig("f", { channels: { enabled: "yes" } }), {
    message: /channels\.enabled/,
  });
});

Deno.test("validateConfig keeps unknown keys and reads the Appendix B example", () => {
  const cfg = validateConfig("f", {
    port: 8080,
    name: "owlsnest",
    shutdownTimeout: "45s",
    update: { channel: "dev" },
    auth: {
      tokens: [{ id: "alice", token: "t1", hubRole: "owner" }],
      machines: { "*": { registerToken: "r", connectTokens: ["t1"], manageTokens: ["t1"] } },
    },
    futureKey: { a: 1 },
  });
  assert.equal(cfg.port, 8080);
  assert.deepEqual(cfg.extra, { futureKey: { a: 1 } });
  const out = configToYamlObject(cfg);
  // Only what the file holds is written back: no udpPort or wwwDir defaults appear.
  assert.deepEqual(Object.keys(out), [
    "port",
    "name",
    "shutdownTimeout",
    "update",
    "auth",
    "futureKey",
  ]);
  assert.equal(resolveSettings(cfg, () => undefined).shutdownTimeoutMs, 45_000);
});

Deno.test("resolveSettings: env wins over YAML; 0 asks for a free port; junk is refused", () => {
  const cfg: HubConfigFile = {
    port: 8080,
    udpPort: 9000,
    name: "y",
    auth: { tokens: [], machines: {} },
  };
  const env: Record<string, string> = {
    TELAHUBD_PORT: "0",
    TELAHUBD_UDP_PORT: "",
    TELAHUBD_NAME: "e",
    TELAHUBD_UDP_HOST: "h.example",
  };
  const s = resolveSettings(cfg, (n) => env[n]);
  assert.deepEqual(
    [s.port, s.udpPort, s.name, s.udpHost],
    [0, 9000, "e", "h.example"],
    "empty = unset",
  );
  assert.throws(
    () => resolveSettings(cfg, (n) => n === "TELAHUBD_UDP_PORT" ? "x" : undefined),
    (err: Error) =>
      err instanceof UsageError && /TELAHUBD_UDP_PORT="x" is not a port/.test(err.message),
  );
  const d = resolveSettings({ auth: { tokens: [], machines: {} } }, () => undefined);
  assert.deepEqual([d.port, d.udpPort, d.shutdownTimeoutMs], [80, 41820, 30_000]);
});

Deno.test("bootstrapConfig: owner + viewer + * connect once; open mode generates nothing", () => {
  const cfg: HubConfigFile = { auth: { tokens: [], machines: {} } };
  const r = bootstrapConfig(cfg, { open: false });
  assert.ok(r.changed && r.generatedOwnerToken);
  assert.deepEqual(cfg.auth.machines["*"], { connectTokens: [r.generatedOwnerToken] });
  assert.equal(cfg.auth.tokens[1].hubRole, "viewer");
  assert.equal(bootstrapConfig(cfg, { open: false }).changed, false, "idempotent");

  const env: HubConfigFile = { auth: { tokens: [], machines: {} } };
  const e = bootstrapConfig(env, { open: false, ownerTokenEnv: "chosen" });
  assert.equal(e.generatedOwnerToken, undefined);
  assert.equal(env.auth.tokens[0].token, "chosen");

  const open: HubConfigFile = { auth: { tokens: [], machines: {} } };
  bootstrapConfig(open, { open: true });
  assert.equal(open.auth.tokens.length, 0);
  assert.ok(open.hubId);

  const noViewer: HubConfigFile = {
    hubId: "h",
    auth: { tokens: [{ id: "o", token: "t", hubRole: "owner" }], machines: {} },
  };
  assert.equal(bootstrapConfig(noViewer, { open: false }).changed, true);
  assert.equal(noViewer.auth.tokens[1].id, "console-viewer");
});

Deno.test("locateConfig: -config made absolute, else ./data/telahubd.yaml when present", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(locateConfig("my.yaml", dir), `${dir}/my.yaml`);
    await Deno.mkdir(`${dir}/data`);
    await Deno.writeTextFile(`${dir}/data/telahubd.yaml`, "");
    assert.equal(locateConfig(undefined, dir), `${dir}/data/telahubd.yaml`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("locateConfig: -config, then TELAHUBD_CONFIG, then ./data/telahubd.yaml", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env = (n: string) => n === "TELAHUBD_CONFIG" ? "env/hub.yaml" : undefined;
    assert.equal(locateConfig("my.yaml", dir, env), `${dir}/my.yaml`);
    assert.equal(locateConfig(undefined, dir, env), `${dir}/env/hub.yaml`);
    await Deno.mkdir(`${dir}/data`);
    await Deno.writeTextFile(`${dir}/data/telahubd.yaml`, "");
    assert.equal(locateConfig(undefined, dir, env), `${dir}/env/hub.yaml`);
    assert.equal(locateConfig(undefined, dir, () => undefined), `${dir}/data/telahubd.yaml`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("listen: YAML, then TELAHUBD_LISTEN; default 0.0.0.0; not an address is refused", () => {
  const none = () => undefined;
  const base: HubConfigFile = { auth: { tokens: [], machines: {} } };
  assert.equal(resolveSettings(base, none).listen, "0.0.0.0");
  const cfg = validateConfig("f", { listen: "127.0.0.1" });
  assert.equal(resolveSettings(cfg, none).listen, "127.0.0.1");
  assert.equal(
    resolveSettings(cfg, (n) => n === "TELAHUBD_LISTEN" ? "[::1]" : undefined).listen,
    "::1",
  );
  assert.throws(
    () => resolveSettings(cfg, (n) => n === "TELAHUBD_LISTEN" ? "junk host" : undefined),
    /TELAHUBD_LISTEN="junk host" is not an IP address/,
  );
  assert.deepEqual(configToYamlObject(cfg), { listen: "127.0.0.1" });
  assert.throws(
    () => validateConfig("f", { listen: "example.com" }),
    /key "listen": expected an IP/,
  );
  for (const ok of ["0.0.0.0", "::", "[::1]", "localhost", "10.1.2.3"]) {
    assert.ok(isListenAddress(ok), ok);
  }
  for (const bad of ["", "1.2.3.256", "a b", "host:80x"]) assert.ok(!isListenAddress(bad), bad);
});

Deno.test("a config this user may not read fails with the way out (sudo, or a separate hub)", async () => {
  const realOpen = Deno.open;
  // Root reads any file, so the refusal is simulated at the one call that opens it.
  Deno.open = () => Promise.reject(new Deno.errors.PermissionDenied("Permission denied"));
  try {
    await assert.rejects(
      assertConfigReadable("/etc/tela/telahubd.yaml"),
      (e) =>
        e instanceof ConfigError &&
        e.message.startsWith("/etc/tela/telahubd.yaml: cannot be read") &&
        e.message.includes("sudo") && e.message.includes("-config ./data/telahubd.yaml"),
    );
  } finally {
    Deno.open = realOpen;
  }
  await assertConfigReadable("/nonexistent/telahubd.yaml"); // missing: loading reports it
});

Deno.test("lifecycle fields and connect grants with services round-trip; bare strings stay bare", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/telahubd.yaml`;
    await Deno.writeTextFile(
      path,
      [
        "auth:",
        "  tokens:",
        "    - id: bob",
        "      token: bbbb",
        "      issuedAt: 2026-01-01T00:00:00Z",
        '      expiresAt: "2027-01-01T00:00:00+02:00"',
        "      revokedAt: 2026-02-01T00:00:00Z",
        "  machines:",
        "    barn:",
        "      connectTokens:",
        "        - aaaa",
        "        - {token: bbbb, services: [SSH, port-8080]}",
        "",
      ].join("\n"),
    );
    const cfg = (await loadConfigFile(path))!;
    assert.deepEqual(cfg.auth.tokens[0], {
      id: "bob",
      token: "bbbb",
      issuedAt: "2026-01-01T00:00:00Z",
      expiresAt: "2027-01-01T00:00:00+02:00",
      revokedAt: "2026-02-01T00:00:00Z",
    });
    assert.deepEqual(cfg.auth.machines.barn, {
      connectTokens: ["aaaa", "bbbb"],
      connectServices: { bbbb: ["SSH", "port-8080"] },
    });
    await saveConfigFile(path, cfg);
    const text = await Deno.readTextFile(path);
    assert.match(text, /- aaaa\n/, "a grant without filter stays a bare string (decision 7)");
    assert.match(text, /- token: bbbb\n\s+services:\n\s+- SSH\n\s+- port-8080\n/);
    assert.deepEqual(await loadConfigFile(path), cfg);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a bad lifecycle time or connect grant is a ConfigError naming file, key and fix", () => {
  assert.throws(
    () =>
      validateConfig("/x.yaml", { auth: { tokens: [{ id: "a", token: "t", expiresAt: "soon" }] } }),
    {
      message: '/x.yaml: key "auth.tokens[0].expiresAt": expected an RFC 3339 time such as ' +
        '2027-01-01T00:00:00Z, got "soon"; fix the value or remove the key',
    },
  );
  assert.throws(
    () =>
      validateConfig("/x.yaml", {
        auth: { machines: { barn: { connectTokens: [{ services: [] }] } } },
      }),
    { message: /key "auth\.machines\.barn\.connectTokens\[0\]\.token": expected a token string/ },
  );
});
