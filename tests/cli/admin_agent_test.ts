/**
 * Remote agent management with the real programs (issue 14 part 1; book, *Hub
 * administration*, "Agent"; spec hub-http-api.md §8, agent-and-client.md §8.7): a `telahubd`
 * and a `telad -config telad.yaml` process on loopback, `tela admin agent ...` runs against
 * them. Covers the config round trip, a refused bad config (file unchanged), the log ring,
 * the permission matrix (owner, admin, manage holder allowed; connect-only 403; no token
 * 401), unknown and offline machines (404, 503), and a restart that re-execs telad and
 * comes back registered.
 */
import assert from "node:assert/strict";
import { DENO_DIR, REPO_ROOT } from "../e2e/harness.ts";
import { Proc } from "../e2e/harness.ts";
import { call } from "../hub/_admin_http.ts";
import { type HubProcess, ScriptedAgent, startHubProcess, waitFor } from "../hub/scripted_peers.ts";
import { admin, ok, OWNER } from "./_run.ts";

const ADMIN = "ad".repeat(32);
const MGR = "b2".repeat(32);
const CONN = "c3".repeat(32);

const HUB_CONFIG = `auth:
  tokens:
    - id: owner
      token: "${OWNER}"
      hubRole: owner
    - id: ops
      token: "${ADMIN}"
      hubRole: admin
    - id: mgr
      token: "${MGR}"
    - id: conn
      token: "${CONN}"
  machines:
    barn:
      manageTokens: ["${MGR}"]
      connectTokens: ["${CONN}", "${MGR}"]
`;

const TELAD_YAML = (hub: string) =>
  `# barn's agent: this comment must survive a remote change
hub: ${hub}
token: "${OWNER}"
machines:
  - name: barn        # the machine
    displayName: Barn
    ports: [22]
`;

interface Agent {
  proc: Proc;
  dir: string;
  configPath: string;
}

