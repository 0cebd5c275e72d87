/**
 * The command grammar of `tela`, `telad` and `telahubd` (book, *TDL for the command line*;
 * issue 9 item 2), proved on the real programs where it matters: unknown words exit 2 with
 * a did-you-mean line and start nothing (the probe runs the program without network
 * permission, so any listen or connect would fail with a different status and message),
 * help for every command of every tree, `-json` that parses, and each exit status 0/1/2/3
 * from a real case.
 */
import assert from "node:assert/strict";
import { type Command, flagLabel, renderHelp, runCli, walkCommands } from "../../lib/cli/mod.ts";
import { telaCommand } from "../../lib/client/mod.ts";
import type { TunnelEngine } from "../../lib/session/mod.ts";
import { wsRelayBind } from "../../lib/transport/mod.ts";
import { teladCommand } from "../../lib/agent/mod.ts";
import { telahubdCommand } from "../../lib/hub/cli.ts";
import { runProgram } from "./_run.ts";

const OWNER = "0123456789abcdef".repeat(4);
const VIEWER = "fedcba9876543210".repeat(4);

async function withConfig<T>(text: string, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "tela-grammar-cfg-" });
  try {
    await Deno.writeTextFile(`${dir}/config.yaml`, text);
    return await fn(`${dir}/config.yaml`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const HUB_CONFIG = `auth:
  tokens:
    - id: console-viewer
      token: ${VIEWER}
      hubRole: viewer
    - id: owner
      token: ${OWNER}
      hubRole: owner
`;

const noEngine: TunnelEngine = () => {
  throw new Error("no tunnel in this test");
};

function trees(): Command[] {
  const deps = { bind: wsRelayBind, engine: noEngine, interrupted: new Promise<void>(() => {}) };
  return [telaCommand(deps), teladCommand(deps), telahubdCommand()];
}

Deno.test({
  name: "an unknown command exits 2 with did-you-mean and help on stderr, and opens no socket",
  sanitizeResources: false,
  async fn() {
    const port = "1"; // a privileged port: binding it would fail differently, not silently
    const [tela, hub, hubSub, telad, hubControl] = await Promise.all([
      runProgram("tela", ["conect", "-hub", "ws://127.0.0.1:9", "-machine", "m"], { net: false }),
      runProgram("telahubd", ["conect"], {
        net: false,
        env: { TELAHUBD_PORT: port, TELAHUBD_UDP_PORT: port },
      }),
      runProgram("telahubd", ["user", "show-ownr"], { net: false }),
      runProgram("telad", ["-hub", "ws://127.0.0.1:9", "-machine", "m", "-ports", "22", "strat"], {
        net: false,
      }),
      // Control: the same probe does see a hub that starts (so the assertions above can fail).
      runProgram("telahubd", [], {
        net: false,
        env: { TELAHUBD_PORT: "0", TELAHUBD_UDP_PORT: "0", TELA_OWNER_TOKEN: OWNER },
      }),
    ]);
    // 2, not the 1 of the book's Help section: its exit-code table calls this a usage error.
    assert.equal(tela.code, 2);
    assert.equal(tela.stdout, "");
    assert.match(
      tela.stderr,
      /^Error: unknown command "conect" Did you mean: connect\?\n\ntela — /,
    );
    assert.match(tela.stderr, /\nUSAGE\n/);
    assert.equal(hub.code, 2, hub.stderr);
    assert.equal(hub.stdout, "", "no banner: the hub did not start");
    assert.match(hub.stderr, /^Error: unknown command "conect"\n\ntelahubd — /);
    const hubHelp = renderHelp(telahubdCommand(), "telahubd");
    assert.equal(hub.stderr, `Error: unknown command "conect"\n\n${hubHelp}\n`, "nothing else");
    assert.equal(hubSub.code, 2);
    assert.match(hubSub.stderr, /^Error: unknown command "show-ownr" Did you mean: show-owner\?/);
    assert.equal(telad.code, 2);
    assert.match(telad.stderr, /^Error: unknown command "strat"\n\ntelad — /);
    assert.doesNotMatch(telad.stderr, /connecting to hub/);
    assert.notEqual(hubControl.code, 2);
    assert.notEqual(hubControl.code, 0);
    assert.match(hubControl.stderr, /net/i, "the probe catches a hub that tries to listen");
  },
});

Deno.test("telahubd user show-owner -config prints the token and a newline only", async () => {
  await withConfig(HUB_CONFIG, async (path) => {
    const [owner, viewer, json, none, bad] = await Promise.all([
      runProgram("telahubd", ["user", "show-owner", "-config", path], { net: false }),
      runProgram("telahubd", ["user", "show-viewer", `--config=${path}`], { net: false }),
      runProgram("telahubd", ["user", "show-owner", "-json", "-config", path], { net: false }),
      runProgram("telahubd", ["user", "show-owner", "-config", `${path}.missing`], { net: false }),
      runProgram("telahubd", ["user", "show-owner", "-config", path, "-port", "80"]),
    ]);
    assert.equal(owner.code, 0, owner.stderr);
    assert.equal(owner.stdout, `${OWNER}\n`);
    assert.equal(owner.stderr, "");
    assert.equal(viewer.stdout, `${VIEWER}\n`);
    assert.deepEqual(JSON.parse(json.stdout), { role: "owner", token: OWNER });
    assert.equal(none.code, 1);
    assert.equal(none.stdout, "");
    // The spec's words first (scripts match them), then the file and how to get one.
    assert.match(
      none.stderr,
      /^Error: no owner token found in \S+\.missing \(no such file: start the hub once .*-config\)\n$/,
    );
    assert.equal(bad.code, 2, "-port belongs to the hub, not to user show-owner");
    assert.match(bad.stderr, /^Error: flag provided but not defined: -port\n/);
  });
});

Deno.test("telad service install -config x.yaml says it is not available and runs no agent", async () => {
  await withConfig(
    "hub: ws://127.0.0.1:9\nmachines:\n  - name: barn\n    ports: [22]\n",
    async (path) => {
      const r = await runProgram("telad", ["service", "install", "-config", path], { net: false });
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, 'Error: "telad service install" is not available in this version\n');
    },
  );
});

Deno.test("tela profile -h, tela help profile and telahubd -h print help on stdout, exit 0", async () => {
  const [a, b, c, d] = await Promise.all([
    runProgram("tela", ["profile", "-h"], { net: false }),
    runProgram("tela", ["help", "profile"], { net: false }),
    runProgram("telahubd", ["-h"], { net: false }),
    runProgram("tela", [], { net: false }),
  ]);
  for (const r of [a, b, c, d]) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
  }
  assert.match(a.stdout, /^tela profile — .*\n\nUSAGE\n {2}tela profile list/);
  assert.equal(b.stdout, a.stdout);
  assert.match(c.stdout, /^telahubd — [^]*"telahubd help" or "telahubd\s+-h" prints this help/);
  assert.match(d.stdout, /^tela — [^]*\n {4}connect {4}Connect to a machine/);
});

