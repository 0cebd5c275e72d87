import assert from "node:assert/strict";
import { LogRing } from "../hub/log_ring.ts";
import { logger } from "../log/mod.ts";
import { loadAgentConfig, type MachineConfig, resolveAgentTokens } from "./config.ts";
import { defaultManagementRegistry, ManagementError, ManagementRegistry } from "./management.ts";
import { AgentManagement } from "./management_agent.ts";
import { UPDATE_ACTION_NAMES } from "./management_update.ts";
import { restartCommandLine } from "./management_restart.ts";
import { withHome } from "../../tests/with_home.ts";

const YAML = `# the operator's comment stays
hub: ws://127.0.0.1:1
token: file-token
machines:
  - name: barn   # and this one
    displayName: Barn
    ports: [22]
  - name: nas
    services:
      - port: 445
        name: SMB
`;

async function setup(
  fn: (m: AgentManagement, path: string, seen: MachineConfig[]) => Promise<void>,
) {
  await withHome(async (home) => {
    const path = `${home}/telad.yaml`;
    await Deno.writeTextFile(path, YAML, { mode: 0o644 });
    const cfg = await loadAgentConfig(path);
    await resolveAgentTokens(cfg);
    const ring = new LogRing(10);
    for (let i = 1; i <= 12; i++) ring.push(`line ${i}`);
    const m = new AgentManagement({
      config: cfg,
      configPath: path,
      logs: ring,
      log: logger("test"),
      onRestart: () => {},
      restartDelayMs: 1,
    });
    const seen: MachineConfig[] = [];
    for (const mc of cfg.machines) {
      const holder = {
        machine: mc,
        reconfigure(n: MachineConfig) {
          holder.machine = n;
          seen.push(n);
        },
      };
      m.addMachine(holder);
    }
    await fn(m, path, seen);
  });
}

const req = (action: string, payload?: unknown) => ({
  requestId: "0123456789abcdef",
  action,
  payload,
});

Deno.test("dispatcher: unknown action answers ok:false naming it; handler errors become messages", async () => {
  const r = new ManagementRegistry()
    .register("boom", () => Promise.reject(new Error("disk on fire")))
    .register("nope", () => Promise.reject(new ManagementError("refused: because")))
    .register("fine", () => Promise.resolve({ message: "m", payload: { a: 1 } }));
  const ctx = {
    machine: "barn",
    config: () => ({ hub: "ws://x", machines: [] }),
    editConfig: () => Promise.reject(new Error("no")),
    logs: new LogRing(),
    restart: () => {},
    log: logger("test"),
  };
  const u = await r.dispatch(req("frobnicate"), ctx);
  assert.equal(u.type, "mgmt-response");
  assert.equal(u.requestId, "0123456789abcdef");
  assert.equal(u.ok, false);
  assert.match(String(u.message), /^unknown action: frobnicate /);
  assert.deepEqual(await r.dispatch(req("boom"), ctx), {
    type: "mgmt-response",
    requestId: "0123456789abcdef",
    ok: false,
    message: "boom failed: disk on fire",
  });
  assert.equal((await r.dispatch(req("nope"), ctx)).message, "refused: because");
  assert.deepEqual(await r.dispatch(req("fine"), ctx), {
    type: "mgmt-response",
    requestId: "0123456789abcdef",
    ok: true,
    message: "m",
    payload: { a: 1 },
  });
});

Deno.test("default registry: the spec's whole catalogue; update actions say they are not available", async () => {
  const r = defaultManagementRegistry();
  for (const a of ["config-get", "config-set", "logs", "restart", ...UPDATE_ACTION_NAMES]) {
    assert.ok(r.has(a), a);
  }
  await setup(async (m) => {
    const res = await m.handle(req("update-status"), "barn");
    assert.equal(res.ok, false);
    assert.match(String(res.message), /update-status is not available in this build of telad/);
  });
});

Deno.test("config-get: hub, path and machines without tokens", async () => {
  await setup(async (m, path) => {
    const res = await m.handle(req("config-get"), "barn");
    assert.equal(res.ok, true);
    const p = res.payload as {
      hub: string;
      configPath: string;
      machines: Record<string, unknown>[];
    };
    assert.equal(p.hub, "ws://127.0.0.1:1");
    assert.equal(p.configPath, path);
    assert.deepEqual(p.machines.map((x) => x.name), ["barn", "nas"]);
    assert.deepEqual(p.machines[0], {
      name: "barn",
      displayName: "Barn",
      ports: [22],
      services: [{ port: 22, proto: "tcp" }],
      target: "127.0.0.1",
    });
    assert.ok(!JSON.stringify(res).includes("file-token"));
  });
});

