/**
 * `telahubd user ...` as a real process: against a config file (output, exit codes, the file
 * it leaves), and against a running hub process, whose live connections follow the change
 * within a second (issue 10 decisions 1 and 8).
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { runProgram } from "./_run.ts";
import {
  clientConnect,
  cutOf,
  openSession,
  ScriptedAgent,
  startHubProcess,
  type WsPeer,
} from "../hub/scripted_peers.ts";

interface Doc {
  auth: {
    tokens: { id: string; token: string; hubRole?: string; expiresAt?: string }[];
    machines: Record<
      string,
      { registerToken?: string; connectTokens?: unknown[]; manageTokens?: string[] }
    >;
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "telahubd-user-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const user = (args: string[], path: string) =>
  runProgram("telahubd", ["user", ...args, "-config", path], { net: false });

Deno.test("telahubd user: bootstrap, add, list, grant, revoke, rotate, remove on a file", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/telahubd.yaml`;
    const boot = await user(["bootstrap"], path);
    assert.equal(boot.code, 0, boot.stderr);
    const owner = boot.stdout.trim();
    assert.match(owner, /^[0-9a-f]{64}$/, "stdout is the token");
    assert.doesNotMatch(boot.stdout + boot.stderr, /Restart the hub/);
    if (Deno.build.os !== "windows") assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const again = await user(["bootstrap"], path);
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /auth is already bootstrapped \(tokens exist in .*telahubd user show-owner/,
    );

    const add = await user(["add", "alice", "-expires", "30d"], path);
    assert.equal(add.code, 0, add.stderr);
    const alice = add.stdout.trim();
    assert.match(alice, /^[0-9a-f]{64}$/);
    const dup = await user(["add", "alice"], path);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /identity "alice" already exists in .*telahubd user rotate alice/);
    const badRole = await user(["add", "vic", "-role", "viewer"], path);
    assert.equal(badRole.code, 2);
    const badExp = await user(["add", "vic", "-expires", "soon"], path);
    assert.equal(badExp.code, 2);
    assert.match(badExp.stderr, /-expires "soon" is not a lifetime or a future time/);
    const admin = await user(["add", "ann", "-role", "admin", "-json"], path);
    assert.deepEqual(Object.keys(JSON.parse(admin.stdout)), ["id", "role", "token"]);

    const grant = await user(["grant", "alice", "barn"], path);
    assert.equal(grant.code, 0, grant.stderr);
    assert.equal(grant.stdout, "", "success is silent (book, TDL)");
    const regrant = await user(["grant", "alice", "barn"], path);
    assert.equal(regrant.code, 0, "idempotent");
    assert.equal(regrant.stdout, "");
    assert.match(regrant.stderr, /"alice" already has connect on "barn"; nothing changed/);
    assert.equal(
      (await user(["grant", "alice", "barn", "-perms", "manage,register"], path)).code,
      0,
    );
    assert.equal((await user(["grant", "alice", "barn", "-perms", "fly"], path)).code, 2);
    let doc = parseYaml(await Deno.readTextFile(path)) as Doc;
    assert.deepEqual(doc.auth.machines.barn, {
      registerToken: alice,
      connectTokens: [alice],
      manageTokens: [alice],
    });

    const list = await user(["list", "-json"], path);
    const rows = JSON.parse(list.stdout) as {
      id: string;
      role: string;
      status: string;
      expiresAt?: string;
      machines: { machineId: string; permissions: string[] }[];
    }[];
    assert.deepEqual(rows.map((r) => [r.id, r.role, r.status]), [
      ["owner", "owner", "active"],
      ["console-viewer", "viewer", "active"],
      ["alice", "user", "active"],
      ["ann", "admin", "active"],
    ]);
    assert.ok(rows[2].expiresAt);
    assert.deepEqual(rows[2].machines, [
      { machineId: "barn", permissions: ["register", "connect", "manage"] },
    ], "-json lists the grants");
    assert.deepEqual(rows[0].machines, [
      { machineId: "*", permissions: ["register", "connect", "manage"] },
    ], "as GET /api/admin/access lists an owner");
    const table = await user(["list"], path);
    assert.match(table.stdout, /^ID\s+ROLE\s+TOKEN\s+STATUS\s+EXPIRES\s+MACHINES\n/);
    const lines = table.stdout.trimEnd().split("\n");
    assert.match(lines[1], /^owner\s+owner\s.*\s\* \(all permissions\)$/);
    assert.match(lines[2], /^console-viewer\s+viewer\s.*\s-$/);
    assert.match(lines[3], /^alice\s+user\s.*\sbarn: register,connect,manage$/);
    assert.match(lines[4], /^ann\s+admin\s.*\s\* \(all permissions\)$/);
    assert.ok(!table.stdout.includes(alice), "never the whole token");

    const rot = await user(["rotate", "alice"], path);
    assert.equal(rot.code, 0, rot.stderr);
    const alice2 = rot.stdout.trim();
    doc = parseYaml(await Deno.readTextFile(path)) as Doc;
    assert.deepEqual(doc.auth.machines.barn, {
      registerToken: alice2,
      connectTokens: [alice2],
      manageTokens: [alice2],
    }, "rotate cascades into all three lists");

    const rev = await user(["revoke", "alice", "barn"], path);
    assert.equal(rev.code, 0, rev.stderr);
    assert.equal(rev.stdout, "", "success is silent");
    const after = JSON.parse((await user(["list", "-json"], path)).stdout);
    assert.deepEqual(after[2].machines, [
      { machineId: "barn", permissions: ["register", "manage"] },
    ], "user list shows what revoke took");
    const rev2 = await user(["revoke", "alice", "barn"], path);
    assert.equal(rev2.code, 1);
    assert.match(rev2.stderr, /identity "alice" has no connect grant on "barn"/);
    const ghost = await user(["rotate", "ghost"], path);
    assert.equal(ghost.code, 1);
    assert.match(ghost.stderr, /identity "ghost" not found in .*telahubd user list/);

    const last = await user(["remove", "owner"], path);
    assert.equal(last.code, 1);
    assert.match(last.stderr, /last owner.*telahubd user add <id> -role owner/);
    const rm = await user(["remove", "alice"], path);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout, "", "success is silent");
    doc = parseYaml(await Deno.readTextFile(path)) as Doc;
    assert.deepEqual(doc.auth.machines.barn, { connectTokens: [], manageTokens: [] });
    assert.ok(!(await Deno.readTextFile(path)).includes(alice2), "scrubbed everywhere");

    const bad = `${dir}/bad.yaml`;
    await Deno.writeTextFile(bad, "auth: [\n");
    const cfgErr = await user(["list"], bad);
    assert.equal(cfgErr.code, 3);
    assert.match(cfgErr.stderr, /bad\.yaml: invalid YAML/);
  });
});

Deno.test("telahubd user: only bootstrap creates a config; the others fail with exit 3 on a missing file", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/typo/telahubd.yaml`;
    const fix = `no hub config at ${path}: start the hub once, or run ` +
      `"telahubd user bootstrap -config ${path}"`;
    for (
      const args of [
        ["add", "alice"],
        ["grant", "alice", "barn"],
        ["revoke", "alice", "barn"],
        ["rotate", "alice"],
        ["remove", "alice"],
      ]
    ) {
      const r = await user(args, path);
      assert.equal(r.code, 3, `${args[0]}: ${r.stderr}`);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr.trim(), `Error: ${fix}`, args[0]);
    }
    await assert.rejects(Deno.lstat(`${dir}/typo`), Deno.errors.NotFound, "nothing created");
    const boot = await user(["bootstrap"], path);
    assert.equal(boot.code, 0, boot.stderr);
    assert.equal((await user(["add", "alice"], path)).code, 0);
  });
});

Deno.test({
  name: "telahubd user against a running hub: revoke and remove cut that identity within 1 s; " +
    "add and grant work at once; other sessions stay",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const OWNER = "1".repeat(64);
    const AGENT = "a".repeat(64);
    const ALICE = "b".repeat(64);
    const CAROL = "c".repeat(64);
    const hub = await startHubProcess({
      configYaml: `auth:
  tokens:
    - {id: owner, token: "${OWNER}", hubRole: owner}
    - {id: console-viewer, token: "${"d".repeat(64)}", hubRole: viewer}
    - {id: agent, token: "${AGENT}"}
    - {id: alice, token: "${ALICE}"}
    - {id: carol, token: "${CAROL}"}
  machines:
    barn: {registerToken: "${AGENT}", connectTokens: ["${ALICE}", "${CAROL}"]}
`,
    });
    try {
      const agent = await ScriptedAgent.register(hub.url, { machineName: "barn", token: AGENT });
      const alice = await openSession(hub.url, agent, { token: ALICE });
      const carol = await openSession(hub.url, agent, { token: CAROL, clientKey: "e".repeat(64) });

      const rev = await user(["revoke", "alice", "barn"], hub.configPath);
      const t0 = performance.now();
      assert.equal(rev.code, 0, rev.stderr);
      const cut = await cutOf(alice.client.ws);
      const text = 'Access denied: connect permission on "barn" was revoked';
      assert.deepEqual(cut, { message: text, code: 1008, reason: text });
      assert.ok(performance.now() - t0 < 1000, "cut within 1 s of the command's exit");
      assert.ok(carol.client.ws.isOpen && agent.control.isOpen, "others untouched");

      // A new identity with a grant can connect at once.
      const add = await user(["add", "dave"], hub.configPath);
      const dave = add.stdout.trim();
      assert.equal((await user(["grant", "dave", "barn"], hub.configPath)).code, 0);
      // The hub applies the edit within a second: retry a refused connect for a while.
      let daveWs: WsPeer | undefined;
      for (let i = 0; i < 20 && !daveWs; i++) {
        const ws = await clientConnect(hub.url, { machineId: "barn", token: dave });
        const first = await Promise.race([
          ws.closed.then(() => "closed"),
          new Promise((r) => setTimeout(() => r("open"), 300)),
        ]);
        if (first === "open") daveWs = ws;
        else await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(daveWs, `dave's connect was accepted (${add.code}):\n${hub.stderr()}`);
      await agent.nextSessionRequest();
      await daveWs.close();

      const rm = await user(["remove", "carol"], hub.configPath);
      const t1 = performance.now();
      assert.equal(rm.code, 0, rm.stderr);
      const cut2 = await cutOf(carol.client.ws);
      assert.equal(cut2.message, 'Access denied: identity "carol" was removed by an administrator');
      assert.ok(performance.now() - t1 < 1000);
      assert.ok(agent.control.isOpen, "the agent stays");

      // The hub did not undo the CLI's edits when it wrote (history, no rewrite of auth).
      const doc = parseYaml(await Deno.readTextFile(hub.configPath)) as Doc;
      assert.deepEqual(doc.auth.tokens.map((t) => t.id), [
        "owner",
        "console-viewer",
        "agent",
        "alice",
        "dave",
      ]);
      await agent.close();
    } finally {
      await hub.close();
    }
  },
});