Deno.test("exit statuses 0, 1, 2 and 3 each from a real case", async () => {
  await withConfig("port: [\n", async (badYaml) => {
    const [ok, runtime, usage, config] = await Promise.all([
      runProgram("tela", ["version"], { net: false }),
      runProgram("tela", ["admin", "hub", "update", "-hub", "ws://127.0.0.1:9", "-token", "x"], {
        net: false,
      }),
      runProgram("tela", ["connect", "-machine", "m"], { net: false }),
      runProgram("telahubd", ["-config", badYaml], {
        net: false,
        env: { TELAHUBD_PORT: "0", TELAHUBD_UDP_PORT: "0" },
      }),
    ]);
    assert.equal(ok.code, 0);
    assert.match(ok.stdout, /^tela v\S+ \w+\/\w+\n$/);
    assert.equal(runtime.code, 1);
    assert.match(runtime.stderr, /^Error: could not reach hub ws:\/\/127\.0\.0\.1:9: /);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^Error: -hub and -machine are required .*\n\ntela connect — /);
    assert.equal(config.code, 3, config.stderr);
    assert.match(config.stderr, /^Error: .*config\.yaml.*invalid YAML/);
  });
});

Deno.test("-json output of data commands parses as JSON", async () => {
  const [tv, dv, hv, profiles] = await Promise.all([
    runProgram("tela", ["version", "-json"], { net: false }),
    runProgram("telad", ["version", "-json"], { net: false }),
    runProgram("telahubd", ["version", "-json"], { net: false }),
    runProgram("tela", ["profile", "list", "-json"], { net: false }),
  ]);
  assert.equal(JSON.parse(tv.stdout).name, "tela");
  assert.equal(JSON.parse(dv.stdout).name, "telad");
  assert.equal(JSON.parse(hv.stdout).name, "telahubd");
  assert.equal(typeof JSON.parse(hv.stdout).version, "string");
  assert.deepEqual(JSON.parse(profiles.stdout), []);
});

