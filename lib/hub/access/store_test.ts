import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import {
  configToText as configText,
  type HubConfigFile,
  loadConfigFile,
  saveConfigFile,
} from "../config.ts";
import { History } from "../history.ts";
import { FileAccessStore, parseIfMatch } from "./store.ts";
import { AccessError, type Actor } from "./types.ts";

const API: Actor = { id: "owner", via: "api" };
const OWNER = "o".repeat(64);
const VIEWER = "v".repeat(64);

function baseConfig(): HubConfigFile {
  return {
    hubId: "h1",
    auth: {
      tokens: [
        { id: "owner", token: OWNER, hubRole: "owner" },
        { id: "console-viewer", token: VIEWER, hubRole: "viewer" },
      ],
      machines: { "*": { connectTokens: [OWNER] } },
    },
  };
}

async function withStore(
  fn: (s: FileAccessStore, path: string, clock: { t: number }, h: History) => Promise<void>,
  opts: { watch?: boolean } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "access-store-" });
  const path = `${dir}/telahubd.yaml`;
  const cfg = baseConfig();
  await saveConfigFile(path, cfg);
  const clock = { t: Date.parse("2026-06-01T00:00:00Z") };
  const history = new History();
  const s = await FileAccessStore.open({
    path,
    config: cfg,
    history,
    now: () => clock.t,
    watch: opts.watch ?? false,
    debounceMs: 30,
  });
  try {
    await fn(s, path, clock, history);
  } finally {
    await s.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function status(fn: () => unknown): { status: number; body: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    if (err instanceof AccessError) return { status: err.status, body: err.body };
    throw err;
  }
  throw new Error("expected an AccessError");
}

Deno.test('parseIfMatch takes "n", W/"n" and bare n; * and junk mean no precondition', () => {
  assert.equal(parseIfMatch('"3"'), 3);
  assert.equal(parseIfMatch('W/"4"'), 4);
  assert.equal(parseIfMatch("5"), 5);
  assert.equal(parseIfMatch("*"), undefined);
  assert.equal(parseIfMatch("abc"), undefined);
  assert.equal(parseIfMatch(undefined), undefined);
});

Deno.test("create: 201 data, 400 id/role/expiresAt, 409 duplicate; persisted 0600 with issuedAt", async () => {
  await withStore(async (s, path, clock) => {
    const { entry, token } = s.create({ id: "alice", role: "admin" }, API);
    assert.match(token, /^[0-9a-f]{64}$/);
    assert.equal(entry.role, "admin");
    assert.equal(entry.version, 1);
    assert.equal(entry.issuedAt, "2026-06-01T00:00:00Z");
    assert.deepEqual(status(() => s.create({ id: "" }, API)), {
      status: 400,
      body: { error: "id is required" },
    });
    assert.deepEqual(status(() => s.create({ id: "v", role: "viewer" }, API)), {
      status: 400,
      body: { error: "role must be 'owner', 'admin', or omitted" },
    });
    assert.deepEqual(status(() => s.create({ id: "x", expiresAt: "tomorrow" }, API)).body, {
      error: "expiresAt must be RFC3339 (e.g. 2027-01-01T00:00:00Z)",
    });
    assert.equal(status(() => s.create({ id: "alice" }, API)).status, 409);
    assert.deepEqual(status(() => s.create({ id: "alice" }, API)).body, {
      error: "identity already exists",
    });
    const bob = s.create({ id: "bob", role: "user", expiresAt: "2026-06-02T00:00:00Z" }, API);
    assert.equal(bob.entry.role, "user");
    void clock;
    await s.flush();
    const onDisk = await loadConfigFile(path);
    const b = onDisk!.auth.tokens.find((t) => t.id === "bob")!;
    assert.equal(b.hubRole, undefined, "user is stored without hubRole");
    assert.equal(b.expiresAt, "2026-06-02T00:00:00Z");
    assert.equal(b.token, bob.token);
    if (Deno.build.os !== "windows") assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  });
});

