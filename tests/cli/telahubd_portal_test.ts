/**
 * `telahubd portal add|list|remove|sync` and `tela remote` as real processes: what they
 * print, their exit codes, and the errors that name the cause and the fix.
 */
import assert from "node:assert/strict";
import { runProgram } from "./_run.ts";
import { freeTcpPort } from "../free_port.ts";

const DEAD = `http://127.0.0.1:${freeTcpPort()}`;

async function withConfig(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "directory-cli-" });
  try {
    const path = `${dir}/telahubd.yaml`;
    const boot = await runProgram("telahubd", ["user", "bootstrap", "-config", path], {
      net: false,
    });
    assert.equal(boot.code, 0, boot.stderr);
    await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("telahubd portal: errors name the missing piece and the fix; list and remove", async () => {
  await withConfig(async (path) => {
    const empty = await runProgram("telahubd", ["portal", "list", "-config", path], { net: false });
    assert.equal(empty.code, 0);
    assert.equal(empty.stdout, "");
    assert.match(empty.stderr, /No portal registrations\.\nAdd one with: telahubd portal add/);

    const noName = await runProgram("telahubd", [
      "portal",
      "add",
      "work",
      DEAD,
      "-hub-url",
      "https://hub.example",
      "-config",
      path,
    ], { net: false });
    assert.equal(noName.code, 1);
    assert.match(noName.stderr, /^Error: the hub has no name: set name: in \S+telahubd\.yaml/m);

    const noUrl = await runProgram(
      "telahubd",
      ["portal", "add", "work", DEAD, "-config", path],
      { net: false, env: { TELAHUBD_NAME: "alpha" } },
    );
    assert.equal(noUrl.code, 1);
    assert.match(
      noUrl.stderr,
      /pass -hub-url https:\/\/hub\.example\.com \(or set TELAHUBD_PUBLIC_URL\)/,
    );

    const down = await runProgram("telahubd", [
      "portal",
      "add",
      "work",
      DEAD,
      "-hub-url",
      "wss://hub.example",
      "-config",
      path,
    ], { net: "loopback", env: { TELAHUBD_NAME: "alpha" } });
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      /^Error: registering with http:\/\/127\.0\.0\.1:\d+ failed: could not reach/m,
    );

    const sync = await runProgram("telahubd", ["portal", "sync", "-config", path], {
      net: false,
      env: { TELAHUBD_NAME: "alpha" },
    });
    assert.equal(sync.code, 1);
    assert.match(
      sync.stderr,
      /no portal registration with a sync token in \S+; register with "telahubd portal add/,
    );

    const rm = await runProgram("telahubd", ["portal", "remove", "work", "-config", path], {
      net: false,
    });
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /portal "work" not found in \S+ \(it has none\)/);

    // A registration written by hand (as the admin API or an older hub left it) lists.
    await Deno.writeTextFile(
      path,
      (await Deno.readTextFile(path)) +
        "portals:\n  awan:\n    url: https://awansaya.net\n    syncToken: hubsync_x\n",
    );
    const list = await runProgram("telahubd", ["portal", "ls", "-config", path], { net: false });
    assert.equal(list.code, 0, list.stderr);
    assert.equal(
      list.stdout,
      "NAME   URL                    DIRECTORY   SYNC   HUB URL\n" +
        "awan   https://awansaya.net   /api/hubs   yes    -\n",
    );
    const gone = await runProgram("telahubd", ["portal", "rm", "awan", "-config", path], {
      net: false,
    });
    assert.equal(gone.code, 0, gone.stderr);
    assert.doesNotMatch(await Deno.readTextFile(path), /awansaya/);
  });
});

Deno.test("tela remote: usage errors, an empty list, an unreachable directory", async () => {
  const bad = await runProgram("tela", ["remote", "add", "a b", "https://x"], { net: false });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /remote name "a b" is not usable/);
  const ws = await runProgram("tela", ["remote", "add", "w", "wss://hub.example", "-token", ""], {
    net: false,
  });
  assert.equal(ws.code, 2);
  assert.match(ws.stderr, /wss:\/\/hub\.example is a hub URL; .* use https:\/\/hub\.example/);
  const empty = await runProgram("tela", ["remote"], { net: false });
  assert.equal(empty.code, 0);
  assert.equal(empty.stdout, "");
  assert.match(empty.stderr, /No remotes configured\.\nAdd one with: tela remote add <name> <url>/);
  const json = await runProgram("tela", ["remote", "list", "-json"], { net: false });
  assert.equal(json.stdout.trim(), "[]");
  const down = await runProgram("tela", ["remote", "add", "w", DEAD], {
    net: "loopback",
  });
  assert.equal(down.code, 1);
  assert.match(
    down.stderr,
    /^Error: could not reach remote "w" at http:\/\/127\.0\.0\.1:\d+\/api\/hubs: connection refused/m,
  );
});

Deno.test("tela remote add refuses a directory that speaks no 1.x protocol (Appendix D §2)", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    if (new URL(req.url).pathname === "/.well-known/tela") {
      return Response.json({
        hub_directory: "/api/hubs",
        protocolVersion: "2.0",
        supportedVersions: ["2.0"],
      });
    }
    return Response.json({ hubs: [] });
  });
  try {
    const r = await runProgram(
      "tela",
      ["remote", "add", "next", `http://127.0.0.1:${server.addr.port}`, "-token", ""],
      { net: "loopback" },
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /speaks portal protocol 2\.0 only and this tela speaks 1\.x/);
    assert.doesNotMatch(r.stdout, /added/);
  } finally {
    await server.shutdown();
  }
});
