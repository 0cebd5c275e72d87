import assert from "node:assert/strict";
import { ConfigError } from "../config/mod.ts";
import {
  type Command,
  command,
  helpCommand,
  notAvailable,
  runCli,
  UsageError,
  walkCommands,
} from "./mod.ts";

/** A small tree shaped like the real ones: a daemon root with flags, namespaces, leaves. */
function tree(calls: string[]): Command {
  const list = command({
    name: "list",
    aliases: ["ls"],
    summary: "List the items.",
    usage: ["prog item list [-json]"],
    description: "Lists the items.",
    flags: { json: { type: "boolean", usage: "Print JSON" } },
    examples: ["prog item list -json"],
    seeAlso: ["prog item show"],
    run: ({ values, out }) => {
      calls.push(`list json=${values.json}`);
      out(values.json ? "[]" : "none");
    },
  });
  const show = command({
    name: "show",
    summary: "Show one item.",
    usage: ["prog item show <name>"],
    description: "Shows the named item.",
    args: ["<name>"],
    flags: { hub: { type: "string", arg: "url", usage: "Hub URL" } },
    examples: ["prog item show a"],
    seeAlso: ["prog item list"],
    run: ({ positionals, values, out }) => {
      calls.push(`show ${positionals[0]} hub=${values.hub}`);
      out(positionals[0]);
    },
  });
  const channel = command({
    name: "channel",
    summary: "Show the channel.",
    usage: ["prog channel -machine <id>", "prog channel -machine <id> set <channel>"],
    description: "Shows or sets a channel.",
    flags: { machine: { type: "string" } },
    examples: ["prog channel -machine m"],
    seeAlso: ["prog item"],
    run: ({ values }) => void calls.push(`channel ${values.machine}`),
    commands: [command({
      name: "set",
      summary: "Set the channel.",
      usage: ["prog channel -machine <id> set <channel>"],
      description: "Sets the channel.",
      flags: { machine: { type: "string" } },
      args: ["<channel>"],
      examples: ["prog channel -machine m set beta"],
      seeAlso: ["prog channel"],
      run: ({ values, positionals }) => void calls.push(`set ${values.machine} ${positionals[0]}`),
    })],
  });
  return command({
    name: "prog",
    summary: "A test program.",
    usage: ["prog [flags]", "prog <command> [flags]"],
    description: "Runs the daemon without a command.",
    flags: {
      port: { type: "number", default: 80, usage: "Listen port" },
      config: { type: "string", arg: "path", usage: "Config file" },
    },
    examples: ["prog -port 8080"],
    seeAlso: ["prog help"],
    run: ({ values }) => {
      calls.push(`daemon port=${values.port}`);
      if (values.config === "bad") throw new ConfigError("bad", "malformed");
      if (values.config === "boom") throw new Error("network down");
    },
    commands: [
      command({
        name: "item",
        summary: "Manage items.",
        usage: ["prog item <list|show>"],
        description: "Item commands.",
        examples: ["prog item list"],
        seeAlso: ["prog channel"],
        commands: [list, show],
      }),
      channel,
      notAvailable({
        name: "update",
        summary: "Update the program.",
        usage: ["prog update [-dry-run]"],
        description: "Updates the program.",
        flags: { "dry-run": { type: "boolean" } },
        examples: ["prog update -dry-run"],
        seeAlso: ["prog version"],
      }),
      helpCommand("prog"),
    ],
  });
}