/** Starts `telad -config <dir>/telad.yaml` (deno run, its own HOME) and waits for `registered`. */
async function startTelad(hub: HubProcess): Promise<Agent> {
  const dir = await Deno.makeTempDir({ prefix: "mgmt-telad-" });
  const configPath = `${dir}/telad.yaml`;
  await Deno.writeTextFile(configPath, TELAD_YAML(hub.url), { mode: 0o600 });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO_ROOT}cmd/telad.ts`, "-config", configPath],
    env: { HOME: dir, DENO_DIR, NO_COLOR: "1", TELAD_RESTART: "exec" },
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const proc = new Proc("telad", child);
  await proc.waitFor(/registered with hub as "barn"/, 60_000);
  return { proc, dir, configPath };
}

async function online(hub: HubProcess, machine: string): Promise<boolean> {
  const r = await call(hub.httpUrl, "GET", "/api/status", { token: OWNER });
  return (r.body.machines as { id: string; agentConnected: boolean }[]).some((m) =>
    m.id === machine && m.agentConnected
  );
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "tela admin agent: config, set, logs, permissions, offline, restart against real telad",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const hub = await startHubProcess({ configYaml: HUB_CONFIG });
    let agent: Agent | undefined;
    let successor: number | undefined;
    try {
      agent = await startTelad(hub);
      const a = agent;

      await t.step("config: the agent's configuration, without tokens", async () => {
        const [yaml, js] = await Promise.all([
          admin(hub, ["agent", "config", "-machine", "barn"]),
          admin(hub, ["agent", "config", "-machine", "barn", "-json"]),
        ]);
        ok(yaml, "agent config");
        assert.match(yaml.stdout, new RegExp(`^# ${a.configPath}\nhub: ${hub.url}\nmachines:\n`));
        assert.match(yaml.stdout, /displayName: Barn/);
        const doc = JSON.parse(ok(js, "agent config -json").stdout);
        assert.equal(doc.hub, hub.url);
        assert.equal(doc.configPath, a.configPath);
        assert.deepEqual(doc.machines, [{
          name: "barn",
          displayName: "Barn",
          ports: [22],
          services: [{ port: 22, proto: "tcp" }],
          target: "127.0.0.1",
        }]);
        assert.ok(!yaml.stdout.includes(OWNER) && !js.stdout.includes(OWNER), "no token shown");
      });

      await t.step(
        "set: saved in telad.yaml (comments kept, 0600), shown by the hub at once",
        async () => {
          const r = await admin(hub, [
            "agent",
            "set",
            "-machine",
            "barn",
            '{"displayName":"Big Barn","location":"yard","tags":["lab"]}',
          ]);
          ok(r, "agent set");
          assert.equal(r.stdout, "");
          const text = await Deno.readTextFile(a.configPath);
          assert.match(text, /^# barn's agent: this comment must survive a remote change\n/);
          assert.match(
            text,
            /- name: barn +# the machine\n {4}displayName: Big Barn\n {4}ports: \[22\]\n/,
          );
          assert.match(text, /displayName: Big Barn\n/);
          assert.match(text, /location: yard\n/);
          assert.equal((await Deno.stat(a.configPath)).mode! & 0o777, 0o600);
          await waitFor(async () => {
            const s = await call(hub.httpUrl, "GET", "/api/status", { token: OWNER });
            const m = (s.body.machines as Record<string, unknown>[]).find((x) => x.id === "barn");
            return m?.displayName === "Big Barn" && m?.location === "yard";
          }, "the hub to show the new metadata");
          const back = JSON.parse(
            ok(await admin(hub, ["agent", "config", "-machine", "barn", "-json"]), "config").stdout,
          );
          assert.equal(back.machines[0].displayName, "Big Barn");
          assert.deepEqual(back.machines[0].tags, ["lab"]);
        },
      );

      await t.step(
        "set: a config that does not validate is refused and the file is untouched",
        async () => {
          const before = await Deno.readTextFile(a.configPath);
          const stat = await Deno.stat(a.configPath);
          const [bad, unknown, usage] = await Promise.all([
            admin(hub, ["agent", "set", "-machine", "barn", '{"ports":[70000]}']),
            admin(hub, ["agent", "set", "-machine", "barn", '{"dispalyName":"x"}']),
            admin(hub, ["agent", "set", "-machine", "barn", "{not json"]),
          ]);
          assert.equal(bad.code, 1, bad.stderr);
          assert.match(
            bad.stderr,
            /^Error: the agent of "barn" refused config-set: invalid fields: .*telad\.yaml:\d+: .*must be a port number 1-65535 \(got 70000\)/,
          );
          assert.equal(unknown.code, 1);
          assert.match(
            unknown.stderr,
            /unknown machine key "dispalyName" \(did you mean "displayName"\?\)/,
          );
          assert.equal(usage.code, 2);
          assert.match(usage.stderr, /^Error: <json> is not valid JSON/);
          assert.equal(await Deno.readTextFile(a.configPath), before);
          assert.equal((await Deno.stat(a.configPath)).mtime?.getTime(), stat.mtime?.getTime());
        },
      );

      await t.step("logs: the agent's recent lines, oldest first; -json", async () => {
        const [text, js] = await Promise.all([
          admin(hub, ["agent", "logs", "-machine", "barn", "-n", "50"]),
          admin(hub, ["agent", "logs", "-machine", "barn", "-n", "3", "-json"]),
        ]);
        ok(text, "agent logs");
        assert.match(text.stdout, /\[telad\] loaded config from /);
        assert.match(text.stdout, /\[telad\] registered with hub as "barn"/);
        assert.match(text.stdout, /config-set: machine barn: displayName, location, tags saved/);
        const lines = JSON.parse(ok(js, "agent logs -json").stdout);
        assert.equal(lines.length, 3);
        assert.deepEqual(lines, text.stdout.trimEnd().split("\n").slice(-3));
      });

      await t.step(
        "permissions: owner, admin and manage allowed; connect-only 403; no token 401",
        async () => {
          const path = "/api/admin/agents/barn/logs";
          const body = { lines: 1 };
          const [o, ad, m, c, none] = await Promise.all([
            call(hub.httpUrl, "POST", path, { token: OWNER, body }),
            call(hub.httpUrl, "POST", path, { token: ADMIN, body }),
            call(hub.httpUrl, "POST", path, { token: MGR, body }),
            call(hub.httpUrl, "POST", path, { token: CONN, body }),
            call(hub.httpUrl, "POST", path, { body }),
          ]);
          for (const r of [o, ad, m]) {
            assert.equal(r.status, 200, r.text);
            assert.equal(r.body.type, "mgmt-response");
            assert.equal(r.body.ok, true);
            assert.match(r.body.requestId, /^[0-9a-f]{16}$/);
            assert.equal(r.body.payload.lines.length, 1);
            assert.ok(!r.text.endsWith("\n"), "the agent's frame verbatim");
          }
          assert.equal(c.status, 403);
          assert.equal(c.text, '{"error":"manage permission required for barn"}\n');
          assert.equal(none.status, 401);
          // The CLI with a manage holder's token works; with a connect-only token it says why.
          const [mgrCli, connCli] = await Promise.all([
            admin(hub, ["agent", "logs", "-machine", "barn", "-n", "1"], { token: MGR }),
            admin(hub, ["agent", "config", "-machine", "barn"], { token: CONN }),
          ]);
          ok(mgrCli, "logs with manage");
          assert.equal(connCli.code, 1);
          assert.match(
            connCli.stderr,
            /^Error: ws:\/\/127\.0\.0\.1:\d+ refused config-get on "barn": manage permission required for barn \(HTTP 403\); .*tela admin access grant <id> barn manage/,
          );
        },
      );

      await t.step("unknown machine 404, offline agent 503, unknown action ok:false", async () => {
        const gone = await ScriptedAgent.register(hub.url, { machineName: "shed", token: OWNER });
        await gone.close();
        await waitFor(async () => !(await online(hub, "shed")), "shed to go offline");
        const [nf, off, unk, offCli, nfCli] = await Promise.all([
          call(hub.httpUrl, "POST", "/api/admin/agents/ghost/logs", { token: OWNER }),
          call(hub.httpUrl, "POST", "/api/admin/agents/shed/logs", { token: OWNER }),
          call(hub.httpUrl, "POST", "/api/admin/agents/barn/frobnicate", { token: OWNER }),
          admin(hub, ["agent", "logs", "-machine", "shed"]),
          admin(hub, ["agent", "restart", "-machine", "ghost"]),
        ]);
        assert.equal(nf.status, 404);
        assert.equal(nf.body.error, "machine not found");
        assert.equal(off.status, 503);
        assert.equal(off.body.error, "agent not connected");
        assert.equal(unk.status, 200);
        assert.equal(unk.body.ok, false);
        assert.match(unk.body.message, /^unknown action: frobnicate/);
        assert.equal(offCli.code, 1);
        assert.match(
          offCli.stderr,
          /^Error: the agent of "shed" is not connected to .* \(HTTP 503\)/,
        );
        assert.equal(nfCli.code, 1);
        assert.match(nfCli.stderr, /^Error: machine "ghost" is not registered on /);
      });

      await t.step("update and channel: telad answers that this build cannot, exit 1", async () => {
        const [u, ch] = await Promise.all([
          admin(hub, ["agent", "update", "-machine", "barn"]),
          admin(hub, ["agent", "channel", "-machine", "barn"]),
        ]);
        assert.equal(u.code, 1);
        assert.match(
          u.stderr,
          /^Error: the agent of "barn" refused update: update is not available/,
        );
        assert.equal(ch.code, 1);
        assert.match(ch.stderr, /refused update-status: update-status is not available/);
      });

      await t.step("restart: telad re-execs itself and registers again", async () => {
        const before = a.proc.child.pid;
        const r = await admin(hub, ["agent", "restart", "-machine", "barn"]);
        ok(r, "agent restart");
        assert.equal(r.stdout, "");
        const st = await a.proc.exited;
        assert.equal(st.code, 0, a.proc.output);
        const m = await a.proc.waitFor(/restart: started pid (\d+); pid (\d+) exits/, 15_000);
        successor = Number(m[1]);
        assert.equal(Number(m[2]), before);
        assert.notEqual(successor, before);
        // The successor writes to the same stderr: its start, then its own registration.
        const registeredAgain = () => {
          const starts = a.proc.lines.flatMap((l, i) => /loaded config from /.test(l) ? [i] : []);
          return starts.length === 2 &&
            a.proc.lines.slice(starts[1]).some((l) => /registered with hub as "barn"/.test(l));
        };
        await waitFor(registeredAgain, "the successor's registration", 60_000);
        await waitFor(() => online(hub, "barn"), "barn online again", 60_000);
        assert.ok(alive(successor));
        // Same program, same flags, same arguments (read back from /proc).
        const argv = Deno.readTextFileSync(`/proc/${successor}/cmdline`).split("\0").slice(0, -1);
        assert.deepEqual(argv.slice(1), [
          "run",
          "-A",
          `${REPO_ROOT}cmd/telad.ts`,
          "-config",
          a.configPath,
        ]);
        // Same configuration (with the remote change) and it answers management again.
        const cfg = JSON.parse(
          ok(await admin(hub, ["agent", "config", "-machine", "barn", "-json"]), "config").stdout,
        );
        assert.equal(cfg.machines[0].displayName, "Big Barn");
        const logs = ok(await admin(hub, ["agent", "logs", "-machine", "barn"]), "logs").stdout;
        assert.ok(!/restart requested/.test(logs), "a new process: a new ring");
      });
    } finally {
      if (successor !== undefined && alive(successor)) {
        Deno.kill(successor, "SIGTERM");
        await waitFor(() => !alive(successor!), "the successor to stop", 30_000);
      }
      if (agent) {
        await agent.proc.stop();
        await Deno.remove(agent.dir, { recursive: true });
      }
      await hub.close();
    }
  },
});