Deno.test("If-Match: stale gives 412 with id, version and current entry; matching forms pass", async () => {
  await withStore((s) => {
    s.create({ id: "bob" }, API);
    assert.equal(s.get("bob").version, 1);
    s.setMachine("bob", "barn", ["connect"], undefined, API, '"1"');
    assert.equal(s.get("bob").version, 2);
    const r = status(() => s.setMachine("bob", "barn", ["manage"], undefined, API, '"1"'));
    assert.equal(r.status, 412);
    assert.equal(r.body.error, "access entry has been modified since last read");
    assert.equal(r.body.id, "bob");
    assert.equal(r.body.version, 2);
    assert.deepEqual((r.body.current as { machines: unknown }).machines, [
      { machineId: "barn", permissions: ["connect"] },
    ]);
    s.setMachine("bob", "barn", ["manage"], undefined, API, 'W/"2"');
    s.revokeMachine("bob", "barn", API, "3");
    s.update("bob", { role: "admin" }, API, "*");
    assert.equal(s.get("bob").version, 5);
    assert.equal(status(() => s.remove("bob", API, '"1"')).status, 412);
    s.remove("bob", API, '"5"');
    assert.equal(status(() => s.get("bob")).status, 404);
    return Promise.resolve();
  });
});

Deno.test("last owner: remove, revoke and demote are 409 with the spec's texts", async () => {
  await withStore((s) => {
    assert.deepEqual(status(() => s.remove("owner", API)), {
      status: 409,
      body: {
        error: "cannot delete the last remaining owner; promote another identity to owner first",
      },
    });
    assert.deepEqual(status(() => s.revoke("owner", API)), {
      status: 409,
      body: {
        error: "cannot revoke the last remaining owner; promote another identity to owner first",
      },
    });
    assert.deepEqual(status(() => s.update("owner", { role: "admin" }, API)), {
      status: 409,
      body: { error: "cannot demote the sole owner; promote another identity first" },
    });
    // Last-owner refusal comes before the precondition (spec §14.2).
    assert.equal(status(() => s.remove("owner", API, '"99"')).status, 409);
    s.create({ id: "o2", role: "owner" }, API);
    s.revoke("owner", API);
    assert.equal(s.revoke("owner", API).status, "already-revoked");
    assert.equal(status(() => s.remove("o2", API)).status, 409, "the revoked owner does not count");
    return Promise.resolve();
  });
});

Deno.test("update: 400s, 404, 409 rename taken; rename carries the version", async () => {
  await withStore((s) => {
    s.create({ id: "a" }, API);
    s.create({ id: "b" }, API);
    assert.deepEqual(status(() => s.update("a", {}, API)).body, {
      error: "specify at least one of id or role",
    });
    assert.deepEqual(status(() => s.update("a", { id: "" }, API)).body, {
      error: "id cannot be empty",
    });
    assert.deepEqual(status(() => s.update("a", { role: "root" }, API)).body, {
      error: "role must be one of owner, admin, viewer, or empty (user)",
    });
    assert.equal(status(() => s.update("zz", { id: "q" }, API)).status, 404);
    assert.deepEqual(status(() => s.update("a", { id: "b" }, API)), {
      status: 409,
      body: { error: "identity already exists: b" },
    });
    const e = s.update("a", { id: "alpha" }, API);
    assert.equal(e.id, "alpha");
    assert.equal(e.version, 2);
    assert.equal(status(() => s.get("a")).status, 404);
    return Promise.resolve();
  });
});

Deno.test("lifecycle: a revoked or expired token fails every check; rotate clears revokedAt", async () => {
  await withStore((s, _p, clock) => {
    const { token } = s.create({ id: "u", expiresAt: "2026-06-01T01:00:00Z" }, API);
    s.setMachine("u", "barn", ["register", "connect", "manage"], undefined, API);
    let a = s.auth();
    assert.ok(
      a.canConnect(token, "barn") && a.canRegister(token, "barn") && a.canManage(token, "barn"),
    );
    clock.t += 3_600_000; // expiresAt passes; the same view now refuses
    assert.equal(a.identity(token), undefined);
    assert.equal(a.canConnect(token, "barn"), false);
    assert.equal(a.canRegister(token, "barn"), false);
    assert.deepEqual(a.tokenState(token), { state: "expired", id: "u" });
    const { token: t2 } = s.create({ id: "w" }, API);
    s.setMachine("w", "barn", ["connect"], undefined, API);
    s.revoke("w", API);
    a = s.auth();
    assert.equal(a.canConnect(t2, "barn"), false);
    assert.equal(a.canView(t2, "barn"), false);
    assert.deepEqual(a.tokenState(t2), { state: "revoked", id: "w" });
    assert.ok(s.get("w").revokedAt);
    const r = s.rotate("w", API);
    assert.equal(s.get("w").revokedAt, undefined);
    assert.ok(s.auth().canConnect(r.token, "barn"), "rotate cascades into connectTokens");
    return Promise.resolve();
  });
});