async function run(args: string[]) {
  const calls: string[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(tree(calls), args, {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
  });
  return { code, calls, out: out.join("\n"), err: err.join("\n") };
}

Deno.test("a daemon root runs with no words and with flags only; defaults fill in", async () => {
  assert.deepEqual((await run([])).calls, ["daemon port=80"]);
  assert.deepEqual((await run(["--port=9"])).calls, ["daemon port=9"]);
});

Deno.test("an unknown command exits 2 with did-you-mean and the help on stderr, runs nothing", async () => {
  for (const args of [["iten"], ["-port", "9", "iten"], ["item", "lsit"]]) {
    const r = await run(args);
    assert.equal(r.code, 2);
    assert.deepEqual(r.calls, []);
    assert.equal(r.out, "");
    assert.match(r.err, /^Error: unknown command "(iten|lsit)" Did you mean: (item|list)\?\n\n/);
    assert.match(r.err, /\nUSAGE\n/);
  }
  const far = await run(["zzzzzz"]);
  assert.match(far.err, /^Error: unknown command "zzzzzz"\n/);
});

Deno.test("every help spelling prints the command's help on stdout, exit 0, running nothing", async () => {
  for (const h of ["-h", "-?", "-help", "--help"]) {
    const r = await run(["item", "show", "a", h]);
    assert.equal(r.code, 0);
    assert.deepEqual(r.calls, []);
    assert.match(r.out, /^prog item show — Show one item\.\n\nUSAGE\n {2}prog item show <name>\n/);
    assert.equal(r.err, "");
  }
  const viaHelp = await run(["help", "item", "show"]);
  assert.equal(viaHelp.code, 0);
  assert.equal(viaHelp.out, (await run(["item", "show", "-h"])).out);
  assert.match((await run(["help"])).out, /^prog — A test program\./);
  assert.match((await run(["-h"])).out, /^prog — A test program\./);
  const badHelp = await run(["help", "itme"]);
  assert.equal(badHelp.code, 2);
  assert.match(badHelp.err, /Did you mean: item\?/);
});

Deno.test("a namespace alone prints its help with its sub-commands listed", async () => {
  const r = await run(["item"]);
  assert.equal(r.code, 0);
  assert.match(
    r.out,
    /DESCRIPTION\n {2}Item commands\.\n\n {2}Commands:\n {4}list {3}List the items\.\n {4}show {3}Show one item\./,
  );
});

Deno.test("flags belong to their command: -json is unknown to show; -hub unknown to list", async () => {
  const a = await run(["item", "show", "a", "-json"]);
  assert.equal(a.code, 2);
  assert.match(a.err, /^Error: flag provided but not defined: -json\n\nprog item show — /);
  assert.equal((await run(["item", "list", "-hub", "x"])).code, 2);
  const ok = await run(["item", "show", "-hub", "h", "a"]);
  assert.deepEqual(ok.calls, ["show a hub=h"]);
  assert.deepEqual((await run(["item", "show", "a", "--hub=h"])).calls, ["show a hub=h"]);
  assert.deepEqual((await run(["item", "ls", "-json"])).calls, ["list json=true"]);
});

Deno.test("missing and extra arguments are usage errors naming the argument", async () => {
  const missing = await run(["item", "show"]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /^Error: missing argument <name>\n/);
  const extra = await run(["item", "show", "a", "b"]);
  assert.equal(extra.code, 2);
  assert.match(extra.err, /^Error: unexpected argument "b"\n/);
  assert.equal((await run(["-port", "x"])).code, 2, "a malformed value is a usage error");
});

Deno.test("flags may stand before the sub-command word of a command that has both", async () => {
  assert.deepEqual((await run(["channel", "-machine", "m"])).calls, ["channel m"]);
  assert.deepEqual((await run(["channel", "-machine", "m", "set", "beta"])).calls, ["set m beta"]);
  assert.deepEqual((await run(["channel", "set", "beta", "-machine", "m"])).calls, [
    "set m beta",
  ]);
  assert.match((await run(["channel", "-machine", "m", "set", "-h"])).out, /^prog channel set — /);
  assert.deepEqual((await run(["channel", "-machine", "set", "set", "beta"])).calls, [
    "set set beta",
  ], "the first 'set' is the value of -machine");
});

Deno.test("a command not built yet has its help and exits 1 naming itself", async () => {
  const r = await run(["update", "-dry-run"]);
  assert.equal(r.code, 1);
  assert.equal(r.err, 'Error: "prog update" is not available in this version');
  assert.equal(r.out, "");
  const h = await run(["update", "-h"]);
  assert.equal(h.code, 0);
  assert.match(h.out, /Not available in this version/);
});

Deno.test("exit statuses: ConfigError 3, other errors 1, UsageError 2", async () => {
  const cfg = await run(["-config", "bad"]);
  assert.equal(cfg.code, 3);
  assert.equal(cfg.err, "Error: bad: malformed");
  const rt = await run(["-config", "boom"]);
  assert.equal(rt.code, 1);
  assert.equal(rt.err, "Error: network down");
  const usage = await runCli(
    command({
      name: "u",
      summary: "s.",
      usage: ["u"],
      description: "d.",
      run: () => {
        throw new UsageError("-hub is required");
      },
    }),
    [],
    { out: () => {}, err: () => {} },
  );
  assert.equal(usage, 2);
});

Deno.test("walkCommands lists every command with its full path", () => {
  const paths = walkCommands(tree([])).map((x) => x.path);
  assert.deepEqual(paths, [
    "prog",
    "prog item",
    "prog item list",
    "prog item show",
    "prog channel",
    "prog channel set",
    "prog update",
    "prog help",
  ]);
});
