/**
 * How the hub and `telahubd user` share `telahubd.yaml` (issue 10 decision 8, fix round):
 * no lost updates when both write at once (the `<config>.lock` advisory lock), a failed
 * write answers 500 instead of a false success and is retried with the next change, and a
 * half-finished hand edit is kept in `<config>.bad-<UTC time>` before the hub writes over it.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { runProgram } from "../cli/_run.ts";
import { call } from "./_admin_http.ts";
import { freeTcpPort } from "../free_port.ts";
import { startHubInProcess, startHubProcess } from "./scripted_peers.ts";

const OWNER = "1".repeat(64);
const CONFIG = `auth:
  tokens:
    - {id: owner, token: "${OWNER}", hubRole: owner}
    - {id: console-viewer, token: "${"d".repeat(64)}", hubRole: viewer}
`;

interface Doc {
  auth: { tokens: { id: string }[] };
}

async function idsInFile(path: string): Promise<string[]> {
  return (parseYaml(await Deno.readTextFile(path)) as Doc).auth.tokens.map((t) => t.id);
}

Deno.test({
  name: "telahubd user add beside a stream of POST /api/admin/tokens: every identity of both " +
    "sides is in the file and in the hub afterwards",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startHubProcess({ configYaml: CONFIG });
    try {
      let cliDone = false;
      const cliIds: string[] = [];
      const cli = (async () => {
        try {
          for (let i = 0; i < 10; i++) {
            const id = `cli${i}`;
            const r = await runProgram("telahubd", [
              "user",
              "add",
              id,
              "-config",
              hub.configPath,
            ], { net: false });
            assert.equal(r.code, 0, r.stderr);
            cliIds.push(id);
          }
        } finally {
          cliDone = true;
        }
      })();
      const apiIds: string[] = [];
      // At least 100 API adds, and more while the CLI still runs (bounded at 400).
      for (let i = 0; i < 400 && (i < 100 || !cliDone); i++) {
        const id = `api${i}`;
        const r = await call(hub.httpUrl, "POST", "/api/admin/tokens", {
          token: OWNER,
          body: { id },
        });
        assert.equal(r.status, 201, r.text);
        apiIds.push(id);
        await new Promise((res) => setTimeout(res, 5));
      }
      await cli;
      assert.equal(cliIds.length, 10);
      const want = ["owner", "console-viewer", ...cliIds, ...apiIds].sort();
      // The API answered after its write; the last CLI add reaches the hub within a second.
      let listed: string[] = [];
      for (let i = 0; i < 50; i++) {
        const r = await call(hub.httpUrl, "GET", "/api/admin/tokens", { token: OWNER });
        listed = (r.body.tokens as { id: string }[]).map((t) => t.id).sort();
        if (listed.length >= want.length) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      assert.deepEqual(listed, want, "the hub holds every identity");
      assert.deepEqual((await idsInFile(hub.configPath)).sort(), want, "so does the file");
      if (Deno.build.os !== "windows") {
        assert.equal((await Deno.stat(`${hub.configPath}.lock`)).mode! & 0o777, 0o600);
      }
    } finally {
      await hub.close();
    }
  },
});

Deno.test({
  name: "a config that cannot be written: the API answers 500 persist config (/api/pair: " +
    "exactly persist config), the change is live, and the next change writes both",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startHubInProcess({ configYaml: CONFIG });
    try {
      const path = `${hub.dir}/telahubd.yaml`;
      const code = await call(hub.http, "POST", "/api/admin/pair-code", {
        token: OWNER,
        body: { type: "connect" },
      });
      assert.equal(code.status, 200, code.text);
      // A directory where the file was: no rename can replace it (this holds for root too,
      // which a read-only mode would not stop).
      await Deno.remove(path);
      await Deno.mkdir(path);

      const add = await call(hub.http, "POST", "/api/admin/tokens", {
        token: OWNER,
        body: { id: "alice" },
      });
      assert.equal(add.status, 500, add.text);
      assert.match(add.body.error, /^persist config: \S/);
      const paired = await call(hub.http, "POST", "/api/pair", { body: { code: code.body.code } });
      assert.equal(paired.status, 500, paired.text);
      assert.equal(paired.text.trim(), '{"error":"persist config"}');
      const live = await call(hub.http, "GET", "/api/admin/tokens", { token: OWNER });
      const ids = (live.body.tokens as { id: string }[]).map((t) => t.id);
      assert.ok(ids.includes("alice"), "the change is live in memory");
      assert.ok(ids.some((id) => id.startsWith("paired-user-")), ids.join(","));
      // A request that changes nothing is not failed for the older write.
      const revoke = await call(hub.http, "POST", "/api/admin/tokens/alice/revoke", {
        token: OWNER,
      });
      assert.equal(revoke.status, 500, "revoking is a change, its write fails too");
      const again = await call(hub.http, "POST", "/api/admin/tokens/alice/revoke", {
        token: OWNER,
      });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body.status, "already-revoked");

      await Deno.remove(path);
      const bob = await call(hub.http, "POST", "/api/admin/tokens", {
        token: OWNER,
        body: { id: "bob" },
      });
      assert.equal(bob.status, 201, bob.text);
      const inFile = await idsInFile(path);
      for (const id of ["owner", "alice", "bob"]) assert.ok(inFile.includes(id), id);
      assert.ok(inFile.some((id) => id.startsWith("paired-user-")), "the retry wrote them all");
    } finally {
      await hub.close();
    }
  },
});

Deno.test({
  name: "a half-finished hand edit is kept in telahubd.yaml.bad-<UTC time> (0600) before the " +
    "hub writes over it, and the log names the copy",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startHubInProcess({ configYaml: CONFIG });
    try {
      const path = `${hub.dir}/telahubd.yaml`;
      const bad = (await Deno.readTextFile(path)) + "  machines:\n    barn: {connectTokens: [\n";
      await Deno.writeTextFile(path, bad);
      // Let the watch see it (the hub logs it and keeps its settings).
      await new Promise((r) => setTimeout(r, 300));
      const add = await call(hub.http, "POST", "/api/admin/tokens", {
        token: OWNER,
        body: { id: "alice" },
      });
      assert.equal(add.status, 201, add.text);
      assert.ok((await idsInFile(path)).includes("alice"), "the hub wrote its state");
      const copies: string[] = [];
      for await (const e of Deno.readDir(hub.dir)) {
        if (e.name.startsWith("telahubd.yaml.bad-")) copies.push(e.name);
      }
      assert.equal(copies.length, 1, copies.join(","));
      assert.match(copies[0], /^telahubd\.yaml\.bad-\d{8}T\d{6}Z$/);
      const copy = `${hub.dir}/${copies[0]}`;
      assert.equal(await Deno.readTextFile(copy), bad, "the edit, byte for byte");
      if (Deno.build.os !== "windows") {
        assert.equal((await Deno.stat(copy)).mode! & 0o777, 0o600);
      }
      const log = hub.running.logs.tail(1000).join("\n");
      assert.ok(log.includes(copy), log);
      assert.match(log, /telahubd\.yaml: invalid YAML.*kept your edit in/);
    } finally {
      await hub.close();
    }
  },
});

Deno.test({
  name: "the first-start bootstrap writes under the config lock, on the file as it is then: an " +
    "edit made after the hub's first read is kept beside the console viewer it adds",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "telahubd-boot-lock-" });
    const path = `${dir}/telahubd.yaml`;
    // No viewer: the bootstrap adds console-viewer, so the hub must write at start.
    const first = `auth:\n  tokens:\n    - {id: owner, token: "${OWNER}", hubRole: owner}\n`;
    const lock = await Deno.open(`${path}.lock`, {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
    await lock.lock(true); // as `telahubd user` holds it during an edit
    let locked = true;
    const port = freeTcpPort();
    const starting = startHubProcess({ dir, configYaml: first, env: { TELAHUBD_PORT: `${port}` } });
    let hub;
    try {
      // The hub read the file before it bound its port; wait for the bind, then edit.
      for (let i = 0;; i++) {
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port })).close();
          break;
        } catch (err) {
          if (i > 300) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      await Deno.writeTextFile(
        path,
        first + `    - {id: early, token: "${"e".repeat(64)}"}\n`,
      );
      await lock.unlock();
      locked = false;
      hub = await starting;
      const ids = await idsInFile(path);
      assert.ok(ids.includes("early"), `the edit is kept: ${ids}`);
      assert.ok(ids.includes("console-viewer"), `the bootstrap's viewer is there: ${ids}`);
    } finally {
      if (locked) await lock.unlock();
      lock.close();
      hub ??= await starting.catch(() => undefined);
      await hub?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