Deno.test("every command of every tree answers -h, -?, -help, --help and help with all sections", async () => {
  for (const root of trees()) {
    for (const { cmd, path } of walkCommands(root)) {
      const words = path.split(" ").slice(1);
      const want = renderHelp(cmd, path);
      for (const h of ["-h", "-?", "-help", "--help"]) {
        const out: string[] = [];
        const err: string[] = [];
        const code = await runCli(root, [...words, h], {
          out: (t) => out.push(t),
          err: (t) => err.push(t),
        });
        assert.equal(code, 0, `${path} ${h}: ${err.join("\n")}`);
        assert.equal(out.join("\n"), want, `${path} ${h}`);
      }
      if (words.length) {
        const out: string[] = [];
        assert.equal(
          await runCli(root, ["help", ...words], { out: (t) => out.push(t), err() {} }),
          0,
        );
        assert.equal(out.join("\n"), want, `help ${words.join(" ")}`);
      }
      assert.ok(want.startsWith(`${path} — ${cmd.summary}\n\nUSAGE\n`), path);
      for (const s of ["DESCRIPTION", "EXAMPLES", "SEE ALSO"]) {
        assert.match(want, new RegExp(`\n\n${s}\n {2}\\S`), `${path} has ${s}`);
      }
      const order = ["USAGE", "DESCRIPTION", "FLAGS", "EXAMPLES", "SEE ALSO"]
        .map((s) => want.indexOf(`\n${s}\n`)).filter((i) => i >= 0);
      assert.deepEqual(order, [...order].sort((a, b) => a - b), `${path}: sections in order`);
      const flags = Object.entries(cmd.flags ?? {});
      if (flags.length) assert.match(want, /\n\nFLAGS\n/, `${path} has FLAGS`);
      for (const [name, spec] of flags) {
        assert.ok(want.includes(`\n  ${flagLabel(name, spec)} `), `${path} lists -${name}`);
      }
      for (const c of cmd.commands ?? []) {
        if (!c.hidden) assert.ok(want.includes(`\n    ${c.name} `), `${path} lists ${c.name}`);
      }
      assert.ok(cmd.examples?.length, `${path} has examples`);
    }
  }
});

Deno.test("flags belong to their sub-command; Go-style spellings work before and after words", async () => {
  const root = trees()[0];
  const run = async (args: string[]) => {
    const err: string[] = [];
    const code = await runCli(root, args, { out() {}, err: (t) => err.push(t) });
    return { code, err: err.join("\n") };
  };
  const r = await run(["machines", "-ports", "22"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /^Error: flag provided but not defined: -ports\n\ntela machines — /);
  // Flags before and after the positional both parse: these reach the missing -share (2).
  for (
    const args of [["files", "ls", "-machine", "m", "dir"], ["files", "ls", "dir", "--machine=m"]]
  ) {
    const r = await run(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, /^Error: -share is required/);
  }
  assert.equal((await run(["files", "ls", "-hub", "x"])).code, 2);
});
