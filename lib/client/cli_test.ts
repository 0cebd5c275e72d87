import assert from "node:assert/strict";
import { withHome } from "../../tests/with_home.ts";
import { freeTcpPort } from "../../tests/free_port.ts";
import { fetchHubStatus, telaMain } from "./mod.ts";
import { wsRelayBind } from "../transport/mod.ts";
import { HubDialError, type TunnelEngine } from "../session/mod.ts";

const noEngine: TunnelEngine = () => {
  throw new Error("no tunnel in this test");
};

async function run(args: string[], lines: string[] = []) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await telaMain(args, {
    bind: wsRelayBind,
    engine: noEngine,
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    readLine: () => Promise.resolve(lines.length ? lines.shift()! : null),
    interrupted: new Promise(() => {}),
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

Deno.test("tela version, help, no command, unknown command and bad flags", async () => {
  const v = await run(["version"]);
  assert.equal(v.code, 0);
  assert.match(v.out, /^tela v\S+ \w+\/\w+$/);
  assert.deepEqual(JSON.parse((await run(["version", "-json"])).out).name, "tela");
  assert.equal((await run(["-version"])).out, v.out);
  const none = await run([]);
  assert.equal(none.code, 0, "tela alone prints the top-level help (book, Help text)");
  assert.match(none.out, /^tela — /);
  assert.equal((await run(["help"])).out, none.out);
  // The book's Help section says "tela unknown-verb exits 1", but its exit-code table makes
  // an unknown command a usage error: 2, with the help on stderr. We follow the table.
  const u = await run(["frob"]);
  assert.equal(u.code, 2);
  assert.match(u.err, /^Error: unknown command "frob"\n\ntela — /);
  const f = await run(["machines", "-nope"]);
  assert.equal(f.code, 2);
  assert.match(f.err, /^Error: flag provided but not defined: -nope\n\ntela machines — /);
});

Deno.test("tela login stores the token 0600 under the normalised URL and prints nothing; logout removes it", async () => {
  await withHome(async (home) => {
    const r = await run(["login", "hub.example.com/"], ["  abc123  ", "alice"]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual([r.out, r.err], ["", ""], "silence is success; no token echoed");
    const path = `${home}/.tela/credentials.yaml`;
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const text = await Deno.readTextFile(path);
    assert.match(text, /wss:\/\/hub\.example\.com:\n\s+token: abc123\n\s+identity: alice/);
    const out = await run(["logout", "wss://hub.example.com"]);
    assert.deepEqual([out.code, out.out, out.err], [0, "", ""]);
    assert.doesNotMatch(await Deno.readTextFile(path), /abc123/);
    const again = await run(["logout", "wss://hub.example.com"]);
    assert.equal(again.code, 1, "nothing to remove is an error, not a message on stdout");
    assert.equal(again.out, "");
    assert.equal(
      again.err,
      `Error: no token stored for wss://hub.example.com in ${path}; ` +
        `"tela login wss://hub.example.com" stores one`,
    );
    const empty = await run(["login", "wss://h"], [""]);
    assert.equal(empty.code, 2, "no token is a missing argument: a usage error");
    assert.match(
      empty.err,
      /^Error: token cannot be empty: standard input is not a terminal, .*pipe it in \(printf '%s\\n' "\$TOKEN" \| tela login wss:\/\/h\), or pass -token to each command instead\n/,
    );
  });
});

Deno.test("tela profile create, list, show, delete", async () => {
  await withHome(async () => {
    const none = await run(["profile", "list"]);
    assert.deepEqual(
      [none.out, none.err, none.code],
      ["", "No profiles found.", 0],
      "a note, not data",
    );
    const c = await run(["profile", "create", "work"]);
    assert.equal(c.out, `${Deno.env.get("HOME")}/.tela/profiles/work.yaml`, "the path, as data");
    assert.match(await Deno.readTextFile(c.out), /connections: \[\]/);
    assert.equal((await run(["profile"])).out, "work");
    assert.match((await run(["profile", "show", "work"])).out, /connections: \[\]/);
    assert.equal((await run(["profile", "create", "work"])).code, 1);
    const d = await run(["profile", "delete", "work"]);
    assert.deepEqual([d.code, d.out, d.err], [0, "", ""]);
    assert.equal((await run(["profile", "list"])).err, "No profiles found.");
    const gone = await run(["profile", "rm", "work"]);
    assert.equal(gone.code, 1);
    assert.match(
      gone.err,
      /^Error: profile "work" not found; "tela profile list" shows the profiles$/,
    );
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
      assert.match(
        missing.err,
        new RegExp(
          `^Error: machine "zzz" is not registered on ${hub}; "tela machines -hub ${hub}" lists them$`,
          "m",
        ),
      );
      const missingJson = await run([
        "services",
        "-hub",
        hub,
        "-machine",
        "zzz",
        "-token",
        "good",
        "-json",
      ]);
      assert.equal(missingJson.code, 1);
      assert.equal(missingJson.out, "");
      assert.match(missingJson.err, /^Error: machine "zzz" is not registered on .*lists them$/m);
      const st = await run(["status", "-hub", hub, "-token", "good"]);
      // A hub without `sessions` (Go's): the summary alone, as before issue 11.
      assert.equal(
        st.out,
        [
          `Hub:       ${hub}`,
          "Machines:  2 registered, 1 online",
          "Services:  2 total",
          "Sessions:  1 active",
          "Timestamp: 2026-11-22T03:00:00Z",
        ].join("\n"),
      );
      const bad = await run(["status", "-hub", hub, "-token", "bad"]);
      assert.equal(bad.code, 1);
      assert.match(
        bad.err,
        /^Error: hub returned 401 unauthorized: it does not accept the token \(b\.\.\.\); check -token, TELA_TOKEN or the one "tela login" stored$/m,
      );
      const none = await run(["status", "-hub", hub]);
      assert.equal(none.code, 1);
      assert.match(
        none.err,
        new RegExp(
          `^Error: hub returned 401 unauthorized: no token was given; pass -token, set TELA_TOKEN, or run "tela login ${hub}"$`,
          "m",
        ),
      );
      assert.ok(seen.includes("Bearer good"));
    } finally {
      await server.shutdown();
    }
  });
});

/** A stand-in hub answering /api/status (with keys the client does not know) for `token`. */
function fakeStatusHub(token: string) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    if (req.headers.get("authorization") !== `Bearer ${token}`) {
      return new Response("{}", { status: 401 });
    }
    return Response.json({
      machines: [{
        id: "barn",
        displayName: "",
        hostname: "barn.lan",
        os: "linux",
        tags: [],
        agentConnected: true,
        sessionCount: 0,
        registeredAt: "2026-11-22T02:00:00Z",
        reachableThrough: { hubId: "x" },
        services: [{ port: 22, proto: "tcp", name: "SSH", description: "", extra: 1 }],
      }],
      timestamp: "2026-11-22T03:00:00Z",
      hubId: "not-in-the-client-shape",
    });
  });
  return { server, url: `ws://127.0.0.1:${server.addr.port}` };
}