Deno.test("rotate cascades into register, connect and manage; remove scrubs all three", async () => {
  await withStore(async (s, path) => {
    const { token: old } = s.create({ id: "u" }, API);
    s.setMachine("u", "barn", ["register", "connect", "manage"], ["SSH"], API);
    const { token } = s.rotate("u", API);
    const acl = s.config.auth.machines.barn;
    assert.equal(acl.registerToken, token);
    assert.deepEqual(acl.connectTokens, [token]);
    assert.deepEqual(acl.manageTokens, [token]);
    assert.deepEqual(acl.connectServices, { [token]: ["SSH"] });
    assert.equal(s.auth().canManage(old, "barn"), false);
    s.remove("u", API);
    assert.deepEqual(s.config.auth.machines.barn, { connectTokens: [], manageTokens: [] });
    await s.flush();
    assert.ok(!(await Deno.readTextFile(path)).includes(token));
  });
});

Deno.test("setMachine with services: connect filter in entry, YAML object form, auth filter", async () => {
  await withStore(async (s, path) => {
    const { token } = s.create({ id: "u" }, API);
    const e = s.setMachine("u", "barn", ["connect"], ["SSH", "port-8080"], API);
    assert.deepEqual(e.machines, [
      { machineId: "barn", permissions: ["connect"], services: ["SSH", "port-8080"] },
    ]);
    assert.deepEqual(s.auth().connectServices(token, "barn"), ["SSH", "port-8080"]);
    assert.equal(s.auth().connectServices(OWNER, "barn"), undefined);
    await s.flush();
    const doc = parseYaml(await Deno.readTextFile(path)) as {
      auth: { machines: Record<string, { connectTokens: unknown[] }> };
    };
    assert.deepEqual(doc.auth.machines.barn.connectTokens, [
      { token, services: ["SSH", "port-8080"] },
    ]);
    assert.deepEqual(doc.auth.machines["*"].connectTokens, [OWNER], "bare strings otherwise");
    assert.deepEqual(status(() => s.revokeMachine("u", "nope", API)).body, {
      error: "no ACL for machine",
    });
    assert.equal(status(() => s.setMachine("ghost", "barn", [], undefined, API)).status, 404);
  });
});

Deno.test("addPaired gives unique ids; portals set and remove; admin changes are audited", async () => {
  await withStore((s, _p, _c, history) => {
    const req = { type: "register" as const, machineId: "barn", role: "user", machines: [] };
    const a = s.addPaired(req, { id: "pair", via: "pair" });
    const b = s.addPaired(req, { id: "pair", via: "pair" });
    assert.equal(a.id, "barn-agent");
    assert.equal(b.id, "barn-agent-2");
    assert.equal(s.config.auth.machines.barn.registerToken, b.token);
    const c = s.addPaired(
      { type: "connect", machineId: "", role: "user", machines: ["x", "y"] },
      { id: "pair", via: "pair" },
    );
    assert.match(c.id, /^paired-user-\d+$/);
    assert.ok(s.auth().canConnect(c.token, "y"));
    assert.equal(s.setPortal("awan", { url: "https://a" }, API), "created");
    assert.equal(s.setPortal("awan", { url: "https://b" }, API), "updated");
    assert.deepEqual(s.portals(), { awan: { url: "https://b" } });
    s.removePortal("awan", API);
    assert.deepEqual(status(() => s.removePortal("awan", API)).body, {
      error: "portal not found",
    });
    const admin = history.list((e) => e.event === "admin-change");
    assert.ok(
      admin.some((e) =>
        e.detail === "pair redeem barn-agent-2 (code by pair)" && e.identity === "barn-agent-2"
      ),
    );
    assert.ok(admin.some((e) => e.detail === "portals remove awan" && e.identity === "owner"));
    return Promise.resolve();
  });
});

