/**
 * `tela admin` against a real `telahubd` process, for what the issue 10 review and the
 * new-user walkthrough found (book, *Hub administration*, *Credentials and pairing*):
 * a pair code grants the machine it names, says what it grants and warns before it
 * displaces a running agent; user-role tokens are refused by every admin command, with the
 * identity named; `access set` changes roles and the last-owner 409 names it; a new token's
 * role reads `user`.
 */
import assert from "node:assert/strict";
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
import { ScriptedAgent, startHubProcess } from "../hub/scripted_peers.ts";

Deno.test({
  name: "tela admin review fixes against a real hub: pair codes, user tokens, roles",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const hub = await startHubProcess({ configYaml: CONFIG });
    try {
      await t.step(
        "pair-code barn grants connect on barn only, and says so on stderr",
        async () => {
          const r = ok(await admin(hub, ["pair-code", "barn"]), "pair-code");
          const m = r.stdout.match(/^Generated pairing code: (\S+)\nExpires: (\S+)\n/);
          assert.ok(m, r.stdout);
          // barn has never registered on this hub: a likely typo is pointed out.
          assert.equal(
            r.stderr,
            `The code grants connect on barn (role user), single use, until ${m[2]}.\n` +
              `Note: no machine named "barn" is registered on ${hub.url}; the code grants ` +
              `connect on it once an agent registers that name (check the spelling with ` +
              `"tela admin agent list -hub ${hub.url}")\n`,
          );
          const all = ok(await admin(hub, ["pair-code", "barn", "-machines", "*"]), "all");
          assert.doesNotMatch(all.stderr, /Note:/, "'*' names no machine to check");
          const home = await Deno.makeTempDir({ prefix: "tela-pair-home-" });
          try {
            const pair = await runProgram("tela", ["pair", "-hub", hub.url, "-code", m[1]], {
              net: "loopback",
              env: { HOME: home },
            });
            ok(pair, "tela pair");
            const id = pair.stderr.match(/^Identity: (\S+)/)?.[1];
            assert.ok(id, pair.stderr);
            const entry = (await accessList(hub)).find((e) => e.id === id);
            assert.deepEqual(entry?.machines, [{ machineId: "barn", permissions: ["connect"] }]);
          } finally {
            await Deno.remove(home, { recursive: true });
          }
        },
      );

      await t.step("-expires below 10 minutes is a usage error before any request", async () => {
        const r = await admin(hub, ["pair-code", "barn", "-expires", "5m"]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /^Error: -expires "5m" is not a pairing code lifetime: .*10m to 7d/);
      });

      await t.step(
        "a register code for a machine whose agent is online warns it displaces the agent",
        async () => {
          const agent = await ScriptedAgent.register(hub.url, {
            machineName: "web01",
            token: OWNER,
          });
          try {
            const [online, offline] = await Promise.all([
              admin(hub, ["pair-code", "web01", "-type", "register"]),
              admin(hub, ["pair-code", "nas", "-type", "register"]),
            ]);
            ok(online, "pair-code web01");
            assert.match(online.stdout, /\nAgent pairing command:\n/);
            assert.match(
              online.stderr,
              /^The code lets one agent register web01, single use, until \S+Z\.\nWarning: "web01" is registered and online; redeeming this code gives "web01" a new registrant and disconnects the agent now registered as "web01"\n$/,
            );
            ok(offline, "pair-code nas");
            assert.doesNotMatch(offline.stderr, /Warning/);
            // A connect code for a registered machine: no typo note (a register code for a
            // new name is no typo either).
            const known = ok(await admin(hub, ["pair-code", "web01"]), "connect web01");
            assert.doesNotMatch(known.stderr + offline.stderr, /Note:/);
          } finally {
            await agent.close();
          }
        },
      );

      await t.step(
        "agent list, hub status and history refuse a user token, naming its identity",
        async () => {
          const runs = await Promise.all(
            [["agent", "list"], ["hub", "status"], ["history"], ["tokens", "list"]].map((args) =>
              admin(hub, args, { token: ALICE, setup: storeWith(hub.url, ALICE, "alice") })
            ),
          );
          for (const r of runs) {
            assert.equal(r.code, 1, r.stdout + r.stderr);
            assert.equal(r.stdout, "");
            assert.match(
              r.stderr,
              /^Error: the token given with -token belongs to identity "alice" that is not an owner or admin on \S+ \(HTTP 403\); tela admin needs such a token/,
            );
          }
        },
      );

      await t.step(
        "a -token no credential store knows: the identity comes from the hub's 403 body",
        async () => {
          const r = await admin(hub, ["tokens", "list"], { token: ALICE });
          assert.equal(r.code, 1, r.stdout + r.stderr);
          assert.match(
            r.stderr,
            /^Error: the token given with -token belongs to identity "alice" that is not an owner or admin/,
          );
        },
      );

      await t.step("tokens add -json shows role user for a token without a role", async () => {
        const r = ok(await admin(hub, ["tokens", "add", "carol", "-json"]), "tokens add");
        const doc = JSON.parse(r.stdout);
        assert.equal(doc.role, "user");
        assert.equal(doc.id, "carol");
      });

      await t.step(
        "access set changes a role; demoting or removing the last owner names access set",
        async () => {
          ok(await admin(hub, ["access", "set", "alice", "-role", "admin"]), "set admin");
          assert.equal((await accessList(hub)).find((e) => e.id === "alice")?.role, "admin");
          const [demote, remove, revoke] = await Promise.all([
            admin(hub, ["access", "set", "owner", "-role", "user"]),
            admin(hub, ["access", "remove", "owner"]),
            admin(hub, ["tokens", "revoke", "owner"]),
          ]);
          for (const r of [demote, remove, revoke]) {
            assert.equal(r.code, 1, r.stderr);
            assert.match(
              r.stderr,
              /^Error: \S+ refused the request: .*promote another identity.* \(HTTP 409\); make another identity an owner first: "tela admin access set <id> -role owner -hub \S+"\n$/,
            );
          }
          ok(await admin(hub, ["access", "set", "alice", "-role", "owner"]), "set owner");
          ok(await admin(hub, ["access", "set", "owner", "-role", "user"]), "demote owner");
          const entries = await accessList(hub, ALICE);
          const roles = Object.fromEntries(entries.map((e) => [e.id, e.role]));
          assert.equal(roles.alice, "owner");
          assert.equal(roles.owner, "user");
        },
      );
    } finally {
      await hub.close();
    }
  },
});