Deno.test("-json prints only the client's fields, in Go's order, empty optional ones omitted", async () => {
  await withHome(async () => {
    const { server, url } = fakeStatusHub("good");
    try {
      const barn = {
        id: "barn",
        hostname: "barn.lan",
        os: "linux",
        agentConnected: true,
        sessionCount: 0,
        registeredAt: "2026-11-22T02:00:00Z",
        services: [{ port: 22, proto: "tcp", name: "SSH" }],
      };
      const m = await run(["machines", "-hub", url, "-token", "good", "-json"]);
      assert.equal(m.code, 0, m.err);
      assert.equal(
        m.out,
        JSON.stringify({ machines: [barn], timestamp: "2026-11-22T03:00:00Z" }, null, 2),
      );
      const st = await run(["status", "-json", "-hub", url, "-token", "good"]);
      assert.equal(st.out, m.out);
      const sv = await run([
        "services",
        "-hub",
        url,
        "-machine",
        "barn",
        "-token",
        "good",
        "-json",
      ]);
      assert.equal(sv.out, JSON.stringify(barn, null, 2));
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("TELA_HUB (an alias from hubs.yaml) and TELA_TOKEN stand in for -hub and -token", async () => {
  await withHome(async (home) => {
    const { server, url } = fakeStatusHub("envtoken");
    try {
      await Deno.mkdir(`${home}/.tela`, { recursive: true });
      await Deno.writeTextFile(`${home}/.tela/hubs.yaml`, `hubs:\n  lab: ${url}\n`);
      Deno.env.set("TELA_HUB", "lab");
      Deno.env.set("TELA_TOKEN", "envtoken");
      const st = await run(["status"]);
      assert.equal(st.code, 0, st.err);
      assert.match(st.out, new RegExp(`^Hub: {7}${url}\nMachines: {2}1 registered, 1 online`));
      Deno.env.set("TELA_MACHINE", "barn");
      assert.match((await run(["services"])).out, /^Machine: barn \(online\)/);
      // The flag wins over the environment.
      const bad = await run(["status", "-token", "wrong"]);
      assert.equal(bad.code, 1);
      assert.match(bad.err, /^Error: hub returned 401 unauthorized/);
      Deno.env.set("TELA_HUB", "nope");
      const unknown = await run(["machines"]);
      assert.equal(unknown.code, 2, "an unknown short name is a usage error: nothing was dialled");
      assert.match(unknown.err, /^Error: -hub "nope" is not a ws:\/\/ .*\(it defines: lab\)/);
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("a stored token (tela login) is used when neither -token nor TELA_TOKEN is given", async () => {
  await withHome(async () => {
    const { server, url } = fakeStatusHub("stored");
    try {
      const l = await run(["login", `${url.replace("ws://", "HTTP://")}/`], ["stored", ""]);
      assert.equal(l.code, 0, l.err);
      assert.equal(l.out, "");
      const m = await run(["machines", "-hub", url]);
      assert.equal(m.code, 0, m.err);
      assert.match(m.out, /^MACHINE/);
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("-h prints a sub-command's usage (exit 0); an unknown flag prints it too (exit 2)", async () => {
  await withHome(async () => {
    for (
      const args of [["connect", "-h"], ["machines", "--help"], ["status", "-hub", "x", "-help"]]
    ) {
      const r = await run(args);
      assert.equal(r.code, 0, args.join(" "));
      assert.match(r.out, /^tela \w+ — .*\n\nUSAGE\n {2}tela \w+ /);
      assert.match(r.out, /-hub <url\|name> +Hub URL/);
    }
    const bad = await run(["connect", "-hub", "ws://h", "--nope=1"]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /^Error: flag provided but not defined: -nope\n\ntela connect — /);
    const num = await run(["connect", "-mtu", "big"]);
    assert.equal(num.code, 2);
    assert.match(num.err, /-mtu/);
  });
});

Deno.test("tela connect: missing or malformed arguments exit 2, runtime errors 1, config 3", async () => {
  await withHome(async () => {
    const none = await run(["connect"]);
    assert.equal(none.code, 2);
    assert.match(
      none.err,
      /^Error: -hub and -machine are required \(or set TELA_HUB \/ TELA_MACHINE\)/,
    );
    const ports = await run([
      "connect",
      "-hub",
      "ws://127.0.0.1:9",
      "-machine",
      "m",
      "-ports",
      "22,x",
    ]);
    assert.equal(ports.code, 2);
    assert.match(
      ports.err,
      /^Error: invalid port "x": "x" is not a valid port number\n\ntela connect/,
    );
    const { server, url } = fakeStatusHub("t");
    try {
      const missing = await run([
        "connect",
        "-hub",
        url,
        "-machine",
        "barn",
        "-token",
        "t",
        "-services",
        "postgres",
      ]);
      assert.equal(missing.code, 1);
      assert.match(
        missing.err,
        /^Error: service "postgres" not found on machine "barn" \(available: SSH:22\)$/,
      );
      Deno.env.set("TELA_PROFILE", "nosuch");
      const prof = await run(["connect", "-hub", url, "-machine", "barn"]);
      assert.equal(prof.code, 3, "TELA_PROFILE takes precedence; a missing profile is exit 3");
      assert.match(prof.err, /nosuch\.yaml: profile not found; "tela profile list" shows/);
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("tela login <short name> stores the token under the hubs.yaml URL that -hub <name> looks up", async () => {
  await withHome(async (home) => {
    const { server, url } = fakeStatusHub("stored");
    try {
      await Deno.mkdir(`${home}/.tela`, { recursive: true });
      await Deno.writeTextFile(`${home}/.tela/hubs.yaml`, `hubs:\n  lab: ${url}\n`);
      const l = await run(["login", "lab"], ["stored", ""]);
      assert.equal(l.code, 0, l.err);
      assert.equal(l.out, "");
      const creds = await Deno.readTextFile(`${home}/.tela/credentials.yaml`);
      assert.ok(creds.includes(`${url}:`), creds);
      assert.doesNotMatch(creds, /wss:\/\/lab/);
      // No -token, no TELA_TOKEN: the short name finds the stored token.
      const s = await run(["services", "-hub", "lab", "-machine", "barn"]);
      assert.equal(s.code, 0, s.err);
      assert.match(s.out, /^Machine: barn \(online\)/);
      assert.equal((await run(["logout", "lab"])).code, 0);
      assert.ok(!(await Deno.readTextFile(`${home}/.tela/credentials.yaml`)).includes(url));
      // A name that is not in hubs.yaml is still a host name, as before.
      const h = await run(["login", "hub.example.com"], ["x", ""]);
      assert.equal(h.code, 0, h.err);
      assert.match(
        await Deno.readTextFile(`${home}/.tela/credentials.yaml`),
        /wss:\/\/hub\.example\.com:\n\s+token: x\n/,
      );
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test({
  name: "a profile's address: is the loopback address its listeners bind",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withHome(async (home) => {
      const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const hubPort = (closed.addr as Deno.NetAddr).port;
      closed.close();
      const probe = Deno.listen({ hostname: "127.77.0.9", port: 0 });
      const port = (probe.addr as Deno.NetAddr).port;
      probe.close();
      await Deno.mkdir(`${home}/.tela/profiles`, { recursive: true });
      await Deno.writeTextFile(
        `${home}/.tela/profiles/pinned.yaml`,
        `connections:\n  - hub: ws://127.0.0.1:${hubPort}\n    machine: m\n` +
          `    address: 127.77.0.9\n    services:\n      - remote: ${port}\n`,
      );
      const out: string[] = [];
      let stop!: () => void;
      const interrupted = new Promise<void>((r) => (stop = r));
      const running = telaMain(["connect", "-profile", "pinned"], {
        bind: wsRelayBind,
        engine: noEngine,
        stdout: (t) => out.push(t),
        stderr: (t) => out.push(t),
        interrupted,
      });
      try {
        for (let i = 0; i < 100 && !out.join("\n").includes("Services available"); i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.match(
          out.join("\n"),
          new RegExp(`^ {2}127\\.77\\.0\\.9:${port}\\s+→ port ${port}$`, "m"),
        );
        const c = await Deno.connect({ hostname: "127.77.0.9", port });
        c.close();
        await assert.rejects(
          Deno.connect({ hostname: "127.0.0.1", port }),
          Deno.errors.ConnectionRefused,
        );
      } finally {
        stop();
        assert.equal(await running, 0);
      }
    });
  },
});

Deno.test("tela machines/services/status name the hub URL and the cause when the hub is unreachable", async () => {
  await withHome(async () => {
    const port = freeTcpPort();
    const url = `ws://127.0.0.1:${port}`;
    for (const cmd of ["machines", "status", "services"]) {
      // -machine is a flag of services only (flags belong to their command).
      const machine = cmd === "services" ? ["-machine", "m"] : [];
      const r = await run([cmd, "-hub", url, ...machine, "-token", "t"]);
      assert.equal(r.code, 1);
      assert.equal(
        r.err,
        `Error: could not reach hub ${url}: connection refused by 127.0.0.1:${port} (no hub ` +
          `listens there); check that telahubd is running and the port is right`,
      );
    }
    // The API call's timeout is a parameter: a listener that never answers, 300 ms.
    const sink = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const c of sink) held.push(c);
    })();
    try {
      await assert.rejects(
        fetchHubStatus(`ws://127.0.0.1:${sink.addr.port}`, "t", { timeoutMs: 300 }),
        (e: Error) =>
          e instanceof HubDialError && / timeout, no answer from 127\.0\.0\.1:\d+;/.test(e.message),
      );
    } finally {
      sink.close();
      await accepting;
      for (const c of held) c.close();
    }
  });
});