/** Resolves with the next change the store reports, or rejects after `ms`. */
function nextChange(s: FileAccessStore, ms = 5000): Promise<{ summary: string; at: number }> {
  return new Promise((resolve, reject) => {
    let done = false;
    const t = setTimeout(() => {
      done = true;
      reject(new Error("no change reported"));
    }, ms);
    s.onChange((c) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      resolve({ summary: c.summary, at: performance.now() });
    });
  });
}

Deno.test({
  name: "an outside edit (atomic rename or in-place write) is live within 1 s through the watch",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withStore(async (s, path, _c, history) => {
      // Atomic replacement, as telahubd user does.
      const cfg = (await loadConfigFile(path))!;
      cfg.auth.tokens.push({ id: "bob", token: "b".repeat(64) });
      cfg.auth.machines.barn = { connectTokens: ["b".repeat(64)] };
      const seen = nextChange(s);
      const t0 = performance.now();
      await saveConfigFile(path, cfg);
      const c = await seen;
      assert.ok(c.at - t0 < 1000, `reloaded after ${(c.at - t0).toFixed(0)} ms`);
      assert.ok(s.auth().canConnect("b".repeat(64), "barn"));
      assert.match(c.summary, /tokens add bob/);
      assert.ok(
        history.list().some((e) => e.event === "admin-change" && e.identity === "local:file"),
      );
      // In-place write (an editor without rename).
      const text = (await Deno.readTextFile(path)).replace(`"${"b".repeat(64)}"`, "x");
      const seen2 = nextChange(s);
      const t1 = performance.now();
      await Deno.writeTextFile(path, text.replace(/token: b{64}/, "token: zzz"));
      const c2 = await seen2;
      assert.ok(c2.at - t1 < 1000);
      assert.equal(s.auth().identity("b".repeat(64)), undefined);
      assert.equal(s.auth().identity("zzz")?.id, "bob");
    }, { watch: true });
  },
});

Deno.test({
  name: "a bad outside edit is logged and ignored; the fixed file then applies",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withStore(async (s, path) => {
      const good = await Deno.readTextFile(path);
      await Deno.writeTextFile(path, good + "  machines: [\n");
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(s.auth().canConnect(OWNER, "barn"), "state kept");
      assert.equal(s.list().length, 2);
      await Deno.writeTextFile(
        path,
        good.replace("hubRole: owner", "hubRole: owner\n      expiresAt: not-a-time"),
      );
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(s.get("owner").expiresAt, undefined, "invalid key ignored");
      const seen = nextChange(s);
      await Deno.writeTextFile(
        path,
        good.replace("hubRole: owner", "hubRole: owner\n      expiresAt: 2030-01-01T00:00:00Z"),
      );
      await seen;
      assert.equal(s.get("owner").expiresAt, "2030-01-01T00:00:00Z");
    }, { watch: true });
  },
});

Deno.test("an API change right after an outside edit keeps both (reload before change and write)", async () => {
  await withStore(async (s, path) => {
    const cfg = (await loadConfigFile(path))!;
    cfg.auth.tokens.push({ id: "cli-user", token: "c".repeat(64) });
    await saveConfigFile(path, cfg); // no watch here: only the pre-change check can see it
    s.create({ id: "api-user" }, API);
    await s.flush();
    const ids = (await loadConfigFile(path))!.auth.tokens.map((t) => t.id);
    assert.deepEqual(ids, ["owner", "console-viewer", "cli-user", "api-user"]);
    assert.ok(s.auth().identity("c".repeat(64)));
  });
});

Deno.test("changes not yet written are replayed onto a file edited before the write", async () => {
  await withStore(async (s, path) => {
    const cfg = (await loadConfigFile(path))!;
    cfg.auth.tokens.push({ id: "cli-user", token: "c".repeat(64) });
    const outside = configText(cfg);
    // The write is queued behind this promise: the edit lands between change and write.
    s.create({ id: "api-user" }, API);
    Deno.writeTextFileSync(path, outside);
    await s.flush();
    const ids = (await loadConfigFile(path))!.auth.tokens.map((t) => t.id);
    assert.deepEqual(ids, ["owner", "console-viewer", "cli-user", "api-user"]);
  });
});
