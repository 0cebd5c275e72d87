/**
 * `tela admin`, `tela pair` and `telad pair` as real processes against a real `telahubd`
 * process (book, *Hub administration*, *Credentials and pairing*, Appendix C; *TDL for the
 * command line*): each command's table and `-json`, the token order (flag over
 * TELA_OWNER_TOKEN over TELA_TOKEN over the credential store), the errors and exit statuses
 * for 401, 403, 404 and 409, the destructive commands without a terminal, and pairing codes
 * redeemed into the right credential files, after which `tela` and `telad` need no token.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import {
  accessList,
  admin,
  ADMIN_HUB_CONFIG as CONFIG,
  ALICE,
  ok,
  OWNER,
  runProgram,
  storeWith,
} from "./_run.ts";
import { getJson, ScriptedAgent, startHubProcess, waitFor } from "../hub/scripted_peers.ts";
import { DENO_DIR, outputWithInput, REPO_ROOT, spawnDeno } from "../e2e/harness.ts";

const BOGUS = "b0".repeat(32);
const HEX64 = /^[0-9a-f]{64}$/;

/** True when util-linux `script` is there to give a command a terminal. */
function hasScript(): boolean {
  try {
    return new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/**
 * Runs `tela <args>` with a pseudo-terminal as stdin/stdout (util-linux `script`), typing
 * `input`; stdout and stderr arrive merged in `output`.
 */
async function inTerminal(
  args: string[],
  input: string,
): Promise<{ code: number; output: string }> {
  const home = await Deno.makeTempDir({ prefix: "tela-tty-" });
  try {
    const quote = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;
    const cmd = [Deno.execPath(), "run", "-A", `${REPO_ROOT}cmd/tela.ts`, ...args].map(quote).join(
      " ",
    );
    const out = await outputWithInput(
      new Deno.Command("script", {
        args: ["-qec", cmd, "/dev/null"],
        env: { HOME: home, DENO_DIR, NO_COLOR: "1" },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(60_000),
      }),
      input,
    );
    return { code: out.code, output: out.stdout + out.stderr };
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test({
  name: "tela admin against a real hub: tables, -json, errors, token order, pairing",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const hub = await startHubProcess({ configYaml: CONFIG, env: { TELAHUBD_NAME: "testhub" } });
    const dirs: string[] = [];
    const tempDir = async (prefix: string) => {
      const d = await Deno.makeTempDir({ prefix });
      dirs.push(d);
      return d;
    };
    try {
      await t.step("access prints IDENTITY ROLE MACHINES; -json is the hub's entries", async () => {
        const [table, json] = await Promise.all([
          admin(hub, ["access"]),
          admin(hub, ["access", "list", "-json"]),
        ]);
        ok(table, "access");
        const lines = table.stdout.trimEnd().split("\n");
        assert.match(lines[0], /^IDENTITY {2,}ROLE {2,}MACHINES$/);
        assert.ok(
          lines.some((l) => /^owner {2,}owner {2,}\* \(all permissions\)$/.test(l)),
          table.stdout,
        );
        assert.ok(lines.some((l) => /^alice {2,}user {2,}\*: connect$/.test(l)), table.stdout);
        assert.equal(table.stderr, "");
        const entries = JSON.parse(ok(json, "access -json").stdout);
        assert.deepEqual(
          entries.find((e: { id: string }) => e.id === "alice").machines,
          [{ machineId: "*", permissions: ["connect"] }],
        );
      });

      let bobToken = "";
      await t.step(
        "tokens add prints the token once on stdout; list and -json show it",
        async () => {
          const add = ok(
            await admin(hub, ["tokens", "add", "bob", "-expires", "30d"]),
            "tokens add",
          );
          bobToken = add.stdout.trim();
          assert.match(bobToken, HEX64);
          assert.equal(add.stdout, `${bobToken}\n`, "the token line alone is data");
          assert.equal(add.stderr, "Save this token: it is shown once\n");
          const [list, json] = await Promise.all([
            admin(hub, ["tokens", "list"]),
            admin(hub, ["tokens", "list", "-json"]),
          ]);
          ok(list, "tokens list");
          assert.match(
            list.stdout,
            /^IDENTITY {2,}ROLE {2,}TOKEN {2,}ISSUED {2,}EXPIRES {2,}STATUS\n/,
          );
          const bob = list.stdout.split("\n").find((l) => l.startsWith("bob "));
          assert.ok(bob, list.stdout);
          assert.match(
            bob,
            new RegExp(
              `^bob +user +${
                bobToken.slice(0, 8)
              }\\.\\.\\. +\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ +\\d{4}-\\d\\d-\\d\\dT[\\d:]+Z +active$`,
            ),
          );
          assert.ok(!list.stdout.includes(bobToken), "never the whole token");
          const rows = JSON.parse(ok(json, "tokens list -json").stdout);
          assert.equal(rows.find((r: { id: string }) => r.id === "bob").role, "user");
        },
      );

      await t.step("access grant, revoke and rename change what access lists", async () => {
        ok(await admin(hub, ["access", "grant", "bob", "barn", "connect,manage"]), "grant barn");
        ok(await admin(hub, ["access", "grant", "bob", "*", "connect"]), "grant *");
        let table = ok(await admin(hub, ["access"]), "access").stdout;
        assert.match(table, /\nbob {2,}user {2,}\*: connect \| barn: connect,manage\n/);
        ok(await admin(hub, ["access", "revoke", "bob", "barn"]), "revoke");
        ok(await admin(hub, ["access", "rename", "bob", "robert"]), "rename");
        table = ok(await admin(hub, ["access"]), "access").stdout;
        assert.match(table, /\nrobert {2,}user {2,}\*: connect\n/);
        assert.doesNotMatch(table, /\nbob /);
      });

      await t.step(
        "rotate prints a new token; the old one stops working, the new one works",
        async () => {
          const r = ok(await admin(hub, ["rotate", "robert", "-json"]), "rotate");
          const doc = JSON.parse(r.stdout);
          assert.equal(doc.id, "robert");
          assert.match(doc.token, HEX64);
          assert.notEqual(doc.token, bobToken);
          const [oldTok, newTok] = await Promise.all([
            runProgram("tela", ["machines", "-hub", hub.url, "-token", bobToken], {
              net: "loopback",
            }),
            runProgram("tela", ["machines", "-hub", hub.url, "-token", doc.token], {
              net: "loopback",
            }),
          ]);
          assert.equal(oldTok.code, 1, oldTok.stderr);
          assert.equal(newTok.code, 0, newTok.stderr);
          bobToken = doc.token;
        },
      );

      await t.step(
        "401: an unknown or revoked token names its source, never the token",
        async () => {
          ok(await admin(hub, ["tokens", "revoke", "robert"]), "tokens revoke");
          const [bogus, revoked] = await Promise.all([
            admin(hub, ["access"], { token: BOGUS }),
            admin(hub, ["access"], { token: null, env: { TELA_TOKEN: bobToken } }),
          ]);
          for (const r of [bogus, revoked]) {
            assert.equal(r.code, 1, r.stderr);
            assert.equal(r.stdout, "");
            assert.match(
              r.stderr,
              /^Error: ws:\/\/127\.0\.0\.1:\d+ does not accept .*: the token is unknown, revoked or expired \(HTTP 401/,
            );
            assert.equal(r.stderr.split("\n").length, 2, "one line");
          }
          assert.match(bogus.stderr, /the token given with -token/);
          assert.match(revoked.stderr, /the token from TELA_TOKEN/);
          assert.ok(
            !bogus.stderr.includes(BOGUS.slice(0, 8)) &&
              !revoked.stderr.includes(bobToken.slice(0, 8)),
          );
          const table = ok(await admin(hub, ["access"]), "access").stdout;
          assert.match(table, /\nrobert {2,}user \(revoked\) {2,}\*: connect\n/);
        },
      );

      await t.step(
        "403: a user token is not an owner or admin token (identity from the store)",
        async () => {
          const r = await admin(hub, ["tokens", "list"], {
            token: null,
            setup: storeWith(hub.url, ALICE, "alice"),
          });
          assert.equal(r.code, 1);
          assert.match(
            r.stderr,
            /^Error: the token stored for ws:\/\/127\.0\.0\.1:\d+ in \S+credentials\.yaml belongs to identity "alice" that is not an owner or admin on \S+ \(HTTP 403\); tela admin needs such a token: pass one with -token, set TELA_OWNER_TOKEN, or run "tela login \S+" with one\n$/,
          );
        },
      );

      await t.step(
        "404 names the identity or machine and the list command; 409 carries the hub's text",
        async () => {
          const [noId, noAcl, noPortal, dup] = await Promise.all([
            admin(hub, ["access", "remove", "nobody"]),
            admin(hub, ["access", "revoke", "alice", "nas"]),
            admin(hub, ["portals", "remove", "nowhere"]),
            admin(hub, ["tokens", "add", "alice"]),
          ]);
          assert.equal(noId.code, 1);
          assert.match(
            noId.stderr,
            /^Error: identity "nobody" not found on ws:\/\/\S+; "tela admin access -hub ws:\/\/\S+" lists the identities\n$/,
          );
          assert.equal(noAcl.code, 1);
          assert.match(
            noAcl.stderr,
            /^Error: identity "alice" has no permissions on machine "nas" on \S+; "tela admin access -hub \S+" lists them\n$/,
          );
          assert.equal(noPortal.code, 1);
          assert.match(
            noPortal.stderr,
            /^Error: portal "nowhere" not found on \S+; "tela admin portals list -hub \S+" lists them\n$/,
          );
          assert.equal(dup.code, 1);
          assert.match(
            dup.stderr,
            /^Error: \S+ refused the request: identity already exists \(HTTP 409\)\n$/,
          );
          assert.equal(dup.stdout, "");
        },
      );

      await t.step(
        "token order: -token over TELA_OWNER_TOKEN over TELA_TOKEN over the store",
        async () => {
          const withStore = (token: string) => storeWith(hub.url, token);
          const runs = await Promise.all([
            admin(hub, ["tokens", "list"], { env: { TELA_OWNER_TOKEN: BOGUS, TELA_TOKEN: BOGUS } }),
            admin(hub, ["tokens", "list"], {
              token: null,
              env: { TELA_OWNER_TOKEN: OWNER, TELA_TOKEN: BOGUS },
            }),
            admin(hub, ["tokens", "list"], {
              token: null,
              env: { TELA_OWNER_TOKEN: BOGUS, TELA_TOKEN: OWNER },
            }),
            admin(hub, ["tokens", "list"], {
              token: null,
              env: { TELA_TOKEN: OWNER },
              setup: withStore(BOGUS),
            }),
            admin(hub, ["tokens", "list"], {
              token: null,
              env: { TELA_TOKEN: BOGUS },
              setup: withStore(OWNER),
            }),
            admin(hub, ["tokens", "list"], { token: null, setup: withStore(OWNER) }),
            admin(hub, ["tokens", "list"], { token: null }),
          ]);
          const codes = runs.map((r) => r.code);
          assert.deepEqual(codes, [0, 0, 1, 0, 1, 0, 1], runs.map((r) => r.stderr).join("\n"));
          assert.match(runs[2].stderr, /the token from TELA_OWNER_TOKEN/);
          assert.match(runs[4].stderr, /the token from TELA_TOKEN/);
          assert.match(
            runs[6].stderr,
            /^Error: \S+ needs an owner or admin token and none was given/,
          );
        },
      );

      await t.step(
        "destructive commands without a terminal proceed: tokens remove, access remove",
        async () => {
          ok(await admin(hub, ["tokens", "add", "carol"]), "add carol");
          ok(await admin(hub, ["tokens", "add", "dave"]), "add dave");
          const [rm1, rm2] = await Promise.all([
            admin(hub, ["tokens", "remove", "carol"]),
            admin(hub, ["access", "remove", "dave"]),
          ]);
          for (const r of [rm1, rm2]) {
            ok(r, "remove");
            assert.equal(
              r.stdout + r.stderr,
              "",
              "silence is success; no question without a terminal",
            );
          }
          const ids = (await accessList(hub)).map((e) => e.id);
          assert.ok(!ids.includes("carol") && !ids.includes("dave"), ids.join(","));
        },
      );

      await t.step({
        name: "at a terminal, tokens remove asks [y/N]: no keeps the identity, y removes it",
        ignore: !hasScript(),
        async fn() {
          ok(await admin(hub, ["tokens", "add", "erin"]), "add erin");
          const removeErin = [
            "admin",
            "tokens",
            "remove",
            "erin",
            "-hub",
            hub.url,
            "-token",
            OWNER,
          ];
          const no = await inTerminal(removeErin, "n\n");
          assert.equal(no.code, 1, no.output);
          assert.match(
            no.output,
            /This will permanently delete identity "erin", .*Continue\? \[y\/N\]: /,
          );
          assert.match(
            no.output,
            /Error: not confirmed: identity "erin" was not removed \(-force skips the question\)/,
          );
          let ids = (await accessList(hub)).map((e) => e.id);
          assert.ok(ids.includes("erin"), "still there after no");
          const yes = await inTerminal(removeErin, "y\n");
          assert.equal(yes.code, 0, yes.output);
          ids = (await accessList(hub)).map((e) => e.id);
          assert.ok(!ids.includes("erin"), "gone after yes");
        },
      });

      await t.step("portals add, list and remove against a portal on 127.0.0.1", async () => {
        const portal = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
          const p = new URL(req.url).pathname;
          if (p === "/.well-known/tela") return Response.json({ hub_directory: "/api/hubs" });
          if (p === "/api/hubs" && req.method === "POST") {
            return Response.json({ syncToken: "sync-1", updated: false });
          }
          return new Response("{}", { status: 200 });
        });
        try {
          const url = `http://127.0.0.1:${portal.addr.port}`;
          const empty = ok(await admin(hub, ["portals", "list"]), "portals list");
          assert.equal(empty.stdout, "");
          assert.equal(empty.stderr, "No portal registrations.\n");
          ok(await admin(hub, ["portals", "add", "local", "-portal-url", url]), "portals add");
          const [list, json] = await Promise.all([
            admin(hub, ["portals", "list"]),
            admin(hub, ["portals", "list", "-json"]),
          ]);
          assert.equal(
            ok(list, "list").stdout,
            `NAME   URL${
              " ".repeat(url.length - 1)
            }DIRECTORY  SYNC\nlocal  ${url}  /api/hubs  yes\n`,
          );
          assert.deepEqual(
            JSON.parse(ok(json, "json").stdout).map((p: { name: string }) => p.name),
            ["local"],
          );
          ok(await admin(hub, ["portals", "remove", "local"]), "portals remove");
          assert.deepEqual(
            JSON.parse(ok(await admin(hub, ["portals", "list", "-json"]), "json").stdout),
            [],
          );
        } finally {
          await portal.shutdown();
        }
      });

      await t.step(
        "pair-code + tela pair: the token lands in ~/.tela/credentials.yaml; tela then needs no token",
        async () => {
          const r = ok(await admin(hub, ["pair-code", "barn", "-expires", "1h"]), "pair-code");
          const m = r.stdout.match(
            /^Generated pairing code: ([0-9A-F]{4}-[0-9A-F]{4})\nExpires: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\n\nClient pairing command:\n {2}tela pair -hub (\S+) -code \1\n$/,
          );
          assert.ok(m, r.stdout);
          assert.equal(m[3], hub.url);
          const expires = Date.parse(m[2]) - Date.now();
          assert.ok(expires > 50 * 60_000 && expires <= 61 * 60_000, `expires in ${expires} ms`);
          const home = await tempDir("tela-pair-home-");
          const pair = await runProgram("tela", ["pair", "-hub", hub.url, "-code", m[1]], {
            net: "loopback",
            env: { HOME: home },
          });
          ok(pair, "tela pair");
          assert.equal(pair.stdout, "", "no data, no reassurance on stdout");
          assert.match(pair.stderr, /^Identity: paired-user-\d+/);
          assert.match(pair.stderr, /\nNext: "tela machines -hub /);
          const file = parseYaml(await Deno.readTextFile(`${home}/.tela/credentials.yaml`)) as {
            hubs: Record<string, { token: string; identity: string }>;
          };
          const entry = file.hubs[hub.url];
          assert.match(entry.token, HEX64);
          assert.match(entry.identity, /^paired-user-\d+/);
          assert.equal((await Deno.stat(`${home}/.tela/credentials.yaml`)).mode! & 0o777, 0o600);
          const machines = await runProgram("tela", ["machines", "-hub", hub.url], {
            net: "loopback",
            env: { HOME: home },
          });
          assert.equal(machines.code, 0, machines.stderr);
          const again = await runProgram("tela", ["pair", "-hub", hub.url, "-code", m[1]], {
            net: "loopback",
            env: { HOME: home },
          });
          assert.equal(again.code, 1);
          assert.match(
            again.stderr,
            /^Error: \S+ refused pairing code [0-9A-F-]{9}: .*\(HTTP 401\); a code works once and expires/,
          );
        },
      );

      await t.step(
        "pair-code -type register + telad pair: system store; telad then connects without -token",
        async () => {
          const r = ok(await admin(hub, ["pair-code", "barn", "-type", "register"]), "pair-code");
          const m = r.stdout.match(
            /\nAgent pairing command:\n {2}telad pair -hub (\S+) -code (\S+) -machine barn\n$/,
          );
          assert.ok(m, r.stdout);
          const home = await tempDir("telad-pair-home-");
          const sys = await tempDir("telad-pair-sys-");
          const env = { HOME: home, TELA_SYSTEM_DIR: sys };
          const pair = await runProgram("telad", [
            "pair",
            "-hub",
            m[1],
            "-code",
            m[2],
            "-machine",
            "barn",
          ], {
            net: "loopback",
            env,
          });
          ok(pair, "telad pair");
          assert.equal(pair.stdout, "");
          assert.match(
            pair.stderr,
            new RegExp(`^Identity: barn-agent \\(token stored in ${sys}/credentials\\.yaml\\)`),
          );
          const file = parseYaml(await Deno.readTextFile(`${sys}/credentials.yaml`)) as {
            hubs: Record<string, { token: string; identity: string }>;
          };
          assert.match(file.hubs[hub.url].token, HEX64);
          await assert.rejects(Deno.stat(`${home}/.tela/credentials.yaml`), Deno.errors.NotFound);
          const telad = spawnDeno("telad", "cmd/telad.ts", [
            "-hub",
            hub.url,
            "-machine",
            "barn",
            "-ports",
            "22",
          ], env);
          try {
            await waitFor(async () => {
              const s = await getJson(hub, "/api/status", OWNER);
              const ms = s.body.machines as { id: string; agentConnected: boolean }[];
              return ms.some((x) => x.id === "barn" && x.agentConnected);
            }, "barn registered by the paired telad");
          } finally {
            await telad.stop();
          }
        },
      );

      await t.step(
        "telad pair falls back to the user store when the system store cannot be written",
        async () => {
          const r = ok(
            await admin(hub, ["pair-code", "nas", "-type", "register", "-json"]),
            "pair-code",
          );
          const code = JSON.parse(r.stdout).code;
          const home = await tempDir("telad-pair-home-");
          const notDir = `${home}/not-a-dir`;
          await Deno.writeTextFile(notDir, "");
          const pair = await runProgram("telad", [
            "pair",
            "-hub",
            hub.url,
            "-code",
            code,
            "-machine",
            "nas",
          ], {
            net: "loopback",
            env: { HOME: home, TELA_SYSTEM_DIR: `${notDir}/sub` },
          });
          ok(pair, "telad pair");
          assert.match(
            pair.stderr,
            /^Token stored in user credential store \(system store not writable\)/,
          );
          const file = parseYaml(await Deno.readTextFile(`${home}/.tela/credentials.yaml`)) as {
            hubs: Record<string, { token: string; identity: string }>;
          };
          assert.equal(file.hubs[hub.url].identity, "nas-agent");
        },
      );

      await t.step("agent list, hub status, hub logs, history: tables and -json", async () => {
        const agent = await ScriptedAgent.register(hub.url, {
          machineName: "web01",
          token: OWNER,
          services: [{ port: 22, name: "SSH" }],
        });
        try {
          const [agents, agentsJson, status, statusJson, logs, history, historyJson] = await Promise
            .all([
              admin(hub, ["agent", "list"]),
              admin(hub, ["agent", "list", "-json"]),
              admin(hub, ["hub", "status"]),
              admin(hub, ["hub", "status", "-json"]),
              admin(hub, ["hub", "logs", "-n", "3"]),
              admin(hub, ["history", "-machine", "web01"]),
              admin(hub, ["history", "-n", "2", "-json"]),
            ]);
          assert.match(
            ok(agents, "agent list").stdout,
            /^MACHINE {2,}STATUS {2,}VERSION {2,}SERVICES {2,}SESSIONS\n/,
          );
          assert.match(agents.stdout, /\nweb01 {2,}online {2,}v0\.14\.0 {2,}SSH:22 {2,}0\n/);
          const web = JSON.parse(ok(agentsJson, "agent list -json").stdout).find((
            m: { id: string },
          ) => m.id === "web01");
          assert.equal(web.agentConnected, true);
          assert.match(
            ok(status, "hub status").stdout,
            /^Hub: {7}ws:\/\/127\.0\.0\.1:\d+\nName: {6}testhub\n/,
          );
          assert.match(
            status.stdout,
            /\nUptime: {4}\d+[hms]\S* \(since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)\n/,
          );
          assert.match(status.stdout, /\nMachines: {2}\d+ registered, [1-9]\d* online\n/);
          const sj = JSON.parse(ok(statusJson, "hub status -json").stdout);
          assert.equal(sj.hubName, "testhub");
          assert.equal(typeof sj.hub.uptime, "number");
          const lines = ok(logs, "hub logs").stdout.trimEnd().split("\n");
          assert.ok(lines.length >= 1 && lines.length <= 3, logs.stdout);
          assert.match(
            ok(history, "history").stdout,
            /^TIME {2,}EVENT {2,}MACHINE {2,}IDENTITY {2,}DETAIL\n/,
          );
          assert.match(
            history.stdout,
            /\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}agent-register {2,}web01 /,
          );
          assert.ok(
            history.stdout.trimEnd().split("\n").slice(1).every((l) => / web01 /.test(l)),
            history.stdout,
          );
          const events = JSON.parse(ok(historyJson, "history -json").stdout);
          assert.equal(events.length, 2);
          for (const e of events) assert.equal(typeof e.event, "string");
        } finally {
          await agent.close();
        }
      });
    } finally {
      await hub.close();
      for (const d of dirs) await Deno.remove(d, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "tela admin hub restart prints nothing and the hub restarts (exit mode: the process ends 0)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hub = await startHubProcess({ configYaml: CONFIG, env: { TELAHUBD_RESTART: "exit" } });
    try {
      const r = await admin(hub, ["hub", "restart"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout + r.stderr, "");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const ended = await Promise.race([
        hub.status,
        new Promise<null>((res) => timer = setTimeout(() => res(null), 30_000)),
      ]);
      clearTimeout(timer);
      assert.ok(ended, "the hub process ended after the restart request");
      assert.equal(ended.code, 0);
    } finally {
      await hub.close();
    }
  },
});
