import assert from "node:assert/strict";
import { telaMain, type TunnelEngine } from "./mod.ts";

const noEngine: TunnelEngine = () => {
  throw new Error("no tunnel in this test");
};

async function run(args: string[], lines: string[] = []) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await telaMain(args, {
    engine: noEngine,
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    readLine: () => Promise.resolve(lines.length ? lines.shift()! : null),
    interrupted: new Promise(() => {}),
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

async function withHome(fn: (home: string) => Promise<void>) {
  const home = await Deno.makeTempDir();
  const saved = ["HOME", "TELA_TOKEN", "TELA_HUB"].map((k) => [k, Deno.env.get(k)] as const);
  Deno.env.set("HOME", home);
  Deno.env.delete("TELA_TOKEN");
  Deno.env.delete("TELA_HUB");
  try {
    await fn(home);
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("tela version, help, no command, unknown command and bad flags", async () => {
  const v = await run(["version"]);
  assert.equal(v.code, 0);
  assert.match(v.out, /^tela v\S+ \w+\/\w+$/);
  assert.equal((await run([])).code, 1);
  const u = await run(["frob"]);
  assert.equal(u.code, 1);
  assert.match(u.err, /^Unknown command: frob\n\nUsage: tela/);
  const f = await run(["machines", "-nope"]);
  assert.equal(f.code, 2);
  assert.match(f.err, /flag provided but not defined: -nope/);
});

Deno.test("tela login stores the token 0600 under the normalised URL; logout removes it", async () => {
  await withHome(async (home) => {
    const r = await run(["login", "hub.example.com/"], ["  abc123  ", "alice"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Credentials stored for wss:\/\/hub\.example\.com/);
    const path = `${home}/.tela/credentials.yaml`;
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const text = await Deno.readTextFile(path);
    assert.match(text, /wss:\/\/hub\.example\.com:\n\s+token: abc123\n\s+identity: alice/);
    assert.match((await run(["logout", "wss://hub.example.com"])).out, /Credentials removed/);
    assert.match((await run(["logout", "wss://hub.example.com"])).out, /No credentials found/);
    const empty = await run(["login", "wss://h"], [""]);
    assert.equal(empty.code, 1);
    assert.match(empty.err, /token cannot be empty/);
  });
});

Deno.test("tela profile create, list, show, delete", async () => {
  await withHome(async () => {
    assert.equal((await run(["profile", "list"])).out, "No profiles found.");
    const c = await run(["profile", "create", "work"]);
    assert.match(c.out, /^Created profile "work" at .*profiles\/work\.yaml$/);
    assert.equal((await run(["profile"])).out, "work");
    assert.match((await run(["profile", "show", "work"])).out, /connections: \[\]/);
    assert.equal((await run(["profile", "create", "work"])).code, 1);
    assert.equal((await run(["profile", "delete", "work"])).out, 'Deleted profile "work"');
    const gone = await run(["profile", "rm", "work"]);
    assert.equal(gone.code, 1);
    assert.match(gone.err, /Error: profile "work" not found/);
  });
});

Deno.test("tela machines, services and status read the hub's /api/status with the token", async () => {
  await withHome(async () => {
    const seen: (string | null)[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      seen.push(req.headers.get("authorization"));
      if (req.headers.get("authorization") !== "Bearer good") {
        return new Response("{}", { status: 401 });
      }
      return Response.json({
        machines: [{
          id: "barn",
          agentConnected: true,
          sessionCount: 1,
          services: [{ port: 22, proto: "tcp", name: "SSH" }, { port: 5432 }],
        }, { id: "nas", agentConnected: false, sessionCount: 0, services: null }],
        timestamp: "2026-11-22T03:00:00Z",
      });
    });
    try {
      const hub = `ws://127.0.0.1:${server.addr.port}`;
      const m = await run(["machines", "-hub", hub, "-token", "good"]);
      assert.equal(m.code, 0, m.err);
      assert.equal(
        m.out,
        [
          "MACHINE   STATUS    SERVICES                 SESSION",
          "barn      online    SSH:22, port 5432:5432   1 active",
          "nas       offline   -                        -",
        ].join("\n"),
      );
      const s = await run(["services", "--hub", hub, "-machine=barn", "-token", "good"]);
      assert.match(
        s.out,
        /^Machine: barn \(online\)\nPORT\s+SERVICE\s+CONNECT\n22\s+SSH\s+tela connect -hub/,
      );
      const missing = await run(["services", "-hub", hub, "-machine", "zzz", "-token", "good"]);
      assert.equal(missing.code, 1);
      assert.match(missing.err, /Machine not found: zzz/);
      const st = await run(["status", "-hub", hub, "-token", "good"]);
      assert.match(
        st.out,
        /Machines: {2}2 registered, 1 online\nServices: {2}2 total\nSessions: {2}1 active/,
      );
      const bad = await run(["status", "-hub", hub, "-token", "bad"]);
      assert.equal(bad.code, 1);
      assert.match(bad.err, /hub returned 401 unauthorized/);
      assert.ok(seen.includes("Bearer good"));
    } finally {
      await server.shutdown();
    }
  });
});