Deno.test("logs: newest N lines oldest first; bad N means 100", async () => {
  await setup(async (m) => {
    assert.deepEqual((await m.handle(req("logs", { lines: 2 }), "barn")).payload, {
      lines: ["line 11", "line 12"],
    });
    const all = (await m.handle(req("logs", { lines: -3 }), "barn")).payload as { lines: string[] };
    assert.equal(all.lines.length, 10);
    assert.equal(all.lines[0], "line 3");
  });
});

Deno.test("config-set: changes only the given keys, keeps comments, 0600, re-registers", async () => {
  await setup(async (m, path, seen) => {
    const res = await m.handle(
      req("config-set", {
        machine: "barn",
        fields: { DisplayName: "Big barn", location: "yard", tags: ["lab"] },
      }),
      "nas",
    );
    assert.equal(res.ok, true, String(res.message));
    const text = await Deno.readTextFile(path);
    assert.match(text, /# the operator's comment stays/);
    assert.match(text, /# and this one/);
    assert.match(text, /displayName: Big barn/);
    assert.match(text, /location: yard/);
    assert.ok(!/target:/.test(text), "defaults are not written");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].name, "barn");
    assert.equal(seen[0].displayName, "Big barn");
    assert.equal(seen[0].token, "file-token", "tokens resolved again");
    const got = (await m.handle(req("config-get"), "barn")).payload as {
      machines: { location?: string }[];
    };
    assert.equal(got.machines[0].location, "yard");
    // null removes a key
    assert.equal(
      (await m.handle(req("config-set", { machine: "barn", fields: { location: null } }), "barn"))
        .ok,
      true,
    );
    assert.ok(!/location:/.test(await Deno.readTextFile(path)));
  });
});

Deno.test("config-set: an invalid change is refused with the validation error and the file is untouched", async () => {
  await setup(async (m, path, seen) => {
    const before = await Deno.readTextFile(path);
    const cases: [unknown, RegExp][] = [
      [
        { machine: "barn", fields: { ports: [70000] } },
        /^invalid fields: .*telad\.yaml:\d+: .*port number 1-65535/,
      ],
      [
        { machine: "barn", fields: { ports: null, services: null } },
        /^invalid fields: .*either|ports|services/,
      ],
      [
        { machine: "barn", fields: { dispalyName: "x" } },
        /^invalid fields: unknown machine key "dispalyName" \(did you mean "displayName"\?\)/,
      ],
      [
        { machine: "barn", fields: { name: "other" } },
        /^invalid fields: "name" cannot be set remotely/,
      ],
      [
        { machine: "barn", fields: { token: "t" } },
        /^invalid fields: "token" cannot be set remotely/,
      ],
      [{ machine: "ghost", fields: { owner: "x" } }, /^machine not found: ghost/],
      [{ machine: "barn" }, /^invalid payload: /],
      ["text", /^invalid payload: /],
    ];
    for (const [payload, want] of cases) {
      const res = await m.handle(req("config-set", payload), "barn");
      assert.equal(res.ok, false, JSON.stringify(payload));
      assert.match(String(res.message), want);
    }
    assert.equal(await Deno.readTextFile(path), before);
    assert.equal(seen.length, 0);
  });
});

Deno.test("config-set in flag mode: no config file to update", async () => {
  const m = new AgentManagement({
    config: { hub: "ws://x", machines: [] },
    logs: new LogRing(),
    log: logger("test"),
    onRestart: () => {},
  });
  const res = await m.handle(req("config-set", { machine: "a", fields: { owner: "x" } }), "a");
  assert.equal(res.ok, false);
  assert.match(String(res.message), /^no config file to update/);
});

Deno.test("restart: answers restarting, then calls the hook once", async () => {
  await setup(async (m) => {
    let calls = 0;
    const done = new Promise<void>((r) => {
      (m.opts as { onRestart: () => void }).onRestart = () => {
        calls++;
        r();
      };
    });
    const res = await m.handle(req("restart"), "barn");
    assert.deepEqual(res, {
      type: "mgmt-response",
      requestId: "0123456789abcdef",
      ok: true,
      message: "restarting",
    });
    await m.handle(req("restart"), "barn");
    await done;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(calls, 1);
  });
});

Deno.test("restart command line: /proc argv when it ends with our args, else deno run -A main", () => {
  const exe = Deno.execPath();
  const args = Deno.args;
  const proc = [exe, "run", "--allow-net", "x.ts", ...args, ""].join("\0");
  assert.deepEqual(restartCommandLine(proc), {
    cmd: exe,
    args: ["run", "--allow-net", "x.ts", ...args],
  });
  const fallback = restartCommandLine(null);
  assert.equal(fallback.cmd, exe);
  assert.deepEqual(fallback.args.slice(0, 2), ["run", "-A"]);
});
